"""JWTs that Entra signs, verified three ways:

- `verify`: Entra-issued bearer JWTs, what Entra sends when a tenant's admin leaves the Secret
  Token blank. Accepted only for tenants that name their Entra tenant id
  (`Tenant.entra_tenant_id`, set with `shared.admin tenant jwt-enable`).
- `verify_assertion`: the client assertions of workload identity federation at the token
  endpoint (RFC 7523 §2.2): v2.0 tokens Entra issues to a workload identity, accepted for the
  issuer, audience and subject of a client's federated credential (shared/auth/clients.py).
- `verify_access`: access tokens Entra issues for the deployment's own app registration, the
  credentials of the management API (shared/auth/admin.py), v1.0 or v2.0.

A bearer token is valid when it is RS256-signed by one of Entra's signing keys, its issuer is
`https://sts.windows.net/{entra tenant id}/`, its audience is the application id Entra uses for
every non-gallery app, and it is within its validity period. An assertion is valid when it is
RS256-signed by one of Entra's v2.0 keys, its issuer is
`https://login.microsoftonline.com/{entra tenant id}/v2.0`, and its audience and subject are the
federated credential's. PyJWT does the verification; nothing here is hand-written crypto.

The signing keys are fetched with httpx per JWKS URL (one per Entra tenant and kind of token:
the issuer) and cached a day. Anyone can send a JWT-shaped token with a made-up `kid` to a
tenant that accepts JWTs, so the outbound fetches are bounded whatever the callers send: a
`kid` not in the cached set refetches at most once per issuer per `_REFRESH_EVERY`, a failed
fetch is remembered for `_FAILURE_TTL` (requests meanwhile answer at once, without a fetch),
and concurrent requests of one issuer wait for the one fetch under way instead of starting
their own. PyJWT's PyJWKClient caches the key set and rate-limits unknown-kid refreshes too,
but it refetches on every request while the endpoint fails and forgets its keys when their
lifespan ends even if the refetch fails, which is exactly the flood this must absorb."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

AUDIENCE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
ISSUER = "https://sts.windows.net/{tid}/"
DEFAULT_JWKS_URL = "https://login.microsoftonline.com/{tid}/discovery/keys"
ASSERTION_ISSUER = "https://login.microsoftonline.com/{tid}/v2.0"
DEFAULT_ASSERTION_JWKS_URL = "https://login.microsoftonline.com/{tid}/discovery/v2.0/keys"
_ALGORITHMS = ["RS256"]  # never "none", never HS256 (which would accept the public key)
_KEYS_TTL = 24 * 3600.0  # Entra rolls keys rarely and publishes new ones in advance
_REFRESH_EVERY = 300.0  # at most one refetch per issuer in this time for an unknown kid
_FAILURE_TTL = 30.0  # a failed fetch is not retried for this long (matches Retry-After: 30)
_FETCH_TIMEOUT = 5.0
_LEEWAY = 60  # seconds of clock skew tolerated on exp / nbf


class InvalidToken(Exception):
    """The JWT is not acceptable; the message names why (a fixed label, no token content)."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched: retrying later may succeed."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@dataclass
class _Issuer:
    """The key cache of one JWKS URL; `lock` serialises its fetches."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: dict[str, jwt.PyJWK] | None = None
    fetched_at: float = 0.0  # last successful fetch
    attempted_at: float | None = None  # last fetch, successful or not
    failed: bool = False  # the last fetch failed


class EntraJwtVerifier:
    def __init__(self, jwks_url: str = DEFAULT_JWKS_URL,
                 fetch: Callable[[str], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic, *,
                 assertion_jwks_url: str = DEFAULT_ASSERTION_JWKS_URL,
                 refresh_every: float = _REFRESH_EVERY,
                 failure_ttl: float = _FAILURE_TTL) -> None:
        self._jwks_url = jwks_url
        self._assertion_jwks_url = assertion_jwks_url
        self._fetch = fetch or _fetch_jwks
        self._clock = clock
        self._refresh_every = refresh_every
        self._failure_ttl = failure_ttl
        self._lock = threading.Lock()
        # One entry per JWKS URL, i.e. per Entra tenant id of a tenant record or federated
        # credential (never a client value): bounded.
        self._issuers: dict[str, _Issuer] = {}

    def verify(self, token: str, entra_tenant_id: str) -> dict[str, Any]:
        """The bearer token's claims, or InvalidToken / KeysUnavailable."""
        return self._decode(token, self._jwks_url.format(tid=entra_tenant_id),
                            audience=AUDIENCE, issuer=ISSUER.format(tid=entra_tenant_id),
                            required=["exp", "iss", "aud"])

    def verify_assertion(self, token: str, *, entra_tenant_id: str, audience: str,
                         subject: str) -> dict[str, Any]:
        """The client assertion's claims when Entra's v2.0 issuer of `entra_tenant_id` signed
        it for `audience` about `subject`; InvalidToken / KeysUnavailable otherwise."""
        return self._decode(token, self._assertion_jwks_url.format(tid=entra_tenant_id),
                            audience=audience,
                            issuer=ASSERTION_ISSUER.format(tid=entra_tenant_id),
                            required=["exp", "iss", "aud", "sub"], subject=subject)

    def verify_access(self, token: str, *, entra_tenant_id: str,
                      audiences: list[str]) -> dict[str, Any]:
        """An access token Entra issued in `entra_tenant_id` for an app registration's own API
        (one of `audiences`): v1.0 (issuer `https://sts.windows.net/{tid}/`, keys of the
        JWKS URL) or v2.0 (issuer `https://login.microsoftonline.com/{tid}/v2.0`, keys of the
        v2.0 JWKS URL), whichever the app's manifest asks for. InvalidToken /
        KeysUnavailable otherwise."""
        try:
            # Only to choose which of the two issuers to require: the signature and the
            # issuer are verified below.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed JWT") from exc
        v2 = unverified.get("iss") == ASSERTION_ISSUER.format(tid=entra_tenant_id)
        jwks_url = self._assertion_jwks_url if v2 else self._jwks_url
        issuer = ASSERTION_ISSUER if v2 else ISSUER
        claims = self._decode(token, jwks_url.format(tid=entra_tenant_id), audience=audiences,
                              issuer=issuer.format(tid=entra_tenant_id),
                              required=["exp", "iss", "aud", "tid"])
        if str(claims.get("tid", "")).lower() != entra_tenant_id.lower():
            raise InvalidToken("other Entra tenant")
        return claims

    def _decode(self, token: str, jwks_url: str, *, audience: str | list[str], issuer: str,
                required: list[str], subject: str | None = None) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed JWT") from exc
        if header.get("alg") not in _ALGORITHMS:
            raise InvalidToken("algorithm not accepted (RS256 only)")
        key = self._key(jwks_url, str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=_ALGORITHMS, audience=audience, issuer=issuer,
                subject=subject, leeway=_LEEWAY, options={"require": required},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        return claims

    def _key(self, url: str, kid: str) -> jwt.PyJWK:
        with self._lock:
            issuer = self._issuers.setdefault(url, _Issuer())
        with issuer.lock:
            now = self._clock()
            keys = issuer.keys
            fresh = keys is not None and now - issuer.fetched_at < _KEYS_TTL
            if fresh and keys is not None and kid in keys:
                return keys[kid]
            if self._may_fetch(issuer, now, fresh):
                issuer.attempted_at = now
                try:
                    keys = issuer.keys = self._load(url)
                    issuer.fetched_at, issuer.failed = now, False
                except KeysUnavailable:
                    issuer.failed = True
                    keys = issuer.keys  # Entra's keys outlive our day: stale ones still serve
                    if keys is None or kid not in keys:
                        raise
            elif keys is None or (issuer.failed and kid not in keys):
                raise KeysUnavailable("the last fetch failed moments ago")
        if kid not in keys:
            raise InvalidToken("unknown signing key")
        return keys[kid]

    def _may_fetch(self, issuer: _Issuer, now: float, fresh: bool) -> bool:
        if issuer.attempted_at is None:
            return True
        since = now - issuer.attempted_at
        if issuer.failed:
            return since >= self._failure_ttl
        # Expired keys are refetched at once; an unknown kid only once per interval.
        return not fresh or since >= self._refresh_every

    def _load(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            document = self._fetch(url)
            found = jwt.PyJWKSet.from_dict(document).keys
        except (httpx.HTTPError, ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
            raise KeysUnavailable(type(exc).__name__) from exc
        return {str(k.key_id): k for k in found if k.key_id}


def _fetch_jwks(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=_FETCH_TIMEOUT)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document
