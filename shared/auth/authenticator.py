"""Bearer-token authentication of a request for a tenant, before anything is looked up.

A bearer token is one of the tenant's Secret Tokens, an access token from the token endpoint
(access_tokens.py: accepted while the tenant allows OAuth and the client and credential that
obtained it still exist), or an Entra-issued JWT (entra_jwt.py, for tenants that enabled it).
Which kinds a tenant accepts is its `auth_methods` policy.

An unknown tenant and a wrong token get the same 401, so a caller learns nothing about which
tenants exist. Successful checks are cached briefly per (tenant, token digest): Entra sends
bursts of requests and a tenant read per request would double storage round trips. A revoke
(of a Secret Token, a client or its secret) therefore takes effect within the cache's 30 s.
An access token's signature is checked once per instance; later checks compare its claims
with the tenant record only.

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
from ..store.tenants import AuthMethod, Tenant
from ..timestamps import now_iso
from . import tokens
from .access_tokens import AccessClaims, AccessTokens, is_access_token
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
        access: AccessTokens | None = None,
        audience_of: Callable[[str], str] | None = None,
    ) -> None:
        self._load = load_tenant
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Tenant, float]] = {}
        self._lock = threading.Lock()
        self._record_use = record_use
        self._recorded: dict[tuple[str, str], float] = {}
        self._jwt = jwt
        self._access = access
        self._audience_of = audience_of or (lambda tenant_id: tenant_id)
        # Access tokens whose signature this instance checked, per (tenant, token digest): a
        # token is verified once, not every time the tenant record is read again.
        self._verified: dict[tuple[str, str], AccessClaims] = {}
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
        if tenant.refused:
            raise AuthFailure(_invalid(), "tenant disabled", True)
        expires = now + self._ttl
        matched = tokens.match(token, tenant.token_digests())
        if matched is not None:
            _allowed(tenant, "secret-token")
            self._note_use(tenant, tenant.tokens[matched].id, now)
        elif self._access is not None and (key in self._verified or is_access_token(token)):
            claims = self._access_claims(tenant, token, key)
            expires = min(expires, now + claims.expires_at - time.time())
        elif tenant.entra_tenant_id and self._jwt is not None and looks_like_jwt(token):
            expires = min(expires, now + self._verify_jwt(token, tenant.entra_tenant_id))
        else:
            raise AuthFailure(_invalid(), "wrong token", True)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (tenant, expires)
        return tenant

    def _access_claims(self, tenant: Tenant, token: str, key: tuple[str, str]) -> AccessClaims:
        """The claims of an access token for this tenant, refused unless the tenant accepts
        OAuth and the client, its credential and the signing key all still exist."""
        assert self._access is not None
        with self._lock:
            claims = self._verified.get(key)
        if claims is None or claims.expires_at <= time.time():
            try:
                claims = self._access.verify(token, tenant_id=tenant.id,
                                             audience=self._audience_of(tenant.id))
            except InvalidToken as exc:
                log.info("access token rejected: %s", clean(exc, 100))
                raise AuthFailure(_invalid(), "access token: " + clean(exc, 60),
                                  True) from None
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[key] = claims
        _allowed(tenant, "oauth")
        client = tenant.client(claims.client_id)
        if client is None or claims.credential_id not in client.credential_ids():
            raise AuthFailure(_invalid(), "access token: client or credential revoked", True)
        if self._access.keys.verification_key(claims.kid) is None:
            raise AuthFailure(_invalid(), "access token: signing key withdrawn", True)
        return claims

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
    # One answer for an unknown tenant, a malformed tenant id and a wrong, expired or revoked
    # token of any kind: a caller learns nothing about which tenants exist.
    return unauthorized(
        "The bearer token is not valid for this Tenant URL. In Entra, check that the "
        "Tenant URL and Secret Token are the pair issued for this tenant (or issue a "
        "new token with `python -m shared.admin token add TENANT`); with OAuth client "
        "credentials, that the client belongs to this tenant and its secret is current."
    )


_METHOD_NAMES = {"secret-token": "Secret Tokens", "oauth": "OAuth access tokens"}


def _allowed(tenant: Tenant, method: AuthMethod) -> None:
    """Refuse a valid credential of a kind the tenant turned off. Only a caller holding a
    valid credential gets this far, so naming the policy reveals nothing."""
    if method in tenant.auth_methods:
        return
    accepted = " or ".join(_METHOD_NAMES[m] for m in tenant.auth_methods) or "nothing"
    raise AuthFailure(unauthorized(
        f"This tenant does not accept {_METHOD_NAMES[method]}; it accepts {accepted}. An "
        "operator changes this with `python -m shared.admin tenant auth TENANT --allow "
        "secret-token,oauth`."), f"{method} not allowed", True)


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
