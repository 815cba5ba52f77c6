"""The published OpenAPI document: the SCIM surface and the pull API (shared/service/openapi.py)
plus the management API's `/manage/v1/…` paths (tag `manage`, security scheme `adminBearer`),
generated from the API's own route table (api.py ROUTES) so the two cannot drift. It is
composed here because the management API sits above the service layer (the service cannot
import it). Served at /scim/v2/openapi.json; checked in as docs/openapi.json (a test keeps the
two equal): regenerate with `python -m shared.manage.openapi`."""

from __future__ import annotations

from typing import Any

from ..service import openapi as service_openapi
from .api import MAX_BODY_BYTES, PARAMETER_PATTERN, ROUTES, Route

TAG = "manage"
PREFIX = "/manage/v1"
_JSON = "application/json"
# Every call can be refused these ways (the detail says why); 404 also for a path parameter
# that names nothing.
_ERRORS = {
    "400": "A parameter or the body cannot be used (the detail names it)",
    "401": "No management credential: an Entra ID token for the app registration, or locally "
           "the development credential (the same answer for a tenant's Secret Token, feed "
           "credential or OAuth access token)",
    "403": "A valid Entra ID token without the app role (SCIM_MANAGE_ROLE)",
    "404": "No such tenant, token, event …, or no such path",
    "405": "Method not allowed on this path (Allow lists the methods)",
    "409": "The state does not allow it, or it changed while the call ran",
    "413": f"Body larger than {MAX_BODY_BYTES} bytes",
    "503": "Storage (or Entra's signing keys) temporarily unavailable; retry after the "
           "Retry-After delay",
}
_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted: not finished yet, call again"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ManageError"}}}}


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": segment[1:-1], "in": "path", "required": True,
         "schema": {"type": "string", "pattern": PARAMETER_PATTERN}}
        for segment in route.segments if segment.startswith("{")]
    parameters += [{"name": q.name, "in": "query", "required": False,
                    "description": q.description, "schema": q.schema} for q in route.query]
    operation: dict[str, Any] = {
        "summary": route.summary, "operationId": route.operation_id, "tags": [TAG],
        "security": [{"adminBearer": []}],
        "responses": {
            **{str(s): {"description": _SUCCESS[s], "content": {_JSON: {"schema": {}}}}
               for s in route.statuses},
            **{code: _error(text) for code, text in _ERRORS.items()}},
    }
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": route.body_required,
                                    "content": {_JSON: {"schema": route.body}}}
    return operation


def paths(routes: tuple[Route, ...] = ROUTES) -> dict[str, Any]:
    """Each route's path under the server /manage/v1 (as the pull API's are under theirs):
    the management API lives beside the SCIM surface, not under a Tenant URL."""
    out: dict[str, Any] = {}
    for route in routes:
        item = out.setdefault(f"/{route.template}", {"servers": [{"url": PREFIX}]})
        item[route.method.lower()] = _operation(route)
    return out


def document() -> dict[str, Any]:
    """The whole published document (deterministic: the checked-in copy must equal it)."""
    doc = service_openapi.document()
    added = paths()
    clash = set(added) & set(doc["paths"])
    if clash:  # a management path spelled like a SCIM one would replace it
        raise ValueError(f"management paths clash with the SCIM surface's: {sorted(clash)}")
    doc["paths"].update(added)
    doc["components"]["securitySchemes"]["adminBearer"] = {
        "type": "http", "scheme": "bearer",
        "description": "An Entra ID access token for the deployment's app registration "
                       "(SCIM_MANAGE_AUDIENCE) carrying the app role SCIM_MANAGE_ROLE "
                       "(Connector.Admin), or locally the development credential (adm_…) "
                       "that `make run` prints. docs/management-api.md has how to get one."}
    doc["components"]["schemas"]["ManageError"] = {
        "type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "string", "examples": ["not_found", "invalid", "unauthorized",
                                                     "forbidden", "conflict"]},
            "detail": {"type": "string"}}}
    doc["info"]["description"] += (" Operators manage the deployment at "
                                   f"https://{{host}}{PREFIX}/… (tag {TAG}).")
    return doc


if __name__ == "__main__":  # regenerate the checked-in copy: python -m shared.manage.openapi
    import json
    from pathlib import Path

    Path("docs/openapi.json").write_text(json.dumps(document(), indent=2, ensure_ascii=False)
                                         + "\n", encoding="utf-8")
