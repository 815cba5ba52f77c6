"""The keys that sign the token endpoint's access tokens: ES256 key pairs, shared by every
instance through the tenants table (shared/store/signing_keys.py), rotated with overlap.

A key's life:

1. created, and published at once (JWKS, and every instance's cached key set, re-read every
   KEY_SET_TTL);
2. signs from `activates` = created + PUBLISH_LEAD: by then every instance has re-read the set,
   so no instance meets a token whose key it has not loaded. (The first key of a deployment
   signs at once: no token of any key exists yet.)
3. replaced once it has signed for ROTATE_AFTER: the next key is created then and signs from
   its own activation;
4. deleted RETIRE_AFTER after its successor activated: the longest-lived token it signed has
   expired by then.

An instance that meets an unknown `kid` anyway re-reads the set, at most once per
UNKNOWN_KID_REFRESH whatever callers send. `rotate(immediately=True)` is the answer to a leaked
key: a new key signs at once and every other key is deleted, so tokens they signed are refused
once each instance has re-read the set (within KEY_SET_TTL)."""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..store.errors import AlreadyExists
from ..store.signing_keys import SigningKeyTable, StoredSigningKey
from ..timestamps import iso, parse_iso

ALGORITHM = "ES256"
KEY_SET_TTL = 300.0  # seconds an instance trusts its cached key set
PUBLISH_LEAD = timedelta(seconds=2 * KEY_SET_TTL)
ROTATE_AFTER = timedelta(days=30)
MAX_TOKEN_LIFETIME = timedelta(hours=6)  # the longest lifetime settings allow
RETIRE_AFTER = MAX_TOKEN_LIFETIME + PUBLISH_LEAD
UNKNOWN_KID_REFRESH = 30.0  # seconds between re-reads caused by kids not in the set
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    activates: datetime
    private_key: ec.EllipticCurvePrivateKey
    stored: StoredSigningKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _now() -> datetime:
    return datetime.now(UTC)


class KeyRing:
    def __init__(self, table: SigningKeyTable, *, now: Callable[[], datetime] = _now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._table = table
        self._now = now
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] | None = None
        self._loaded_at = 0.0
        self._unknown_refresh_at: float | None = None

    # -- verification (every SCIM request with an access token; no storage read when cached)

    def verification_key(self, kid: str) -> SigningKey | None:
        """The published key `kid`, or None when the set (re-read if it may be stale) has no
        such key."""
        keys = self._cached()
        if kid in keys:
            return keys[kid]
        with self._lock:
            now = self._monotonic()
            if (self._unknown_refresh_at is not None
                    and now - self._unknown_refresh_at < UNKNOWN_KID_REFRESH):
                return None
            self._unknown_refresh_at = now
        return self._reload().get(kid)

    def jwks(self) -> dict[str, Any]:
        """The published key set (RFC 7517), oldest key first."""
        keys = sorted(self._cached().values(), key=lambda k: k.activates)
        return {"keys": [k.public_jwk() for k in keys]}

    # -- signing (the token endpoint) ----------------------------------------------------------

    def signing_key(self) -> SigningKey:
        """The key to sign with now: the newest active one. Creates the first key, the next
        one when the current has signed for ROTATE_AFTER, and deletes retired ones."""
        keys = self._cached()
        now = self._now()
        active = sorted((k for k in keys.values() if k.activates <= now),
                        key=lambda k: k.activates)
        if not active:
            return self._create(now)
        current = active[-1]
        pending = [k for k in keys.values() if k.activates > now]
        if now - current.activates >= ROTATE_AFTER and not pending:
            self._create(now + PUBLISH_LEAD)
        for older, successor in itertools.pairwise(active):
            if now - successor.activates >= RETIRE_AFTER:
                self._table.delete(older.stored)
                self._reload()
        return current

    def rotate(self, *, immediately: bool = False) -> SigningKey:
        """Create the next key. Scheduled (the default), it signs after PUBLISH_LEAD and the
        current key keeps signing until then; `immediately`, it signs now and every other key
        is deleted (a leaked key: tokens it signed are refused within KEY_SET_TTL)."""
        now = self._now()
        created = self._create(now if immediately else now + PUBLISH_LEAD)
        if immediately:
            for key in list(self._reload().values()):
                if key.kid != created.kid:
                    self._table.delete(key.stored)
            self._reload()
        return created

    def published(self) -> list[SigningKey]:
        """Every published key, read from storage now (for operators)."""
        return sorted(self._reload().values(), key=lambda k: k.activates)

    # -- storage -------------------------------------------------------------------------------

    def _create(self, activates: datetime) -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
        while True:
            stored = StoredSigningKey(kid=secrets.token_hex(8), created=iso(self._now()),
                                      activates=iso(activates), private_pem=pem)
            try:
                self._table.create(stored)
                break
            except AlreadyExists:  # a random 64-bit kid already taken: draw another
                continue
        self._reload()
        return SigningKey(stored.kid, activates, private, stored)

    def _cached(self) -> dict[str, SigningKey]:
        with self._lock:
            keys, fresh = self._keys, self._monotonic() - self._loaded_at < KEY_SET_TTL
        if keys is not None and fresh:
            return keys
        return self._reload()

    def _reload(self) -> dict[str, SigningKey]:
        loaded: dict[str, SigningKey] = {}
        for stored in self._table.all():
            try:
                loaded[stored.kid] = _parsed(stored)
            except ValueError as exc:  # a damaged row must not take every token down with it
                log.error("signing key %s unreadable, skipped (%s)", stored.kid[:16],
                          type(exc).__name__)
        with self._lock:
            self._keys, self._loaded_at = loaded, self._monotonic()
        return loaded


def _parsed(stored: StoredSigningKey) -> SigningKey:
    private = serialization.load_pem_private_key(stored.private_pem.encode("utf-8"),
                                                 password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError(f"signing key {stored.kid} is not an EC key")
    return SigningKey(stored.kid, parse_iso(stored.activates), private, stored)
