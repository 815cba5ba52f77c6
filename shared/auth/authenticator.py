"""Bearer-token authentication of a request for a tenant, before anything is looked up.

An unknown tenant and a wrong token get the same 401, so a caller learns nothing about which
tenants exist. Successful checks are cached briefly per (tenant, token digest): Entra sends
bursts of requests and a tenant read per request would double storage round trips."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from ..scim.errors import ScimError
from . import tokens
from .tenants import Tenant

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}
# Tenant ids are generated (lower-case hex); anything that could not be one - or could not be
# a Table PartitionKey at all ('/', '#', control characters) - is refused without a lookup.
_TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def unauthorized(detail: str) -> ScimError:
    return ScimError(401, detail, None, dict(_CHALLENGE))


class Authenticator:
    def __init__(
        self,
        load_tenant: Callable[[str], Tenant | None],
        ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load_tenant
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Tenant, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, tenant_id: str, authorization: str | None) -> Tenant:
        token = _bearer(authorization)
        if not _TENANT_ID.fullmatch(tenant_id):
            raise _invalid()
        key = (tenant_id, tokens.digest(token))
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
        tenant = self._load(tenant_id)
        if tenant is None or tenant.disabled or not tokens.matches(token, tenant.token_digests()):
            raise _invalid()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (tenant, now + self._ttl)
        return tenant

    def forget(self, tenant_id: str) -> None:
        """Drop cached results of a tenant (after a token is revoked in this process)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[key]


def _invalid() -> ScimError:
    # One answer for an unknown tenant, a malformed tenant id and a wrong token.
    return unauthorized(
        "The bearer token is not valid for this Tenant URL. In Entra, check that the "
        "Tenant URL and Secret Token are the pair issued for this tenant (or issue a "
        "new token with `python -m shared.admin token add TENANT`)."
    )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise unauthorized(
            "No Authorization header. Send 'Authorization: Bearer <Secret Token>' (in Entra: "
            "Provisioning > Admin Credentials > Secret Token)."
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(
            "The Authorization header must be 'Bearer <Secret Token>'; other schemes are not "
            "accepted."
        )
    return token.strip()
