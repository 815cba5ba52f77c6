"""Access tokens of the token endpoint: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed
ES256 by the key ring (signing_keys.py), for one tenant's SCIM endpoint.

Claims: `iss` (this deployment's issuer), `aud` (the Tenant URL), `sub` and `client_id` (the
OAuth client), `tid` (the tenant id), `cred` (the client credential that obtained it: revoking
that secret or federated credential ends its tokens), `iat`, `exp`, `jti`. PyJWT signs and
verifies; only ES256 is accepted, never `none` and never an HMAC algorithm (which would accept
the public key as a secret).

Verification reads no storage while the key ring's cached set is fresh; whether the client and
credential still exist is the authenticator's check against the tenant record it holds."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from .entra_jwt import InvalidToken
from .signing_keys import ALGORITHM, MAX_TOKEN_LIFETIME, KeyRing

# RFC 9068 §2.1: the header `typ` that marks our access tokens apart from other JWTs.
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
MIN_LIFETIME_SECONDS = 3600
MAX_LIFETIME_SECONDS = int(MAX_TOKEN_LIFETIME.total_seconds())
_LEEWAY = 30  # seconds of clock skew between instances tolerated on exp / iat
_MAX_HEADER = 512  # characters of an encoded header worth decoding; ours take about 100
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "client_id", "tid", "cred", "jti"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class AccessClaims:
    """What a verified token says: whose it is and until when."""

    tenant_id: str
    client_id: str
    credential_id: str
    kid: str
    expires_at: float  # seconds since the epoch


def is_access_token(token: str) -> bool:
    """True when the token's header claims it is one of ours: which check a bearer token
    goes to, nothing verified. Decoded here rather than by PyJWT's `get_unverified_header`,
    which validates the whole token's alphabet character by character (20 µs a call)."""
    head, dot, _ = token.partition(".")
    if not dot or len(head) > _MAX_HEADER:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, TypeError):
        return False
    return isinstance(header, dict) and header.get("typ") == TOKEN_TYPE


class AccessTokens:
    def __init__(self, keys: KeyRing, issuer: str, lifetime_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        if not MIN_LIFETIME_SECONDS <= lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"access token lifetime must be {MIN_LIFETIME_SECONDS}.."
                             f"{MAX_LIFETIME_SECONDS} seconds, not {lifetime_seconds}")
        self._keys = keys
        self._issuer = issuer
        self._lifetime = lifetime_seconds
        self._clock = clock

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def mint(self, *, tenant_id: str, audience: str, client_id: str,
             credential_id: str) -> IssuedToken:
        key = self._keys.signing_key()
        now = int(self._clock())
        claims = {"iss": self._issuer, "aud": audience, "sub": client_id,
                  "client_id": client_id, "tid": tenant_id, "cred": credential_id,
                  "iat": now, "exp": now + self._lifetime, "jti": secrets.token_hex(16)}
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM,
                           headers={"kid": key.kid, "typ": TOKEN_TYPE})
        return IssuedToken(token, self._lifetime)

    def verify(self, token: str, *, tenant_id: str, audience: str) -> AccessClaims:
        """The token's claims when it is ours, unaltered, current and for this tenant's
        audience; InvalidToken (a fixed label, no token content) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed JWT") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm not accepted ({ALGORITHM} only)")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("not an access token of this service")
        kid = str(header.get("kid", ""))
        key = self._keys.verification_key(kid) if kid else None
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.public_key, algorithms=[ALGORITHM], audience=audience,
                issuer=self._issuer, leeway=_LEEWAY, options={"require": _REQUIRED})
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        if claims["tid"] != tenant_id:
            raise InvalidToken("issued for another tenant")
        if claims["sub"] != claims["client_id"] or not isinstance(claims["cred"], str):
            raise InvalidToken("malformed claims")
        lifetime = _number(claims["exp"]) - _number(claims["iat"])
        if lifetime > MAX_LIFETIME_SECONDS or _number(claims["iat"]) > self._clock() + _LEEWAY:
            raise InvalidToken("issued with an impossible lifetime")
        return AccessClaims(tenant_id=tenant_id, client_id=str(claims["client_id"]),
                            credential_id=claims["cred"], kid=kid,
                            expires_at=_number(claims["exp"]))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("malformed claims")
    return float(value)
