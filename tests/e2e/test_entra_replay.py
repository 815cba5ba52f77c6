"""Replay of Microsoft Entra's documented requests over HTTP against the served function_app, on
Azurite, twice: authenticated with the tenant's Secret Token, and with an access token the
served token endpoint issued for a client of a tenant that accepts OAuth only (what a gallery
listing configures). Bodies are copied from Microsoft Learn's "Develop and plan provisioning
for a SCIM endpoint" (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups)
and "Known issues and resolutions with SCIM 2.0 protocol compliance"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EIGHT = "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = {"Content-Type": "application/scim+json"}

pytestmark = pytest.mark.served


@pytest.fixture(params=["secret-token", "client-credentials"])
def client(request: pytest.FixtureRequest, served: str, tenant: tuple[str, str],
           scim_service: Any) -> Iterator[httpx.Client]:
    """httpx client bound to a fresh tenant's Tenant URL, authenticated as the parameter says."""
    tenant_id, token = tenant
    if request.param == "client-credentials":
        token = client_credentials_token(served, scim_service, tenant_id)
    with httpx.Client(base_url=f"{served}/scim/v2/{tenant_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        yield c


def client_credentials_token(served: str, scim_service: Any, tenant_id: str) -> str:
    """Make the tenant OAuth-only with one client, and get an access token for it from the
    served token endpoint (client_secret_basic), as Entra does before a cycle."""
    from shared.auth import clients

    record = scim_service.tenants.get(tenant_id)
    oauth_client = clients.add_client(record, datetime.now(UTC), name="entra")
    secret = clients.add_secret(oauth_client, datetime.now(UTC))
    record.auth_methods = ["oauth"]
    scim_service.tenants.save(record)
    r = httpx.post(f"{served}/oauth2/token", data={"grant_type": "client_credentials"},
                   auth=(oauth_client.id, secret), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    return str(body["access_token"])


def b1_create_user(suffix: str = "") -> dict[str, Any]:
    """b.1 Create User, verbatim (userName made unique per call)."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": f"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee{suffix}",
        "active": True,
        "emails": [{
            "primary": True,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        }],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName",
                 "givenName": "givenName"},
        "roles": [],
    }


def b2_create_group(name: str = "displayName") -> dict[str, Any]:
    return {
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": name,
        "meta": {"resourceType": "Group"},
    }


def create(client: httpx.Client, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(endpoint, json=body, headers=SCIM_JSON)
    assert r.status_code == 201, r.text
    return dict(r.json())


def patch(client: httpx.Client, url: str, *ops: dict[str, Any]) -> httpx.Response:
    return client.patch(url, json={"schemas": [PATCH_OP], "Operations": list(ops)},
                        headers=SCIM_JSON)


def assert_scim_error(r: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    body = r.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    assert "Traceback" not in body["detail"]
    if scim_type:
        assert body.get("scimType") == scim_type


# -- Test connection (a.18, a.19) ---------------------------------------------------------

def test_test_connection_probes_return_empty_list_responses(client: httpx.Client) -> None:
    guid = str(uuid.uuid4())
    r = client.get("/Users", params={"filter": f'userName eq "{guid}"'})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json() == {"schemas": [LIST], "totalResults": 0, "Resources": [], "startIndex": 1,
                        "itemsPerPage": 0}
    r = client.get("/Groups", params={"excludedAttributes": "members",
                                      "filter": f'displayName eq "{guid}"'})
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0
    assert r.json()["Resources"] == []


# -- b.1 Users -------------------------------------------------------------------------------

def test_create_user_verbatim(client: httpx.Client) -> None:
    r = client.post("/Users", json=b1_create_user(), headers=SCIM_JSON)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.headers["Location"].endswith(f"/Users/{body['id']}")
    assert r.headers["ETag"] == body["meta"]["version"]
    assert body["userName"] == "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    assert body["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    assert body["active"] is True
    assert body["emails"] == [{"primary": True, "type": "work", "value":
                               "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}]
    assert body["name"]["familyName"] == "familyName"
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["created"]
    assert body["meta"]["lastModified"]
    assert USER in body["schemas"]
    got = client.get(f"/Users/{body['id']}")
    assert got.status_code == 200
    assert got.json()["userName"] == body["userName"]


def test_get_missing_user_is_404_scim_error(client: httpx.Client) -> None:
    assert_scim_error(client.get("/Users/5171a35d82074e068ce2"), 404)


def test_get_user_by_query_case_insensitive_and_encodings(client: httpx.Client,
                                                          served: str) -> None:
    user = create(client, "/Users", b1_create_user())
    name = user["userName"]
    for value in (name, name.upper(), name.lower()):
        r = client.get("/Users", params={"filter": f'userName eq "{value}"'})
        assert r.status_code == 200
        body = r.json()
        assert body["totalResults"] == 1
        assert body["Resources"][0]["id"] == user["id"]
        assert body["startIndex"] == 1
    # Both encodings seen from Entra's validator: '+' and %20 for spaces.
    base = str(client.base_url).rstrip("/")
    for query in (f'filter=userName+eq+"{name}"', f"filter=userName%20eq%20%22{name}%22"):
        r = client.get(f"{base}/Users?{query}")
        assert r.json()["totalResults"] == 1, query


def test_unquoted_filter_value_example_1(client: httpx.Client) -> None:
    body = b1_create_user()
    body["externalId"] = "jyoung"
    user = create(client, "/Users", body)
    r = client.get(str(client.base_url).rstrip("/") + "/Users?filter=externalId eq jyoung")
    assert r.json()["totalResults"] == 1
    assert r.json()["Resources"][0]["id"] == user["id"]


def test_zero_results_query(client: httpx.Client) -> None:
    r = client.get("/Users", params={"filter": 'userName eq "non-existent user"'})
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0
    assert r.json()["Resources"] == []


def test_update_user_multi_valued_properties(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    r = patch(client, f"/Users/{user['id']}",
              {"op": "Replace", "path": 'emails[type eq "work"].value',
               "value": "updatedEmail@microsoft.com"},
              {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["emails"] == [{"value": "updatedEmail@microsoft.com", "type": "work",
                               "primary": True}]
    assert body["name"]["familyName"] == "updatedFamilyName"
    assert body["name"]["givenName"] == "givenName"
    assert r.headers["ETag"] == body["meta"]["version"] != user["meta"]["version"]


def test_update_user_single_valued_username_moves_the_index(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    new = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    r = patch(client, f"/Users/{user['id']}", {"op": "Replace", "path": "userName", "value": new})
    assert r.status_code == 200
    assert r.json()["userName"] == new
    assert client.get("/Users", params={"filter": f'userName eq "{new}"'}).json()[
        "totalResults"] == 1
    assert client.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'}).json()[
        "totalResults"] == 0


@pytest.mark.parametrize("value", [False, "False", "false", "FALSE"])
def test_disable_user_keeps_it_readable_with_active(client: httpx.Client, value: Any) -> None:
    user = create(client, "/Users", b1_create_user())
    r = patch(client, f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": value})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    got = client.get(f"/Users/{user['id']}").json()
    assert got["active"] is False
    listed = client.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'}).json()
    assert listed["Resources"][0]["active"] is False
    r = patch(client, f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": "True"})
    assert r.json()["active"] is True


def test_delete_user_then_404_and_second_delete_404(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    assert client.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(client.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(client.delete(f"/Users/{user['id']}"), 404)
    # the userName is free again
    create(client, "/Users", b1_create_user())


# -- b.2 Groups ------------------------------------------------------------------------------

def test_create_group_with_unknown_schema_uri(client: httpx.Client) -> None:
    r = client.post("/Groups", json=b2_create_group(), headers=SCIM_JSON)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["displayName"] == "displayName"
    assert body["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert body["schemas"] == [GROUP]
    assert body.get("members", []) == []
    assert r.headers["Location"].endswith(f"/Groups/{body['id']}")


def test_get_group_excluding_members(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    user = create(client, "/Users", b1_create_user())
    assert patch(client, f"/Groups/{group['id']}",
                 {"op": "Add", "path": "members",
                  "value": [{"$ref": None, "value": user["id"]}]}).status_code == 204
    r = client.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"})
    assert r.status_code == 200
    assert "members" not in r.json()
    assert r.json()["displayName"] == "displayName"
    full = client.get(f"/Groups/{group['id']}").json()
    assert full["members"] == [{"value": user["id"]}]


def test_get_group_by_display_name_excluding_members(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group("Sales Team"))
    r = client.get("/Groups", params={"excludedAttributes": "members",
                                      "filter": 'displayName eq "sales team"'})
    body = r.json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == group["id"]
    assert "members" not in body["Resources"][0]


def test_update_group_display_name_is_204(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    new = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    r = patch(client, f"/Groups/{group['id']}", {"op": "Replace", "path": "displayName",
                                                 "value": new})
    assert r.status_code == 204
    assert r.content == b""
    assert client.get(f"/Groups/{group['id']}").json()["displayName"] == new


def test_group_members_add_readd_and_legacy_remove_removes_only_those(
        client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    users = [create(client, "/Users", b1_create_user(str(n)))["id"] for n in range(3)]
    r = patch(client, f"/Groups/{group['id']}",
              {"op": "Add", "path": "members", "value": [{"$ref": None, "value": u}
                                                         for u in users]})
    assert r.status_code == 204
    # Entra re-sends adds of existing members in later cycles: a no-op success (a.40).
    r = patch(client, f"/Groups/{group['id']}",
              {"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[0]}]})
    assert r.status_code == 204
    # Legacy shape (without the flag): Remove with a value list removes ONLY those (peers §3.1).
    r = patch(client, f"/Groups/{group['id']}",
              {"op": "Remove", "path": "members", "value": [{"value": users[1]}]})
    assert r.status_code == 204
    members = {m["value"] for m in client.get(f"/Groups/{group['id']}").json()["members"]}
    assert members == {users[0], users[2]}
    # With the flag: members[value eq "…"].
    r = patch(client, f"/Groups/{group['id']}",
              {"op": "remove", "path": f'members[value eq "{users[2]}"]'})
    assert r.status_code == 204
    assert client.get(f"/Groups/{group['id']}").json()["members"] == [{"value": users[0]}]


def test_group_patch_with_attributes_returns_200_and_resource(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    r = client.patch(f"/Groups/{group['id']}", params={"excludedAttributes": "members"},
                     json={"schemas": [PATCH_OP], "Operations": [
                         {"op": "replace", "path": "externalId", "value": "x-1"}]})
    assert r.status_code == 200
    assert r.json()["externalId"] == "x-1"
    assert "members" not in r.json()


def test_delete_group(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    assert client.delete(f"/Groups/{group['id']}").status_code == 204
    assert_scim_error(client.get(f"/Groups/{group['id']}"), 404)


def test_membership_check_query(client: httpx.Client) -> None:
    group = create(client, "/Groups", b2_create_group())
    member = create(client, "/Users", b1_create_user("m"))["id"]
    other = create(client, "/Users", b1_create_user("o"))["id"]
    patch(client, f"/Groups/{group['id']}", {"op": "Add", "path": "members",
                                             "value": [{"value": member}]})
    for uid, expected in ((member, 1), (other, 0)):
        r = client.get("/Groups", params={"filter": f"id eq {group['id']} and members eq {uid}",
                                          "attributes": "id"})
        assert r.json()["totalResults"] == expected
        if expected:
            assert set(r.json()["Resources"][0]) <= {"id", "schemas", "meta"}


def test_schemas_discovery(client: httpx.Client) -> None:
    r = client.get("/Schemas")
    assert r.status_code == 200
    body = r.json()
    assert body["schemas"] == [LIST]
    ids = {s["id"] for s in body["Resources"]}
    assert {USER, GROUP, ENTERPRISE, EIGHT} <= ids

    def no_nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return all(v is not None and no_nulls(v) for v in value.values())
        if isinstance(value, list):
            return all(no_nulls(v) for v in value)
        return value is not None

    assert no_nulls(body)
    one = client.get(f"/Schemas/{ENTERPRISE}")
    assert one.status_code == 200
    assert one.json()["id"] == ENTERPRISE


# -- b.3 shapes without and with aadOptscim062020 ------------------------------------------

def test_add_single_value_string_both_shapes(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    for op in ("Add", "add"):
        r = patch(client, f"/Users/{user['id']}", {"op": op, "path": "nickName", "value": "Babs"})
        assert r.status_code == 200
        assert r.json()["nickName"] == "Babs"


def test_replace_multiple_attributes_without_flag(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    r = patch(client, f"/Users/{user['id']}",
              {"op": "Replace", "path": "displayName", "value": "Pvlo"},
              {"op": "Replace", "path": 'emails[type eq "work"].value',
               "value": "TestBcwqnm@test.microsoft.com"},
              {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
              {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
              {"op": "Replace", "path": "externalId", "value": "Eqpj"},
              {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["displayName"] == "Pvlo"
    assert body["emails"][0]["value"] == "TestBcwqnm@test.microsoft.com"
    assert body["name"]["givenName"] == "Gtfd"
    assert body["name"]["familyName"] == "Pkqf"
    assert body["externalId"] == "Eqpj"
    assert body[ENTERPRISE]["employeeNumber"] == "Eqpj"
    assert ENTERPRISE in body["schemas"]
    assert client.get("/Users", params={"filter": 'externalId eq "Eqpj"'}).json()[
        "totalResults"] == 1


def test_replace_multiple_attributes_with_flag_pathless_dotted_keys(
        client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    r = client.patch(f"/Users/{user['id']}?aadOptscim062020", headers=SCIM_JSON, json={
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": 'emails[type eq "work"].value',
             "value": "TestMhvaes@test.microsoft.com"},
            {"op": "replace", "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{ENTERPRISE}:employeeNumber": "Aklq"}},
        ]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["emails"][0]["value"] == "TestMhvaes@test.microsoft.com"
    assert body["displayName"] == "Bjfe"
    assert body["name"] == {"formatted": "givenName familyName", "givenName": "Kkom",
                            "familyName": "Unua"}
    assert body[ENTERPRISE]["employeeNumber"] == "Aklq"
    assert "name.givenName" not in body


# -- b.4 provisioning examples -----------------------------------------------------------

def test_example_2_post_with_nulls_and_typo_schema(client: httpx.Client) -> None:
    r = client.post("/Users", headers={"Content-Type": "application/scim+json"}, content=b"""{
   "schemas":
   [
     "urn:ietf:params:scim:schemas:core:2.0:User",
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
   "externalId":"jyoung",
   "userName":"jyoung@testuser.com",
   "active":true,
   "addresses":null,
   "displayName":"Joy Young",
   "emails": [
     {
       "type":"work",
       "value":"jyoung@Contoso.com",
       "primary":true}],
   "meta": {
     "resourceType":"User"},
    "name":{
     "familyName":"Young",
     "givenName":"Joy"},
   "phoneNumbers":null,
   "preferredLanguage":null,
   "title":null,
   "department":null,
   "manager":null}""")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["displayName"] == "Joy Young"
    assert body["emails"][0]["value"] == "jyoung@Contoso.com"  # stored as sent
    for absent in ("addresses", "phoneNumbers", "preferredLanguage", "title"):
        assert absent not in body


def test_examples_4_and_5_manager_reference(client: httpx.Client) -> None:
    manager = create(client, "/Users", b1_create_user("mgr"))["id"]
    user = create(client, "/Users", b1_create_user("emp"))["id"]
    query = {"filter": f"id eq {user} and manager eq {manager}", "attributes": "id"}
    assert client.get("/Users", params=query).json()["totalResults"] == 0
    r = patch(client, f"/Users/{user}",
              {"op": "Add", "path": "manager",
               "value": [{"$ref": f"http://example/scim/Users/{manager}", "value": manager}]})
    assert r.status_code == 200, r.text
    assert r.json()[ENTERPRISE]["manager"]["value"] == manager
    found = client.get("/Users", params=query).json()
    assert found["totalResults"] == 1
    assert set(found["Resources"][0]) <= {"id", "schemas", "meta"}


# -- b.5 roles, b.6 manager shapes -----------------------------------------------------------

def test_roles_post_objects_and_patch_json_strings(client: httpx.Client) -> None:
    r = client.post("/Users", headers=SCIM_JSON, json={
        "schemas": [USER], "externalId": "alias", "userName": "alias@contoso.OnMicrosoft.com",
        "active": True, "displayName": "First Name Last Name", "meta": {"resourceType": "User"},
        "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["roles"] == [{"primary": True, "type": "WindowsAzureActiveDirectoryRole",
                                  "value": "Admin"}]
    r = patch(client, f"/Users/{uid}", {"op": "Add", "path": "roles", "value": [{
        "value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\","
                 "\"displayName\":\"Role1234\"}"}]})
    assert r.status_code == 200, r.text
    values = {role["value"] for role in r.json()["roles"]}
    assert values == {"Admin", "25"}


def test_manager_shapes_of_the_validator(client: httpx.Client) -> None:
    manager = create(client, "/Users", b1_create_user("boss"))["id"]
    uid = create(client, "/Users", b1_create_user("worker"))["id"]
    path = f"{ENTERPRISE}:manager"
    r = patch(client, f"/Users/{uid}", {"op": "add", "path": path, "value": {"value": manager}})
    assert r.json()[ENTERPRISE]["manager"]["value"] == manager
    r = patch(client, f"/Users/{uid}", {"op": "replace", "path": path, "value": {"value": ""}})
    assert r.status_code == 200
    assert "manager" not in r.json().get(ENTERPRISE, {})
    patch(client, f"/Users/{uid}", {"op": "add", "path": path, "value": {"value": manager}})
    r = patch(client, f"/Users/{uid}", {"op": "remove", "path": path})
    assert "manager" not in r.json().get(ENTERPRISE, {})


# -- a: other requirements --------------------------------------------------------------------

@pytest.mark.parametrize("ctype", ["application/scim+json", "application/json",
                                   "application/scim+json; charset=utf-8",
                                   "application/json; charset=utf-8"])
def test_content_types_accepted(client: httpx.Client, ctype: str) -> None:
    r = client.post("/Users", content=b'{"userName": "ctype-%s"}' % ctype.encode()[:20],
                    headers={"Content-Type": ctype})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/scim+json")


def test_duplicate_user_and_group_are_409_uniqueness(client: httpx.Client) -> None:
    create(client, "/Users", b1_create_user())
    r = client.post("/Users", json=b1_create_user(), headers=SCIM_JSON)
    assert_scim_error(r, 409, "uniqueness")
    assert "userName" in r.json()["detail"]
    create(client, "/Groups", b2_create_group("Dup"))
    assert_scim_error(client.post("/Groups", json=b2_create_group("DUP")), 409, "uniqueness")


def test_8x8_site_is_immutable(client: httpx.Client) -> None:
    body = b1_create_user()
    body["schemas"].append(EIGHT)
    body[EIGHT] = {"site": "London"}
    user = create(client, "/Users", body)
    assert user[EIGHT]["site"] == "London"
    path = f"{EIGHT}:site"
    r = patch(client, f"/Users/{user['id']}", {"op": "replace", "path": path, "value": "London"})
    assert r.status_code == 200
    r = patch(client, f"/Users/{user['id']}", {"op": "replace", "path": path, "value": "Paris"})
    assert_scim_error(r, 400, "mutability")
    assert client.get(f"/Users/{user['id']}").json()[EIGHT]["site"] == "London"


def test_null_update_clears_attributes(client: httpx.Client) -> None:
    body = b1_create_user()
    body["title"] = "Engineer"
    body["nickName"] = "Nick"
    user = create(client, "/Users", body)
    r = patch(client, f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": ""})
    assert r.status_code == 200
    assert r.json().get("title") in (None, "")
    r = patch(client, f"/Users/{user['id']}", {"op": "replace", "path": "nickName",
                                               "value": None})
    assert r.status_code == 200
    assert r.json().get("nickName") is None


def test_pagination_startindex_count(client: httpx.Client) -> None:
    ids = [create(client, "/Users", b1_create_user(f"-p{n}"))["id"] for n in range(7)]
    seen: list[str] = []
    for start in (1, 6):
        r = client.get("/Users", params={"startIndex": start, "count": 5}).json()
        assert r["totalResults"] == 7
        assert r["startIndex"] == start
        assert r["itemsPerPage"] == len(r["Resources"])
        seen += [u["id"] for u in r["Resources"]]
    assert seen == ids  # stable order, nothing lost, nothing twice


def test_if_match_stale_is_412(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    old = user["meta"]["version"]
    patch(client, f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": "A"})
    r = client.patch(f"/Users/{user['id']}", headers={"If-Match": old, **SCIM_JSON},
                     json={"schemas": [PATCH_OP], "Operations": [
                         {"op": "replace", "path": "title", "value": "B"}]})
    assert_scim_error(r, 412)
    current = client.get(f"/Users/{user['id']}")
    assert current.json()["title"] == "A"
    r = client.patch(f"/Users/{user['id']}", headers={"If-Match": current.headers["ETag"]},
                     json={"schemas": [PATCH_OP], "Operations": [
                         {"op": "replace", "path": "title", "value": "B"}]})
    assert r.status_code == 200
    assert client.get(f"/Users/{user['id']}", headers={
        "If-None-Match": r.headers["ETag"]}).status_code == 304


def test_unsupported_features_are_scim_errors(client: httpx.Client) -> None:
    assert_scim_error(client.post("/Bulk", json={}), 501)
    assert_scim_error(client.get("/Me"), 501)
    assert_scim_error(client.get("/Users", params={"sortBy": "userName"}), 400)
    assert_scim_error(client.get("/Nope"), 404)
    assert_scim_error(client.put("/Users", json={}), 405)
    config = client.get("/ServiceProviderConfig").json()
    assert config["bulk"]["supported"] is False
    assert config["sort"]["supported"] is False
    assert config["patch"]["supported"] is True
    assert config["etag"]["supported"] is True


def test_bad_bodies_are_400_never_500(client: httpx.Client) -> None:
    assert_scim_error(client.post("/Users", content=b'{"acve": tre', headers=SCIM_JSON), 400,
                      "invalidSyntax")
    assert_scim_error(client.post("/Users", json={"displayName": "no userName"}), 400)
    assert_scim_error(client.post("/Users", content=b"[1,2]", headers=SCIM_JSON), 400)
    assert_scim_error(client.post("/Users", content=b'{"userName":"a","userName":"b"}',
                                  headers=SCIM_JSON), 400, "invalidSyntax")
    assert_scim_error(client.post("/Users", content=b"\xff\xfe{", headers=SCIM_JSON), 400)
    assert_scim_error(client.get("/Users", params={"filter": "userName equals x"}), 400,
                      "invalidFilter")
    assert_scim_error(client.get("/Users", params={"startIndex": "one"}), 400)
    user = create(client, "/Users", b1_create_user())
    assert_scim_error(patch(client, f"/Users/{user['id']}", {"op": "jump", "path": "title"}),
                      400)
    assert_scim_error(client.patch(f"/Users/{user['id']}", json={"Operations": []}), 400)


def test_oversize_body_is_413(client: httpx.Client) -> None:
    r = client.post("/Users", content=b'{"userName":"' + b"x" * 1_100_000 + b'"}',
                    headers=SCIM_JSON)
    assert_scim_error(r, 413)


# -- auth ---------------------------------------------------------------------------------

def test_authentication_required_and_tenant_isolated(served: str, client: httpx.Client,
                                                     scim_service: Any) -> None:
    user = create(client, "/Users", b1_create_user())
    base = str(client.base_url).rstrip("/")
    r = httpx.get(f"{base}/Users/{user['id']}")
    assert_scim_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = httpx.get(f"{base}/Users/{user['id']}", headers={"Authorization": "Bearer wrong"})
    assert_scim_error(r, 401)
    r = httpx.get(f"{base}/Users/{user['id']}", headers={"Authorization": "Basic abc"})
    assert_scim_error(r, 401)
    # Another tenant's valid token on this tenant's URL: 401, not the data.
    from shared.auth.tenants import issue_token, new_tenant_id
    from shared.store.tenants import Tenant
    from shared.timestamps import now_iso

    other = Tenant(id=new_tenant_id(), name="other", created=now_iso())
    other_token = issue_token(other)
    scim_service.tenants.create(other)
    r = httpx.get(f"{base}/Users/{user['id']}", headers={"Authorization":
                                                         f"Bearer {other_token}"})
    assert_scim_error(r, 401)
    # Its own URL with the same id: 404, and its list is empty.
    other_base = f"{served}/scim/v2/{other.id}"
    auth = {"Authorization": f"Bearer {other_token}"}
    assert httpx.get(f"{other_base}/Users/{user['id']}", headers=auth).status_code == 404
    assert httpx.get(f"{other_base}/Users", headers=auth).json()["totalResults"] == 0


def test_health_needs_no_auth_and_reveals_no_data(served: str) -> None:
    r = httpx.get(f"{served}/health")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("status", "storage")} == {"status": "ok",
                                                           "storage": "reachable"}
    # Besides that only the last reconciler run: counts and a time, no tenant data.
    assert set(body) <= {"status", "storage", "reconcile"}
    run = body.get("reconcile")
    assert run is None or all(isinstance(v, int | bool | str | None) for v in run.values())


# -- more of part (a) and the reference Postman collection --------------------------------------

def test_work_email_matching_filter_uses_index_and_is_case_insensitive(
        client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    other = b1_create_user("-2")
    other["emails"] = [{"type": "home", "value": "Test_User_11bb11bb-cc22-dd33-ee44-"
                                                 "55ff55ff55ff@testuser.com"}]
    create(client, "/Users", other)
    email = user["emails"][0]["value"]
    for value in (email, email.upper()):
        r = client.get("/Users", params={"filter": f'emails[type eq "work"].value eq "{value}"'})
        assert r.status_code == 200
        assert [u["id"] for u in r.json()["Resources"]] == [user["id"]]
    # After the work email changes, the old address no longer matches and the new one does.
    patch(client, f"/Users/{user['id']}", {"op": "replace", "path": 'emails[type eq "work"].value',
                                           "value": "new@contoso.com"})
    old = client.get("/Users", params={"filter": f'emails[type eq "work"].value eq "{email}"'})
    assert old.json()["totalResults"] == 0
    new = client.get("/Users",
                     params={"filter": 'emails[type eq "work"].value eq "NEW@contoso.com"'})
    assert new.json()["totalResults"] == 1


@pytest.mark.parametrize("name", ["R&D / Ops #1", "Ünïcode — Group", "50% \"quoted\" team",
                                  "back\\slash?x"])
def test_group_names_with_special_characters(client: httpx.Client, name: str) -> None:
    group = create(client, "/Groups", b2_create_group(name))
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    r = client.get("/Groups", params={"filter": f'displayName eq "{escaped}"',
                                      "excludedAttributes": "members"})
    assert r.json()["totalResults"] == 1
    assert r.json()["Resources"][0]["id"] == group["id"]


def test_group_create_with_members_list_and_nested_group(client: httpx.Client) -> None:
    uid = create(client, "/Users", b1_create_user())["id"]
    child = create(client, "/Groups", b2_create_group("child"))["id"]
    body = b2_create_group("parent")
    body["members"] = []
    parent = create(client, "/Groups", body)
    assert parent.get("members", []) == []
    r = patch(client, f"/Groups/{parent['id']}", {"op": "Add", "path": "members", "value": [
        {"value": uid}, {"value": child, "type": "Group"}]})
    assert r.status_code == 204
    members = client.get(f"/Groups/{parent['id']}").json()["members"]
    assert {m["value"] for m in members} == {uid, child}
    nested = next(m for m in members if m["value"] == child)
    assert nested["type"] == "Group"
    assert nested["$ref"].endswith(f"/Groups/{child}")
    groups = client.get(f"/Users/{uid}", params={"attributes": "groups"}).json()["groups"]
    assert [g["value"] for g in groups] == [parent["id"]]
    assert "groups" not in client.get(f"/Users/{uid}").json()


def test_deleting_a_user_removes_it_from_its_groups(client: httpx.Client) -> None:
    uid = create(client, "/Users", b1_create_user())["id"]
    gid = create(client, "/Groups", b2_create_group())["id"]
    patch(client, f"/Groups/{gid}", {"op": "Add", "path": "members", "value": [{"value": uid}]})
    assert client.delete(f"/Users/{uid}").status_code == 204
    assert client.get(f"/Groups/{gid}").json().get("members", []) == []


def test_put_user_replaces_and_captures_unknown_attributes(client: httpx.Client) -> None:
    # Postman rows 54 and 59: a misspelled attribute must not fail the PUT nor come back as the
    # attribute it resembles (no "Addresses"); under the default policy (capture) it is kept
    # as sent, as an undeclared attribute; PUT replaces the resource.
    user = create(client, "/Users", b1_create_user())
    body = {"schemas": [USER], "id": user["id"], "userName": "OMalley", "active": False,
            "displayName": "Kimberly Baker", "adreses": [{"country": "Germany"}],
            "addresses": [{"type": "work", "country": "Germany"}]}
    r = client.put(f"/Users/{user['id']}", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["userName"] == "OMalley"
    assert got["active"] is False
    assert got["adreses"] == [{"country": "Germany"}]
    assert "Addresses" not in got
    assert got["addresses"] == [{"type": "work", "country": "Germany"}]
    assert "emails" not in got  # replaced, not merged
    assert r.headers["ETag"] == got["meta"]["version"]
    assert_scim_error(client.put(f"/Users/{user['id']}", json={"userame": "x"}), 400)


def test_post_search(client: httpx.Client) -> None:
    user = create(client, "/Users", b1_create_user())
    r = client.post("/Users/.search", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'userName eq "{user["userName"]}"', "attributes": ["userName"],
        "startIndex": 1, "count": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["userName"] == user["userName"]
    assert "emails" not in body["Resources"][0]


def test_postman_filters(client: httpx.Client) -> None:
    for n, (family, email) in enumerate([("Employee", "a@example.com"),
                                         ("Employee", "b@example.org"),
                                         ("Employee", "c@example.net"),
                                         ("Other", "d@example.com")]):
        body = {"userName": f"{'O' if n == 0 else 'p'}user{n}", "name": {"familyName": family},
                "emails": [{"type": "work", "value": email}]}
        create(client, "/Users", body)
    base = str(client.base_url).rstrip("/")
    r = client.get(f"{base}/Users?filter=name.FamilyName eq Employee and "
                   f"(emails.Value co example.com or emails.Value co example.org)")
    assert r.json()["totalResults"] == 2
    assert client.get(f"{base}/Users?filter=userName sw O").json()["totalResults"] == 1
    r = client.get(f"{base}/Users?filter=meta.Created gt 2015-10-10T14:38:21.8617979-07:00")
    assert r.json()["totalResults"] == 4


def test_count_zero_and_paging_bounds(client: httpx.Client) -> None:
    for n in range(3):
        create(client, "/Users", b1_create_user(f"-c{n}"))
    r = client.get("/Users", params={"count": 0}).json()
    assert r["totalResults"] == 3
    assert r["Resources"] == []
    r = client.get("/Users", params={"startIndex": 0, "count": 2}).json()
    assert r["startIndex"] == 1
    assert len(r["Resources"]) == 2
    r = client.get("/Users", params={"startIndex": 10}).json()
    assert r["totalResults"] == 3
    assert r["Resources"] == []
