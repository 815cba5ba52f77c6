"""The SCIM service: authenticates, dispatches and turns every outcome into a SCIM response.

Nothing escapes `handle` as an exception: SCIM errors become their responses, storage
outages become 503 with Retry-After (Entra retries), anything unexpected becomes a 500 with
a request id to quote — never a traceback."""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import sanitize
from ..auth.access_tokens import AccessTokens
from ..auth.authenticator import Authenticator, AuthFailure
from ..auth.entra_jwt import EntraJwtVerifier
from ..auth.feed_tokens import FeedAuthenticator
from ..auth.signing_keys import KeyRing
from ..scim import discovery, projection
from ..scim.errors import ScimError
from ..settings import Settings
from ..store import deadline
from ..store.audit import AuditTable
from ..store.connection import Tables
from ..store.directory import Directory
from ..store.errors import StoreError, Unavailable
from ..store.feed_log import FeedLog
from ..store.feed_tokens import DeploymentFeedTokens
from ..store.queues import queues_for
from ..store.runs import RunLog
from ..store.signals import DeliverySignals
from ..store.signing_keys import SigningKeyTable
from ..store.subscriptions import SubscriptionTable
from ..store.tenants import Tenant, TenantTable
from . import audit, tenant_schemas
from .body import json_body
from .deliver import route_for
from .feed_api import FeedApi
from .kinds import Kind, TenantKinds
from .listing import Lister, Query, parse_paging
from .messages import ScimRequest, ScimResponse
from .resources import Resources, View
from .signals import Signaller
from .token_endpoint import TokenEndpoint

log = logging.getLogger("scim")
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
# A health probe (App Service, a load balancer) wants an answer within seconds; a storage
# endpoint that never answers is reported as unreachable after this long.
HEALTH_DEADLINE_SECONDS = 2.0


class ScimService:
    def __init__(self, settings: Settings, tables: Tables) -> None:
        self.settings = settings
        self.tables = tables
        self.delivery_signals = _delivery_signals(settings, tables)
        self.signaller = Signaller(self.delivery_signals)
        self.directory = Directory(tables.data, on_events=self.signaller.notify)
        self.tenants = TenantTable(tables.tenants)
        # The deployment-wide subscription, read by every delivery pass through its cache.
        self.subscriptions = SubscriptionTable(tables.tenants)
        self.entra_jwt = EntraJwtVerifier(
            settings.entra_jwks_url, assertion_jwks_url=settings.entra_assertion_jwks_url)
        # The token endpoint's keys and tokens: shared by the endpoint that mints them and the
        # authenticator that verifies them, so both see one cached key set.
        self.keys = KeyRing(SigningKeyTable(tables.tenants))
        self.access_tokens = AccessTokens(self.keys, settings.oauth_issuer,
                                          settings.access_token_minutes * 60)
        self.auth = Authenticator(self.tenants.get, record_use=self.tenants.record_use,
                                  jwt=self.entra_jwt, access=self.access_tokens,
                                  audience_of=settings.tenant_url)
        self.resources = Resources(self.directory, settings.public_base_url,
                                   event_type_prefix=settings.event_type_prefix,
                                   note_undeclared=self._note_undeclared)
        self.lister = Lister(self.resources)
        self.audit = audit.AuditWriter(AuditTable(tables.audit).insert_many)
        self.token_endpoint = TokenEndpoint(settings, self.tenants, self.access_tokens,
                                            self.keys, self.entra_jwt, audit=self.audit)
        self.runs = RunLog(tables.runs)
        self.feed_auth = FeedAuthenticator(self.tenants.get,
                                           DeploymentFeedTokens(tables.tenants).all)
        # Timer mode: a pull publishes for itself under the tenant's lease (no queue needed).
        self.feed_api = FeedApi(
            settings, FeedLog(self.directory), self.feed_auth,
            leases=(DeliverySignals(tables.data, None) if self.delivery_signals is None
                    else None),
            route_of=lambda tenant: route_for(self, tenant))

    # -- entry point -------------------------------------------------------------------

    def handle(self, request: ScimRequest) -> ScimResponse:
        started = time.perf_counter()
        # Echoed in a header and logged: only a short safe token is kept (sanitize.py).
        request_id = sanitize.request_id(request.request_id)
        authenticated, failure = False, None
        try:
            # Every storage call of the request (authentication's tenant read included) ends
            # by this deadline; a hung storage then costs a 503 instead of a held request.
            with deadline.within(self.settings.storage_deadline_seconds):
                tenant = self.auth.authenticate(request.tenant, request.header("authorization"))
                authenticated = True
                response = self._dispatch(request, self.kinds_for(tenant))
        except AuthFailure as err:
            failure = err
            response = ScimResponse.error(err)
        except ScimError as err:
            response = ScimResponse.error(err)
        except Unavailable:
            log.warning("storage unavailable request_id=%s", request_id)
            response = ScimResponse.error(ScimError(
                503, "Storage is temporarily unavailable; the request was not applied. "
                     "Retry after the indicated delay.", None, {"Retry-After": "5"}))
        except Exception:
            log.exception("unhandled error request_id=%s", request_id)
            response = ScimResponse.error(ScimError(
                500, f"Internal error (request id {request_id}, logged). GET the resource to "
                     "see whether the change was applied before retrying; quote the request id "
                     "when reporting it."))
        response.headers.setdefault("X-Request-Id", request_id)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # The Functions host already records every invocation with its status and duration;
        # a line per success would double the log volume (and its CPU and ingestion cost), so
        # only refusals are logged at INFO: they are what an operator looks for.
        log.log(logging.INFO if response.status >= 400 else logging.DEBUG,
                "%s %s status=%s ms=%.1f request_id=%s", sanitize.clean(request.method, 16),
                sanitize.clean(request.resource, 64), response.status, elapsed_ms, request_id)
        self._audit(request, response, elapsed_ms, request_id, authenticated, failure)
        return response

    def _audit(self, request: ScimRequest, response: ScimResponse, elapsed_ms: float,
               request_id: str, authenticated: bool, failure: AuthFailure | None) -> None:
        """Queue the audit entry and count the request (shared/service/audit.py); never fails
        the request. Only an authenticated request gets an entry of its own: refusals are
        counted per existing tenant, so anonymous callers cannot fill the table or open
        partitions."""
        try:
            if failure is not None:
                self.audit.failure(request.tenant, failure.status, failure.reason,
                                   known=failure.tenant_known)
                if failure.tenant_known:
                    self.audit.request(request.tenant, failure.status, authenticated=False)
            elif authenticated:
                self.audit.request(request.tenant, response.status, authenticated=True)
                if audit.audited(request, response.status):
                    self.audit.record(audit.entry(request, response, latency_ms=elapsed_ms,
                                                  request_id=request_id))
        except Exception as exc:
            log.warning("audit entry not recorded (%s) request_id=%s", type(exc).__name__,
                        request_id)

    def _note_undeclared(self, tenant: str, resource_type: str,
                         names: list[tuple[str, str]]) -> None:
        tenant_schemas.note_undeclared(self.tenants, tenant, names, resource_type)

    @staticmethod
    def kinds_for(tenant: Tenant) -> TenantKinds:
        """The kinds a tenant's requests use: its declared extension schemas and its policy
        for undeclared attributes. From the authenticated record (no read of its own); a
        tenant that declares nothing gets the shared DEFAULT_KINDS."""
        types = tenant_schemas.types_for(tenant)
        return TenantKinds.of(types.user, types.group)

    def _dispatch(self, request: ScimRequest, kinds: TenantKinds) -> ScimResponse:
        resource = request.resource.lower()
        kind = kinds.at(resource)
        if kind is not None:
            return self._resource(kind, request)
        if resource == "serviceproviderconfig" and request.id is None:
            return self._get_only(request, discovery.service_provider_config(
                documentation_uri=self.settings.documentation_uri,
                max_results=self.settings.max_results,
                max_payload_bytes=self.settings.max_payload_bytes))
        base = self.settings.tenant_url(request.tenant)
        # The tenant's own resource types: its declared extension schemas are advertised to
        # it alone.
        if resource == "resourcetypes":
            found = (discovery.resource_types(base, kinds.rtypes) if request.id is None
                     else discovery.resource_type(request.id, base, kinds.rtypes))
            return self._get_only(request, found, f"ResourceType {_shown(request.id)}")
        if resource == "schemas":
            found = (discovery.schemas(base, kinds.rtypes) if request.id is None
                     else discovery.schema(request.id, base, kinds.rtypes))
            return self._get_only(request, found, f"Schema {_shown(request.id)}")
        if resource in ("bulk", "me", ".search"):
            raise ScimError(501, f"/{request.resource} is not supported by this service "
                                 "(see /ServiceProviderConfig). Use /Users and /Groups.")
        raise ScimError(404, f"Unknown endpoint /{_shown(request.resource)}; this service serves "
                             "/Users, /Groups, /Schemas, /ResourceTypes, /ServiceProviderConfig.")

    @staticmethod
    def _get_only(request: ScimRequest, body: dict[str, Any] | None,
                  what: str = "") -> ScimResponse:
        if request.method != "GET":
            raise _method_not_allowed(request)
        if body is None:
            raise ScimError(404, f"{what} not found.")
        return ScimResponse(200, body)

    # -- Users and Groups ------------------------------------------------------------------

    def _resource(self, kind: Kind, request: ScimRequest) -> ScimResponse:
        method, rid = request.method, request.id
        if rid is None:
            if method == "GET":
                return ScimResponse(200, self.lister.run(kind, request.tenant,
                                                         self._query(request)))
            if method == "POST":
                return self._create(kind, request)
            raise _method_not_allowed(request)
        if rid == ".search":
            if method != "POST":
                raise _method_not_allowed(request)
            return self._search(kind, request)
        view = _view(request)
        if method == "GET":
            stored = self.resources.get(kind, request.tenant, rid)
            if request.header("if-none-match") in (stored.etag, "*"):
                return ScimResponse(304, None, {"ETag": stored.etag})
            return self._with_etag(200, self.resources.load_view(kind, request.tenant, stored,
                                                                 view), stored.etag)
        changes: list[str] = []  # a user's deactivation or reactivation, for the audit
        if method == "PUT":
            body = json_body(request, self.settings.max_payload_bytes)
            stored, _ = self.resources.replace(kind, request.tenant, rid, body,
                                               request.header("if-match"), changes=changes)
            response = self._with_etag(200, self.resources.load_view(
                kind, request.tenant, stored, view), stored.etag)
            response.change = changes[-1] if changes else None
            return response
        if method == "PATCH":
            body = json_body(request, self.settings.max_payload_bytes)
            patched = self.resources.patch(kind, request.tenant, rid, body,
                                           request.header("if-match"), changes=changes)
            if kind.is_group and not view.given:
                return ScimResponse(204)  # Entra: group PATCH answers 204, no member list
            stored = patched or self.resources.get(kind, request.tenant, rid)
            response = self._with_etag(200, self.resources.load_view(
                kind, request.tenant, stored, view), stored.etag)
            response.change = changes[-1] if changes else None
            return response
        if method == "DELETE":
            self.resources.delete(kind, request.tenant, rid, request.header("if-match"))
            return ScimResponse(204)
        raise _method_not_allowed(request)

    def _create(self, kind: Kind, request: ScimRequest) -> ScimResponse:
        body = json_body(request, self.settings.max_payload_bytes)
        stored, members = self.resources.create(kind, request.tenant, body)
        view = _view(request)
        rendered = self.resources.render(kind, request.tenant, stored, view,
                                         members if kind.is_group else None)
        response = self._with_etag(201, rendered, stored.etag)
        response.headers["Location"] = self.resources.location(kind, request.tenant, stored.id)
        return response

    def _search(self, kind: Kind, request: ScimRequest) -> ScimResponse:
        body = json_body(request, self.settings.max_payload_bytes)
        start, count = parse_paging(body.get("startIndex"), body.get("count"),
                                    self.settings.max_results)
        filt = body.get("filter")
        if filt is not None and not isinstance(filt, str):
            raise ScimError(400, "filter must be a string.", "invalidFilter")
        if body.get("sortBy"):
            raise _no_sort()
        view = View(_names(body.get("attributes")), _names(body.get("excludedAttributes")))
        return ScimResponse(200, self.lister.run(kind, request.tenant,
                                                 Query(filt, start, count, view,
                                                       cursor=_text(body.get("cursor")))))

    def _query(self, request: ScimRequest) -> Query:
        if request.param("sortBy"):
            raise _no_sort()
        start, count = parse_paging(request.param("startIndex"), request.param("count"),
                                    self.settings.max_results)
        return Query(request.param("filter"), start, count, _view(request),
                     cursor=request.param("cursor"))

    @staticmethod
    def _with_etag(status: int, body: dict[str, Any], etag: str) -> ScimResponse:
        return ScimResponse(status, body, {"ETag": etag})

    # -- health ----------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        with deadline.within(HEALTH_DEADLINE_SECONDS):
            try:
                self.tenants.get("health-probe")
                storage = "reachable"
            except Exception as exc:  # any failure means "not healthy"; the type is the detail
                storage = f"unreachable ({type(exc).__name__})"
            ok = storage == "reachable"
            body: dict[str, Any] = {"status": "ok" if ok else "degraded", "storage": storage}
            if ok:
                body["reconcile"] = self._last_run()
        return (200 if ok else 503), body

    def _last_run(self) -> dict[str, Any] | None:
        """The last reconciler run of this deployment (None before the first one)."""
        try:
            last = self.runs.last()
        except Exception as exc:  # health reports, it does not fail on its details
            return {"error": type(exc).__name__}
        if last is None:
            return None
        # A queued tick (mode "queued") has no delivery counts but the poison queues' counts.
        return {k: last.get(k) for k in ("time", "mode", "delivered", "failed",
                                         "dead_lettered", "repaired", "backlog", "incomplete",
                                         "errors", "expiring_secrets", "repair_incomplete",
                                         "tenants", "scheduled", "poison_deliver",
                                         "poison_work") if k in last}


def _view(request: ScimRequest) -> View:
    return View(projection.parse_attribute_list(request.param("attributes")),
                projection.parse_attribute_list(request.param("excludedAttributes")))


def _names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return projection.parse_attribute_list(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ScimError(400, "attributes and excludedAttributes must be lists of attribute names.",
                    "invalidValue")


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _no_sort() -> ScimError:
    return ScimError(400, "Sorting is not supported (ServiceProviderConfig sort.supported is "
                          "false); omit sortBy and sortOrder.", "invalidValue")


def _method_not_allowed(request: ScimRequest) -> ScimError:
    return ScimError(405, f"{_shown(request.method, 16)} is not allowed on "
                          f"/{_shown(request.resource)}"
                          f"{'/' + _shown(request.id) if request.id else ''}.")


def _shown(text: str | None, limit: int = 100) -> str:
    """Path text quoted back in an error detail: the client's, so one bounded line."""
    return sanitize.clean(text or "", limit)


def _delivery_signals(settings: Settings, tables: Tables) -> DeliverySignals | None:
    """Queue-driven delivery when SCIM_QUEUE_STORAGE (or its identity form) is set. Queues
    that cannot be opened leave the service in timer mode, loudly."""
    try:
        queues = queues_for(settings)
    except StoreError:
        log.exception("delivery queues not usable: events are delivered by the timer only")
        return None
    return DeliverySignals(tables.data, queues.deliver) if queues is not None else None
