"""Custom extension attributes over HTTP, as Microsoft Entra sends them, against the served
function_app on Azurite: under each undeclared-attribute policy (capture, reject) and with the
attribute declared for the tenant (shared/service/tenant_schemas.py).

The request shapes are Microsoft Learn's "Provisioning a custom extension attribute to a SCIM
compliant application" (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes):
the attribute is `urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:
CustomAttribute`, and "the custom extension schema header is omitted ... because it isn't sent
in requests from the Microsoft Entra SCIM client", so `schemas` never lists its URN. PATCH
bodies are Entra's documented enterprise-extension ones with that URN instead: capitalised ops
with a path, and the aadOptscim062020 dialect (lower-case ops, a path-less `value` object whose
keys are full attribute paths)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.auth.tenants import issue_token, new_tenant_id
from shared.service import tenant_schemas
from shared.service.app import ScimService
from shared.store.outbox import Outbox
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.webhooks import events_of, short

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ATTR = f"{CUSTOM}:CustomAttribute"
SCIM_JSON = {"Content-Type": "application/scim+json"}
REMEDY = "python -m shared.admin schema add"

pytestmark = pytest.mark.served

# The schema an operator declares for the attribute (RFC 7643 §7), with two more attributes:
# one typed, one unique.
CUSTOM_SCHEMA: dict[str, Any] = {
    "id": CUSTOM,
    "name": "CustomExtensionName",
    "description": "Attributes mapped from Entra's directory extensions.",
    "attributes": [
        {"name": "CustomAttribute", "type": "string", "multiValued": False, "required": False,
         "caseExact": False, "mutability": "readWrite", "returned": "default",
         "uniqueness": "none", "description": "The custom attribute of the example."},
        {"name": "Level", "type": "integer", "multiValued": False, "required": False,
         "mutability": "readWrite", "returned": "default", "description": "A typed one."},
        {"name": "BadgeId", "type": "string", "multiValued": False, "required": False,
         "caseExact": False, "mutability": "readWrite", "returned": "default",
         "uniqueness": "server", "description": "Unique in the tenant."},
    ],
}

CAPTURE, REJECT, DECLARED, DECLARED_REJECT = "capture", "reject", "declared", "declared+reject"
MODES = [CAPTURE, REJECT, DECLARED, DECLARED_REJECT]


def example_user(user_name: str = "bjensen", value: str = "701984") -> dict[str, Any]:
    """MS-DOC's example user, keys and values verbatim, without the trailing comma after
    "701984" that the page has (invalid JSON); `schemas` does not list the custom URN."""
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name, "id": "48af03ac28ad4fb88478", "externalId": user_name,
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
                 "givenName": "Barbara"},
        ENTERPRISE: {
            "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
            "division": "Theme Park", "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                        "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                        "displayName": "John Smith"}},
        CUSTOM: {"CustomAttribute": value},
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                 "lastModified": "2011-05-13T04:42:34Z", "version": 'W/"3694e05e9dff591"',
                 "location": "https://example.com/v2/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee"},
    }


def configure(service: ScimService, tenant_id: str, mode: str) -> None:
    """Declare the schema and/or set the policy, as the admin CLI does, and make the served app
    see it now (it caches an authenticated tenant record for 30 s)."""
    if mode in (DECLARED, DECLARED_REJECT):
        tenant_schemas.add_schema(service.tenants, tenant_id, CUSTOM_SCHEMA)
    if mode in (REJECT, DECLARED_REJECT):
        tenant_schemas.set_policy(service.tenants, tenant_id, "reject")
    service.auth.forget(tenant_id)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, scim_service: ScimService,
         tenant: tuple[str, str]) -> str:
    configure(scim_service, tenant[0], request.param)
    return str(request.param)


@pytest.fixture(params=[m for m in MODES if m != REJECT])
def storing(request: pytest.FixtureRequest, scim_service: ScimService,
            tenant: tuple[str, str]) -> str:
    """The modes that store the attribute (all but reject, where nothing is)."""
    configure(scim_service, tenant[0], request.param)
    return str(request.param)


def rejected(mode: str) -> bool:
    return mode == REJECT


def declared(mode: str) -> bool:
    return mode in (DECLARED, DECLARED_REJECT)


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/Users", json=body, headers=SCIM_JSON)
    assert r.status_code == 201, r.text
    return dict(r.json())


def plain_user(client: httpx.Client, name: str = "plain") -> str:
    """A user without the custom attribute (any policy accepts it)."""
    return str(create(client, {"schemas": [USER], "userName": name})["id"])


def patch(client: httpx.Client, uid: str, *ops: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/Users/{uid}", json={"schemas": [PATCH_OP], "Operations": list(ops)},
                        headers=SCIM_JSON)


def custom_value(doc: dict[str, Any], name: str = "CustomAttribute") -> Any:
    part = doc.get(CUSTOM)
    return part.get(name) if isinstance(part, dict) else None


def assert_undeclared_refusal(r: httpx.Response, name: str = ATTR) -> None:
    """400 invalidValue naming the undeclared attribute (its full path) and how to declare it."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["schemas"] == [ERROR]
    assert body["scimType"] == "invalidValue"
    assert name.lower() in body["detail"].lower()
    assert REMEDY in body["detail"]


def registry(service: ScimService, tenant_id: str) -> dict[str, Any]:
    """The tenant's undeclared-attribute registry by lower-cased path."""
    return {a.path.lower(): a for a in tenant_schemas.undeclared(service.tenants, tenant_id)}


@pytest.fixture
def other_client(served: str, scim_service: ScimService) -> Iterator[httpx.Client]:
    """A second tenant's client: what one tenant declares is not another's."""
    record = Tenant(id=new_tenant_id(), name="other", created=now_iso())
    token = issue_token(record)
    scim_service.tenants.create(record)
    with httpx.Client(base_url=f"{served}/scim/v2/{record.id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        yield c


# -- (a) POST of Microsoft's example user ----------------------------------------------------

def test_microsofts_example_user(client: httpx.Client, scim_service: ScimService,
                                 tenant: tuple[str, str], mode: str) -> None:
    r = client.post("/Users", json=example_user(), headers=SCIM_JSON)
    if rejected(mode):
        assert_undeclared_refusal(r)
        assert client.get("/Users", params={"filter": 'userName eq "bjensen"'}).json()[
            "totalResults"] == 0
        assert registry(scim_service, tenant[0]) == {}
        return
    assert r.status_code == 201, r.text
    created = r.json()
    assert custom_value(created) == "701984"
    got = client.get(f"/Users/{created['id']}").json()
    assert custom_value(got) == "701984"
    assert got[ENTERPRISE]["employeeNumber"] == "701984"  # the declared neighbours are kept
    seen = registry(scim_service, tenant[0])
    if declared(mode):
        assert ATTR.lower() not in seen
        assert CUSTOM in got["schemas"]  # a declared extension is listed like the others
    else:
        entry = seen[ATTR.lower()]
        assert entry.resource_type == "User"
        assert entry.count >= 1
        assert "string" in entry.types


def test_a_declared_attribute_is_typed_and_a_captured_one_kept_as_sent(
        client: httpx.Client, storing: str) -> None:
    mode = storing
    body = example_user()
    body[CUSTOM]["Level"] = "3"  # Entra sends every value as text
    got = create(client, body)
    assert custom_value(got, "Level") == (3 if declared(mode) else "3")
    if declared(mode):
        bad = example_user("other")
        bad[CUSTOM]["Level"] = "three"
        r = client.post("/Users", json=bad, headers=SCIM_JSON)
        assert r.status_code == 400, r.text
        assert "Level" in r.json()["detail"]


def test_a_tenants_schema_is_in_its_discovery_and_no_other_tenants(
        client: httpx.Client, other_client: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    before = other_client.get("/Schemas").json()
    configure(scim_service, tenant[0], DECLARED)
    ids = [s["id"] for s in client.get("/Schemas").json()["Resources"]]
    assert CUSTOM in ids
    one = client.get(f"/Schemas/{CUSTOM}")
    assert one.status_code == 200, one.text
    assert [a["name"] for a in one.json()["attributes"]] == [
        "CustomAttribute", "Level", "BadgeId"]
    user_type = client.get("/ResourceTypes/User").json()
    assert {"schema": CUSTOM, "required": False} in user_type["schemaExtensions"]
    # The other tenant's discovery is unchanged, byte for byte.
    assert other_client.get("/Schemas").json() == before
    assert other_client.get(f"/Schemas/{CUSTOM}").status_code == 404
    other_type = other_client.get("/ResourceTypes/User").json()
    assert CUSTOM not in [e["schema"] for e in other_type["schemaExtensions"]]


# -- (b) PATCH in both of Entra's dialects -----------------------------------------------------

PATCHES = [
    # Entra without the flag: capitalised ops with a path.
    ("Add", {"op": "Add", "path": ATTR, "value": "701985"}, "701985"),
    ("Replace", {"op": "Replace", "path": ATTR, "value": "701986"}, "701986"),
    ("Remove", {"op": "Remove", "path": ATTR}, None),
    # aadOptscim062020: lower-case ops; add/replace without a path, the attribute's full path
    # as a key of the value object.
    ("add", {"op": "add", "value": {ATTR: "701987"}}, "701987"),
    ("replace", {"op": "replace", "value": {"displayName": "Bjfe", ATTR: "701988"}}, "701988"),
    ("remove", {"op": "remove", "path": ATTR}, None),
]


@pytest.mark.parametrize(("name", "op", "expected"), PATCHES, ids=[p[0] for p in PATCHES])
def test_patch_of_the_custom_attribute(client: httpx.Client, scim_service: ScimService,
                                       tenant: tuple[str, str], mode: str, name: str,
                                       op: dict[str, Any], expected: str | None) -> None:
    if rejected(mode):
        uid = plain_user(client)
        r = patch(client, uid, op)
        assert_undeclared_refusal(r)
        assert client.get(f"/Users/{uid}").json().get(CUSTOM) is None
        return
    uid = create(client, example_user())["id"]
    r = patch(client, uid, op)
    assert r.status_code in (200, 204), r.text
    got = client.get(f"/Users/{uid}").json()
    assert custom_value(got) == expected
    if expected is None:
        # Nothing else was in the extension: no empty object is left behind.
        assert CUSTOM not in got
        assert CUSTOM not in got["schemas"]
    if name == "replace":
        assert got["displayName"] == "Bjfe"


def test_a_captured_attribute_survives_a_switch_to_reject(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str]) -> None:
    """Under reject, what a PATCH does not touch is carried as stored: switching the policy
    must not break PATCH for users provisioned before."""
    uid = create(client, example_user())["id"]
    configure(scim_service, tenant[0], REJECT)
    r = patch(client, uid, {"op": "Replace", "path": "displayName", "value": "Babs"})
    assert r.status_code == 200, r.text
    assert custom_value(r.json()) == "701984"
    assert_undeclared_refusal(patch(client, uid, {"op": "Replace", "path": ATTR,
                                                  "value": "1"}))
    # PUT restates the resource: the undeclared attribute is now refused there.
    assert_undeclared_refusal(client.put(f"/Users/{uid}", json=example_user(),
                                         headers=SCIM_JSON))


def test_a_value_captured_before_the_declaration_reads_the_same_after(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str]) -> None:
    uid = create(client, example_user())["id"]
    configure(scim_service, tenant[0], DECLARED)
    got = client.get(f"/Users/{uid}").json()
    assert custom_value(got) == "701984"
    found = client.get("/Users", params={"filter": f'{ATTR} eq "701984"'}).json()
    assert [u["id"] for u in found["Resources"]] == [uid]


# -- (c) filter -------------------------------------------------------------------------------

def test_filter_on_the_custom_attribute(client: httpx.Client, mode: str) -> None:
    filt = f'{ATTR} eq "701984"'
    if rejected(mode):
        plain_user(client)
        r = client.get("/Users", params={"filter": filt})
        assert r.status_code == 400, r.text
        assert r.json()["scimType"] == "invalidFilter"
        assert "CustomAttribute" in r.json()["detail"]
        assert REMEDY in r.json()["detail"]
        return
    uid = create(client, example_user())["id"]
    create(client, example_user("ljensen", "12"))
    found = client.get("/Users", params={"filter": filt}).json()
    assert [u["id"] for u in found["Resources"]] == [uid]
    assert found["totalResults"] == 1
    assert client.get("/Users", params={"filter": f'{ATTR} eq "nope"'}).json()[
        "totalResults"] == 0
    # Entra's own matching query, combined with the custom attribute.
    both = client.get("/Users", params={
        "filter": f'userName eq "bjensen" and {ATTR} eq "701984"'}).json()
    assert [u["id"] for u in both["Resources"]] == [uid]


# -- (d) attributes= and excludedAttributes= -----------------------------------------------------

def test_projection_of_the_custom_attribute(client: httpx.Client, storing: str) -> None:
    uid = create(client, example_user())["id"]
    only = client.get(f"/Users/{uid}", params={"attributes": ATTR}).json()
    assert custom_value(only) == "701984"
    assert "userName" not in only
    assert only["id"] == uid
    whole = client.get(f"/Users/{uid}", params={"attributes": CUSTOM}).json()
    assert whole[CUSTOM] == {"CustomAttribute": "701984"}
    without = client.get(f"/Users/{uid}", params={"excludedAttributes": ATTR}).json()
    assert custom_value(without) is None
    assert without["userName"] == "bjensen"
    assert without[ENTERPRISE]["costCenter"] == "4130"
    listed = client.get("/Users", params={"filter": 'userName eq "bjensen"',
                                          "attributes": ATTR}).json()["Resources"]
    assert [custom_value(u) for u in listed] == ["701984"]


# -- (e) the change event --------------------------------------------------------------------

def test_the_change_events_name_the_custom_attribute(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str],
        storing: str) -> None:
    outbox = Outbox(scim_service.directory)
    uid = create(client, example_user())["id"]

    def events(change: str) -> list[dict[str, Any]]:
        return [e for e in events_of(outbox, tenant[0])
                if e["data"]["id"] == uid and short(e) == change]

    [created] = events("created")
    assert ATTR in created["data"]["attributes"]
    assert created["data"]["resource"][CUSTOM] == {"CustomAttribute": "701984"}
    assert patch(client, uid, {"op": "Replace", "path": ATTR, "value": "2"}).status_code == 200
    [updated] = events("updated")
    assert updated["data"]["attributes"] == [ATTR]
    assert updated["data"]["resource"][CUSTOM] == {"CustomAttribute": "2"}


# -- (f) uniqueness of a declared attribute ---------------------------------------------------

def test_a_declared_unique_attribute_is_a_409_on_a_duplicate(
        client: httpx.Client, other_client: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    configure(scim_service, tenant[0], DECLARED)
    first = example_user()
    first[CUSTOM]["BadgeId"] = "B-1"
    uid = create(client, first)["id"]
    second = example_user("ljensen")
    second[CUSTOM]["BadgeId"] = "b-1"  # caseExact false: the same value
    r = client.post("/Users", json=second, headers=SCIM_JSON)
    assert r.status_code == 409, r.text
    assert r.json()["scimType"] == "uniqueness"
    assert f"{CUSTOM}:BadgeId" in r.json()["detail"]
    # A PATCH onto the taken value too; the holder may change it, then the value is free.
    other = create(client, example_user("ljensen"))["id"]
    r = patch(client, other, {"op": "Replace", "path": f"{CUSTOM}:BadgeId", "value": "B-1"})
    assert r.status_code == 409, r.text
    assert patch(client, uid, {"op": "Replace", "path": f"{CUSTOM}:BadgeId",
                               "value": "B-2"}).status_code == 200
    assert patch(client, other, {"op": "Replace", "path": f"{CUSTOM}:BadgeId",
                                 "value": "B-1"}).status_code == 200
    found = client.get("/Users", params={"filter": f'{CUSTOM}:BadgeId eq "b-1"'}).json()
    assert [u["id"] for u in found["Resources"]] == [other]
    # Not declared for the other tenant: no uniqueness there (captured as sent).
    other_client.post("/Users", json=first, headers=SCIM_JSON).raise_for_status()
    twin = example_user("ljensen")
    twin[CUSTOM]["BadgeId"] = "B-1"
    assert other_client.post("/Users", json=twin, headers=SCIM_JSON).status_code == 201


def test_core_namespace_typos_are_captured_top_level(client: httpx.Client,
                                                     scim_service: ScimService,
                                                     tenant: tuple[str, str]) -> None:
    """Postman's `adreses` (a misspelling): captured as sent under the default policy."""
    r = client.post("/Users", json={"schemas": [USER], "userName": f"u{uuid.uuid4().hex[:6]}",
                                    "adreses": [{"country": "Germany"}]}, headers=SCIM_JSON)
    assert r.status_code == 201, r.text
    assert r.json()["adreses"] == [{"country": "Germany"}]
    assert "adreses" in registry(scim_service, tenant[0])
