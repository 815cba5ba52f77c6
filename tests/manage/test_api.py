"""The management API in process (shared/manage/api.py over the session's service and Azurite):
who may call it (the development credential and an Entra token with the role; a tenant's
Secret Token, feed credential and OAuth access token are 401, a token without the role 403),
every route with its success and a 404 or 400, tenant isolation (one tenant's id in a path
never reads or changes another's data), the JSON refusals (404, 405 + Allow, 400, 413, 503 +
Retry-After, 409, 500 with a request id and no traceback), `Cache-Control: no-store` on every
answer, the log line of each change (never the credential), and hostile requests of every
kind answered without a 500 (hypothesis)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import feed_tokens
from shared.manage import api as api_module
from shared.manage import tenants as tenants_module
from shared.manage.api import MAX_BODY_BYTES, ROUTES, Call, ManageApi, Route
from shared.manage.context import Deployment
from shared.service.app import ScimService
from shared.service.kinds import USERS
from shared.service.messages import FeedRequest, ManageRequest, ManageResponse, ScimRequest
from shared.store.errors import AccessDenied, PreconditionFailed, Unavailable
from shared.store.outbox import Outbox
from shared.store.subscriptions import SubscriptionTable
from tests.conftest import MANAGE_AUDIENCE, MANAGE_ENTRA_TENANT_ID
from tests.manage.test_dead_letters import make_dead
from tests.support.entra_keys import Jwks
from tests.support.storage_faults import busy, hooked, own_thread
from tests.support.webhooks import DEPLOYMENT_SECRET, SECRET, Receiver

ROLE = "Connector.Admin"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(scope="module")
def api(scim_service: ScimService) -> ManageApi:
    return ManageApi.served(scim_service)


class Caller:
    """Calls the API in process as one credential."""

    def __init__(self, api: ManageApi, credential: str | None) -> None:
        self.api = api
        self.credential = credential

    def __call__(self, method: str, path: str, body: Any = None, *,
                 params: dict[str, str] | None = None, raw: bytes | None = None,
                 headers: dict[str, str] | None = None) -> ManageResponse:
        sent = dict(headers or {})
        if self.credential is not None:
            sent.setdefault("authorization", f"Bearer {self.credential}")
        data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        response = self.api.handle(ManageRequest(method, path, params or {}, sent, data,
                                                 request_id=sent.get("x-request-id", "")))
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Request-Id"]
        if response.status >= 400:
            assert set(response.body) == {"error", "detail"}, response.body
            assert "\n" not in response.body["detail"]
        return response


@pytest.fixture
def admin(api: ManageApi, admin_credential: str) -> Caller:
    return Caller(api, admin_credential)


def entra_token(keys: Jwks, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": f"https://login.microsoftonline.com/{MANAGE_ENTRA_TENANT_ID}/v2.0",
               "aud": MANAGE_AUDIENCE, "iat": now, "nbf": now - 10, "exp": now + 3600,
               "tid": MANAGE_ENTRA_TENANT_ID, "oid": str(uuid.uuid4()),
               "preferred_username": "operator@contoso.example", "roles": [ROLE], **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None},
                      keys.private["k1"], algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def created(admin: Caller) -> dict[str, Any]:
    r = admin("POST", "tenants", {"name": "Contoso"})
    assert r.status == 201, r.body
    return dict(r.body)


def path_of(route: Route, tenant: str, other: str = "x0") -> str:
    """The route's path with `tenant` for {tenant} and `other` for every other parameter."""
    return re.sub(r"\{(\w+)\}", lambda m: tenant if m[1] == "tenant" else other,
                  route.template)


def feed_status(service: ScimService, tenant_id: str, token: str) -> int:
    service.feed_auth.forget()
    return service.feed_api.handle(FeedRequest(
        "GET", tenant_id, headers={"authorization": f"Bearer {token}"})).status


def scim_status(service: ScimService, tenant_id: str, token: str) -> int:
    service.auth.forget(tenant_id)
    return service.handle(ScimRequest("GET", tenant_id, "Users",
                                      headers={"authorization": f"Bearer {token}"})).status


# --- authorization ---------------------------------------------------------------------------


def test_whoami_names_the_development_credential(admin: Caller) -> None:
    r = admin("GET", "whoami")
    assert (r.status, r.body) == (200, {"subject": "development", "method": "development",
                                        "roles": [ROLE]})


def test_whoami_names_the_entra_operator(api: ManageApi, entra_keys: Jwks) -> None:
    r = Caller(api, entra_token(entra_keys))("GET", "whoami")
    assert r.status == 200, r.body
    assert r.body == {"subject": "operator@contoso.example", "method": "entra",
                      "roles": [ROLE]}


def test_an_entra_token_without_the_role_is_403_on_every_route(
        api: ManageApi, entra_keys: Jwks, created: dict[str, Any]) -> None:
    caller = Caller(api, entra_token(entra_keys, roles=["Connector.Reader"]))
    for route in ROUTES:
        r = caller(route.method, path_of(route, created["tenant_id"]), {"name": "x"})
        assert (r.status, r.body["error"]) == (403, "forbidden"), route.template
        assert ROLE in r.body["detail"]


def test_a_tenants_credentials_and_none_are_401_on_every_route(
        api: ManageApi, scim_service: ScimService, created: dict[str, Any]) -> None:
    record = scim_service.tenants.get(created["tenant_id"])
    assert record is not None
    reader = feed_tokens.issue(record)
    scim_service.tenants.save(record)
    access = scim_service.access_tokens.mint(
        tenant_id=record.id, audience=created["tenant_url"], client_id="c",
        credential_id="s").token
    for credential in (None, created["token"], reader, access, "adm_" + "A" * 43):
        caller = Caller(api, credential)
        for route in ROUTES:
            r = caller(route.method, path_of(route, record.id))
            assert (r.status, r.body["error"]) == (401, "unauthorized"), (credential, route)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # Nothing was changed on the way.
    assert scim_status(scim_service, record.id, created["token"]) == 200


def test_an_unknown_path_is_only_revealed_to_an_operator(api: ManageApi, admin: Caller) -> None:
    assert Caller(api, None)("GET", "nothing/here").status == 401
    r = admin("GET", "nothing/here")
    assert (r.status, r.body["error"]) == (404, "not_found")


# --- routing and refusals --------------------------------------------------------------------


def test_a_wrong_method_is_405_with_allow(admin: Caller, created: dict[str, Any]) -> None:
    r = admin("PATCH", f"tenants/{created['tenant_id']}/tokens")
    assert (r.status, r.body["error"]) == (405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"
    assert admin("PUT", "whoami").headers["Allow"] == "GET"


@pytest.mark.parametrize("raw", [b"{", b"[1,", b"\xff\xfe", b"nul", b"[" * 100_000])
def test_a_body_that_is_not_json_is_400(admin: Caller, raw: bytes) -> None:
    r = admin("POST", "tenants", raw=raw)
    assert (r.status, r.body["error"]) == (400, "invalid")


@pytest.mark.parametrize("body", [[], "Contoso", {"name": 5}, {"name": ""}, {"name": "a\nb"},
                                  {"name": "x" * 101}, {}])
def test_an_unusable_tenant_name_is_400(admin: Caller, body: Any) -> None:
    r = admin("POST", "tenants", body)
    assert (r.status, r.body["error"]) == (400, "invalid")


def test_a_body_over_the_limit_is_413(admin: Caller) -> None:
    r = admin("POST", "tenants", raw=b" " * (MAX_BODY_BYTES + 1))
    assert (r.status, r.body["error"]) == (413, "too_large")


def test_a_storage_outage_is_503_with_retry_after(admin: Caller) -> None:
    with hooked(own_thread(busy)):
        r = admin("GET", "tenants")
    assert (r.status, r.body["error"], r.headers["Retry-After"]) == (503, "unavailable", "5")


def _raising(exc: Exception) -> Route:
    def run(c: Call) -> tuple[int, Any]:
        raise exc
    return Route("GET", "boom", run, "raises", "boom")


@pytest.mark.parametrize(("exc", "status", "code"), [
    (PreconditionFailed("etag"), 409, "conflict"),
    (Unavailable("down"), 503, "unavailable"),
    (ZeroDivisionError("secret internals"), 500, "internal"),
    (AccessDenied("AuthorizationPermissionMismatch"), 503, "unavailable"),
])
def test_store_errors_and_bugs_map_to_their_answers(
        api: ManageApi, admin_credential: str, caplog: pytest.LogCaptureFixture,
        exc: Exception, status: int, code: str) -> None:
    raising = ManageApi(api.deployment, api.admins, routes=(_raising(exc),))
    with caplog.at_level(logging.ERROR, logger="scim.manage"):
        r = Caller(raising, admin_credential)("GET", "boom",
                                              headers={"x-request-id": "req-123"})
    assert (r.status, r.body["error"]) == (status, code)
    assert "secret internals" not in r.body["detail"]
    assert "Traceback" not in r.body["detail"]
    if status == 500:
        assert "req-123" in r.body["detail"]
        assert "req-123" in caplog.text
        assert "ZeroDivisionError" in caplog.text


def test_changes_are_logged_without_the_credential(
        admin: Caller, admin_credential: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="scim.manage"):
        r = admin("POST", "tenants", {"name": "Logged"})
        admin("GET", "tenants")
    assert r.status == 201
    lines = [m for m in caplog.messages if m.startswith("manage ")]
    assert len(lines) == 1
    assert "POST /manage/v1/tenants subject=development status=201" in lines[0]
    assert admin_credential not in caplog.text
    assert r.body["token"] not in caplog.text


# --- tenants ---------------------------------------------------------------------------------


def test_create_list_show_a_tenant(admin: Caller, scim_service: ScimService,
                                   created: dict[str, Any]) -> None:
    assert set(created) == {"tenant_id", "name", "tenant_url", "token", "token_id", "created"}
    assert scim_status(scim_service, created["tenant_id"], created["token"]) == 200
    listed = admin("GET", "tenants")
    assert listed.status == 200
    [row] = [t for t in listed.body if t["tenant_id"] == created["tenant_id"]]
    assert (row["name"], row["state"], row["tokens"]) == ("Contoso", "active", 1)
    shown = admin("GET", f"tenants/{created['tenant_id']}")
    assert (shown.status, shown.body["name"]) == (200, "Contoso")
    assert created["token"] not in json.dumps(listed.body) + json.dumps(shown.body)


@pytest.mark.parametrize("tenant", ["t0000000000000000", "../etc", "a%2Fb", "x" * 300,
                                    "\u00e9t\u00e9", "a'b"])
def test_an_unknown_or_malformed_tenant_is_404_on_every_tenant_route(
        admin: Caller, tenant: str) -> None:
    for route in ROUTES:
        if "{tenant}" not in route.template:
            continue
        r = admin(route.method, path_of(route, tenant, "abcd"),
                  {"name": "x", "url": "https://x.example", "policy": "capture", "all": True})
        assert (r.status, r.body["error"]) == (404, "not_found"), (route.template, r.body)


def test_disable_and_enable_a_tenant(admin: Caller, scim_service: ScimService,
                                     created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    r = admin("POST", f"tenants/{tid}/disable")
    assert (r.status, r.body["state"]) == (200, "disabled")
    assert scim_status(scim_service, tid, created["token"]) == 401
    r = admin("POST", f"tenants/{tid}/enable")
    assert (r.status, r.body["state"]) == (200, "active")
    assert scim_status(scim_service, tid, created["token"]) == 200


# --- tokens ----------------------------------------------------------------------------------


def test_add_list_revoke_tokens(admin: Caller, scim_service: ScimService,
                                created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    added = admin("POST", f"tenants/{tid}/tokens")
    assert added.status == 201
    assert scim_status(scim_service, tid, added.body["token"]) == 200
    third = admin("POST", f"tenants/{tid}/tokens")
    assert (third.status, third.body["error"]) == (409, "conflict")
    assert "revoke" in third.body["detail"]
    listed = admin("GET", f"tenants/{tid}/tokens")
    assert {t["token_id"] for t in listed.body} == {created["token_id"], added.body["token_id"]}
    assert all(set(t) == {"token_id", "prefix", "created", "last_used"} for t in listed.body)
    r = admin("DELETE", f"tenants/{tid}/tokens/{created['token_id']}")
    assert (r.status, r.body) == (200, {"tenant_id": tid, "token_id": created["token_id"],
                                        "revoked": True})
    assert scim_status(scim_service, tid, created["token"]) == 401
    again = admin("DELETE", f"tenants/{tid}/tokens/{created['token_id']}")
    assert (again.status, again.body["error"]) == (404, "not_found")


def test_delete_a_tenant_202_until_done_then_200_and_gone(
        admin: Caller, scim_service: ScimService, created: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    tid = created["tenant_id"]
    scim_service.resources.create(USERS, tid, {"schemas": [USER], "userName": "a@x.example"})
    monkeypatch.setattr(api_module, "DELETE_BUDGET_SECONDS", 0.0)
    r = admin("DELETE", f"tenants/{tid}")
    assert (r.status, r.body["complete"]) == (202, False), r.body
    assert scim_status(scim_service, tid, created["token"]) == 401  # refused from the start
    assert admin("GET", f"tenants/{tid}").body["state"] == "deleting"
    assert r.headers["Retry-After"] == "5"
    # Requests accepted before the mark must have ended (40 s) before the last pass: not
    # waited for here.
    monkeypatch.setattr(tenants_module, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(api_module, "DELETE_BUDGET_SECONDS", 20.0)
    r = admin("DELETE", f"tenants/{tid}")
    assert (r.status, r.body["complete"], r.body["tenant_id"]) == (200, True, tid)
    assert set(r.body["removed"]) == {"data_rows", "audit_rows", "other_rows"}
    assert admin("GET", f"tenants/{tid}").status == 404
    assert admin("DELETE", f"tenants/{tid}").status == 404
    assert scim_status(scim_service, tid, created["token"]) == 401


def test_health_of_every_tenant_and_of_one(admin: Caller, scim_service: ScimService,
                                           created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    assert scim_status(scim_service, tid, created["token"]) == 200
    assert scim_service.audit.flush()
    r = admin("GET", "tenants", params={"health": "true"})
    [row] = [t for t in r.body if t["tenant_id"] == tid]
    assert {"tenant_id", "name", "state", "tokens", "health"} <= set(row)
    assert row["health"]["requests_24h"] >= 1
    one = admin("GET", f"tenants/{tid}/health")
    assert (one.status, one.body["tenant_id"]) == (200, tid)
    assert {"last_entra_call", "errors_24h", "unauthorized_rate", "likely_quarantined",
            "feed"} <= set(one.body)
    assert admin("GET", "tenants", params={"health": "maybe"}).status == 400


def test_activity_buckets_and_bad_parameters(admin: Caller, created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    r = admin("GET", f"tenants/{tid}/activity", params={"hours": "2", "bucket": "30"})
    assert (r.status, r.body["bucket_minutes"]) == (200, 30)
    assert len(r.body["series"]) == 4
    assert set(r.body["series"][0]) == {"start", "creates", "updates", "deactivations",
                                        "deletes", "errors"}
    for params in ({"hours": "0"}, {"hours": "x"}, {"bucket": "1441"}, {"bucket": "-5"},
                   {"hours": "\u0662"}, {"hours": "2160", "bucket": "1"}):
        bad = admin("GET", f"tenants/{tid}/activity", params=params)
        assert (bad.status, bad.body["error"]) == (400, "invalid"), params


def test_webhook_set_show_test_clear(admin: Caller, created: dict[str, Any],
                                     receiver: Receiver) -> None:
    tid = created["tenant_id"]
    assert admin("GET", f"tenants/{tid}/webhook").body["url"] is None
    no_hook = admin("POST", f"tenants/{tid}/webhook/test")
    assert (no_hook.status, no_hook.body["error"]) == (409, "conflict")
    generated = admin("PUT", f"tenants/{tid}/webhook", {"url": receiver.url})
    assert generated.status == 200
    assert generated.body["secret"].startswith("whsec_")
    r = admin("PUT", f"tenants/{tid}/webhook", {"url": receiver.url, "secret": SECRET,
                                                "types": ["user.*"]})
    assert (r.status, r.body["types"]) == (200, ["user.*"])
    assert "secret" not in r.body
    shown = admin("GET", f"tenants/{tid}/webhook").body
    assert (shown["url"], shown["secret_prefix"]) == (receiver.url, SECRET[:10])
    assert SECRET not in json.dumps(shown)
    assert generated.body["secret"] not in json.dumps(
        shown)
    sent = admin("POST", f"tenants/{tid}/webhook/test")
    assert (sent.status, sent.body["status"], sent.body["tenant_id"]) == (200, 204, tid)
    assert receiver.received[-1].valid
    for body in ({"url": "http://hooks.example/"}, {"url": 3}, {"types": ["*"]},
                 {"url": receiver.url, "types": "user.*"}, {"url": receiver.url, "secret": 1}):
        bad = admin("PUT", f"tenants/{tid}/webhook", body)
        assert (bad.status, bad.body["error"]) == (400, "invalid"), body
    cleared = admin("DELETE", f"tenants/{tid}/webhook")
    assert (cleared.status, cleared.body["url"]) == (200, None)


def test_tenant_feed_tokens_issue_list_revoke(admin: Caller, scim_service: ScimService,
                                              created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    issued = admin("POST", f"tenants/{tid}/feed-tokens")
    assert (issued.status, issued.body["scope"], issued.body["tenant_id"]) == (201, "tenant",
                                                                               tid)
    assert feed_status(scim_service, tid, issued.body["token"]) == 200
    listed = admin("GET", f"tenants/{tid}/feed-tokens").body
    assert [t["token_id"] for t in listed] == [issued.body["token_id"]]
    assert issued.body["token"] not in json.dumps(listed)
    r = admin("DELETE", f"tenants/{tid}/feed-tokens/{issued.body['token_id']}")
    assert (r.status, r.body["revoked"]) == (200, True)
    again = admin("DELETE", f"tenants/{tid}/feed-tokens/{issued.body['token_id']}")
    assert (again.status, again.body["error"]) == (404, "not_found")


def test_deployment_feed_tokens_issue_list_revoke(admin: Caller, scim_service: ScimService,
                                                  created: dict[str, Any]) -> None:
    issued = admin("POST", "feed-tokens")
    assert (issued.status, issued.body["scope"]) == (201, "deployment"), issued.body
    try:
        assert feed_status(scim_service, created["tenant_id"], issued.body["token"]) == 200
        listed = admin("GET", "feed-tokens").body
        assert issued.body["token_id"] in [t["token_id"] for t in listed]
        assert all(t["scope"] == "deployment" for t in listed)
    finally:
        r = admin("DELETE", f"feed-tokens/{issued.body['token_id']}")
    assert (r.status, r.body["revoked"]) == (200, True)
    assert admin("DELETE", f"feed-tokens/{issued.body['token_id']}").status == 404


def test_subscription_set_show_test_clear(admin: Caller, deployment: SubscriptionTable,
                                          deployment_receiver: Receiver) -> None:
    assert admin("GET", "subscription").body["url"] is None
    assert admin("DELETE", "subscription").status == 409
    assert admin("POST", "subscription/test").status == 409
    r = admin("PUT", "subscription", {"url": deployment_receiver.url,
                                      "secret": DEPLOYMENT_SECRET})
    assert (r.status, r.body["url"]) == (200, deployment_receiver.url)
    assert "secret" not in r.body
    sent = admin("POST", "subscription/test")
    assert (sent.status, sent.body["status"]) == (200, 204)
    assert deployment_receiver.received[-1].valid
    assert admin("PUT", "subscription", {"url": "ftp://x"}).status == 400
    assert admin("DELETE", "subscription").body["url"] is None
    assert deployment.get() is None


EXTENSION = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
SCHEMA = {"id": EXTENSION, "name": "Acme", "attributes": [
    {"name": "badge", "type": "string", "multiValued": False, "required": False,
     "caseExact": False, "mutability": "readWrite", "returned": "default",
     "uniqueness": "none"}]}


def test_schemas_declare_list_remove_and_the_undeclared_policy(
        admin: Caller, created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    added = admin("POST", f"tenants/{tid}/schemas", SCHEMA, params={"resourceType": "User"})
    assert (added.status, added.body["urn"], added.body["resource_type"]) == (
        201, EXTENSION, "User"), added.body
    twice = admin("POST", f"tenants/{tid}/schemas", SCHEMA)
    assert (twice.status, twice.body["error"]) == (409, "conflict")
    listed = admin("GET", f"tenants/{tid}/schemas").body
    assert EXTENSION in [s["urn"] for s in listed["schemas"]]
    assert admin("POST", f"tenants/{tid}/schemas", {"id": "nope"}).status == 400
    assert admin("POST", f"tenants/{tid}/schemas", [SCHEMA]).status == 400
    removed = admin("DELETE", f"tenants/{tid}/schemas/{EXTENSION}")
    assert (removed.status, removed.body["removed"]) == (200, True)
    gone = admin("DELETE", f"tenants/{tid}/schemas/{EXTENSION}")
    assert (gone.status, gone.body["error"]) == (404, "not_found")
    assert admin("GET", f"tenants/{tid}/undeclared").body == []
    policy = admin("PUT", f"tenants/{tid}/undeclared-policy", {"policy": "reject"})
    assert (policy.status, policy.body["undeclared_policy"]) == (200, "reject")
    assert admin("GET", f"tenants/{tid}").body["undeclared_policy"] == "reject"
    for body in ({"policy": "drop"}, {"policy": None}, {}):
        assert admin("PUT", f"tenants/{tid}/undeclared-policy", body).status == 400


def test_undeclared_attributes_are_listed(admin: Caller, scim_service: ScimService,
                                          created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    scim_service.handle(ScimRequest(
        "POST", tid, "Users", headers={"authorization": f"Bearer {created['token']}"},
        body=json.dumps({"schemas": [USER], "userName": "u@x.example",
                         f"{EXTENSION}:badge": "7"}).encode()))
    rows = admin("GET", f"tenants/{tid}/undeclared").body
    assert [r["path"] for r in rows] == [f"{EXTENSION}:badge"], rows


def test_audit_entries_newest_first_with_filters(admin: Caller, scim_service: ScimService,
                                                 created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    auth = {"authorization": f"Bearer {created['token']}"}
    assert scim_service.handle(ScimRequest("POST", tid, "Users", headers=auth, body=json.dumps(
        {"schemas": [USER], "userName": "audited@x.example"}).encode())).status == 201
    assert scim_service.handle(ScimRequest("DELETE", tid, "Users", id="nobody",
                                           headers=auth)).status == 404
    assert scim_service.audit.flush()
    every = admin("GET", f"tenants/{tid}/audit").body
    assert [(e["method"], e["status"]) for e in every] == [("DELETE", 404), ("POST", 201)]
    only = admin("GET", f"tenants/{tid}/audit", params={"status": "4xx", "since": "1h",
                                                       "limit": "5"}).body
    assert [e["status"] for e in only] == [404]
    for params in ({"limit": "0"}, {"limit": "1001"}, {"status": "abc"}, {"since": "soon"}):
        assert admin("GET", f"tenants/{tid}/audit", params=params).status == 400, params


def test_dead_letters_list_show_replay(admin: Caller, scim_service: ScimService,
                                       outbox: Outbox, created: dict[str, Any]) -> None:
    tid = created["tenant_id"]
    make_dead(scim_service, outbox, tid, 2)
    listed = admin("GET", f"tenants/{tid}/dead-letters")
    assert (listed.status, len(listed.body)) == (200, 2)
    first = listed.body[0]["event_id"]
    shown = admin("GET", f"tenants/{tid}/dead-letters/{first}")
    assert (shown.status, shown.body["event_id"]) == (200, first)
    assert admin("GET", f"tenants/{tid}/dead-letters/{first}",
                 params={"lane": "deployment"}).status == 404
    assert admin("GET", f"tenants/{tid}/dead-letters", params={"lane": "x"}).status == 400
    assert admin("GET", f"tenants/{tid}/dead-letters/replay").status == 404
    for body in ({}, {"all": True, "event_ids": [first]}, {"event_ids": []}, {"all": "yes"},
                 {"event_ids": first}, {"all": True, "lane": 3}):
        bad = admin("POST", f"tenants/{tid}/dead-letters/replay", body)
        assert (bad.status, bad.body["error"]) == (400, "invalid"), body
    unknown = admin("POST", f"tenants/{tid}/dead-letters/replay", {"event_ids": ["f" * 32]})
    assert unknown.status == 404
    one = admin("POST", f"tenants/{tid}/dead-letters/replay", {"event_ids": [first]})
    assert (one.status, one.body["replayed"], one.body["lane"]) == (200, 1, "tenant")
    rest = admin("POST", f"tenants/{tid}/dead-letters/replay", {"all": True})
    assert rest.body["replayed"] == 1
    assert admin("GET", f"tenants/{tid}/dead-letters").body == []


# --- tenant isolation ------------------------------------------------------------------------


def test_a_tenants_path_never_reaches_another_tenants_data(
        admin: Caller, scim_service: ScimService, outbox: Outbox) -> None:
    a = admin("POST", "tenants", {"name": "A"}).body
    b = admin("POST", "tenants", {"name": "B"}).body
    # B's token id under A's path: not found, and B's token still works.
    r = admin("DELETE", f"tenants/{a['tenant_id']}/tokens/{b['token_id']}")
    assert (r.status, r.body["error"]) == (404, "not_found")
    assert scim_status(scim_service, b["tenant_id"], b["token"]) == 200
    # What A's paths show holds none of B's.
    shown = json.dumps([admin("GET", f"tenants/{a['tenant_id']}").body,
                        admin("GET", f"tenants/{a['tenant_id']}/tokens").body])
    assert b["tenant_id"] not in shown
    assert b["token_id"] not in shown
    # B's dead letters, feed credential and schema are not A's.
    make_dead(scim_service, outbox, b["tenant_id"], 1)
    [dead] = admin("GET", f"tenants/{b['tenant_id']}/dead-letters").body
    assert admin("GET", f"tenants/{a['tenant_id']}/dead-letters/{dead['event_id']}").status == 404
    assert admin("POST", f"tenants/{a['tenant_id']}/dead-letters/replay",
                 {"event_ids": [dead["event_id"]]}).status == 404
    assert admin("GET", f"tenants/{a['tenant_id']}/dead-letters").body == []
    reader = admin("POST", f"tenants/{b['tenant_id']}/feed-tokens").body
    assert admin("DELETE", f"tenants/{a['tenant_id']}/feed-tokens/{reader['token_id']}"
                 ).status == 404
    assert admin("POST", f"tenants/{b['tenant_id']}/schemas", SCHEMA).status == 201
    assert admin("DELETE", f"tenants/{a['tenant_id']}/schemas/{EXTENSION}").status == 404
    assert EXTENSION not in json.dumps(admin("GET", f"tenants/{a['tenant_id']}/schemas").body)
    # Changes through A's paths leave B alone.
    admin("POST", f"tenants/{a['tenant_id']}/disable")
    admin("POST", f"tenants/{a['tenant_id']}/tokens")
    admin("PUT", f"tenants/{a['tenant_id']}/webhook", {"url": "https://a.example/hook"})
    admin("PUT", f"tenants/{a['tenant_id']}/undeclared-policy", {"policy": "reject"})
    admin("POST", f"tenants/{a['tenant_id']}/dead-letters/replay", {"all": True})
    after = admin("GET", f"tenants/{b['tenant_id']}").body
    assert (after["state"], len(after["tokens"]), after["webhook"],
            after["undeclared_policy"]) == ("active", 1, None, "capture")
    assert [d["event_id"] for d in admin(
        "GET", f"tenants/{b['tenant_id']}/dead-letters").body] == [dead["event_id"]]
    assert [t["token_id"] for t in admin(
        "GET", f"tenants/{b['tenant_id']}/feed-tokens").body] == [reader["token_id"]]
    assert scim_status(scim_service, b["tenant_id"], b["token"]) == 200
    assert feed_status(scim_service, b["tenant_id"], reader["token"]) == 200


# --- hostile input ---------------------------------------------------------------------------

_text = st.one_of(st.text(max_size=60), st.text(min_size=500, max_size=3000),
                  st.sampled_from(["", "/", "//", "..", "%2F", "\x00", "tenants", "whoami",
                                   "tokens", "disable", "\u0661", "true", "-1", "9" * 30]))
_paths = st.one_of(_text, st.lists(st.one_of(_text, st.sampled_from(
    ["tenants", "tokens", "disable", "enable", "webhook", "dead-letters", "replay",
     "feed-tokens", "schemas", "audit", "activity", "health", "subscription", "test"])),
    max_size=6).map("/".join))
_bodies = st.one_of(st.binary(max_size=200), st.just(b""),
                    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                 lambda inner: st.lists(inner, max_size=4)
                                 | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                                 max_leaves=10).map(lambda v: json.dumps(v).encode()))


@pytest.fixture(scope="module")
def isolated(api: ManageApi, scim_service: ScimService) -> ManageApi:
    """The API over tables of its own: random requests may set the deployment-wide
    subscription or feed credentials, which other test files running meanwhile use."""
    own = scim_service.settings.model_copy(update={"table_prefix": "m" + uuid.uuid4().hex[:12]})
    deployment = Deployment.open(own)
    deployment.tables.ensure()
    return ManageApi(deployment, api.admins)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                         "OPTIONS"]), st.text(max_size=12)),
       path=_paths, query=st.dictionaries(_text, _text, max_size=4), body=_bodies,
       headers=st.dictionaries(st.text(max_size=20), _text, max_size=3),
       authenticated=st.booleans(), own_tenant=st.booleans())
def test_hostile_requests_get_a_json_answer_never_a_500(
        isolated: ManageApi, admin_credential: str, method: str, path: str,
        query: dict[str, str], body: bytes, headers: dict[str, str], authenticated: bool,
        own_tenant: bool) -> None:
    caller = Caller(isolated, admin_credential if authenticated else None)
    if own_tenant:
        tenant = next(iter(tenants_module.list_tenants(isolated.deployment)), None)
        if tenant is None:
            tenant = Caller(isolated, admin_credential)("POST", "tenants", {"name": "H"}).body
        path = f"tenants/{tenant['tenant_id']}/" + path
    sent = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    r = caller(method, path, params=query, raw=body, headers=sent)
    assert r.status in (200, 201, 202, 400, 401, 404, 405, 409, 413), r.body
    if r.status >= 400:
        assert len(r.body["detail"]) < 600
