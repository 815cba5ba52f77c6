"""shared.service.app: ScimService.handle authenticates, then routes (endpoint, id, method)
and turns every outcome into a SCIM response - SCIM errors as themselves, storage outages as
503 with Retry-After, anything else as a 500 with a request id - and `health` reports storage
and the last reconciler run. In-process on Azurite, as the Functions adapter calls it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import telemetry
from shared.scim.errors import ERROR_SCHEMA
from shared.service import tenant_schemas
from shared.service.app import ScimService
from shared.service.kinds import DEFAULT_KINDS
from shared.service.messages import ScimRequest, ScimResponse
from shared.store import layout
from tests.support.storage_faults import Injector, Unexpected, hooked

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class Api:
    """Requests of one tenant through ScimService.handle."""

    def __init__(self, service: ScimService, tenant: str, token: str) -> None:
        self.service, self.tenant, self.token = service, tenant, token

    def __call__(self, method: str, resource: str, rid: str | None = None, body: Any = None,
                 params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                 raw: bytes | None = None, token: str | None = None) -> ScimResponse:
        sent = {"authorization": f"Bearer {token or self.token}",
                "content-type": "application/scim+json", **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else b"")
        return self.service.handle(ScimRequest(method, self.tenant, resource, rid,
                                               params=params or {}, headers=sent, body=data))

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self("POST", resource, body=body)
        assert r.status == 201, r.body
        assert r.body is not None
        return r.body


@pytest.fixture
def api(scim_service: ScimService, tenant: tuple[str, str]) -> Api:
    return Api(scim_service, *tenant)


def error(r: ScimResponse, status: int, scim_type: str | None = None) -> str:
    """The detail of an RFC 7644 error response with this status (and scimType)."""
    assert r.status == status, r.body
    assert r.body is not None
    assert r.body["schemas"] == [ERROR_SCHEMA]
    assert r.body["status"] == str(status)
    assert r.body.get("scimType") == scim_type
    return str(r.body["detail"])


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["Users", "users", "USERS"])
def test_endpoints_are_matched_case_insensitively(api: Api, resource: str) -> None:
    r = api("GET", resource)
    assert r.status == 200
    assert r.body is not None
    assert r.body["schemas"] == [LIST]


@pytest.mark.parametrize(("resource", "rid", "schema"), [
    ("ServiceProviderConfig", None,
     "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
    ("ResourceTypes", None, LIST), ("ResourceTypes", "Group",
                                    "urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
    ("Schemas", None, LIST), ("Schemas", USER, "urn:ietf:params:scim:schemas:core:2.0:Schema"),
])
def test_discovery_endpoints(api: Api, resource: str, rid: str | None, schema: str) -> None:
    r = api("GET", resource, rid)
    assert r.status == 200
    assert r.body is not None
    assert r.body["schemas"] == [schema]


def test_discovery_names_this_tenants_url(api: Api, scim_service: ScimService) -> None:
    r = api("GET", "ResourceTypes", "User")
    assert r.body is not None
    assert r.body["meta"]["location"].startswith(scim_service.settings.tenant_url(api.tenant))


BADGES = "urn:ietf:params:scim:schemas:extension:Badges:2.0:User"


def test_a_tenant_that_declares_nothing_shares_the_default_kinds(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    """The seam that keeps the common case free: no copy, no build, the module's objects."""
    record = scim_service.tenants.get(tenant[0])
    assert record is not None
    assert ScimService.kinds_for(record) is DEFAULT_KINDS


def test_a_tenants_declarations_are_its_own(api: Api, scim_service: ScimService,
                                            tenant: tuple[str, str]) -> None:
    """Discovery and the resources of a tenant use its kinds; the kinds are made once per
    record version, and a new version (a schema added) is seen after `forget`."""
    plain = api("GET", "Schemas").body
    tenant_schemas.add_schema(scim_service.tenants, tenant[0], {
        "id": BADGES, "name": "Badges", "attributes": [{"name": "badge", "type": "integer"}]})
    scim_service.auth.forget(tenant[0])
    record = scim_service.tenants.get(tenant[0])
    assert record is not None
    kinds = ScimService.kinds_for(record)
    assert kinds is not DEFAULT_KINDS
    assert ScimService.kinds_for(scim_service.tenants.get(tenant[0])) is kinds  # type: ignore[arg-type]
    listed = api("GET", "Schemas").body
    assert listed is not None
    assert plain is not None
    assert [s["id"] for s in listed["Resources"]] == [
        *(s["id"] for s in plain["Resources"]), BADGES]
    assert api("GET", "Schemas", BADGES).status == 200
    created = api.create("Users", {"schemas": [USER], "userName": "b", BADGES: {"badge": "7"}})
    assert created[BADGES] == {"badge": 7}  # typed as declared


@pytest.mark.parametrize(("resource", "rid", "says"), [
    ("ResourceTypes", "Printer", "ResourceType Printer not found."),
    ("Schemas", "urn:example:nope", "Schema urn:example:nope not found."),
    ("ServiceProviderConfig", "x", "Unknown endpoint /ServiceProviderConfig"),
    ("Devices", None, "Unknown endpoint /Devices; this service serves /Users, /Groups"),
])
def test_what_does_not_exist_is_404(api: Api, resource: str, rid: str | None,
                                    says: str) -> None:
    assert says in error(api("GET", resource, rid), 404)


@pytest.mark.parametrize("resource", ["Bulk", "Me", ".search", "bulk"])
def test_unsupported_endpoints_are_501(api: Api, resource: str) -> None:
    detail = error(api("POST", resource, body={}), 501)
    assert f"/{resource} is not supported" in detail
    assert "Use /Users and /Groups" in detail


@pytest.mark.parametrize(("method", "resource", "rid", "shown"), [
    ("PUT", "Users", None, "PUT is not allowed on /Users."),
    ("DELETE", "Groups", None, "DELETE is not allowed on /Groups."),
    ("GET", "Users", ".search", "GET is not allowed on /Users/.search."),
    ("POST", "Users", "some-id", "POST is not allowed on /Users/some-id."),
    ("POST", "Schemas", None, "POST is not allowed on /Schemas."),
    ("DELETE", "ServiceProviderConfig", None, "DELETE is not allowed on /ServiceProviderConfig."),
    ("OPTIONS", "Users", "x", "OPTIONS is not allowed on /Users/x."),
])
def test_a_wrong_method_is_405_naming_it(api: Api, method: str, resource: str,
                                         rid: str | None, shown: str) -> None:
    assert error(api(method, resource, rid, body={}), 405) == shown


_path_text = st.text(max_size=300) | st.sampled_from(
    ["a\r\nforged line", "x" * 5000, "\x1b[2J\u2028", "\ud800", "caf\u00e9 \U0001F600"])


def _quoted_back(r: ScimResponse) -> None:
    """No 5xx but a 501 for what is not supported; an error detail is one printable line of
    bounded length."""
    assert r.status < 500 or r.status == 501, r.body
    if r.status >= 400:
        detail = error(r, r.status, (r.body or {}).get("scimType"))
        assert len(detail) <= 400
        assert detail.isprintable(), detail
        r.encode()  # sendable


_ANY = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_MEMBER_PATCH = {"schemas": [PATCH_OP], "Operations": [
    {"op": "add", "path": "members", "value": [{"value": "m"}]}]}


@_ANY
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
       resource=st.sampled_from(["Users", "Groups", "ResourceTypes", "Schemas"]),
       rid=_path_text)
def test_an_id_quoted_back_is_one_bounded_line(api: Api, method: str, resource: str,
                                               rid: str) -> None:
    _quoted_back(api(method, resource, rid, body=_MEMBER_PATCH))


@_ANY
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]) | _path_text,
       resource=st.sampled_from(["Users", "Groups", "Schemas", "ResourceTypes", "Bulk"])
       | _path_text, rid=st.none() | _path_text, if_match=st.none() | _path_text)
def test_any_path_text_quoted_back_is_one_bounded_line(api: Api, method: str, resource: str,
                                                       rid: str | None,
                                                       if_match: str | None) -> None:
    _quoted_back(api(method, resource, rid, body=_MEMBER_PATCH,
                     headers={"if-match": if_match} if if_match is not None else {}))


# --------------------------------------------------------------------------------------------
# Authentication before anything else
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "resource", "rid"), [
    ("POST", "Bulk", None), ("GET", "Nowhere", None), ("PUT", "Users", None),
    ("GET", "Users", "no-such-id"), ("GET", "ServiceProviderConfig", None)])
def test_an_unauthenticated_request_is_401_whatever_it_asks(api: Api, method: str,
                                                            resource: str, rid: str | None) -> None:
    """The answer reveals nothing of the route: not its 404, 405 or 501, nor whether an id
    exists."""
    r = api(method, resource, rid, body={}, token="scim_not-the-token")
    error(r, 401)
    assert "Bearer" in r.headers["WWW-Authenticate"]


# --------------------------------------------------------------------------------------------
# Users and Groups
# --------------------------------------------------------------------------------------------


def test_create_answers_201_with_location_and_etag(api: Api, scim_service: ScimService) -> None:
    r = api("POST", "Users", body={"schemas": [USER], "userName": "loc@example.com"},
            params={"attributes": "userName"})
    assert r.status == 201
    assert r.body is not None
    uid = r.body["id"]
    assert r.headers["Location"] == (f"{scim_service.settings.tenant_url(api.tenant)}"
                                     f"/Users/{uid}")
    assert set(r.body) == {"schemas", "id", "userName"}  # the view asked for
    assert r.headers["ETag"] == api("GET", "Users", uid).headers["ETag"]


def test_get_answers_the_etag_and_304_when_it_did_not_change(api: Api) -> None:
    uid = api.create("Users", {"schemas": [USER], "userName": "etag@example.com"})["id"]
    r = api("GET", "Users", uid)
    etag = r.headers["ETag"]
    assert r.status == 200
    for given_tag in (etag, "*"):
        r = api("GET", "Users", uid, headers={"if-none-match": given_tag})
        assert (r.status, r.body, r.headers["ETag"]) == (304, None, etag)
    assert api("GET", "Users", uid, headers={"if-none-match": 'W/"old"'}).status == 200


def test_put_and_user_patch_answer_the_resource_with_its_etag(api: Api) -> None:
    uid = api.create("Users", {"schemas": [USER], "userName": "pp@example.com"})["id"]
    r = api("PUT", "Users", uid, {"schemas": [USER], "userName": "pp@example.com",
                                  "title": "Put"})
    assert r.status == 200
    assert r.body is not None
    assert (r.body["title"], r.headers["ETag"]) == ("Put", r.body["meta"]["version"])
    r = api("PATCH", "Users", uid, {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": "Patched"}]})
    assert r.status == 200
    assert r.body is not None
    assert (r.body["title"], r.headers["ETag"]) == ("Patched", r.body["meta"]["version"])
    assert api("GET", "Users", uid).headers["ETag"] == r.headers["ETag"]


def test_a_group_patch_is_204_unless_a_view_is_asked_for(api: Api) -> None:
    gid = api.create("Groups", {"schemas": [GROUP], "displayName": "Quiet"})["id"]
    add = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "m1"}]}]}
    r = api("PATCH", "Groups", gid, add)
    assert (r.status, r.body) == (204, None)
    r = api("PATCH", "Groups", gid, {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "m2"}]}]},
        params={"attributes": "members"})
    assert r.status == 200
    assert r.body is not None
    assert sorted(m["value"] for m in r.body["members"]) == ["m1", "m2"]
    assert r.headers["ETag"] == api("GET", "Groups", gid).headers["ETag"]


def test_delete_is_204_then_404(api: Api) -> None:
    uid = api.create("Users", {"schemas": [USER], "userName": "del@example.com"})["id"]
    assert (api("DELETE", "Users", uid).status, api("DELETE", "Users", uid).status) == (204, 404)


@pytest.mark.parametrize("attributes", [f"{GROUP}:members", "members",
                                        f"{GROUP}:members.value"])
def test_urn_qualified_attributes_load_members_and_groups(api: Api, attributes: str) -> None:
    """RFC 7644 §3.10: attribute names may be fully qualified by their schema URN."""
    uid = api.create("Users", {"schemas": [USER], "userName": "q@example.com"})["id"]
    gid = api.create("Groups", {"schemas": [GROUP], "displayName": "Q",
                                "members": [{"value": uid}]})["id"]
    r = api("GET", "Groups", gid, params={"attributes": attributes})
    assert r.body is not None
    assert [m["value"] for m in r.body["members"]] == [uid]
    listed = api("GET", "Groups", params={"attributes": attributes})
    assert listed.body is not None
    assert [m["value"] for m in listed.body["Resources"][0]["members"]] == [uid]
    r = api("GET", "Users", uid, params={"attributes": f"{USER}:groups"})
    assert r.body is not None
    assert [g["value"] for g in r.body["groups"]] == [gid]


def test_sorting_is_refused_in_a_query_and_a_search(api: Api) -> None:
    assert "Sorting is not supported" in error(
        api("GET", "Users", params={"sortBy": "userName"}), 400, "invalidValue")
    assert "omit sortBy" in error(
        api("POST", "Users", ".search", {"schemas": [SEARCH], "sortBy": "userName"}),
        400, "invalidValue")


def test_search_pages_filters_and_projects(api: Api) -> None:
    for n in range(3):
        api.create("Users", {"schemas": [USER], "userName": f"s{n}@example.com",
                             "title": "T"})
    r = api("POST", "Users", ".search", {"schemas": [SEARCH], "filter": 'title eq "T"',
                                         "startIndex": 2, "count": 1,
                                         "attributes": ["userName"]})
    assert r.status == 200
    assert r.body is not None
    assert (r.body["totalResults"], r.body["startIndex"], r.body["itemsPerPage"]) == (3, 2, 1)
    (found,) = r.body["Resources"]
    assert set(found) == {"schemas", "id", "userName"}
    r = api("POST", "Users", ".search", {"schemas": [SEARCH],
                                         "excludedAttributes": "title, emails"})
    assert r.body is not None
    assert all("title" not in u for u in r.body["Resources"])


@pytest.mark.parametrize(("body", "scim_type", "says"), [
    ({"filter": 7}, "invalidFilter", "filter must be a string"),
    ({"attributes": [1]}, "invalidValue", "lists of attribute names"),
    ({"excludedAttributes": {"a": 1}}, "invalidValue", "lists of attribute names"),
])
def test_a_malformed_search_is_400_saying_what(api: Api, body: dict[str, Any],
                                               scim_type: str, says: str) -> None:
    assert says in error(api("POST", "Users", ".search", {"schemas": [SEARCH], **body}),
                         400, scim_type)


def test_query_parameters_are_read_whatever_their_case(api: Api) -> None:
    for n in range(2):
        api.create("Users", {"schemas": [USER], "userName": f"c{n}@example.com"})
    r = api("GET", "Users", params={"STARTINDEX": "2", "Count": "1"})
    assert r.body is not None
    assert (r.body["startIndex"], r.body["itemsPerPage"]) == (2, 1)


def test_a_body_the_service_cannot_read_is_a_scim_error(api: Api) -> None:
    assert "not valid JSON" in error(api("POST", "Users", raw=b"{"), 400, "invalidSyntax")
    assert "Split the change" in error(
        api("POST", "Users", raw=b" " * (api.service.settings.max_payload_bytes + 1)), 413)


# --------------------------------------------------------------------------------------------
# Outages and the unexpected
# --------------------------------------------------------------------------------------------


def test_a_storage_outage_is_503_with_retry_after(api: Api) -> None:
    api("GET", "Users")  # authenticated once: the tenant record is cached
    injector = Injector()
    with hooked(injector):
        injector.arm("throttle", at=1, outage=True)
        r = api("POST", "Users", body={"schemas": [USER], "userName": "out@example.com"})
    assert injector.injected >= 1
    assert "Retry after the indicated delay" in error(r, 503)
    assert r.headers["Retry-After"] == "5"



def test_an_unexpected_error_is_500_quoting_the_logged_request_id(
        api: Api, scim_service: ScimService, caplog: pytest.LogCaptureFixture) -> None:
    api("GET", "Users")
    with hooked(Unexpected(scim_service.tables.data.table_name)), \
            caplog.at_level(logging.ERROR, logger="scim"):
        r = scim_service.handle(ScimRequest(
            "GET", api.tenant, "Users", headers={"authorization": f"Bearer {api.token}"},
            request_id="req-500"))
    detail = error(r, 500)
    assert "Internal error (request id req-500, logged)" in detail
    assert "GET the resource" in detail
    assert r.headers["X-Request-Id"] == "req-500"
    (logged,) = [rec for rec in caplog.records if "request_id=req-500" in rec.getMessage()
                 and rec.levelno == logging.ERROR]
    assert logged.exc_info is not None
    assert logged.exc_info[0] is ZeroDivisionError


def test_refusals_are_logged_at_info_and_successes_at_debug(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="scim"):
        api("GET", "Users")
        api("GET", "Nowhere\r\nforged")
    lines = [(rec.levelno, rec.getMessage()) for rec in caplog.records
             if rec.name == "scim" and " status=" in rec.getMessage()]
    assert [(level, text.split(" ms=")[0]) for level, text in lines] == [
        (logging.DEBUG, "GET Users status=200"),
        (logging.INFO, "GET Nowhere\\x0d\\x0aforged status=404")]


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [rec for rec in caplog.records if rec.name == "scim" and " status=" in rec.getMessage()]


def test_the_request_line_carries_the_fields_azure_monitor_queries(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """infra/modules/alerts.bicep reads these as custom dimensions (shared/telemetry.py)."""
    with caplog.at_level(logging.DEBUG, logger="scim"):
        api("GET", "Users")
        api("GET", "Nowhere")
        api("GET", "Users", token="scim_not-the-token")
    ok, missing, refused = _request_lines(caplog)
    assert getattr(ok, telemetry.EVENT) == telemetry.SCIM_REQUEST
    assert getattr(missing, telemetry.EVENT) == telemetry.SCIM_REQUEST
    assert (getattr(missing, telemetry.STATUS), getattr(missing, telemetry.TENANT)) == (
        404, api.tenant)
    assert getattr(missing, telemetry.METHOD) == "GET"
    assert getattr(missing, telemetry.RESOURCE) == "Nowhere"
    assert isinstance(getattr(missing, telemetry.DURATION_MS), float)
    # a wrong token for an existing tenant: an authentication failure of that tenant
    assert getattr(refused, telemetry.EVENT) == telemetry.AUTH_FAILURE
    assert (getattr(refused, telemetry.STATUS), getattr(refused, telemetry.TENANT)) == (
        401, api.tenant)


def test_a_refusal_for_a_tenant_id_that_names_no_tenant_is_not_split_by_it(
        scim_service: ScimService, caplog: pytest.LogCaptureFixture) -> None:
    """The tenant id is the caller's text then: one dimension value for all of them."""
    with caplog.at_level(logging.INFO, logger="scim"):
        for guess in ("guess-1", "guess-2"):
            scim_service.handle(ScimRequest("GET", guess, "Users",
                                            headers={"authorization": "Bearer scim_x"}))
    records = _request_lines(caplog)
    assert [getattr(rec, telemetry.EVENT) for rec in records] == [telemetry.AUTH_FAILURE] * 2
    assert {getattr(rec, telemetry.TENANT) for rec in records} == {telemetry.UNKNOWN_TENANT}


# --------------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------------


def test_health_reports_storage_and_the_last_run(scim_service: ScimService) -> None:
    scim_service.runs.record({"time": "2026-01-01T00:00:00Z", "delivered": 3, "failed": 0,
                              "dead_lettered": 0, "repaired": 1, "backlog": 0,
                              "incomplete": False, "errors": 0, "expiring_secrets": 2,
                              "repair_incomplete": 1, "other": "not shown"})
    status, body = scim_service.health()
    assert status == 200
    assert body == {"status": "ok", "storage": "reachable", "reconcile": {
        "time": "2026-01-01T00:00:00Z", "delivered": 3, "failed": 0, "dead_lettered": 0,
        "repaired": 1, "backlog": 0, "incomplete": False, "errors": 0, "expiring_secrets": 2,
        "repair_incomplete": 1}}


@pytest.fixture
def tenants_unreachable(scim_service: ScimService) -> Iterator[None]:
    with hooked(Unexpected(scim_service.tables.tenants.table_name)):
        yield


def test_health_is_503_degraded_when_storage_fails(scim_service: ScimService,
                                                   tenants_unreachable: None) -> None:
    assert scim_service.health() == (503, {"status": "degraded",
                                           "storage": "unreachable (ZeroDivisionError)"})


def test_health_stays_ok_when_only_the_run_log_cannot_be_read(
        scim_service: ScimService) -> None:
    with hooked(Unexpected(scim_service.tables.runs.table_name)):
        status, body = scim_service.health()
    assert status == 200
    assert body["reconcile"] == {"error": "ZeroDivisionError"}


def test_health_reads_no_tenant_data(scim_service: ScimService) -> None:
    """A probe for storage only: the tenants table's well-known probe row, nothing else."""
    seen: list[str] = []
    me = threading.get_ident()

    def record(request: Any, send: Any) -> Any:
        if threading.get_ident() == me:
            seen.append(request.url)
        return send(request)

    with hooked(record):
        scim_service.health()
    tenants, runs = scim_service.tables.tenants.table_name, scim_service.tables.runs.table_name
    assert len(seen) == 2
    assert f"/{tenants}(PartitionKey='health-probe',RowKey='{layout.TENANT_ROW}')" in seen[0]
    assert f"/{runs}" in seen[1]
