"""The OpenAPI 3.1 description of the SCIM surface, generated from the schema definitions in
`shared.scim.schemas` (the same data that drives validation and /Schemas), so it cannot
drift from what the service accepts. Served without authentication at
`GET /scim/v2/openapi.json` (it holds no tenant data: the tenant is a server variable) with
the management API's paths added by shared/manage/openapi.py, which composes the published
document and regenerates the checked-in copy, docs/openapi.json."""

from __future__ import annotations

from typing import Any

from ..scim import schema as s
from ..scim.discovery import LIST_RESPONSE, SERVICE_PROVIDER_CONFIG
from ..scim.errors import ERROR_SCHEMA
from ..scim.schemas import GROUP, USER
from ..settings import MAX_FEED_WAIT_SECONDS
from .app import SEARCH_REQUEST
from .feed_api import DEFAULT_LIMIT, MAX_LIMIT

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
VERSION = "1.0.0"

_TYPES: dict[str, dict[str, Any]] = {
    s.STRING: {"type": "string"},
    s.BOOLEAN: {"type": "boolean"},
    s.DECIMAL: {"type": "number"},
    s.INTEGER: {"type": "integer"},
    s.DATETIME: {"type": "string", "format": "date-time"},
    s.REFERENCE: {"type": "string"},
    s.BINARY: {"type": "string", "contentEncoding": "base64"},
}


def _attribute(attr: s.Attribute) -> dict[str, Any]:
    if attr.type == s.COMPLEX:
        one: dict[str, Any] = {"type": "object",
                               "properties": {a.name: _attribute(a) for a in attr.sub_attributes}}
    else:
        one = dict(_TYPES[attr.type])
    if attr.description:
        one["description"] = attr.description
    if attr.mutability == s.READ_ONLY:
        one["readOnly"] = True
    if attr.multi_valued:
        return {"type": "array", "items": one,
                **({"readOnly": True} if attr.mutability == s.READ_ONLY else {})}
    return one


def _resource(rtype: s.ResourceType) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "schemas": {"type": "array", "items": {"type": "string"},
                    "examples": [[rtype.schema.id]]},
        "id": {"type": "string", "readOnly": True},
        "externalId": {"type": "string"},
        "meta": {"type": "object", "readOnly": True, "properties": {
            "resourceType": {"type": "string"}, "created": {"type": "string"},
            "lastModified": {"type": "string"}, "location": {"type": "string"},
            "version": {"type": "string"}}},
    }
    for attr in rtype.schema.attributes:
        if attr.advertised:
            properties[attr.name] = _attribute(attr)
    for ext, _required in rtype.extensions:
        properties[ext.id] = {"type": "object", "description": ext.description,
                              "properties": {a.name: _attribute(a) for a in ext.attributes}}
    return {"type": "object", "description": rtype.description, "properties": properties,
            "additionalProperties": True}


def _input(rtype: s.ResourceType, name: str) -> dict[str, Any]:
    """What a create or replace must send: the resource with its required attributes. Kept
    apart from the response schema, where `attributes=` may leave required ones out."""
    required = [a.name for a in rtype.schema.attributes if a.required and a.advertised]
    return {"allOf": [_ref(name)], "required": required}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {SCIM_JSON: {"schema": schema}, "application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


_ERRORS = {
    "400": _error("Invalid request (scimType names why: invalidValue, invalidFilter, "
                  "invalidSyntax, invalidPath, noTarget, mutability, invalidCursor)"),
    "401": _error("Missing or invalid bearer token (the same answer for an unknown tenant)"),
    "404": _error("No such resource in this tenant"),
    "405": _error("Method not allowed on this endpoint"),
    "409": _error("uniqueness: userName / displayName already used in this tenant"),
    "412": _error("If-Match does not match the current meta.version"),
    "413": _error("Body larger than ServiceProviderConfig bulk.maxPayloadSize"),
    "415": _error("Content-Type is not JSON"),
    "503": _error("Storage temporarily unavailable; retry after the Retry-After delay"),
}


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {**ok, **{c: _ERRORS[c] for c in ("400", "401", "405", "503", *codes)}}


def _params(*names: str) -> list[dict[str, Any]]:
    known = {
        "filter": ("RFC 7644 filter, e.g. userName eq \"a@b.c\"", {"type": "string"}),
        "startIndex": ("1-based index of the first result", {"type": "integer"}),
        "count": ("page size (capped at maxResults)", {"type": "integer"}),
        "cursor": ("RFC 9865 cursor from a previous page's nextCursor", {"type": "string"}),
        "attributes": ("comma-separated attributes to return", {"type": "string"}),
        "excludedAttributes": ("comma-separated attributes to omit", {"type": "string"}),
    }
    return [{"name": n, "in": "query", "required": False, "description": known[n][0],
             "schema": known[n][1]} for n in names]


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
             "description": "meta.version the client last read; 412 when stale",
             "schema": {"type": "string"}}


def _resource_paths(rtype: s.ResourceType, name: str) -> dict[str, Any]:
    ep = rtype.endpoint
    one = _json(_ref(name))
    given = _json(_ref(f"{name}Input"))
    listing = {"description": "ListResponse", "content": _json(_ref("ListResponse"))}
    view = _params("attributes", "excludedAttributes")
    patch_ok = {"200": {"description": f"The {name} after the change", "content": one}}
    if rtype is GROUP:
        patch_ok["204"] = {"description": "Applied (Entra's expectation for groups)"}
    return {
        ep: {
            "get": {"summary": f"List or filter {name}s", "operationId": f"list{name}s",
                    "parameters": _params("filter", "startIndex", "count", "cursor",
                                          "attributes", "excludedAttributes"),
                    "responses": _responses({"200": listing})},
            "post": {"summary": f"Create a {name}", "operationId": f"create{name}",
                     "requestBody": {"required": True, "content": given},
                     "responses": _responses({"201": {"description": "Created",
                                                      "content": one}}, "409", "413", "415")},
        },
        f"{ep}/.search": {
            "post": {"summary": f"Search {name}s (POST)", "operationId": f"search{name}s",
                     "requestBody": {"required": True, "content": _json(_ref("SearchRequest"))},
                     "responses": _responses({"200": listing}, "413", "415")},
        },
        f"{ep}/{{id}}": {
            "parameters": [_ID],
            "get": {"summary": f"Read a {name}", "operationId": f"get{name}",
                    "parameters": view,
                    "responses": _responses({"200": {"description": name, "content": one},
                                             "304": {"description": "Not modified"}}, "404")},
            "put": {"summary": f"Replace a {name}", "operationId": f"replace{name}",
                    "parameters": [*view, _IF_MATCH],
                    "requestBody": {"required": True, "content": given},
                    "responses": _responses({"200": {"description": name, "content": one}},
                                            "404", "409", "412", "413", "415")},
            "patch": {"summary": f"Change a {name} (RFC 7644 PATCH)",
                      "operationId": f"patch{name}", "parameters": [*view, _IF_MATCH],
                      "requestBody": {"required": True, "content": _json(_ref("PatchOp"))},
                      "responses": _responses(patch_ok, "404", "409", "412", "413", "415")},
            "delete": {"summary": f"Delete a {name}", "operationId": f"delete{name}",
                       "parameters": [_IF_MATCH],
                       "responses": _responses({"204": {"description": "Deleted"}},
                                               "404", "412")},
        },
    }


def _discovery_paths() -> dict[str, Any]:
    obj = {"type": "object", "additionalProperties": True}
    ok = {"200": {"description": "OK", "content": _json(obj)}}
    out: dict[str, Any] = {
        "/ServiceProviderConfig": {"get": {
            "summary": "Service provider configuration",
            "operationId": "getServiceProviderConfig", "responses": _responses(ok)}},
    }
    for name in ("ResourceTypes", "Schemas"):
        out[f"/{name}"] = {"get": {"summary": f"All {name}", "operationId": f"list{name}",
                                   "responses": _responses(ok)}}
        out[f"/{name}/{{id}}"] = {"parameters": [_ID], "get": {
            "summary": f"One of {name}", "operationId": f"get{name}",
            "responses": _responses(ok, "404")}}
    return out


FEED_TAG = "feed"


def _feed_error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("FeedError")}}}


def _feed_paths() -> dict[str, Any]:
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": schema}

    return {"/events": {
        # The pull API lives beside the SCIM surface, not under a Tenant URL.
        "servers": [{"url": "/feed/v1/{tenant}", "variables": {"tenant": {
            "default": "TENANT", "description": "the tenant whose events are read"}}}],
        "get": {
            "summary": "Pull the tenant's change events, oldest first",
            "description": "Events in the order they were published (`sequence`), each the "
                           "CloudEvent a webhook receives. Resume with `after` = the `next` "
                           "of the previous page. Events stay for SCIM_FEED_HOLD_DAYS.",
            "operationId": "pullEvents", "tags": [FEED_TAG],
            "security": [{"feedToken": []}],
            "parameters": [
                query("after", "the id of the last event read (`next`); absent: from the "
                      "oldest event held", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
                query("limit", "events per page", {"type": "integer", "minimum": 1,
                                                   "maximum": MAX_LIMIT,
                                                   "default": DEFAULT_LIMIT}),
                query("wait", "seconds to wait for an event when there is none yet "
                      "(long-poll; at most SCIM_FEED_MAX_WAIT_SECONDS)",
                      {"type": "integer", "minimum": 0, "maximum": MAX_FEED_WAIT_SECONDS,
                       "default": 0}),
            ],
            "responses": {
                "200": {"description": "A page of events",
                        "headers": {"Cache-Control": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": _ref("FeedPage")}}},
                "400": _feed_error("A parameter is out of its range (the detail names it)"),
                "401": _feed_error("Not a feed credential of this tenant (the same answer "
                                   "for an unknown tenant, a Secret Token, a revoked one)"),
                "405": _feed_error("Only GET is allowed"),
                "410": _feed_error("cursor_expired: the event named by `after` is no longer "
                                   "held; start again without `after`"),
                "414": {"description": "The URL is longer than the host accepts (it answers "
                                       "before the feed is reached)"},
                "503": _feed_error("Storage temporarily unavailable; retry after the "
                                   "Retry-After delay"),
            },
        },
    }}


def _feed_schemas() -> dict[str, Any]:
    return {
        "FeedPage": {"type": "object", "required": ["events", "next", "more"], "properties": {
            "events": {"type": "array", "items": _ref("FeedEvent")},
            "next": {"type": ["string", "null"],
                     "description": "the id of the last event returned (or the `after` "
                                    "given): pass it as `after` to resume"},
            "more": {"type": "boolean",
                     "description": "more events are there now: read again at once"}}},
        "FeedEvent": {"type": "object", "required": ["id", "type", "sequence"],
                      "additionalProperties": True, "properties": {
                          "specversion": {"type": "string"}, "id": {"type": "string"},
                          "source": {"type": "string"}, "type": {"type": "string"},
                          "subject": {"type": "string"}, "time": {"type": "string"},
                          "tenant": {"type": "string"}, "data": {"type": "object"},
                          "sequence": {"type": "integer", "minimum": 1}}},
        "FeedError": {"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "string", "examples": ["cursor_expired", "invalid_parameter",
                                                     "unauthorized"]},
            "detail": {"type": "string"}}},
    }


def _components() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http", "scheme": "bearer",
                "description": "The tenant's Secret Token (or, when enabled for the tenant, "
                               "an Entra-issued JWT)."},
            "oauth2": {
                "type": "oauth2",
                "description": "An access token from the token endpoint, for a client of the "
                               "tenant (client_secret_basic, client_secret_post, or an "
                               "Entra-signed client assertion); sent as a bearer token.",
                "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}}},
            "feedToken": {
                "type": "http", "scheme": "bearer",
                "description": "A feed credential (feed_…) of the tenant, or a deployment-wide "
                               "one: `python -m shared.admin feed token TENANT` (or "
                               "`--deployment`). Secret Tokens do not read the feed."}},
        "schemas": {
            "User": _resource(USER),
            "UserInput": _input(USER, "User"),
            "Group": _resource(GROUP),
            "GroupInput": _input(GROUP, "Group"),
            "Error": {"type": "object", "required": ["schemas", "status"], "properties": {
                "schemas": {**strings, "examples": [[ERROR_SCHEMA]]},
                "status": {"type": "string"}, "detail": {"type": "string"},
                "scimType": {"type": "string"}}},
            "ListResponse": {"type": "object", "required": ["schemas"], "properties": {
                "schemas": {**strings, "examples": [[LIST_RESPONSE]]},
                "totalResults": {"type": "integer"}, "startIndex": {"type": "integer"},
                "itemsPerPage": {"type": "integer"}, "nextCursor": {"type": "string"},
                "previousCursor": {"type": "string"},
                "Resources": {"type": "array", "items": {"type": "object"}}}},
            "PatchOp": {"type": "object", "required": ["schemas", "Operations"], "properties": {
                "schemas": {**strings, "examples": [[PATCH_OP]]},
                "Operations": {"type": "array", "items": {
                    "type": "object", "required": ["op"], "properties": {
                        "op": {"type": "string", "examples": ["add", "replace", "remove"]},
                        "path": {"type": "string"}, "value": {}}}}}},
            "SearchRequest": {"type": "object", "properties": {
                "schemas": {**strings, "examples": [[SEARCH_REQUEST]]},
                "filter": {"type": "string"}, "startIndex": {"type": "integer"},
                "count": {"type": "integer"}, "attributes": strings,
                "excludedAttributes": strings}},
            **_feed_schemas(),
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (deterministic: the checked-in copy must equal it)."""
    paths = {**_resource_paths(USER, "User"), **_resource_paths(GROUP, "Group"),
             **_discovery_paths(), **_feed_paths()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Entra SCIM connector - SCIM 2.0 service provider",
                 "version": VERSION,
                 "description": "RFC 7643/7644 Users and Groups as provisioned by Microsoft "
                                "Entra ID. One Tenant URL per customer: "
                                "https://{host}/scim/v2/{tenant}. Discovery: "
                                f"{SERVICE_PROVIDER_CONFIG}. Change events are pulled at "
                                "https://{host}/feed/v1/{tenant}/events (tag feed)."},
        "servers": [{"url": "/scim/v2/{tenant}",
                     "variables": {"tenant": {"default": "TENANT",
                                              "description": "the tenant id of the Tenant "
                                                             "URL"}}}],
        "security": [{"bearer": []}, {"oauth2": []}],
        "paths": paths,
        "components": _components(),
    }
