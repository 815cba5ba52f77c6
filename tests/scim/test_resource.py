"""shared.scim.resource: client bodies -> canonical documents, built from the verbatim Entra
requests published on Microsoft Learn and the "User tests with garbage" requests of the
reference Postman collection (https://github.com/AzureAD/SCIMReferenceCode)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.resource import (
    MAX_DOCUMENT_BYTES,
    check_update,
    diff_attributes,
    normalize,
    prepare_create,
    prepare_replace,
)
from shared.scim.scalar_values import MAX_VALUE_CHARS
from shared.scim.schema import (
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    IMMUTABLE,
    INTEGER,
    Attribute,
    ResourceType,
    Schema,
)
from shared.scim.schemas import (
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_URN,
    GROUP,
    GROUP_URN,
    USER,
    USER_URN,
)

ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def scim_error(excinfo: pytest.ExceptionInfo[ScimError]) -> tuple[int, str | None]:
    return excinfo.value.status, excinfo.value.scim_type


def error_of(function: Callable[..., object], *args: Any) -> ScimError | None:
    """The ScimError `function(*args)` raises, or None; any other exception propagates."""
    try:
        function(*args)
    except ScimError as error:
        return error
    return None


# --------------------------------------------------------------------------------------------
# Verbatim Entra bodies (Microsoft Learn)
# --------------------------------------------------------------------------------------------

# Create User (SCIM endpoint tutorial)
B1_CREATE_USER: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [{
        "primary": True,
        "type": "work",
        "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    }],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName"
    },
    "roles": []
}

# Create Group (SCIM endpoint tutorial)
B2_CREATE_GROUP: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {
        "resourceType": "Group"
    }
}

# Provision a user, as the tutorial's example 2 (explicit nulls and the "…enterprise:2.0User"
# typo)
B4_EXAMPLE_2: dict[str, Any] = {
   "schemas":
   [
     "urn:ietf:params:scim:schemas:core:2.0:User",
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
   "externalId": "jyoung",
   "userName": "jyoung@testuser.com",
   "active": True,
   "addresses": None,
   "displayName": "Joy Young",
   "emails": [
     {
       "type": "work",
       "value": "jyoung@Contoso.com",
       "primary": True}],
   "meta": {
     "resourceType": "User"},
   "name": {
     "familyName": "Young",
     "givenName": "Joy"},
   "phoneNumbers": None,
   "preferredLanguage": None,
   "title": None,
   "department": None,
   "manager": None}

# Role POST with the SingleAppRoleAssignment mapping (customize attribute mappings)
B5_ROLES_POST: dict[str, Any] = {
  "schemas": [
    "urn:ietf:params:scim:schemas:core:2.0:User"
  ],
  "externalId": "alias",
  "userName": "alias@contoso.OnMicrosoft.com",
  "active": True,
  "displayName": "First Name Last Name",
  "meta": {
    "resourceType": "User"
  },
  "roles": [
    {
      "primary": True,
      "type": "WindowsAzureActiveDirectoryRole",
      "value": "Admin"
    }
  ]
}

# Role PATCH: the `value` of the Add operation (JSON-encoded role objects)
B5_ROLES_PATCH_VALUE: list[dict[str, Any]] = [
    {
        "value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}"  # noqa: E501
    }
]


def postman_user(**overrides: Any) -> dict[str, Any]:
    """The body shape of the Postman "User tests with garbage" requests."""
    body: dict[str, Any] = {
        "schemas": [USER_URN],
        "userName": "OMalley",
        "active": True,
        "displayName": "Kimberly Baker",
        "emails": [
            {"type": "work", "primary": True, "value": "work@example.com"},
            {"type": "other", "primary": False, "value": "other@example.com"},
        ],
        "meta": {"created": "2016-03-21T10:11:12Z", "lastModified": "2016-03-21T10:11:12Z"},
        "name": {"familyName": "Baker", "givenName": "Kimberly", "formatted": "Kimberly Baker"},
        "addresses": [
            {"type": "work", "streetAddress": "1 Main", "locality": "Hamilton",
             "region": "", "postalCode": "HM 11", "country": "Bermuda", "primary": True},
            {"type": "home", "streetAddress": "2 Side", "locality": "Hamilton",
             "region": "", "postalCode": "HM 12", "country": "Bermuda"},
        ],
        "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52",
    }
    body.update(overrides)
    return body


# --------------------------------------------------------------------------------------------
# Verbatim bodies
# --------------------------------------------------------------------------------------------


def test_b1_create_user_gives_the_documented_resource() -> None:
    doc = prepare_create(copy.deepcopy(B1_CREATE_USER), USER)
    assert doc == {
        # the enterprise URN was listed without any enterprise data: not in the output
        "schemas": [USER_URN],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "active": True,
        "emails": [{
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
            "type": "work",
            "primary": True,
        }],
    }
    assert not {"meta", "id", "roles"} & set(doc)


def test_b1_does_not_mutate_the_body() -> None:
    body = copy.deepcopy(B1_CREATE_USER)
    prepare_create(body, USER)
    assert body == B1_CREATE_USER


def test_b2_create_group_accepts_the_adscim_schema_uri_and_client_meta() -> None:
    doc = prepare_create(copy.deepcopy(B2_CREATE_GROUP), GROUP)
    assert doc == {
        "schemas": [GROUP_URN],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
    }
    assert ADSCIM_GROUP not in doc["schemas"]


def test_b2_group_with_empty_members_list() -> None:
    body = {**B2_CREATE_GROUP, "members": []}
    assert "members" not in prepare_create(body, GROUP)


def test_b4_example_2_nulls_and_schema_typo() -> None:
    doc = prepare_create(copy.deepcopy(B4_EXAMPLE_2), USER)
    assert doc == {
        "schemas": [USER_URN],
        "externalId": "jyoung",
        "userName": "jyoung@testuser.com",
        "name": {"familyName": "Young", "givenName": "Joy"},
        "displayName": "Joy Young",
        "active": True,
        "emails": [{"value": "jyoung@Contoso.com", "type": "work", "primary": True}],
    }
    for absent in ("addresses", "phoneNumbers", "preferredLanguage", "title", "department",
                   "manager"):
        assert absent not in doc


def test_b5_roles_post_keeps_role_objects() -> None:
    doc = prepare_create(copy.deepcopy(B5_ROLES_POST), USER)
    assert doc["roles"] == [
        {"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": True}
    ]
    assert doc["displayName"] == "First Name Last Name"


def test_b5_roles_patch_json_encoded_strings_are_decoded() -> None:
    # What the PATCH engine hands over after applying Entra's "Add roles" operation.
    updated = {**B5_ROLES_POST, "roles": B5_ROLES_POST["roles"] + B5_ROLES_PATCH_VALUE}
    doc = check_update(prepare_create(B5_ROLES_POST, USER), updated, USER)
    assert doc["roles"] == [
        {"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": True},
        # displayName -> display; the role's `id` has no place in the schema and is dropped
        {"value": "25", "display": "Role1234"},
    ]


def test_roles_json_string_without_wrapper_and_explicit_display_win() -> None:
    encoded = json.dumps({"value": "7", "displayName": "Alias", "display": "Shown"})
    doc = normalize({"roles": [encoded, {"value": "plain", "displayName": "Plain"}]}, USER)
    assert doc["roles"] == [
        {"value": "7", "display": "Shown"},
        {"value": "plain", "display": "Plain"},
    ]


def test_roles_value_that_only_looks_like_json_is_kept() -> None:
    doc = normalize({"roles": [{"value": "{not json"}, {"value": "[1, 2]"}]}, USER)
    assert doc["roles"] == [{"value": "{not json"}, {"value": "[1, 2]"}]


def test_json_looking_values_outside_roles_are_kept_as_sent() -> None:
    text = '{"value":"x"}'
    assert normalize({"emails": [{"value": text}]}, USER)["emails"] == [{"value": text}]


# --------------------------------------------------------------------------------------------
# Postman "User tests with garbage" and related requests
# --------------------------------------------------------------------------------------------


def test_postman_44_omalley_created() -> None:
    doc = prepare_create(postman_user(), USER)
    assert doc["userName"] == "OMalley"
    assert doc["active"] is True
    assert "meta" not in doc
    assert [a["country"] for a in doc["addresses"]] == ["Bermuda", "Bermuda"]
    assert doc["addresses"][0]["region"] == ""  # empty strings are values: kept as sent


def test_postman_45_active_string_true_gives_boolean_true() -> None:
    assert prepare_create(postman_user(active="True"), USER)["active"] is True


def test_postman_47_two_work_emails_are_accepted() -> None:
    emails = [{"type": "work", "primary": True, "value": "a@example.com"},
              {"type": "work", "primary": False, "value": "b@example.com"}]
    doc = prepare_create(postman_user(userName="emp2", emails=emails), USER)
    assert [e["value"] for e in doc["emails"]] == ["a@example.com", "b@example.com"]


def test_postman_49_missing_username_is_400_invalid_value() -> None:
    body = postman_user()
    del body["userName"]
    with pytest.raises(ScimError) as excinfo:
        prepare_create(body, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "userName" in excinfo.value.detail


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_username_is_400(blank: str | None) -> None:
    with pytest.raises(ScimError) as excinfo:
        prepare_create(postman_user(userName=blank), USER)
    assert scim_error(excinfo) == (400, "invalidValue")


def test_username_keeps_surrounding_whitespace_as_sent() -> None:
    assert prepare_create(postman_user(userName=" bob "), USER)["userName"] == " bob "


def test_postman_50_junk_keys_are_captured_but_a_non_object_body_is_invalid_syntax() -> None:
    # Undeclared names are kept as sent (an empty list is no value), or refused under reject.
    doc = normalize({"userName": "x", "acve": "tre", "emals": []}, USER)
    assert doc == {"schemas": [USER_URN], "userName": "x", "acve": "tre"}
    with pytest.raises(ScimError) as refused:
        normalize({"userName": "x", "acve": "tre"}, USER.extended(undeclared="reject"))
    assert scim_error(refused) == (400, "invalidValue")
    assert refused.value.detail.startswith("acve is not declared for this tenant")
    not_objects: list[Any] = [[], "text", 5, None]
    for body in not_objects:
        with pytest.raises(ScimError) as excinfo:
            normalize(body, USER)
        assert scim_error(excinfo) == (400, "invalidSyntax")


def test_postman_53_put_with_misspelled_username_is_400() -> None:
    current = prepare_create(postman_user(), USER)
    body: dict[str, Any] = postman_user(active=False, id="some-id")
    body["userame"] = body.pop("userName")
    with pytest.raises(ScimError) as excinfo:
        prepare_replace(current, body, USER)
    assert scim_error(excinfo) == (400, "invalidValue")


def test_postman_54_put_with_misspelled_attribute_captures_it_as_sent() -> None:
    # Postman row 54 asks for a 200 without "Addresses" in the body: the misspelt attribute is
    # undeclared, so it is kept as sent under its own name (the "" regions inside it too), and
    # never read as `addresses`.
    current = prepare_create(postman_user(), USER)
    body = postman_user(active=False, id="some-id")
    body["adreses"] = body.pop("addresses")
    doc = prepare_replace(current, body, USER)
    assert not {"addresses", "id"} & set(doc)
    assert doc["adreses"] == postman_user()["addresses"]
    assert "Addresses" not in json.dumps(doc)
    assert doc["active"] is False
    with pytest.raises(ScimError) as refused:
        prepare_replace(current, body, USER.extended(undeclared="reject"))
    assert scim_error(refused) == (400, "invalidValue")
    assert "adreses" in refused.value.detail


def test_postman_55_enterprise_department_key_in_any_case() -> None:
    body = postman_user(
        userName="enterprise",
        schemas=[USER_URN, ENTERPRISE_URN],
        **{ENTERPRISE_URN: {"Department": "some department"}},
    )
    doc = prepare_create(body, USER)
    assert doc[ENTERPRISE_URN] == {"department": "some department"}
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN]


def test_postman_8_enterprise_manager_with_capitalised_keys() -> None:
    body = {"userName": "UserName222", ENTERPRISE_URN: {"Department": "bob",
                                                        "Manager": {"Value": "SuzzyQ"}}}
    assert normalize(body, USER)[ENTERPRISE_URN] == {
        "department": "bob", "manager": {"value": "SuzzyQ"},
    }


def test_postman_15_put_body_with_id_ignores_it() -> None:
    current = prepare_create(postman_user(), USER)
    doc = prepare_replace(current, postman_user(id="client-id", userName="UserNameReplace2"), USER)
    assert "id" not in doc
    assert doc["userName"] == "UserNameReplace2"


def test_postman_22_group_members_as_plain_ids() -> None:
    doc = prepare_create(
        {"displayName": "GroupDisplayName2", "schemas": [GROUP_URN], "members": ["id3"]}, GROUP
    )
    assert doc["members"] == [{"value": "id3"}]


def test_group_members_drop_readonly_display_and_null_ref() -> None:
    body = {"displayName": "g", "members": [
        {"$ref": None, "value": "u1", "display": "User One", "displayName": "x"},
        {"value": "u2", "type": "User"},
    ]}
    assert prepare_create(body, GROUP)["members"] == [
        {"value": "u1"}, {"value": "u2", "type": "User"},
    ]


def test_group_requires_display_name() -> None:
    with pytest.raises(ScimError) as excinfo:
        prepare_create({"externalId": "x"}, GROUP)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "displayName" in excinfo.value.detail


def test_group_body_with_user_extension_drops_it() -> None:
    doc = prepare_create({"displayName": "g", ENTERPRISE_URN: {"department": "x"}}, GROUP)
    assert doc == {"schemas": [GROUP_URN], "displayName": "g"}


# --------------------------------------------------------------------------------------------
# Names, extensions, schemas
# --------------------------------------------------------------------------------------------


def test_attribute_names_are_case_insensitive_and_written_canonically() -> None:
    body = {
        "UserName": "a",
        "NAME": {"GivenName": "G", "FAMILYNAME": "F"},
        "Emails": [{"VALUE": "a@b", "Type": "work", "PRIMARY": "true"}],
        "phonenumbers": [{"value": "555", "type": "mobile"}],
        "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"DEPARTMENT": "D"},
    }
    assert normalize(body, USER) == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": "a",
        "name": {"familyName": "F", "givenName": "G"},
        "emails": [{"value": "a@b", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "555", "type": "mobile"}],
        ENTERPRISE_URN: {"department": "D"},
    }


def test_top_level_urn_qualified_extension_attributes_move_into_the_extension() -> None:
    body = {
        "userName": "a",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "x",
        "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:8X8:1.1:USER:Site": "Paris",
        f"{ENTERPRISE_URN}:manager.value": "m1",
    }
    doc = normalize(body, USER)
    assert doc[ENTERPRISE_URN] == {"department": "x", "manager": {"value": "m1"}}
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN]


def test_urn_qualified_key_merges_with_the_extension_object() -> None:
    body = {
        ENTERPRISE_URN: {"department": "old", "costCenter": "C1"},
        f"{ENTERPRISE_URN}:department": "new",
    }
    assert normalize(body, USER)[ENTERPRISE_URN] == {"costCenter": "C1", "department": "new"}


def test_fully_qualified_core_attribute_key() -> None:
    assert normalize({f"{USER_URN}:userName": "a"}, USER)["userName"] == "a"


def test_dotted_key_sets_a_sub_attribute() -> None:
    doc = normalize({"name": {"givenName": "G"}, "name.familyName": "F"}, USER)
    assert doc["name"] == {"familyName": "F", "givenName": "G"}


def test_dotted_key_into_a_multi_valued_attribute_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"emails.value": "a@b"}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "emails" in excinfo.value.detail


def test_extension_object_accepted_without_its_urn_in_schemas() -> None:
    doc = normalize({"schemas": [USER_URN], EIGHT_BY_EIGHT_URN: {"site": "S"}}, USER)
    assert doc["schemas"] == [USER_URN, EIGHT_BY_EIGHT_URN]


def test_schemas_missing_or_without_core_urn_is_accepted() -> None:
    assert prepare_create({"userName": "a"}, USER)["schemas"] == [USER_URN]
    assert prepare_create({"schemas": [ENTERPRISE_URN], "userName": "a"}, USER)["schemas"] == [
        USER_URN
    ]


@pytest.mark.parametrize("schemas", [USER_URN, {"a": 1}, [USER_URN, 5]])
def test_schemas_not_a_list_of_strings_is_invalid_syntax(schemas: Any) -> None:
    with pytest.raises(ScimError) as excinfo:
        prepare_create({"schemas": schemas, "userName": "a"}, USER)
    assert scim_error(excinfo) == (400, "invalidSyntax")


def test_extension_object_that_is_not_an_object_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({ENTERPRISE_URN: "x"}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert ENTERPRISE_URN in excinfo.value.detail


def test_readonly_attributes_and_unknown_sub_attributes_are_dropped_undeclared_kept() -> None:
    body = {
        "userName": "a", "id": "x", "meta": {"version": "W/1"}, "groups": [{"value": "g"}],
        "favouriteColour": "blue", "urn:example:unknown:ext": {"a": 1},
        "emails": [{"value": "a@b", "label": "x"}],
        ENTERPRISE_URN: {"manager": {"value": "m", "displayName": "Boss"}, "shoeSize": 9},
        "password": "secret",
    }
    # Undeclared attributes are kept (after the declared ones of their schema); an unknown
    # sub-attribute (`label`), `password` and a URN that names no User extension are not.
    assert normalize(body, USER) == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": "a",
        "emails": [{"value": "a@b"}],
        "favouriteColour": "blue",
        ENTERPRISE_URN: {"manager": {"value": "m"}, "shoeSize": 9},
    }


@pytest.mark.parametrize("empty", [None, {}, []])
def test_null_empty_object_and_empty_list_are_absent(empty: Any) -> None:
    body = {"userName": "a", "title": empty, "name": empty, "emails": empty,
            ENTERPRISE_URN: empty}
    assert normalize(body, USER) == {"schemas": [USER_URN], "userName": "a"}


def test_objects_and_elements_that_end_up_empty_are_dropped() -> None:
    body = {"userName": "a", "name": {"givenName": None}, "emails": [{"value": None}, None],
            ENTERPRISE_URN: {"department": None}}
    assert normalize(body, USER) == {"schemas": [USER_URN], "userName": "a"}


# --------------------------------------------------------------------------------------------
# Values and types
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [(True, True), (False, False), ("True", True), ("False", False), ("true", True),
     ("FALSE", False), (" True ", True)],
)
def test_boolean_accepts_booleans_and_boolean_strings(sent: Any, stored: bool) -> None:
    doc = normalize({"active": sent, "emails": [{"value": "a", "primary": sent}]}, USER)
    assert doc["active"] is stored
    assert doc["emails"][0]["primary"] is stored


@pytest.mark.parametrize("sent", ["yes", "1", "", 1, 0, 1.0, {"a": 1}, ["true"]])
def test_boolean_rejects_anything_else_naming_the_attribute(sent: Any) -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"active": sent}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "active" in excinfo.value.detail


def test_values_are_stored_exactly_as_sent() -> None:
    body = {
        "userName": "  Mixed Case  ",
        "phoneNumbers": [{"value": "55555555555", "type": "work"},
                         {"value": "+1 (555) 555-5555 ", "type": "mobile"}],
        "title": "",
        "timezone": "America/Los_Angeles",
        "locale": "en-US",
    }
    doc = normalize(body, USER)
    assert doc["userName"] == "  Mixed Case  "
    assert [p["value"] for p in doc["phoneNumbers"]] == ["55555555555", "+1 (555) 555-5555 "]
    assert doc["title"] == ""
    assert (doc["timezone"], doc["locale"]) == ("America/Los_Angeles", "en-US")


@pytest.mark.parametrize(("sent", "stored"), [(5, "5"), (1.5, "1.5"), (True, "true")])
def test_numbers_and_booleans_for_string_attributes_become_their_json_text(
    sent: Any, stored: str
) -> None:
    doc = normalize({"title": sent, ENTERPRISE_URN: {"employeeNumber": sent}}, USER)
    assert doc["title"] == stored
    assert doc[ENTERPRISE_URN]["employeeNumber"] == stored


@pytest.mark.parametrize("sent", [{"a": "b"}, ["a"], [1, 2]])
def test_objects_and_lists_for_string_attributes_are_invalid_value(sent: Any) -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"title": sent}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "title" in excinfo.value.detail


def test_non_scalar_sub_attribute_is_invalid_value_with_its_path() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"emails": [{"value": "a"}, {"value": {"nested": 1}}]}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "emails[1].value" in excinfo.value.detail


def test_integer_too_long_to_print_for_a_string_attribute_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"title": 10**5000}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "title" in excinfo.value.detail


def test_non_finite_number_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"title": float("nan")}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")


def test_multi_valued_complex_single_object_is_wrapped_in_a_list() -> None:
    doc = normalize({"emails": {"value": "a@b", "type": "work"}}, USER)
    assert doc["emails"] == [{"value": "a@b", "type": "work"}]


def test_multi_valued_complex_plain_strings_become_value_objects() -> None:
    doc = normalize({"emails": ["a@b", "c@d"], "phoneNumbers": "555"}, USER)
    assert doc["emails"] == [{"value": "a@b"}, {"value": "c@d"}]
    assert doc["phoneNumbers"] == [{"value": "555"}]


@pytest.mark.parametrize("sent", [[["a"]], [True], "x"])
def test_complex_elements_that_are_not_objects_are_invalid_value(sent: Any) -> None:
    attribute = "addresses" if sent == "x" else "emails"  # addresses has no `value`
    with pytest.raises(ScimError) as excinfo:
        normalize({attribute: sent}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert attribute in excinfo.value.detail


def test_single_valued_complex_must_be_an_object() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"name": "Joy Young"}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "name" in excinfo.value.detail


# Entra's manager shapes (SCIM endpoint tutorial, SCIM Validator)
@pytest.mark.parametrize(
    "sent",
    [
        "00aa",
        {"value": "00aa"},
        [{"$ref": "http://host/scim/Users/00aa", "value": "00aa"}],
        ["00aa"],
    ],
)
def test_manager_shapes_become_a_value_object(sent: Any) -> None:
    doc = normalize({ENTERPRISE_URN: {"manager": sent}}, USER)
    assert doc[ENTERPRISE_URN]["manager"]["value"] == "00aa"


def test_manager_list_form_keeps_ref() -> None:
    sent = [{"$ref": "http://host/scim/Users/00aa", "value": "00aa"}]
    doc = normalize({f"{ENTERPRISE_URN}:manager": sent}, USER)
    assert doc[ENTERPRISE_URN]["manager"] == {"value": "00aa",
                                              "$ref": "http://host/scim/Users/00aa"}


@pytest.mark.parametrize("sent", ["", {"value": ""}, [{"value": ""}], [None], {"$ref": "x"}])
def test_empty_manager_is_absent(sent: Any) -> None:
    doc = normalize({"userName": "a", ENTERPRISE_URN: {"manager": sent, "department": "D"}},
                    USER)
    assert doc[ENTERPRISE_URN] == {"department": "D"}
    only = normalize({"userName": "a", ENTERPRISE_URN: {"manager": sent}}, USER)
    assert ENTERPRISE_URN not in only
    assert only["schemas"] == [USER_URN]


def test_manager_list_of_two_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({ENTERPRISE_URN: {"manager": [{"value": "a"}, {"value": "b"}]}}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "manager" in excinfo.value.detail


# --------------------------------------------------------------------------------------------
# Types the User schema does not use, on a small test resource type
# --------------------------------------------------------------------------------------------

TYPED = ResourceType(
    name="Thing",
    endpoint="/Things",
    description="test",
    schema=Schema(
        id="urn:test:Thing",
        name="Thing",
        description="test",
        attributes=(
            Attribute("count", type=INTEGER),
            Attribute("ratio", type=DECIMAL),
            Attribute("since", type=DATETIME),
            Attribute("flag", type=BOOLEAN),
            Attribute("tags", multi_valued=True),
            Attribute("code", mutability=IMMUTABLE, case_exact=True),
            Attribute("box", type=COMPLEX, sub_attributes=(Attribute("size", type=INTEGER),)),
        ),
    ),
)


def test_typed_values_are_coerced_per_attribute() -> None:
    # Each type's rules are in test_scalar_values.py; this checks normalize applies them.
    doc = normalize({"count": " 42 ", "ratio": "4.5", "since": "2024-01-01", "flag": "True"},
                    TYPED)
    assert (doc["count"], doc["ratio"], doc["since"], doc["flag"]) == (42, 4.5, "2024-01-01",
                                                                       True)
    with pytest.raises(ScimError) as excinfo:
        normalize({"count": "4.5"}, TYPED)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "count" in excinfo.value.detail


def test_multi_valued_simple_attribute() -> None:
    assert normalize({"tags": ["a", 1, None]}, TYPED)["tags"] == ["a", "1"]
    assert normalize({"tags": "solo"}, TYPED)["tags"] == ["solo"]


def test_case_exact_immutable_attribute_compares_exactly() -> None:
    current = normalize({"code": "AbC"}, TYPED)
    with pytest.raises(ScimError) as excinfo:
        prepare_replace(current, {"code": "abc"}, TYPED)
    assert scim_error(excinfo) == (400, "mutability")


# --------------------------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------------------------


def test_longest_storable_string_is_accepted() -> None:
    text = "x" * MAX_VALUE_CHARS
    assert normalize({"title": text}, USER)["title"] == text


def test_string_longer_than_table_storage_allows_is_invalid_value() -> None:
    with pytest.raises(ScimError) as excinfo:
        normalize({"emails": [{"value": "x" * (MAX_VALUE_CHARS + 1)}]}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert "Table Storage" in excinfo.value.detail
    assert "emails[0].value" in excinfo.value.detail


def test_document_larger_than_the_store_allows_is_invalid_value() -> None:
    count = MAX_DOCUMENT_BYTES // 30_000 + 1
    emails = [{"value": "x" * 30_000} for _ in range(count)]
    with pytest.raises(ScimError) as excinfo:
        prepare_create({"userName": "a", "emails": emails}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")
    assert str(MAX_DOCUMENT_BYTES) in excinfo.value.detail


# --------------------------------------------------------------------------------------------
# 8x8 `site`: immutable after creation
# --------------------------------------------------------------------------------------------

SITE = f"{EIGHT_BY_EIGHT_URN}:site"


def created_with_site(site: str | None = "Paris") -> dict[str, Any]:
    body: dict[str, Any] = {"userName": "u@example.com", "title": "Engineer"}
    if site is not None:
        body[EIGHT_BY_EIGHT_URN] = {"site": site}
    return prepare_create(body, USER)


def test_site_set_at_create() -> None:
    doc = created_with_site()
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}
    assert EIGHT_BY_EIGHT_URN in doc["schemas"]


def test_put_same_site_is_accepted() -> None:
    body = {"userName": "u@example.com", SITE: "Paris", "title": "Manager"}
    doc = prepare_replace(created_with_site(), body, USER)
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}
    assert doc["title"] == "Manager"


def test_put_same_site_in_other_case_keeps_the_stored_spelling() -> None:
    doc = prepare_replace(created_with_site(), {"userName": "u", SITE: "PARIS"}, USER)
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}


def test_put_different_site_is_400_mutability_with_an_actionable_detail() -> None:
    with pytest.raises(ScimError) as excinfo:
        prepare_replace(created_with_site(), {"userName": "u", SITE: "London"}, USER)
    assert scim_error(excinfo) == (400, "mutability")
    detail = excinfo.value.detail
    assert "site" in detail
    assert "immutable" in detail
    assert "'Paris'" in detail or '"Paris"' in detail
    assert "Only during object creation" in detail


def test_put_omitting_site_keeps_the_current_value() -> None:
    doc = prepare_replace(created_with_site(), {"userName": "u", "title": "x"}, USER)
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}
    assert doc["schemas"] == [USER_URN, EIGHT_BY_EIGHT_URN]


def test_put_may_set_site_when_it_has_no_value() -> None:
    doc = prepare_replace(created_with_site(None), {"userName": "u", SITE: "Oslo"}, USER)
    assert doc[EIGHT_BY_EIGHT_URN] == {"site": "Oslo"}


def test_put_keeps_site_next_to_other_extension_data_in_canonical_order() -> None:
    body = {"userName": "u", ENTERPRISE_URN: {"department": "D"}}
    doc = prepare_replace(created_with_site(), body, USER)
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN]
    assert list(doc) == ["schemas", "userName", ENTERPRISE_URN, EIGHT_BY_EIGHT_URN]


def test_patch_changing_site_is_400_mutability() -> None:
    current = created_with_site()
    updated = {**current, EIGHT_BY_EIGHT_URN: {"site": "London"}}
    with pytest.raises(ScimError) as excinfo:
        check_update(current, updated, USER)
    assert scim_error(excinfo) == (400, "mutability")
    assert "Only during object creation" in excinfo.value.detail


def test_patch_removing_site_clears_it_but_changing_it_stays_refused() -> None:
    current = created_with_site()
    updated = {k: v for k, v in current.items() if k != EIGHT_BY_EIGHT_URN}
    cleared = check_update(current, updated, USER)
    assert EIGHT_BY_EIGHT_URN not in cleared
    with pytest.raises(ScimError) as excinfo:
        check_update(current, {**current, EIGHT_BY_EIGHT_URN: {"site": "Elsewhere"}}, USER)
    assert scim_error(excinfo) == (400, "mutability")


def test_patch_adding_site_when_none_and_repeating_it_are_fine() -> None:
    current = created_with_site(None)
    added = check_update(current, {**current, SITE: "Oslo"}, USER)
    assert added[EIGHT_BY_EIGHT_URN] == {"site": "Oslo"}
    again = check_update(added, {**added, EIGHT_BY_EIGHT_URN: {"site": "Oslo"}}, USER)
    assert again == added


def test_site_untouched_by_a_patch_of_other_attributes() -> None:
    current = created_with_site()
    updated = check_update(current, {**current, "title": "Lead"}, USER)
    assert updated[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}
    assert diff_attributes(current, updated) == ["title"]


def test_stored_document_with_id_and_meta_is_accepted_as_current() -> None:
    current = {**created_with_site(), "id": "abc", "meta": {"resourceType": "User"}}
    doc = check_update(current, {**current, "title": "x"}, USER)
    assert not {"id", "meta"} & set(doc)
    assert doc["title"] == "x"


# --------------------------------------------------------------------------------------------
# check_update: required attributes after PATCH
# --------------------------------------------------------------------------------------------


def test_patch_removing_username_is_400_mutability() -> None:
    current = created_with_site()
    updated = {k: v for k, v in current.items() if k != "userName"}
    with pytest.raises(ScimError) as excinfo:
        check_update(current, updated, USER)
    assert scim_error(excinfo) == (400, "mutability")
    assert "userName" in excinfo.value.detail


def test_patch_blanking_username_is_400_invalid_value() -> None:
    current = created_with_site()
    with pytest.raises(ScimError) as excinfo:
        check_update(current, {**current, "userName": " "}, USER)
    assert scim_error(excinfo) == (400, "invalidValue")


def test_patch_active_string_false_is_coerced() -> None:
    # Entra's "Requests made to disable users", without the feature flag (SCIM compatibility
    # known issues).
    current = created_with_site()
    assert check_update(current, {**current, "active": "False"}, USER)["active"] is False


# --------------------------------------------------------------------------------------------
# diff_attributes
# --------------------------------------------------------------------------------------------


def test_diff_attributes_names_changed_core_and_extension_attributes() -> None:
    old = {"schemas": [USER_URN, ENTERPRISE_URN], "id": "1", "meta": {"version": "1"},
           "userName": "a", "active": True, "title": "t",
           ENTERPRISE_URN: {"department": "D", "costCenter": "C"}}
    new = {"schemas": [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN], "id": "1",
           "meta": {"version": "2"}, "userName": "a", "active": False,
           "emails": [{"value": "x"}],
           ENTERPRISE_URN: {"department": "E", "costCenter": "C"},
           EIGHT_BY_EIGHT_URN: {"site": "S"}}
    assert diff_attributes(old, new) == [
        "active", "title", f"{ENTERPRISE_URN}:department", "emails", SITE,
    ]


def test_diff_attributes_distinguishes_booleans_from_numbers() -> None:
    assert diff_attributes({"x": True}, {"x": 1}) == ["x"]
    assert diff_attributes({"x": 1}, {"x": 1.0}) == []
    assert diff_attributes({"e": [{"v": 1}]}, {"e": [{"v": 1}, {"v": 2}]}) == ["e"]
    assert diff_attributes({}, {}) == []


def test_diff_attributes_extension_removed_entirely() -> None:
    old = {ENTERPRISE_URN: {"department": "D", "manager": {"value": "m"}}}
    assert diff_attributes(old, {}) == [
        f"{ENTERPRISE_URN}:department", f"{ENTERPRISE_URN}:manager",
    ]


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_NAMES = [
    "userName", "USERNAME", "externalId", "active", "title", "displayName", "name", "emails",
    "phoneNumbers", "addresses", "roles", "groups", "id", "meta", "password", "locale",
    "timezone", "schemas", "x509Certificates", ENTERPRISE_URN, ENTERPRISE_URN.upper(),
    EIGHT_BY_EIGHT_URN, f"{ENTERPRISE_URN}:department", f"{ENTERPRISE_URN}:manager",
    f"{ENTERPRISE_URN}:manager.value", SITE, "name.givenName", "emails.value", "unknown",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
]
_SUB_NAMES = ["value", "Value", "type", "primary", "display", "displayName", "givenName",
              "familyName", "department", "manager", "site", "$ref", "country", "junk"]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["True", "false", "", "{\"value\": \"1\", \"displayName\": \"R\"}",
                     "{\"value\": \"{\\\"value\\\": \\\"2\\\"}\"}", "2024-01-01T00:00:00Z"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(_SUB_NAMES), st.text(max_size=5)), inner,
                        max_size=4),
    ),
    max_leaves=12,
)
_bodies = st.dictionaries(st.one_of(st.sampled_from(_NAMES), st.text(max_size=8)), _json,
                          max_size=8)


def _spellings(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.lower(), name[:1].upper() + name[1:]])


def _value_for(attr: Attribute) -> st.SearchStrategy[Any]:
    """Mostly well-typed values for `attr`, in the shapes Entra and Postman send."""
    if attr.multi_valued:
        element = st.one_of(_object_for(attr), st.text(max_size=8)) if attr.sub("value") \
            else _object_for(attr)
        return st.one_of(st.lists(element, max_size=3), element, st.none())
    if attr.type == COMPLEX:
        shapes = [_object_for(attr), st.lists(_object_for(attr), max_size=1)]
        if attr.sub("value"):
            shapes.append(st.text(max_size=8))
        return st.one_of(*shapes)
    if attr.type == BOOLEAN:
        return st.one_of(st.booleans(), st.sampled_from(["True", "FALSE", " true"]), st.none())
    return st.one_of(st.text(max_size=10), st.integers(), st.just(""), st.none())


def _object_for(attr: Attribute) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        subs = draw(st.lists(st.sampled_from(attr.sub_attributes), max_size=4))
        obj = {draw(_spellings(sub.name)): draw(_value_for(sub)) for sub in subs}
        if attr.name == "roles" and draw(st.booleans()):
            obj["value"] = json.dumps({"id": "x", "value": draw(st.text(max_size=4)),
                                       "displayName": draw(st.text(max_size=4))})
        return obj

    return build()


@st.composite
def plausible_user_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for schema in USER.all_schemas:
        attrs = draw(st.lists(st.sampled_from(schema.attributes), max_size=6))
        for attr in attrs:
            value = draw(_value_for(attr))
            if schema is USER.schema:
                body[draw(_spellings(attr.name))] = value
            elif draw(st.booleans()):
                body[f"{draw(_spellings(schema.id))}:{attr.name}"] = value
            else:
                body.setdefault(schema.id, {})[draw(_spellings(attr.name))] = value
    body.update(draw(st.dictionaries(st.text(max_size=6), _json, max_size=2)))
    return body


_PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY_SETTINGS
@given(st.one_of(_bodies, plausible_user_bodies()))
def test_normalize_never_raises_anything_but_scim_error(body: dict[str, Any]) -> None:
    for rtype in (USER, GROUP):
        error = error_of(normalize, body, rtype)
        if error is not None:
            assert error.status == 400
            assert error.scim_type in ("invalidValue", "invalidSyntax")
            assert error.detail


@_PROPERTY_SETTINGS
@given(st.one_of(_bodies, plausible_user_bodies()))
def test_normalize_is_idempotent(body: dict[str, Any]) -> None:
    for rtype in (USER, GROUP):
        try:
            once = normalize(body, rtype)
        except ScimError:
            continue
        assert normalize(once, rtype) == once
        assert json.loads(json.dumps(once)) == once  # plain JSON, ready to store


@_PROPERTY_SETTINGS
@given(plausible_user_bodies())
def test_normalized_documents_hold_no_empties_and_list_their_extensions(
    body: dict[str, Any],
) -> None:
    try:
        doc = normalize(body, USER)
    except ScimError:
        return
    assert doc["schemas"][0] == USER_URN
    assert doc["schemas"][1:] == [k for k in doc if k.startswith("urn:")]

    def walk(value: Any) -> None:
        assert value not in (None, {}, [])
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(doc)
    assert not {"id", "meta", "groups"} & set(doc)
