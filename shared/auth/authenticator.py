"""Bearer-token authentication of a request for a tenant, before anything is looked up.

An unknown tenant and a wrong token get the same 401, so a caller learns nothing about which
tenants exist. Successful checks are cached briefly per (tenant, token digest): Entra sends
bursts of requests and a tenant read per request would double storage round trips.

A refusal is an `AuthFailure`: besides the client's answer it carries a reason from a fixed
vocabulary and whether the URL's tenant id names a tenant, so that the audit can count
failures per real tenant without a read of its own. That is learnt from the tenant read the
check makes anyway; a request without a bearer token makes none, so for it the answer is
whether this instance has read that tenant before (ids of existing tenants only: bounded by
their number)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..sanitize import clean
from ..scim.errors import ScimError
from ..store.tenants import Tenant
from ..timestamps import now_iso
from . import tokens
from .entra_jwt import EntraJwtVerifier, InvalidToken, KeysUnavailable, looks_like_jwt
from .tenants import TENANT_ID

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}
# "Last use" of a token is written at most this often per token and instance, and only when
# the cache is filled - never a write per request.
USE_RECORD_INTERVAL = 3600.0
_MAX_KNOWN = 100_000
log = logging.getLogger(__name__)


def unauthorized(detail: str) -> ScimError:
    return ScimError(401, detail, None, dict(_CHALLENGE))


class AuthFailure(ScimError):
    """A request that did not authenticate. `reason` is one of a few fixed labels (never
    client text); `tenant_known` is True only when the tenant id was looked up and exists."""

    def __init__(self, error: ScimError, reason: str, tenant_known: bool) -> None:
        super().__init__(error.status, error.detail, error.scim_type, dict(error.headers))
        self.reason = reason
        self.tenant_known = tenant_known


class Authenticator:
    def __init__(
        self,
        load_tenant: Callable[[str], Tenant | None],
        ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        record_use: Callable[[str, str, str], None] | None = None,
        jwt: EntraJwtVerifier | None = None,
    ) -> None:
        self._load = load_tenant
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Tenant, float]] = {}
        self._lock = threading.Lock()
        self._record_use = record_use
        self._recorded: dict[tuple[str, str], float] = {}
        self._jwt = jwt
        self._known: set[str] = set()  # tenant ids this instance read and found

    def authenticate(self, tenant_id: str, authorization: str | None) -> Tenant:
        """The tenant the request is authenticated for, or AuthFailure (401, or 503 when
        Entra's signing keys cannot be fetched)."""
        if not TENANT_ID.fullmatch(tenant_id):
            try:
                _bearer(authorization)  # a missing header is still reported as such
            except ScimError as err:
                raise AuthFailure(err, "malformed tenant id", False) from None
            raise AuthFailure(_invalid(), "malformed tenant id", False)
        try:
            token = _bearer(authorization)
        except _BadHeader as err:
            with self._lock:
                known = tenant_id in self._known
            raise AuthFailure(err, err.reason, known) from None
        key = (tenant_id, tokens.digest(token))
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
        tenant = self._load(tenant_id)
        if tenant is None:
            raise AuthFailure(_invalid(), "unknown tenant", False)
        with self._lock:
            if len(self._known) >= _MAX_KNOWN:
                self._known.clear()
            self._known.add(tenant_id)
        if tenant.disabled:
            raise AuthFailure(_invalid(), "tenant disabled", True)
        expires = now + self._ttl
        matched = tokens.match(token, tenant.token_digests())
        if matched is not None:
            self._note_use(tenant, tenant.tokens[matched].id, now)
        elif tenant.entra_tenant_id and self._jwt is not None and looks_like_jwt(token):
            expires = min(expires, now + self._verify_jwt(token, tenant.entra_tenant_id))
        else:
            raise AuthFailure(_invalid(), "wrong token", True)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (tenant, expires)
        return tenant

    def _verify_jwt(self, token: str, entra_tenant_id: str) -> float:
        """Seconds the verified JWT stays valid (the cache must not outlive it)."""
        assert self._jwt is not None
        try:
            claims = self._jwt.verify(token, entra_tenant_id)
        except InvalidToken as exc:
            # The reason only (a fixed label, never token content): one line, bounded.
            log.info("entra jwt rejected: %s", clean(exc, 100))
            raise AuthFailure(_invalid(), "entra jwt: " + clean(exc, 60), True) from None
        except KeysUnavailable:
            raise AuthFailure(ScimError(
                503, "Entra's token signing keys could not be fetched to verify the bearer "
                     "token; retry shortly.", None, {"Retry-After": "30"}),
                "entra signing keys unavailable", True) from None
        return max(0.0, float(claims["exp"]) - time.time())

    def _note_use(self, tenant: Tenant, token_id: str, now: float) -> None:
        if self._record_use is None:
            return
        with self._lock:
            last = self._recorded.get((tenant.id, token_id))
            if last is not None and now - last < USE_RECORD_INTERVAL:
                return
            self._recorded[(tenant.id, token_id)] = now
        try:
            self._record_use(tenant.id, token_id, now_iso())
        except Exception as exc:  # bookkeeping: never fails the request it is recorded for
            log.warning("token last-use not recorded (%s)", type(exc).__name__)

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


class _BadHeader(ScimError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(401, detail, None, dict(_CHALLENGE))
        self.reason = reason


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _BadHeader(
            "no authorization header",
            "No Authorization header. Send 'Authorization: Bearer <Secret Token>' (in Entra: "
            "Provisioning > Admin Credentials > Secret Token)."
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _BadHeader(
            "not a bearer token",
            "The Authorization header must be 'Bearer <Secret Token>'; other schemes are not "
            "accepted."
        )
    return token.strip()
