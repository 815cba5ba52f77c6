"""The management API: `/manage/v1/…`, JSON over HTTP for the web console and for scripts,
running the same operations as the CLI (this package's modules) inside the served app.

`ROUTES` maps (method, path template) to an operation; the OpenAPI document's management
paths (openapi.py) are generated from the same table. Every request is authenticated
first (shared/auth/admin.py: an operator's Entra ID token with the app role, or locally the
development credential), so an anonymous caller learns nothing, not even which paths exist.

Nothing escapes `handle` as an exception: refusals are `{"error": code, "detail": text}` with
their status (a ManageError's own; 404 `not_found` for an unknown path, 405 with Allow for a
known path's other methods, 400 for a body or parameter that cannot be used, 413 for a body
over MAX_BODY_BYTES); a storage outage is 503 with Retry-After; a write that lost a race
(PreconditionFailed) is 409; anything unexpected is a 500 naming a request id that is logged
with the traceback (which the client never sees). Every answer carries `Cache-Control:
no-store` (answers hold tokens shown once) and `X-Request-Id`. Each successful state-changing
call is logged on `scim.manage`: method, path, subject, status - never a credential."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .. import sanitize
from ..auth.admin import Admin, AdminAuthenticator, AdminRefused
from ..service.app import ScimService
from ..service.messages import ManageRequest, ManageResponse
from ..service.tenant_schemas import POLICIES
from ..store import deadline
from ..store.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
)
from . import (
    activity,
    audit_log,
    dead_letters,
    feed_credentials,
    health,
    schemas,
    subscription,
    tenants,
    tokens,
    webhooks,
)
from .context import Deployment
from .errors import ManageError, invalid, not_found

log = logging.getLogger("scim.manage")
MAX_BODY_BYTES = 1_048_576
# Storage calls of one management call end within this (a listing of every tenant reads more
# than a SCIM request does); deleting a tenant gets its budget on top.
DEADLINE_SECONDS = 30.0
DELETE_BUDGET_SECONDS = 20.0
# What a path parameter may be: ids are hex or word characters, schema ids are URNs. Anything
# else cannot name a thing and is a 404 without a lookup (no hostile text reaches a key).
PARAMETER_PATTERN = r"^[A-Za-z0-9._:~@-]{1,256}$"
_PARAMETER = re.compile(PARAMETER_PATTERN)
_NO_STORE = {"Cache-Control": "no-store"}

Answer = tuple[int, Any]


@dataclass
class Call:
    """One routed request: the deployment, who calls, the path's parameters, the query and
    the body (parsed on demand, with a 400 that says what is wrong)."""

    d: Deployment
    admin: Admin
    path: dict[str, str]
    query: Mapping[str, str]
    body: bytes

    @cached_property
    def json(self) -> Any:
        if not self.body.strip():
            raise invalid("this call needs a JSON body")
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise invalid("the body is not valid JSON (UTF-8)") from None

    def object(self) -> dict[str, Any]:
        value = self.json
        if not isinstance(value, dict):
            raise invalid("the body must be a JSON object")
        return value

    def optional_object(self) -> dict[str, Any]:
        """The body's object, or {} when there is none (a POST without a body)."""
        return self.object() if self.body.strip() else {}

    def string(self, body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise invalid(f"`{name}` must be a string" + (" (required)" if required else ""))
        return value

    def strings(self, body: dict[str, Any], name: str) -> list[str] | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"`{name}` must be a list of strings")
        return value

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        text = self.query.get(name)
        if text is None or text == "":
            return default
        if not (text.isascii() and text.isdigit() and len(text) <= 6) or not (
                low <= int(text) <= high):
            raise invalid(f"{name} must be a whole number from {low} to {high} (got "
                          f"{sanitize.clean(text, 20)!r})")
        return int(text)

    def flag(self, name: str) -> bool:
        text = (self.query.get(name) or "").lower()
        if text in ("", "false", "0", "no"):
            return False
        if text in ("true", "1", "yes"):
            return True
        raise invalid(f"{name} must be true or false (got {sanitize.clean(text, 20)!r})")


@dataclass(frozen=True)
class Query:
    """A query parameter, for the OpenAPI document."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. "tenants/{tenant}/tokens/{token_id}"
    run: Callable[[Call], Answer]
    summary: str
    operation_id: str
    query: tuple[Query, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body (OpenAPI)
    body_required: bool = False
    statuses: tuple[int, ...] = (200,)  # success statuses
    deadline: float = DEADLINE_SECONDS

    @cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.split("/"))

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        found: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{"):
                found[pattern[1:-1]] = part
            elif pattern != part.lower():
                return None
        return found

    @property
    def literal_count(self) -> int:
        return sum(not s.startswith("{") for s in self.segments)


# -- the routes -------------------------------------------------------------------------------


def _whoami(c: Call) -> Answer:
    return 200, {"subject": c.admin.subject, "method": c.admin.method,
                 "roles": list(c.admin.roles)}


def _list_tenants(c: Call) -> Answer:
    if c.flag("health"):
        return 200, health.health_overview(c.d)
    return 200, tenants.list_tenants(c.d)


def _create_tenant(c: Call) -> Answer:
    body = c.object()
    return 201, tenants.create_tenant(c.d, str(c.string(body, "name")))


def _show_tenant(c: Call) -> Answer:
    return 200, tenants.show_tenant(c.d, c.path["tenant"])


def _delete_tenant(c: Call) -> Answer:
    done = tenants.delete_tenant(c.d, c.path["tenant"], budget_seconds=DELETE_BUDGET_SECONDS)
    return (200 if done["complete"] else 202), done


def _disable_tenant(c: Call) -> Answer:
    return 200, tenants.set_tenant_state(c.d, c.path["tenant"], disabled=True)


def _enable_tenant(c: Call) -> Answer:
    return 200, tenants.set_tenant_state(c.d, c.path["tenant"], disabled=False)


def _tenant_health(c: Call) -> Answer:
    return 200, health.tenant_health(c.d, c.path["tenant"])


def _activity(c: Call) -> Answer:
    hours = c.integer("hours", 1, activity.MAX_HOURS, 24)
    bucket = c.integer("bucket", 1, 24 * 60, 60)
    return 200, activity.activity(c.d, c.path["tenant"], hours=hours, bucket_minutes=bucket)


def _list_tokens(c: Call) -> Answer:
    return 200, tokens.list_tokens(c.d, c.path["tenant"])


def _add_token(c: Call) -> Answer:
    return 201, tokens.add_token(c.d, c.path["tenant"])


def _revoke_token(c: Call) -> Answer:
    return 200, tokens.revoke_token(c.d, c.path["tenant"], c.path["token_id"])


def _show_webhook(c: Call) -> Answer:
    return 200, webhooks.show_webhook(c.d, c.path["tenant"])


def _set_webhook(c: Call) -> Answer:
    body = c.object()
    return 200, webhooks.set_webhook(c.d, c.path["tenant"], str(c.string(body, "url")),
                                     secret=c.string(body, "secret", required=False),
                                     types=c.strings(body, "types"))


def _clear_webhook(c: Call) -> Answer:
    return 200, webhooks.clear_webhook(c.d, c.path["tenant"])


def _test_webhook(c: Call) -> Answer:
    return 200, webhooks.test_webhook(c.d, c.path["tenant"])


def _list_feed_tokens(c: Call) -> Answer:
    return 200, feed_credentials.list_feed_tokens(c.d, c.path.get("tenant"))


def _issue_feed_token(c: Call) -> Answer:
    return 201, feed_credentials.issue_feed_token(c.d, c.path.get("tenant"))


def _revoke_feed_token(c: Call) -> Answer:
    return 200, feed_credentials.revoke_feed_token(c.d, c.path.get("tenant"),
                                                   c.path["token_id"])


def _show_subscription(c: Call) -> Answer:
    return 200, subscription.show_subscription(c.d)


def _set_subscription(c: Call) -> Answer:
    body = c.object()
    return 200, subscription.set_subscription(c.d, str(c.string(body, "url")),
                                              secret=c.string(body, "secret", required=False),
                                              types=c.strings(body, "types"))


def _clear_subscription(c: Call) -> Answer:
    return 200, subscription.clear_subscription(c.d)


def _test_subscription(c: Call) -> Answer:
    return 200, subscription.test_subscription(c.d)


def _list_schemas(c: Call) -> Answer:
    return 200, schemas.list_schemas(c.d, c.path["tenant"])


def _add_schema(c: Call) -> Answer:
    resource_type = c.query.get("resourceType") or None
    return 201, schemas.add_schema(c.d, c.path["tenant"], c.object(),
                                   resource_type=resource_type)


def _remove_schema(c: Call) -> Answer:
    return 200, schemas.remove_schema(c.d, c.path["tenant"], c.path["urn"])


def _list_undeclared(c: Call) -> Answer:
    return 200, schemas.list_undeclared(c.d, c.path["tenant"])


def _set_undeclared_policy(c: Call) -> Answer:
    body = c.object()
    return 200, schemas.set_undeclared_policy(c.d, c.path["tenant"],
                                              str(c.string(body, "policy")))


def _query_audit(c: Call) -> Answer:
    return 200, audit_log.query_audit(
        c.d, c.path["tenant"], since=c.query.get("since") or None,
        status=c.query.get("status") or None,
        limit=c.integer("limit", 1, audit_log.MAX_LIMIT, 100))


def _lane(c: Call, body: dict[str, Any] | None = None) -> str:
    lane = (body or {}).get("lane", c.query.get("lane") or "tenant")
    if not isinstance(lane, str):
        raise invalid("`lane` must be a string: tenant or deployment")
    return lane


def _list_dead_letters(c: Call) -> Answer:
    return 200, dead_letters.list_dead_letters(c.d, c.path["tenant"], lane=_lane(c))


def _show_dead_letter(c: Call) -> Answer:
    return 200, dead_letters.show_dead_letter(c.d, c.path["tenant"], c.path["event_id"],
                                              lane=_lane(c))


def _replay_dead_letters(c: Call) -> Answer:
    body = c.object()
    every, event_ids = body.get("all"), c.strings(body, "event_ids")
    if (every is True) == (event_ids is not None) or every not in (None, True, False):
        raise invalid('send either {"event_ids": [...]} or {"all": true} (with "lane" '
                      "optionally: tenant or deployment)")
    return 200, dead_letters.replay_dead_letters(c.d, c.path["tenant"], event_ids,
                                                 lane=_lane(c, body))


_T = "tenants/{tenant}"
_OBJECT: dict[str, Any] = {"type": "object"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_NAME = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": tenants.MAX_NAME}}}
_ENDPOINT = {"type": "object", "required": ["url"], "properties": {
    "url": {"type": "string", "description": "https URL of the receiver"},
    "secret": {"type": "string", "description": "the signing secret; omitted: a new random "
                                                "one, shown in the answer this once"},
    "types": {**_STRINGS, "description": "event type patterns (`*`: every type); omitted: "
                                         "the current filter stays"}}}
_POLICY = {"type": "object", "required": ["policy"], "properties": {
    "policy": {"type": "string", "enum": list(POLICIES)}}}
_REPLAY = {"type": "object", "properties": {
    "event_ids": {**_STRINGS, "minItems": 1}, "all": {"type": "boolean"},
    "lane": {"type": "string", "enum": list(dead_letters.LANE_NAMES)}}}
_LANE = Query("lane", "tenant (the tenant's webhook) or deployment (the deployment-wide "
              "subscription's copy)", {"type": "string", "enum": list(dead_letters.LANE_NAMES),
                                       "default": "tenant"})

ROUTES: tuple[Route, ...] = (
    Route("GET", "whoami", _whoami, "Who is calling (subject, sign-in method, roles)",
          "whoami"),
    # Tenants
    Route("GET", "tenants", _list_tenants, "List the tenants (with their health on request)",
          "listTenants", query=(Query("health", "true: each tenant with its health",
                                      {"type": "boolean", "default": False}),)),
    Route("POST", "tenants", _create_tenant,
          "Create a tenant: its Tenant URL and first Secret Token (shown once)",
          "createTenant", body=_NAME, body_required=True, statuses=(201,)),
    Route("GET", _T, _show_tenant, "Show a tenant", "showTenant"),
    Route("DELETE", _T, _delete_tenant,
          "Delete a tenant with all its data (202: not finished, call again)",
          "deleteTenant", statuses=(200, 202),
          deadline=DELETE_BUDGET_SECONDS + DEADLINE_SECONDS),
    Route("POST", f"{_T}/disable", _disable_tenant,
          "Disable a tenant (its requests get 401)", "disableTenant"),
    Route("POST", f"{_T}/enable", _enable_tenant, "Enable a disabled tenant", "enableTenant"),
    Route("GET", f"{_T}/health", _tenant_health,
          "A tenant's health: Entra's calls, errors, quarantine signs, feed backlog",
          "tenantHealth"),
    Route("GET", f"{_T}/activity", _activity,
          "A tenant's changes and errors over time, from its audit log", "tenantActivity",
          query=(Query("hours", "how far back", {"type": "integer", "minimum": 1,
                                                 "maximum": activity.MAX_HOURS,
                                                 "default": 24}),
                 Query("bucket", "minutes per bucket", {"type": "integer", "minimum": 1,
                                                        "maximum": 1440, "default": 60}))),
    # Secret Tokens
    Route("GET", f"{_T}/tokens", _list_tokens, "List a tenant's Secret Tokens (last use)",
          "listTokens"),
    Route("POST", f"{_T}/tokens", _add_token,
          "Add a Secret Token (shown once; at most two)", "addToken", statuses=(201,)),
    Route("DELETE", f"{_T}/tokens/{{token_id}}", _revoke_token, "Revoke a Secret Token",
          "revokeToken"),
    # Webhook
    Route("GET", f"{_T}/webhook", _show_webhook, "Show a tenant's webhook (never its secret)",
          "showWebhook"),
    Route("PUT", f"{_T}/webhook", _set_webhook,
          "Set a tenant's webhook (a generated secret is shown once)", "setWebhook",
          body=_ENDPOINT, body_required=True),
    Route("DELETE", f"{_T}/webhook", _clear_webhook, "Remove a tenant's webhook",
          "clearWebhook"),
    Route("POST", f"{_T}/webhook/test", _test_webhook,
          "Send a signed test event to a tenant's webhook", "testWebhook"),
    # Feed credentials
    Route("GET", f"{_T}/feed-tokens", _list_feed_tokens, "List a tenant's feed credentials",
          "listFeedTokens"),
    Route("POST", f"{_T}/feed-tokens", _issue_feed_token,
          "Issue a feed credential for a tenant (shown once)", "issueFeedToken",
          statuses=(201,)),
    Route("DELETE", f"{_T}/feed-tokens/{{token_id}}", _revoke_feed_token,
          "Revoke a tenant's feed credential", "revokeFeedToken"),
    Route("GET", "feed-tokens", _list_feed_tokens, "List the deployment-wide feed credentials",
          "listDeploymentFeedTokens"),
    Route("POST", "feed-tokens", _issue_feed_token,
          "Issue a deployment-wide feed credential (shown once)", "issueDeploymentFeedToken",
          statuses=(201,)),
    Route("DELETE", "feed-tokens/{token_id}", _revoke_feed_token,
          "Revoke a deployment-wide feed credential", "revokeDeploymentFeedToken"),
    # The deployment-wide subscription
    Route("GET", "subscription", _show_subscription,
          "Show the deployment-wide subscription (never its secret)", "showSubscription"),
    Route("PUT", "subscription", _set_subscription,
          "Set the deployment-wide subscription (a generated secret is shown once)",
          "setSubscription", body=_ENDPOINT, body_required=True),
    Route("DELETE", "subscription", _clear_subscription,
          "Remove the deployment-wide subscription", "clearSubscription"),
    Route("POST", "subscription/test", _test_subscription,
          "Send a signed test event to the subscription", "testSubscription"),
    # Custom attributes
    Route("GET", f"{_T}/schemas", _list_schemas,
          "A tenant's extension schemas and undeclared policy", "listTenantSchemas"),
    Route("POST", f"{_T}/schemas", _add_schema,
          "Declare an extension schema (an RFC 7643 schema document) for a tenant",
          "addSchema", body=_OBJECT, body_required=True, statuses=(201,),
          query=(Query("resourceType", "the resource type it extends (User, Group); "
                       "omitted: the document's resourceType or the end of its id",
                       {"type": "string"}),)),
    Route("DELETE", f"{_T}/schemas/{{urn}}", _remove_schema,
          "Withdraw an extension schema a tenant declared", "removeSchema"),
    Route("GET", f"{_T}/undeclared", _list_undeclared,
          "Attributes Entra sent that no schema declares", "listUndeclared"),
    Route("PUT", f"{_T}/undeclared-policy", _set_undeclared_policy,
          "What a request with an undeclared attribute gets: capture or reject",
          "setUndeclaredPolicy", body=_POLICY, body_required=True),
    # Audit log
    Route("GET", f"{_T}/audit", _query_audit, "A tenant's audit log, newest first",
          "queryAudit", query=(
              Query("since", "an ISO time or a duration back from now (90m, 2h, 7d)",
                    {"type": "string"}),
              Query("status", "statuses and classes, comma-separated (401, 4xx, 409,412)",
                    {"type": "string"}),
              Query("limit", "entries at most", {"type": "integer", "minimum": 1,
                                                 "maximum": audit_log.MAX_LIMIT,
                                                 "default": 100}))),
    # Dead letters
    Route("GET", f"{_T}/dead-letters", _list_dead_letters,
          "A tenant's dead letters (events that used their last delivery attempt)",
          "listDeadLetters", query=(_LANE,)),
    Route("GET", f"{_T}/dead-letters/{{event_id}}", _show_dead_letter,
          "One dead letter with its event", "showDeadLetter", query=(_LANE,)),
    Route("POST", f"{_T}/dead-letters/replay", _replay_dead_letters,
          "Replay dead letters (named, or all): delivered again within seconds",
          "replayDeadLetters", body=_REPLAY, body_required=True),
)


# -- the API ----------------------------------------------------------------------------------


class ManageApi:
    def __init__(self, deployment: Deployment, admins: AdminAuthenticator,
                 routes: tuple[Route, ...] = ROUTES) -> None:
        self.deployment = deployment
        self.admins = admins
        self.routes = routes

    @classmethod
    def served(cls, service: ScimService) -> ManageApi:
        """Over the running service: its caches, and its Entra key cache for tokens."""
        return cls(Deployment.served(service),
                   AdminAuthenticator(service.settings, service.entra_jwt))

    def handle(self, request: ManageRequest) -> ManageResponse:
        request_id = sanitize.request_id(request.request_id)
        subject = None
        try:
            admin = self.admins.authenticate(request.header("authorization"))
            subject = admin.subject
            response = self._handle(request, admin)
        except AdminRefused as err:
            log.info("manage request refused (%s) %s %s request_id=%s", err.reason,
                     sanitize.clean(request.method, 16), _shown(request.path), request_id)
            response = _refusal(err.status, err.error, err.detail, err.headers)
        except ManageError as err:
            response = _refusal(err.status, err.code, err.detail,
                                {"Allow": err.allowed} if isinstance(err, _MethodNotAllowed)
                                else None)
        except PreconditionFailed:
            response = _refusal(409, "conflict", "The data changed while this call ran (another "
                                "operator or instance wrote it); read it again and retry.")
        except (AlreadyExists, Conflict):
            response = _refusal(409, "conflict", "The data changed while this call ran or "
                                "already exists; read it again and retry.")
        except NotFound:
            response = _refusal(404, "not_found", "It was removed while this call ran.")
        except TooLarge:
            response = _refusal(413, "too_large", "The result would exceed what storage can "
                                "hold in one row; make it smaller.")
        except AccessDenied:
            log.warning("manage: storage refused the app's identity request_id=%s", request_id)
            response = _refusal(503, "unavailable", "Storage refused the app's identity: it "
                                "needs a data role on the storage account (Storage Table Data "
                                "Contributor), or the account's network rules refuse it. The "
                                "call was not applied.", {"Retry-After": "30"})
        except StoreError as exc:
            log.warning("manage: storage unavailable (%s) request_id=%s", type(exc).__name__,
                        request_id)
            response = _refusal(503, "unavailable", "Storage is temporarily unavailable; the "
                                "call may not have been applied. Retry after the indicated "
                                "delay.", {"Retry-After": "5"})
        except Exception:
            log.exception("manage request failed %s %s request_id=%s",
                          sanitize.clean(request.method, 16), _shown(request.path), request_id)
            response = _refusal(500, "internal", f"Internal error (request id {request_id}, "
                                "logged). Read the state again before retrying; quote the "
                                "request id when reporting it.")
        if subject is not None and request.method.upper() != "GET" and response.status < 400:
            log.info("manage %s %s subject=%s status=%s request_id=%s",
                     sanitize.clean(request.method, 16), _shown(request.path),
                     subject, response.status, request_id)
        response.headers.update(_NO_STORE)
        response.headers.setdefault("X-Request-Id", request_id)
        return response

    def _handle(self, request: ManageRequest, admin: Admin) -> ManageResponse:
        method = request.method.upper()
        parts = request.path.strip("/").split("/")
        matched = [(r, found) for r in self.routes if (found := r.match(parts)) is not None]
        if not matched:
            raise not_found("no such management API path; the routes are listed in "
                            "/scim/v2/openapi.json (tag manage)")
        allowed = [(r, found) for r, found in matched if r.method == method]
        if not allowed:
            raise _MethodNotAllowed(method, ", ".join(sorted({r.method for r, _ in matched})))
        # A literal segment beats a parameter (dead-letters/replay vs dead-letters/{id}).
        route, found = max(allowed, key=lambda pair: pair[0].literal_count)
        for name, value in found.items():
            if not _PARAMETER.fullmatch(value):
                raise not_found(f"no {name.replace('_', ' ')} "
                                f"{sanitize.clean(value, 40)!r}")
        if len(request.body) > MAX_BODY_BYTES:
            raise ManageError(413, "too_large", f"the body is {len(request.body)} bytes; at "
                              f"most {MAX_BODY_BYTES} are accepted")
        call = Call(self.deployment, admin, found, request.params, request.body)
        with deadline.within(route.deadline):
            status, body = route.run(call)
        # Accepted, not finished (a tenant's deletion): the caller calls again.
        return ManageResponse(status, body, {"Retry-After": "5"} if status == 202 else {})


class _MethodNotAllowed(ManageError):
    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(405, "method_not_allowed",
                         f"{sanitize.clean(method, 16)} is not allowed here; use {allowed}.")
        self.allowed = allowed


def _refusal(status: int, code: str, detail: str,
             headers: dict[str, str] | None = None) -> ManageResponse:
    return ManageResponse(status, {"error": code, "detail": detail}, dict(headers or {}))


def _shown(path: str) -> str:
    return "/manage/v1/" + sanitize.clean(path.strip("/"), 200)
