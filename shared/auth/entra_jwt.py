"""Entra-issued bearer JWTs (design.md §7; entra-scim.md (d).2): what Entra sends when a
tenant's admin leaves the Secret Token blank. Accepted only for tenants that name their Entra
tenant id (`Tenant.entra_tenant_id`, set with `shared.admin tenant jwt-enable`).

A token is valid when it is RS256-signed by one of Entra's signing keys (fetched with httpx
from the JWKS endpoint and cached; an unknown `kid` triggers at most one refresh a minute),
its issuer is `https://sts.windows.net/{entra tenant id}/`, its audience is the application
id Entra uses for every non-gallery app, and it is within its validity period. PyJWT does the
verification; nothing here is hand-written crypto."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

AUDIENCE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
ISSUER = "https://sts.windows.net/{tid}/"
DEFAULT_JWKS_URL = "https://login.microsoftonline.com/{tid}/discovery/keys"
_ALGORITHMS = ["RS256"]  # never "none", never HS256 (which would accept the public key)
_KEYS_TTL = 24 * 3600.0  # Entra rolls keys rarely and announces them in advance
_REFRESH_EVERY = 60.0  # at most one refetch a minute for an unknown kid
_LEEWAY = 60  # seconds of clock skew tolerated on exp / nbf


class InvalidToken(Exception):
    """The JWT is not acceptable; the message names why (no token content)."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched: retrying later may succeed."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class EntraJwtVerifier:
    def __init__(self, jwks_url: str = DEFAULT_JWKS_URL,
                 fetch: Callable[[str], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._jwks_url = jwks_url
        self._fetch = fetch or _fetch_jwks
        self._clock = clock
        self._lock = threading.Lock()
        # per JWKS URL: (keys by kid, fetched at)
        self._keys: dict[str, tuple[dict[str, jwt.PyJWK], float]] = {}

    def verify(self, token: str, entra_tenant_id: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken / KeysUnavailable."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed JWT") from exc
        if header.get("alg") not in _ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted (RS256 only)")
        key = self._key(entra_tenant_id, str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=_ALGORITHMS, audience=AUDIENCE,
                issuer=ISSUER.format(tid=entra_tenant_id), leeway=_LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        return claims

    def _key(self, entra_tenant_id: str, kid: str) -> jwt.PyJWK:
        url = self._jwks_url.format(tid=entra_tenant_id)
        now = self._clock()
        with self._lock:
            cached = self._keys.get(url)
        if cached and kid in cached[0] and now - cached[1] < _KEYS_TTL:
            return cached[0][kid]
        if cached and kid not in cached[0] and now - cached[1] < _REFRESH_EVERY:
            raise InvalidToken("unknown signing key")  # refreshed moments ago: rate-limited
        keys = self._load(url)
        with self._lock:
            self._keys[url] = (keys, now)
        if kid not in keys:
            raise InvalidToken("unknown signing key")
        return keys[kid]

    def _load(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            document = self._fetch(url)
            found = jwt.PyJWKSet.from_dict(document).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise KeysUnavailable(type(exc).__name__) from exc
        return {str(k.key_id): k for k in found if k.key_id}


def _fetch_jwks(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document
