"""shared/adapter/blueprints/{scim,health,oauth,openapi,reconcile,deliver,feed,manage}.py:
each handler called in-process with azure.functions.HttpRequest / TimerRequest / QueueMessage
(no HTTP, no host), and the function metadata the Functions host indexes from
function_app.app."""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.adapter import runtime
from shared.adapter.blueprints import (
    deliver,
    feed,
    health,
    manage,
    oauth,
    openapi,
    reconcile,
    scim,
)
from shared.auth import clients
from shared.auth.tenants import new_tenant_id
from shared.manage.openapi import document
from shared.store.tenants import Tenant
from shared.timestamps import now_iso

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ROOT = Path(__file__).resolve().parents[2]


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


def anonymous_get(handler: Any, url: str) -> func.HttpResponse:
    req = func.HttpRequest(method="GET", url=url, headers={}, params={}, route_params={},
                           body=b"")
    return handler.build().get_user_function()(req)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# scim.py
# --------------------------------------------------------------------------------------------


def test_user_lifecycle_through_handlers(tenant: tuple[str, str]) -> None:
    r = call(scim.users, "POST", tenant, "Users", route={},
             body={"schemas": [USER], "userName": "handler@example.com", "active": "True"})
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


def test_group_handlers_serve_groups(tenant: tuple[str, str]) -> None:
    r = call(scim.groups, "POST", tenant, "Groups", route={}, body={"displayName": "h-group"})
    assert r.status_code == 201, r.get_body()
    group = json.loads(r.get_body())
    assert group["meta"]["resourceType"] == "Group"
    r = call(scim.group, "GET", tenant, f"Groups/{group['id']}", route={"id": group["id"]})
    assert r.status_code == 200
    assert json.loads(r.get_body())["displayName"] == "h-group"
    r = call(scim.groups, "GET", tenant, "Groups", route={})
    assert [g["id"] for g in json.loads(r.get_body())["Resources"]] == [group["id"]]


def test_group_patch_is_204_through_handlers(tenant: tuple[str, str]) -> None:
    r = call(scim.groups, "POST", tenant, "Groups", route={}, body={"displayName": "h-group"})
    gid = json.loads(r.get_body())["id"]
    r = call(scim.group, "PATCH", tenant, f"Groups/{gid}", route={"id": gid},
             body={"schemas": [PATCH_OP], "Operations": [
                 {"op": "Add", "path": "members", "value": [{"value": "u-1"}]}]})
    assert r.status_code == 204


@pytest.mark.parametrize(("handler", "path", "route", "schema"), [
    (scim.service_provider_config, "ServiceProviderConfig", {},
     "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
    (scim.resource_types, "ResourceTypes/User", {"id": "User"},
     "urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
    (scim.schemas, f"Schemas/{USER}", {"id": USER},
     "urn:ietf:params:scim:schemas:core:2.0:Schema"),
    (scim.resource_types, "ResourceTypes", {}, LIST),
    (scim.schemas, "Schemas", {}, LIST),
])
def test_discovery_handlers_serve_their_resource(tenant: tuple[str, str], handler: Any, path: str,
                                                 route: dict[str, str], schema: str) -> None:
    r = call(handler, "GET", tenant, path, route=route)
    assert r.status_code == 200, r.get_body()
    assert json.loads(r.get_body())["schemas"] == [schema]


def test_a_wrong_method_is_a_scim_405_not_the_hosts_404(tenant: tuple[str, str]) -> None:
    r = call(scim.service_provider_config, "DELETE", tenant, "ServiceProviderConfig", route={})
    assert r.status_code == 405
    assert json.loads(r.get_body())["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_unknown_endpoint_and_bulk_through_catch_all(tenant: tuple[str, str]) -> None:
    r = call(scim.other, "POST", tenant, "Bulk", route={"resource": "Bulk", "rest": ""},
             body={})
    assert r.status_code == 501
    assert json.loads(r.get_body())["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    r = call(scim.other, "GET", tenant, "Users/x/y", route={"resource": "Users", "rest": "x/y"})
    assert r.status_code == 404
    assert "User x/y not found" in json.loads(r.get_body())["detail"]


def test_missing_token_is_401_through_handler(tenant: tuple[str, str]) -> None:
    tenant_id, _ = tenant
    req = func.HttpRequest(method="GET", url=f"http://h/scim/v2/{tenant_id}/Users",
                           headers={}, params={}, route_params={"tenant": tenant_id}, body=b"")
    r = scim.users.build().get_user_function()(req)
    assert r.status_code == 401
    assert "Bearer" in r.headers["WWW-Authenticate"]


# --------------------------------------------------------------------------------------------
# health.py, openapi.py, reconcile.py
# --------------------------------------------------------------------------------------------


def test_health_handler_answers_the_services_health(app_env: dict[str, str]) -> None:
    r = anonymous_get(health.health, "http://h/health")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    body = json.loads(r.get_body())
    assert body["status"] == "ok"
    assert body["storage"] == "reachable"
    assert body == runtime.service().health()[1]  # the last reconciler run included


def test_openapi_handler_serves_the_document_without_authentication() -> None:
    r = anonymous_get(openapi.openapi, "http://h/scim/v2/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert json.loads(r.get_body()) == document()


def _oauth_call(handler: Any, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> func.HttpRequest:
    req = func.HttpRequest(method=method, url=f"http://h/{path}", headers=headers or {},
                           params={}, route_params={}, body=body)
    return handler.build().get_user_function()(req)  # type: ignore[no-any-return]


def test_token_handler_issues_a_token_as_json_without_caching(scim_service: Any) -> None:
    record = Tenant(id=new_tenant_id(), name="handler", created=now_iso())
    client = clients.add_client(record, datetime.now(UTC))
    secret = clients.add_secret(client, datetime.now(UTC))
    scim_service.tenants.create(record)
    r = _oauth_call(oauth.token, "POST", "oauth2/token",
                    f"grant_type=client_credentials&client_id={client.id}&client_secret="
                    f"{secret}".encode(),
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "X-Request-Id": "req-token"})
    assert r.status_code == 200, r.get_body()
    assert r.mimetype == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Request-Id"] == "req-token"
    assert json.loads(r.get_body())["token_type"] == "Bearer"


def test_token_handler_answers_a_wrong_method_with_an_oauth_405(app_env: dict[str, str]) -> None:
    r = _oauth_call(oauth.token, "GET", "oauth2/token")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert json.loads(r.get_body())["error"] == "invalid_request"


def test_keys_handler_serves_the_key_set(app_env: dict[str, str]) -> None:
    r = _oauth_call(oauth.keys, "GET", "oauth2/keys", headers={"X-Request-Id": "req-keys"})
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.headers["X-Request-Id"] == "req-keys"
    assert json.loads(r.get_body()) == runtime.service().keys.jwks()


@pytest.mark.parametrize("past_due", [True, False])
def test_reconcile_handler_runs_the_reconciler_and_warns_when_late(
        app_env: dict[str, str], caplog: pytest.LogCaptureFixture, past_due: bool) -> None:
    service = runtime.service()
    before = service.runs.last()
    with caplog.at_level(logging.INFO, logger="scim.reconcile"):
        reconcile.reconcile.build().get_user_function()(TimerRequest(past_due=past_due))
    after = service.runs.last()
    assert after is not None
    assert before is None or after["time"] > before["time"]  # a new run was recorded
    late = [r for r in caplog.records if "past due" in r.getMessage()]
    assert [r.levelno for r in late] == ([logging.WARNING] if past_due else [])


# --------------------------------------------------------------------------------------------
# Function metadata, as the host indexes it
# --------------------------------------------------------------------------------------------


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
    ("keys", "oauth2/keys", ["GET"]),
    ("console_index", "console", ["GET"]),
    ("console_file", "console/{*path}", ["GET"]),
])
def test_http_function_metadata(name: str, route: str, methods: list[str]) -> None:
    binding = _bindings()[name]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == route
    assert [str(m.value) if hasattr(m, "value") else str(m) for m in binding["methods"]] == methods
    assert str(getattr(binding["authLevel"], "value", binding["authLevel"])) == "anonymous"


def test_the_token_endpoint_takes_every_method() -> None:
    """No `methods` in the binding: the host routes every method to it (the endpoint's own
    405 answers the wrong ones)."""
    binding = _bindings()["token"]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == "oauth2/token"
    assert binding.get("methods") is None
    assert str(getattr(binding["authLevel"], "value", binding["authLevel"])) == "anonymous"


def test_the_pull_api_takes_every_method() -> None:
    """Like the token endpoint: the feed's own 405 (Allow: GET) answers the wrong methods."""
    binding = _bindings()["events"]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == "feed/v1/{tenant}/events"
    assert binding.get("methods") is None
    assert str(getattr(binding["authLevel"], "value", binding["authLevel"])) == "anonymous"


def test_the_pull_handler_answers_json_without_a_credential(app_env: dict[str, str]) -> None:
    for method, status in (("GET", 401), ("POST", 405)):
        req = func.HttpRequest(method=method, url="http://localhost/feed/v1/t1/events",
                               headers={}, params={}, route_params={"tenant": "t1"}, body=b"")
        r = feed.events.build().get_user_function()(req)
        assert r.status_code == status
        assert r.mimetype == "application/json"
        assert json.loads(r.get_body())["error"] in ("unauthorized", "method_not_allowed")
        assert r.headers["Cache-Control"] == "no-store"


def test_the_management_api_takes_every_method_under_one_catch_all() -> None:
    binding = _bindings()["manage"]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == "manage/v1/{*path}"
    assert binding.get("methods") is None
    assert str(getattr(binding["authLevel"], "value", binding["authLevel"])) == "anonymous"


def _manage(method: str, path: str, *, credential: str | None, body: Any = None,
            params: dict[str, str] | None = None) -> func.HttpResponse:
    req = func.HttpRequest(
        method=method, url=f"http://127.0.0.1:7071/manage/v1/{path}",
        headers={"Authorization": f"Bearer {credential}"} if credential else {},
        params=params or {}, route_params={"path": path},
        body=json.dumps(body).encode() if body is not None else b"")
    return manage.manage.build().get_user_function()(req)  # type: ignore[no-any-return]


def test_the_management_handler_runs_the_api(app_env: dict[str, str], admin_credential: str,
                                             tenant: tuple[str, str]) -> None:
    r = _manage("GET", "whoami", credential=admin_credential)
    assert (r.status_code, r.mimetype) == (200, "application/json")
    assert json.loads(r.get_body())["method"] == "development"
    assert r.headers["Cache-Control"] == "no-store"
    r = _manage("POST", "tenants", credential=admin_credential, body={"name": "handler"})
    assert r.status_code == 201
    made = json.loads(r.get_body())
    r = _manage("GET", f"tenants/{made['tenant_id']}/tokens", credential=admin_credential)
    assert [t["token_id"] for t in json.loads(r.get_body())] == [made["token_id"]]
    r = _manage("DELETE", f"tenants/{made['tenant_id']}/tokens/{made['token_id']}",
                credential=admin_credential)
    assert (r.status_code, json.loads(r.get_body())["revoked"]) == (200, True)


def test_the_management_handler_refuses_a_tenant_token_and_wrong_methods(
        app_env: dict[str, str], admin_credential: str, tenant: tuple[str, str]) -> None:
    r = _manage("GET", "tenants", credential=tenant[1])
    assert (r.status_code, json.loads(r.get_body())["error"]) == (401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = _manage("DELETE", "tenants", credential=admin_credential)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET, POST")
    r = _manage("GET", "", credential=admin_credential)
    assert (r.status_code, json.loads(r.get_body())["error"]) == (404, "not_found")


def test_timer_function_metadata() -> None:
    binding = _bindings()["reconcile"]
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "%RECONCILE_SCHEDULE%"
    assert binding["runOnStartup"] is False
    assert binding["useMonitor"] is True


def test_deliver_queue_function_metadata() -> None:
    binding = _bindings()["deliver"]
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == "%SCIM_DELIVER_QUEUE%"
    assert binding["connection"] == "SCIM_QUEUE_STORAGE"


def test_work_queue_function_metadata() -> None:
    binding = _bindings()["reconcile_tenant"]
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == "%SCIM_WORK_QUEUE%"
    assert binding["connection"] == "SCIM_QUEUE_STORAGE"


def test_work_handler_acknowledges_an_item_while_queues_are_off(
        app_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    from azure.functions import QueueMessage

    message = QueueMessage(body=b'{"v": 1, "tenant": "tnobody", "task": "tenant", "tick": "x"}')
    with caplog.at_level(logging.WARNING, logger="scim.reconcile"):
        reconcile.reconcile_tenant.build().get_user_function()(message)
    assert "queues are off" in caplog.text


def test_deliver_handler_acknowledges_a_message_while_queues_are_off(
        app_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """The session app runs queue-less (timer mode): the handler must still take a message
    without failing, so a stray one is not retried into the poison queue."""
    from azure.functions import QueueMessage

    message = QueueMessage(body=b'{"v": 1, "tenant": "tnobody", "why": "commit"}')
    with caplog.at_level(logging.WARNING, logger="scim.feed"):
        deliver.deliver.build().get_user_function()(message)
    assert "queues are off" in caplog.text


def test_function_names_are_unique_and_complete() -> None:
    assert sorted(_bindings()) == sorted([
        "users", "user", "groups", "group", "service_provider_config", "resource_types",
        "schemas", "other", "health", "openapi", "reconcile", "token", "keys", "deliver",
        "reconcile_tenant", "events", "manage", "console_index", "console_file"])


def test_host_json_route_prefix_is_empty() -> None:
    """The routes above are the whole path only because host.json drops the default `api/`."""
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
