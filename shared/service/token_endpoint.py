"""The OAuth 2.0 token endpoint (RFC 6749 §4.4, client credentials) and its key set.

A client authenticates one way: HTTP Basic (client_secret_basic, RFC 6749 §2.3.1), its id and
secret in the form (client_secret_post), or a client assertion Entra signed for a workload
identity (RFC 7523 §2.2, workload identity federation). The client id names the tenant
(shared/auth/clients.py), whose record is read on every request - no cache, so revoking a
secret or a client takes effect at once here. The answer is an access token for that tenant's
SCIM endpoint (shared/auth/access_tokens.py).

The checks run in a fixed order and every refusal is an RFC 6749 §5.2 JSON error, never
echoing a secret or an assertion. The rate limit per client id comes before any storage read,
so a flood of requests costs no storage calls beyond the limit. Nothing escapes `handle` as an
exception: storage outages are 503 with Retry-After, anything unexpected a 500 with a request
id to quote - never a traceback."""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from .. import sanitize
from ..auth import clients
from ..auth.access_tokens import AccessTokens
from ..auth.entra_jwt import EntraJwtVerifier, InvalidToken, KeysUnavailable
from ..auth.rate_limit import RateLimiter
from ..auth.signing_keys import KeyRing
from ..settings import Settings
from ..store import deadline
from ..store.errors import Unavailable
from ..store.tenants import OAuthClient, Tenant, TenantTable
from ..timestamps import iso
from . import audit as audit_entry
from .audit import AuditWriter
from .messages import OAuthRequest, OAuthResponse

FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 16 * 1024
GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Per client id and instance: a client needs a token once per token lifetime (an hour or
# more), so ten at once and then one per six seconds leave room for retries and none for
# guessing secrets.
BURST = 10
REFILL_SECONDS = 6.0
# "Last use" of a credential is written at most this often per credential and instance.
USE_RECORD_INTERVAL = 3600.0
MAX_SCOPE = 256
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
# Far more than a token request has; a form of thousands of fields is refused unparsed.
_MAX_FIELDS = 32
# A rate-limit key is the client id as sent; ours are far shorter, longer ones are cut.
_MAX_LIMIT_KEY = 128
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="scim-oauth"'}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_JWKS_CACHE = {"Cache-Control": "public, max-age=300"}
AUTH_FAILED = ("client authentication failed: check the client id and secret issued by "
               "`python -m shared.admin client add TENANT`")
log = logging.getLogger("scim.oauth")


class OAuthError(Exception):
    """A refusal as RFC 6749 §5.2 describes it. `reason` is a fixed label for the log (never
    client text)."""

    def __init__(self, status: int, error: str, description: str, reason: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.reason = reason
        self.headers = dict(headers or {})
        self.tenant_id: str | None = None  # set once the client id named an existing tenant

    def response(self) -> OAuthResponse:
        return OAuthResponse(self.status,
                             {"error": self.error, "error_description": self.description},
                             {**self.headers, **_NO_STORE})


def _invalid_request(description: str, reason: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description, reason)


def _invalid_client(reason: str, description: str = AUTH_FAILED) -> OAuthError:
    # RFC 7235 §3.1: every 401 names a scheme; Basic is the one a client can use here.
    return OAuthError(401, "invalid_client", description, reason, _CHALLENGE)


def _storage_unavailable() -> OAuthError:
    return OAuthError(503, "temporarily_unavailable", "storage is temporarily unavailable; "
                      "retry after the indicated delay", "storage unavailable",
                      {"Retry-After": "5"})


def _internal(request_id: str) -> OAuthError:
    return OAuthError(500, "server_error", f"internal error (request id {request_id}, "
                      "logged); quote the request id when reporting it", "unhandled")


@dataclass(frozen=True)
class _Presented:
    """How the client authenticated: its id and exactly one of secret and assertion."""

    client_id: str
    secret: str | None = None
    assertion: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TokenEndpoint:
    def __init__(self, settings: Settings, tenants: TenantTable, access_tokens: AccessTokens,
                 keys: KeyRing, entra_jwt: EntraJwtVerifier, *,
                 limiter: RateLimiter | None = None,
                 audit: AuditWriter | None = None,
                 now: Callable[[], datetime] = _utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._tenants = tenants
        self._access_tokens = access_tokens
        self._keys = keys
        self._entra_jwt = entra_jwt
        self._limiter = limiter or RateLimiter(BURST, REFILL_SECONDS)
        self._audit = audit
        self._now = now
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._recorded: dict[tuple[str, str], float] = {}

    # -- entry points ----------------------------------------------------------------------

    def handle(self, request: OAuthRequest) -> OAuthResponse:
        started = time.perf_counter()
        request_id = sanitize.request_id(request.request_id)

        def answer() -> OAuthResponse:
            client_id = ""
            try:
                form = _form(request)
                client_id = form.get("client_id", "")
                presented = _presented(request, form)
                client_id = presented.client_id
                tenant_id, response = self._issue(presented, form.get("scope"))
            except OAuthError as err:
                log.info("token refused: %s client_id=%s request_id=%s", err.reason,
                         sanitize.clean(client_id, 100), request_id)
                refused = err
            else:
                self._audited(lambda audit: audit.record(audit_entry.token_entry(
                    tenant_id, client_id, latency_ms=(time.perf_counter() - started) * 1000,
                    request_id=request_id)))
                return response
            counted = refused.tenant_id
            if counted is not None:
                self._audited(lambda audit: audit.failure(
                    counted, refused.status, "token: " + refused.reason, known=True))
            return refused.response()

        response = self._guarded("token endpoint", request_id, answer)
        response.headers.setdefault("X-Request-Id", request_id)
        return response

    def jwks(self, request_id: str = "") -> OAuthResponse:
        """The published key set that verifies the access tokens (RFC 7517)."""
        request_id = sanitize.request_id(request_id)
        response = self._guarded("jwks", request_id, lambda: OAuthResponse(
            200, self._keys.jwks(), dict(_JWKS_CACHE)))
        response.headers["X-Request-Id"] = request_id
        return response

    def _audited(self, write: Callable[[AuditWriter], None]) -> None:
        """Record in the audit log; bookkeeping never fails the token request."""
        if self._audit is None:
            return
        try:
            write(self._audit)
        except Exception as exc:
            log.warning("audit entry not recorded (%s)", type(exc).__name__)

    def _guarded(self, what: str, request_id: str,
                 answer: Callable[[], OAuthResponse]) -> OAuthResponse:
        """`answer()` within the storage deadline; a storage outage becomes a 503 with
        Retry-After, anything unexpected a 500 quoting the logged request id."""
        try:
            with deadline.within(self._settings.storage_deadline_seconds):
                return answer()
        except Unavailable:
            log.warning("%s: storage unavailable request_id=%s", what, request_id)
            return _storage_unavailable().response()
        except Exception:
            log.exception("%s: unhandled error request_id=%s", what, request_id)
            return _internal(request_id).response()

    # -- the grant -------------------------------------------------------------------------

    def _issue(self, presented: _Presented, scope: str | None) -> tuple[str, OAuthResponse]:
        """(tenant id, the token response), or OAuthError."""
        wait = self._limiter.acquire(presented.client_id[:_MAX_LIMIT_KEY])
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise OAuthError(429, "slow_down", f"too many token requests for this client; "
                             f"retry after {seconds} seconds", "rate limited",
                             {"Retry-After": str(seconds)})
        tenant, client = self._client(presented.client_id)
        try:
            return tenant.id, self._grant(tenant, client, presented, scope)
        except OAuthError as err:
            err.tenant_id = tenant.id
            raise

    def _grant(self, tenant: Tenant, client: OAuthClient, presented: _Presented,
               scope: str | None) -> OAuthResponse:
        credential_id = (self._check_secret(tenant, client, presented.secret)
                         if presented.secret is not None
                         else self._check_assertion(client, presented.assertion or ""))
        if "oauth" not in tenant.auth_methods:
            raise OAuthError(400, "unauthorized_client",
                             "this tenant does not accept OAuth; python -m shared.admin tenant "
                             f"auth {tenant.id} --allow secret-token,oauth", "oauth not allowed")
        if scope is not None and (len(scope) > MAX_SCOPE or not _SCOPE.fullmatch(scope)):
            raise OAuthError(400, "invalid_scope",
                             f"scope must be at most {MAX_SCOPE} characters of space-separated "
                             "RFC 6749 §3.3 scope tokens (Entra sends scope=scim)",
                             "invalid scope")
        issued = self._access_tokens.mint(
            tenant_id=tenant.id, audience=self._settings.tenant_url(tenant.id),
            client_id=client.id, credential_id=credential_id)
        self._note_use(tenant.id, credential_id)
        body: dict[str, Any] = {"access_token": issued.token, "token_type": "Bearer",
                                "expires_in": issued.expires_in}
        if scope is not None:
            body["scope"] = scope
        return OAuthResponse(200, body, dict(_NO_STORE))

    def _client(self, client_id: str) -> tuple[Tenant, OAuthClient]:
        tenant_id = clients.tenant_of(client_id)
        if tenant_id is None:
            raise _invalid_client("malformed client id")
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise _invalid_client("unknown tenant")
        client = tenant.client(client_id)
        if tenant.refused or client is None:
            err = _invalid_client("tenant disabled" if tenant.refused else "unknown client")
            err.tenant_id = tenant.id  # counted in the audit log of the tenant it names
            raise err
        return tenant, client

    def _check_secret(self, tenant: Tenant, client: OAuthClient, secret: str | None) -> str:
        check = clients.check_secret(client, secret or "", self._now())
        if check.record is None:
            raise _invalid_client("wrong secret")
        if check.expired:
            raise _invalid_client(
                "expired secret",
                f"client secret {check.record.id} expired at {check.record.expires}; add a new "
                f"one with `python -m shared.admin client add {tenant.id} --client {client.id}`")
        return check.record.id

    def _check_assertion(self, client: OAuthClient, assertion: str) -> str:
        federation = client.federation
        if federation is None:
            raise _invalid_client(
                "no federated credential",
                "client assertion refused (the client has no federated credential: python -m "
                "shared.admin client federate TENANT --entra-tenant TID --subject SUB "
                f"--audience AUD --client {client.id})")
        try:
            self._entra_jwt.verify_assertion(
                assertion, entra_tenant_id=federation.entra_tenant_id,
                audience=federation.audience, subject=federation.subject)
        except InvalidToken as exc:
            label = sanitize.clean(exc, 60)  # a fixed label, never token content
            raise _invalid_client(f"assertion: {label}",
                                  f"client assertion refused ({label})") from None
        except KeysUnavailable:
            raise OAuthError(503, "temporarily_unavailable",
                             "Entra's signing keys could not be fetched to verify the client "
                             "assertion; retry shortly", "entra signing keys unavailable",
                             {"Retry-After": "30"}) from None
        return federation.id

    def _note_use(self, tenant_id: str, credential_id: str) -> None:
        now = self._monotonic()
        with self._lock:
            last = self._recorded.get((tenant_id, credential_id))
            if last is not None and now - last < USE_RECORD_INTERVAL:
                return
            if len(self._recorded) > 10_000:
                self._recorded.clear()
            self._recorded[(tenant_id, credential_id)] = now
        try:
            self._tenants.record_use(tenant_id, credential_id, iso(self._now()))
        except Exception as exc:  # bookkeeping: never fails the token it is recorded for
            log.warning("credential last-use not recorded (%s)", type(exc).__name__)


# -- the request -------------------------------------------------------------------------------


def _form(request: OAuthRequest) -> dict[str, str]:
    """The form parameters after the checks of steps 1-3 (method, media type, size,
    encoding, repeats, grant type)."""
    if request.method != "POST":
        raise OAuthError(405, "invalid_request", "the token endpoint takes POST only "
                         "(RFC 6749 §3.2)", "method not allowed", {"Allow": "POST"})
    media_type, *params = (request.header("content-type") or "").split(";")
    if media_type.strip().lower() != FORM:
        raise _invalid_request(f"send the parameters as {FORM} (RFC 6749 §4.4.2)",
                               "wrong content type")
    for param in params:
        name, _, value = param.partition("=")
        if (name.strip().lower() == "charset"
                and value.strip().strip('"').lower() not in ("utf-8", "utf8")):
            raise _invalid_request("the form must be UTF-8 (charset=utf-8)", "wrong charset")
    if len(request.body) > MAX_BODY_BYTES:
        raise _invalid_request(f"the request body is larger than {MAX_BODY_BYTES} bytes",
                               "body too large")
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True,
                          errors="strict", max_num_fields=_MAX_FIELDS)
    except ValueError:  # UnicodeDecodeError included: a byte or %-escape that is not UTF-8
        raise _invalid_request(f"the body is not a UTF-8 {FORM} form", "malformed form") \
            from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if value == "":  # RFC 6749 §3.1: a parameter without a value counts as omitted
            continue
        if name in form:
            raise _invalid_request(f"parameter {sanitize.clean(name, 40)} is given more than "
                                   "once (RFC 6749 §3.2)", "repeated parameter")
        form[name] = value
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise _invalid_request(f"grant_type is missing; send grant_type={GRANT_TYPE}",
                               "no grant type")
    if grant_type != GRANT_TYPE:
        raise OAuthError(400, "unsupported_grant_type",
                         f"only grant_type={GRANT_TYPE} is supported", "unsupported grant type")
    return form


def _presented(request: OAuthRequest, form: Mapping[str, str]) -> _Presented:
    """The client's credentials (step 4): exactly one of Basic, form secret, assertion."""
    authorization = request.header("authorization")
    secret_given = "client_secret" in form
    assertion_given = "client_assertion" in form or "client_assertion_type" in form
    if (authorization is not None) + secret_given + assertion_given > 1:
        raise _invalid_request("authenticate the client one way only: HTTP Basic, "
                               "client_id and client_secret in the form, or a client assertion",
                               "more than one client authentication")
    if authorization is not None:
        presented = _basic(authorization)
        if form.get("client_id", presented.client_id) != presented.client_id:
            raise _invalid_request("client_id in the form differs from the client id of the "
                                   "Authorization header", "client id mismatch")
        return presented
    client_id = form.get("client_id")
    if secret_given:
        if client_id is None:
            raise _invalid_request("client_secret needs client_id beside it", "no client id")
        return _Presented(client_id, secret=form["client_secret"])
    if assertion_given:
        return _assertion(form, client_id)
    raise _invalid_client("no client authentication",
                          "client authentication required: HTTP Basic with the client id and "
                          "secret, client_id and client_secret in the form, or a client "
                          "assertion (RFC 7523)")


def _basic(authorization: str) -> _Presented:
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("not basic authentication",
                              "the Authorization header must be Basic "
                              "base64(client_id:client_secret) (RFC 6749 §2.3.1)")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        raw_id, colon, raw_secret = decoded.partition(":")
        # RFC 6749 §2.3.1: id and secret are form-encoded before base64.
        client_id = unquote_plus(raw_id, errors="strict")
        secret = unquote_plus(raw_secret, errors="strict")
    except (binascii.Error, ValueError):
        colon, client_id, secret = "", "", ""
    if not colon or not client_id or not secret:
        raise _invalid_client("malformed basic credentials",
                              "the Basic credentials must be base64(urlencode(client_id) "
                              "':' urlencode(client_secret)) (RFC 6749 §2.3.1)")
    return _Presented(client_id, secret=secret)


def _assertion(form: Mapping[str, str], client_id: str | None) -> _Presented:
    assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if assertion_type is None or assertion is None:
        raise _invalid_request("a client assertion needs both client_assertion_type and "
                               "client_assertion (RFC 7521 §4.2)", "incomplete assertion")
    if assertion_type != ASSERTION_TYPE:
        raise _invalid_client("unsupported assertion type",
                              f"client_assertion_type must be {ASSERTION_TYPE} (RFC 7523)")
    if client_id is None:
        raise _invalid_request("client_id is required with a client assertion: it names the "
                               "tenant", "no client id")
    return _Presented(client_id, assertion=assertion)
