"""shared.scim.discovery: /ServiceProviderConfig, /ResourceTypes, /Schemas (what Entra
expects: a ListResponse, no nulls, camelCase) and the ListResponse envelope."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from shared.scim.discovery import (
    LIST_RESPONSE,
    list_response,
    resource_type,
    resource_types,
    schema,
    schemas,
    schemas_of,
    service_provider_config,
)
from shared.scim.schema import Attribute, Schema
from shared.scim.schemas import (
    ALL_SCHEMAS,
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_URN,
    GROUP,
    GROUP_URN,
    RESOURCE_TYPES,
    USER,
    USER_URN,
)

BASE = "https://scim.example.com/scim/v2/tenant1"
CAMEL_KEY = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# ListResponse's `Resources` is capitalised by RFC 7644 §3.4.2 itself.
RFC_KEYS = {"Resources"}
CAMEL_VALUED = ("type", "mutability", "returned", "uniqueness")


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair in a JSON document, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def all_attributes(schema_doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for attr in schema_doc["attributes"]:
        yield attr
        yield from attr.get("subAttributes", [])


def discoverable_names(listing: dict[str, Any]) -> set[str]:
    """Attribute names as Entra's attribute list shows them: `name.givenName`, extension
    attributes URN-qualified; lower-cased because Entra matches case-insensitively."""
    names: set[str] = set()
    for res in listing["Resources"]:
        prefix = "" if res["id"] in (USER_URN, GROUP_URN) else res["id"] + ":"
        for attr in res["attributes"]:
            names.add((prefix + attr["name"]).lower())
            for sub in attr.get("subAttributes", []):
                names.add(f"{prefix}{attr['name']}.{sub['name']}".lower())
    return names


# --------------------------------------------------------------------------------------------
# ListResponse
# --------------------------------------------------------------------------------------------


def test_list_response_empty_still_has_resources() -> None:
    # Entra's Test Connection probe: 200 with an empty ListResponse.
    assert list_response([], total=0, start_index=1) == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_list_response_items_per_page_defaults_to_page_length() -> None:
    body = list_response([{"id": "a"}, {"id": "b"}], total=5, start_index=3)
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (5, 3, 2)
    assert body["Resources"] == [{"id": "a"}, {"id": "b"}]
    assert "nextCursor" not in body


def test_list_response_explicit_items_per_page_and_cursor() -> None:
    body = list_response([{"id": "a"}], total=9, start_index=1, items_per_page=20,
                         next_cursor="c2")
    assert body["itemsPerPage"] == 20
    assert body["nextCursor"] == "c2"


# --------------------------------------------------------------------------------------------
# ServiceProviderConfig
# --------------------------------------------------------------------------------------------


def test_service_provider_config() -> None:
    body = service_provider_config(documentation_uri="https://docs.example.com/scim",
                                   max_results=200, max_payload_bytes=1_048_576)
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["documentationUri"] == "https://docs.example.com/scim"
    assert body["patch"] == {"supported": True}  # Postman #5
    assert body["bulk"] == {"supported": False, "maxOperations": 0,
                            "maxPayloadSize": 1_048_576}
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["changePassword"] == {"supported": False}
    assert body["sort"] == {"supported": False}
    assert body["etag"] == {"supported": True}
    [scheme] = body["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken"
    assert scheme["primary"] is True
    assert scheme["name"]
    assert scheme["description"]
    assert body["meta"] == {"resourceType": "ServiceProviderConfig"}


def test_service_provider_config_advertises_rfc9865_pagination() -> None:
    body = service_provider_config(documentation_uri="d", max_results=200,
                                   max_payload_bytes=1)
    assert body["pagination"] == {"cursor": True, "index": True,
                                  "defaultPaginationMethod": "index",
                                  "defaultPageSize": 200, "maxPageSize": 200}
    assert "cursorTimeout" not in body["pagination"]  # cursors never expire


def test_service_provider_config_etag_flag() -> None:
    body = service_provider_config(documentation_uri="d", max_results=1, max_payload_bytes=1,
                                   etag=False)
    assert body["etag"] == {"supported": False}


def test_service_provider_config_documentation_uri_everywhere_or_nowhere() -> None:
    given = service_provider_config(documentation_uri="https://docs.example.com/scim",
                                    max_results=1, max_payload_bytes=1)
    assert given["authenticationSchemes"][0]["documentationUri"] == "https://docs.example.com/scim"
    # RFC 7643 §5: optional. Without one it is left out, not sent as null or a placeholder.
    absent = service_provider_config(documentation_uri=None, max_results=1, max_payload_bytes=1)
    assert "documentationUri" not in set(keys(absent))
    assert all(v is not None for _, v in walk(absent))
    assert set(keys(given)) - set(keys(absent)) == {"documentationUri"}


def test_service_provider_config_has_no_nulls() -> None:
    body = service_provider_config(documentation_uri="d", max_results=1, max_payload_bytes=1)
    assert all(v is not None for _, v in walk(body))


# --------------------------------------------------------------------------------------------
# ResourceTypes
# --------------------------------------------------------------------------------------------


def test_resource_types_list() -> None:
    body = resource_types(BASE)
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == body["itemsPerPage"] == 2
    users, groups = body["Resources"]
    assert users["endpoint"] == "/Users"  # Postman #4
    assert users["schema"] == USER_URN
    assert users["schemaExtensions"] == [
        {"schema": ENTERPRISE_URN, "required": False},
        {"schema": EIGHT_BY_EIGHT_URN, "required": False},
    ]
    assert users["meta"] == {"resourceType": "ResourceType",
                             "location": f"{BASE}/ResourceTypes/User"}
    assert (groups["endpoint"], groups["schema"]) == ("/Groups", GROUP_URN)


@pytest.mark.parametrize("name", ["User", "user", "USER"])
def test_resource_type_by_name_case_insensitive(name: str) -> None:
    found = resource_type(name, BASE)
    assert found is not None
    assert found["id"] == "User"


def test_resource_type_unknown() -> None:
    assert resource_type("Device", BASE) is None


def test_trailing_slash_in_base_url_does_not_double() -> None:
    users = resource_types(BASE + "/")["Resources"][0]
    assert users["meta"]["location"] == f"{BASE}/ResourceTypes/User"
    found = schema(USER_URN, BASE + "/")
    assert found is not None
    assert found["meta"]["location"] == f"{BASE}/Schemas/{USER_URN}"


# --------------------------------------------------------------------------------------------
# Schemas (Entra reads them when the provisioning configuration is saved or opened)
# --------------------------------------------------------------------------------------------


def test_schemas_is_a_list_response_of_all_four() -> None:
    body = schemas(BASE)
    assert body["schemas"] == [LIST_RESPONSE]
    ids = [r["id"] for r in body["Resources"]]
    assert sorted(ids) == sorted([USER_URN, GROUP_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN])
    assert body["totalResults"] == body["itemsPerPage"] == 4
    assert body["startIndex"] == 1
    for res in body["Resources"]:
        assert res["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        assert res["meta"] == {"resourceType": "Schema",
                               "location": f"{BASE}/Schemas/{res['id']}"}


def test_schemas_contain_no_nulls_and_valid_json() -> None:
    body = schemas(BASE)
    nulls = [path for path, value in walk(body) if value is None]
    assert nulls == []
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def test_schemas_keys_are_camel_case() -> None:
    bad = {k for k in keys(schemas(BASE)) if not CAMEL_KEY.match(k) and k not in RFC_KEYS}
    assert bad == set()


def test_schema_property_values_are_camel_case() -> None:
    allowed = {
        "type": {"string", "boolean", "decimal", "integer", "dateTime", "reference",
                 "complex", "binary"},
        "mutability": {"readOnly", "readWrite", "immutable", "writeOnly"},
        "returned": {"always", "never", "default", "request"},
        "uniqueness": {"none", "server", "global"},
    }
    for res in schemas(BASE)["Resources"]:
        for attr in all_attributes(res):
            for prop in CAMEL_VALUED:
                if prop in attr:
                    assert attr[prop] in allowed[prop], (res["id"], attr["name"], prop)
            assert isinstance(attr["multiValued"], bool)
            assert isinstance(attr["required"], bool)


def test_schemas_text_mentions_user_account() -> None:
    assert "User Account" in json.dumps(schemas(BASE))  # Postman #6


def test_every_default_8x8_mapped_attribute_is_discoverable() -> None:
    names = discoverable_names(schemas(BASE))
    expected = [
        "userName", "externalId", "active", "title", "emails", "emails.value", "emails.type",
        "name.givenName", "name.familyName", "phoneNumbers", "phoneNumbers.value",
        "phoneNumbers.type", f"{ENTERPRISE_URN}:department", f"{ENTERPRISE_URN}:manager",
        f"{ENTERPRISE_URN}:employeeNumber", f"{EIGHT_BY_EIGHT_URN}:site", "locale", "timezone",
        # groups (the gallery validation Logic App fails without the Group schema)
        "displayName", "members", "members.value",
    ]
    missing = [name for name in expected if name.lower() not in names]
    assert missing == []


def test_type_canonical_values_cover_entra_filters() -> None:
    # Entra maps emails[type eq "work"].value, phoneNumbers[type eq "mobile"/"work"].value.
    user = schema(USER_URN, BASE)
    assert user is not None
    by_name = {a["name"]: a for a in user["attributes"]}
    email_type = next(s for s in by_name["emails"]["subAttributes"] if s["name"] == "type")
    phone_type = next(s for s in by_name["phoneNumbers"]["subAttributes"] if s["name"] == "type")
    assert "work" in email_type["canonicalValues"]
    assert {"work", "mobile"} <= set(phone_type["canonicalValues"])


def test_site_is_advertised_immutable_and_password_not_accepted() -> None:
    eight = schema(EIGHT_BY_EIGHT_URN, BASE)
    user = schema(USER_URN, BASE)
    assert eight is not None
    assert user is not None
    [site] = eight["attributes"]
    assert (site["name"], site["mutability"]) == ("site", "immutable")
    # The connector stores no passwords: the attribute is not offered at all.
    assert "password" not in {a["name"] for a in user["attributes"]}


@pytest.mark.parametrize("urn", [USER_URN, USER_URN.upper(), ENTERPRISE_URN.lower()])
def test_schema_by_urn_case_insensitive(urn: str) -> None:
    found = schema(urn, BASE)
    assert found is not None
    assert found["id"].lower() == urn.lower()


def test_schema_unknown() -> None:
    assert schema("urn:ietf:params:scim:schemas:extension:enterprise:2.0User", BASE) is None


# --------------------------------------------------------------------------------------------
# Per set of resource types (a tenant's declared extensions)
# --------------------------------------------------------------------------------------------

CUSTOM = Schema("urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
                "CustomExtensionName", "Custom attributes",
                (Attribute("CustomAttribute"),))
TEAMS = Schema("urn:example:teams:2.0:Group", "Teams", "", (Attribute("costCode"),))


def test_the_default_schemas_are_the_four_built_in_ones_in_their_order() -> None:
    assert schemas_of(RESOURCE_TYPES) == ALL_SCHEMAS


def test_the_defaults_are_the_same_as_the_module_types_given_explicitly() -> None:
    # Byte-identical: scim2-tester builds its models from /Schemas, Entra caches it.
    given = (USER.extended(), GROUP.extended())
    assert json.dumps(schemas(BASE, given)) == json.dumps(schemas(BASE))
    assert json.dumps(resource_types(BASE, given)) == json.dumps(resource_types(BASE))


def test_a_tenants_extensions_are_advertised_after_the_built_in_ones() -> None:
    tenant = (USER.extended([CUSTOM]), GROUP.extended([TEAMS]))
    listed = schemas(BASE, tenant)
    ids = [r["id"] for r in listed["Resources"]]
    assert ids == [USER_URN, GROUP_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN, CUSTOM.id, TEAMS.id]
    assert listed["totalResults"] == 6
    assert listed["Resources"][4] == CUSTOM.to_scim(BASE)
    assert f"{CUSTOM.id}:customattribute".lower() in discoverable_names(listed)
    users, groups = resource_types(BASE, tenant)["Resources"]
    assert users["schemaExtensions"][-1] == {"schema": CUSTOM.id, "required": False}
    assert groups["schemaExtensions"] == [{"schema": TEAMS.id, "required": False}]
    assert schema(CUSTOM.id.lower(), BASE, tenant) == CUSTOM.to_scim(BASE)
    found = resource_type("group", BASE, tenant)
    assert found is not None
    assert found["schemaExtensions"] == [{"schema": TEAMS.id, "required": False}]


def test_another_tenants_extensions_are_not_advertised() -> None:
    assert schema(CUSTOM.id, BASE) is None
    assert schema(CUSTOM.id, BASE, (USER, GROUP.extended([TEAMS]))) is None
    assert CUSTOM.id not in json.dumps(resource_types(BASE, (USER, GROUP.extended([TEAMS]))))


def test_a_schema_shared_by_two_types_is_listed_once() -> None:
    both = Schema("urn:example:shared:2.0:Any", "Shared", "", (Attribute("tag"),))
    listed = schemas(BASE, (USER.extended([both]), GROUP.extended([both])))
    assert [r["id"] for r in listed["Resources"]].count(both.id) == 1
    assert listed["totalResults"] == 5


def test_only_the_given_types_are_described() -> None:
    listed = resource_types(BASE, (GROUP,))
    assert [r["id"] for r in listed["Resources"]] == ["Group"]
    assert resource_type("User", BASE, (GROUP,)) is None
    assert [r["id"] for r in schemas(BASE, (GROUP,))["Resources"]] == [GROUP_URN]
