"""The Functions handlers called in-process with azure.functions.HttpRequest (no HTTP), and
the function metadata the Functions host indexes."""

from __future__ import annotations

import functools
import json
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared.adapter.blueprints import health, scim

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def call(handler: Any, method: str, tenant: tuple[str, str], path: str, *,
         route: dict[str, str], body: Any = None, params: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> func.HttpResponse:
    tenant_id, token = tenant
    req = func.HttpRequest(
        method=method,
        url=f"http://127.0.0.1:7071/scim/v2/{tenant_id}/{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json",
                 **(headers or {})},
        params=params or {},
        route_params={"tenant": tenant_id, **route},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return handler.build().get_user_function()(req)  # type: ignore[no-any-return]


def test_user_lifecycle_through_handlers(tenant: tuple[str, str]) -> None:
    r = call(scim.users, "POST", tenant, "Users", route={},
             body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "handler@example.com", "active": "True"})
    assert r.status_code == 201, r.get_body()
    assert r.mimetype == "application/scim+json"
    user = json.loads(r.get_body())
    assert user["active"] is True
    assert r.headers["Location"].endswith(f"/Users/{user['id']}")
    r = call(scim.user, "GET", tenant, f"Users/{user['id']}", route={"id": user["id"]})
    assert r.status_code == 200
    assert r.headers["ETag"] == user["meta"]["version"]
    r = call(scim.user, "PATCH", tenant, f"Users/{user['id']}", route={"id": user["id"]},
             body={"schemas": [PATCH_OP],
                   "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    assert r.status_code == 200
    assert json.loads(r.get_body())["active"] is False
    r = call(scim.users, "GET", tenant, "Users", route={},
             params={"filter": 'userName eq "HANDLER@example.com"'})
    assert json.loads(r.get_body())["totalResults"] == 1
    r = call(scim.user, "DELETE", tenant, f"Users/{user['id']}", route={"id": user["id"]})
    assert r.status_code == 204
    assert r.get_body() == b""


def test_group_patch_is_204_through_handlers(tenant: tuple[str, str]) -> None:
    r = call(scim.groups, "POST", tenant, "Groups", route={}, body={"displayName": "h-group"})
    gid = json.loads(r.get_body())["id"]
    r = call(scim.group, "PATCH", tenant, f"Groups/{gid}", route={"id": gid},
             body={"schemas": [PATCH_OP], "Operations": [
                 {"op": "Add", "path": "members", "value": [{"value": "u-1"}]}]})
    assert r.status_code == 204


def test_unknown_endpoint_and_bulk_through_catch_all(tenant: tuple[str, str]) -> None:
    r = call(scim.other, "POST", tenant, "Bulk", route={"resource": "Bulk", "rest": ""},
             body={})
    assert r.status_code == 501
    assert json.loads(r.get_body())["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    r = call(scim.other, "GET", tenant, "Users/x/y", route={"resource": "Users", "rest": "x/y"})
    assert r.status_code == 404


def test_missing_token_is_401_through_handler(tenant: tuple[str, str]) -> None:
    tenant_id, _ = tenant
    req = func.HttpRequest(method="GET", url=f"http://h/scim/v2/{tenant_id}/Users",
                           headers={}, params={}, route_params={"tenant": tenant_id}, body=b"")
    r = scim.users.build().get_user_function()(req)
    assert r.status_code == 401
    assert "Bearer" in r.headers["WWW-Authenticate"]


def test_health_handler(scim_service: Any) -> None:
    req = func.HttpRequest(method="GET", url="http://h/health", headers={}, params={},
                           route_params={}, body=b"")
    r = health.health.build().get_user_function()(req)
    assert r.status_code == 200
    assert json.loads(r.get_body())["storage"] == "reachable"


@functools.cache
def _bindings() -> dict[str, dict[str, Any]]:
    """The trigger binding of each function, as the host indexes them. The SDK lets an app be
    indexed once (it then remembers the names), so index once per test session."""
    out = {}
    function_app.app.functions_bindings = None  # the dev host may have indexed it already
    for f in function_app.app.get_functions():
        (binding,) = [b.get_dict_repr() for b in f.get_bindings()
                      if str(b.get_dict_repr()["type"]).endswith("Trigger")]
        out[f.get_function_name()] = binding
    return out


ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize(("name", "route", "methods"), [
    ("users", "scim/v2/{tenant}/Users", ALL),
    ("user", "scim/v2/{tenant}/Users/{id}", ALL),
    ("groups", "scim/v2/{tenant}/Groups", ALL),
    ("group", "scim/v2/{tenant}/Groups/{id}", ALL),
    ("service_provider_config", "scim/v2/{tenant}/ServiceProviderConfig", ALL),
    ("resource_types", "scim/v2/{tenant}/ResourceTypes/{id?}", ALL),
    ("schemas", "scim/v2/{tenant}/Schemas/{id?}", ALL),
    ("other", "scim/v2/{tenant}/{resource}/{*rest}", ALL),
    ("health", "health", ["GET"]),
    ("openapi", "scim/v2/openapi.json", ["GET"]),
])
def test_http_function_metadata(name: str, route: str, methods: list[str]) -> None:
    binding = _bindings()[name]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == route
    assert [str(m.value) if hasattr(m, "value") else str(m) for m in binding["methods"]] == methods
    assert str(getattr(binding["authLevel"], "value", binding["authLevel"])) == "anonymous"


def test_timer_function_metadata() -> None:
    binding = _bindings()["reconcile"]
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "%RECONCILE_SCHEDULE%"
    assert binding["runOnStartup"] is False
    assert binding["useMonitor"] is True


def test_function_names_are_unique_and_complete() -> None:
    assert sorted(_bindings()) == sorted([
        "users", "user", "groups", "group", "service_provider_config", "resource_types",
        "schemas", "other", "health", "openapi", "reconcile"])


def test_host_json_route_prefix_is_empty() -> None:
    from pathlib import Path

    host = json.loads((Path(__file__).parents[2] / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
