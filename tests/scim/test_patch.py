"""PATCH application: the PATCH bodies Microsoft publishes for Entra, the SCIM Validator and
Postman shapes, and RFC 7644 §3.5.2 semantics with their error cases.

Entra's bodies are copied literally from Microsoft Learn (JSON null/true/false written as
None/True/False): the SCIM endpoint tutorial's examples
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups),
the requests with and without the aadOptscim062020 flag
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility)
and the SingleAppRoleAssignment role PATCH
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes).
Each runs through the real pipeline `normalize_patch` -> `apply_patch`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from shared.scim.dialect import normalize_patch
from shared.scim.errors import ScimError
from shared.scim.member_changes import MemberChanges
from shared.scim.patch import PatchResult, apply_patch
from shared.scim.patch_operation import PatchOperation
from shared.scim.patch_path import parse_patch_path
from shared.scim.resource import check_update
from shared.scim.schemas import EIGHT_BY_EIGHT_URN, ENTERPRISE_URN, GROUP, GROUP_URN, USER, USER_URN

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# The same User type for a tenant that refuses undeclared attributes.
STRICT_USER = USER.extended(undeclared="reject")

USER_DOC: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN],
    "id": "6764549bef60420686bc",
    "externalId": "6c75de36-30fa-4d2d-a196-6bdcdb6b6539",
    "meta": {
        "resourceType": "User",
        "created": "2018-03-27T19:59:26.000Z",
        "lastModified": "2018-03-27T19:59:26.000Z",
        "version": 'W/"1"',
    },
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "name": {"formatted": "givenName familyName", "familyName": "familyName",
             "givenName": "givenName"},
    "displayName": "Test User",
    "active": True,
    "emails": [{"value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
                "type": "work", "primary": True}],
    "phoneNumbers": [{"value": "55555555555", "type": "work"}],
    "addresses": [{"country": "ML", "type": "work", "primary": True}],
    ENTERPRISE_URN: {
        "employeeNumber": "701984",
        "department": "Sales",
        "manager": {"value": "m-old", "$ref": "../Users/m-old", "displayName": "Old Boss"},
    },
    EIGHT_BY_EIGHT_URN: {"site": "Paris"},
}

GROUP_DOC: dict[str, Any] = {
    "schemas": [GROUP_URN],
    "id": "a99962b9f99d4c4fac67",
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {"resourceType": "Group", "created": "2018-03-27T19:59:26.000Z",
             "lastModified": "2018-03-27T19:59:26.000Z"},
}


def run(body: Any, doc: dict[str, Any] | None = None, rtype: Any = USER) -> PatchResult:
    """The service pipeline minus storage, asserting the input document is never mutated."""
    if doc is None:
        doc = USER_DOC if rtype is USER else GROUP_DOC
    before = copy.deepcopy(doc)
    result = apply_patch(doc, normalize_patch(body, rtype), rtype)
    assert doc == before
    return result


def checked(body: Any, doc: dict[str, Any] | None = None, rtype: Any = USER) -> dict[str, Any]:
    """`run` + resource.check_update, as the service does: the result must be storable."""
    if doc is None:
        doc = USER_DOC if rtype is USER else GROUP_DOC
    return check_update(doc, run(body, doc, rtype).doc, rtype)


def ops_body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def error(body: Any, doc: dict[str, Any] | None = None, rtype: Any = USER) -> ScimError:
    with pytest.raises(ScimError) as info:
        run(body, doc, rtype)
    assert info.value.status == 400
    return info.value


def ent(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = doc.get(ENTERPRISE_URN, {})
    return out


# =============================================================================================
# User operations (SCIM endpoint tutorial)
# =============================================================================================


def test_b1_update_user_multi_valued_properties() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
                {
                "op": "Replace",
                "path": "emails[type eq \"work\"].value",
                "value": "updatedEmail@microsoft.com"
                },
                {
                "op": "Replace",
                "path": "name.familyName",
                "value": "updatedFamilyName"
                }
        ]
    }
    doc = run(body).doc
    assert doc["emails"] == [{"value": "updatedEmail@microsoft.com", "type": "work",
                              "primary": True}]
    assert doc["name"] == {"formatted": "givenName familyName",
                           "familyName": "updatedFamilyName", "givenName": "givenName"}
    assert {k: v for k, v in doc.items() if k not in ("emails", "name")} == {
        k: v for k, v in USER_DOC.items() if k not in ("emails", "name")}
    assert checked(body)["emails"][0]["value"] == "updatedEmail@microsoft.com"


def test_b1_update_user_single_valued_properties() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{
            "op": "Replace",
            "path": "userName",
            "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
        }]
    }
    assert run(body).doc["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    assert checked(body)["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"


def test_b1_disable_user() -> None:
    body = {
        "Operations": [
            {
                "op": "Replace",
                "path": "active",
                "value": False
            }
        ],
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ]
    }
    assert run(body).doc["active"] is False
    assert checked(body)["active"] is False


# =============================================================================================
# Group operations (SCIM endpoint tutorial)
# =============================================================================================


def test_b2_update_group_non_member_attributes() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{
            "op": "Replace",
            "path": "displayName",
            "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
        }]
    }
    result = run(body, rtype=GROUP)
    assert result.doc["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    assert result.members is None
    assert checked(body, rtype=GROUP)["displayName"].endswith("updatedDisplayName")


def test_b2_update_group_add_members() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{
            "op": "Add",
            "path": "members",
            "value": [{
                "$ref": None,
                "value": "f648f8d5ea4e4cd38e9c"
            }]
        }]
    }
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=["f648f8d5ea4e4cd38e9c"], remove=[], replace=None)
    assert "members" not in result.doc
    assert result.doc == GROUP_DOC


def test_b2_update_group_remove_members_removes_only_that_member() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{
            "op": "Remove",
            "path": "members",
            "value": [{
                "$ref": None,
                "value": "f648f8d5ea4e4cd38e9c"
            }]
        }]
    }
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=[], remove=["f648f8d5ea4e4cd38e9c"], replace=None)
    # The group keeps everyone else: a named remove never widens to "remove all".
    assert result.members.apply_to({"f648f8d5ea4e4cd38e9c", "u2", "u3"}) == {"u2", "u3"}


# =============================================================================================
# Requests without and with the aadOptscim062020 flag (SCIM compatibility known issues)
# =============================================================================================


def test_b3_disable_without_flag_string_false() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "Replace",
                "path": "active",
                "value": "False"
            }
        ]
    }
    assert run(body).doc["active"] is False
    assert checked(body)["active"] is False


def test_b3_disable_with_flag() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "replace",
                "path": "active",
                "value": False
            }
        ]
    }
    assert run(body).doc["active"] is False


def test_b3_add_single_value_string_without_flag() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
          {
            "op": "Add",
            "path": "nickName",
            "value": "Babs"
          }
        ]
    }
    assert run(body).doc["nickName"] == "Babs"
    assert checked(body)["nickName"] == "Babs"


def test_b3_add_single_value_string_with_flag() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
          {
            "op": "add",
            "path": "nickName",
            "value": "Babs"
          }
        ]
    }
    doc = dict(USER_DOC, nickName="Old")
    assert run(body, doc).doc["nickName"] == "Babs"


def test_b3_replace_multiple_attributes_without_flag() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "Replace",
                "path": "displayName",
                "value": "Pvlo"
            },
            {
                "op": "Replace",
                "path": "emails[type eq \"work\"].value",
                "value": "TestBcwqnm@test.microsoft.com"
            },
            {
                "op": "Replace",
                "path": "name.givenName",
                "value": "Gtfd"
            },
            {
                "op": "Replace",
                "path": "name.familyName",
                "value": "Pkqf"
            },
            {
                "op": "Replace",
                "path": "externalId",
                "value": "Eqpj"
            },
            {
                "op": "Replace",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "value": "Eqpj"
            }
        ]
    }
    doc = run(body).doc
    assert doc["displayName"] == "Pvlo"
    assert doc["emails"] == [{"value": "TestBcwqnm@test.microsoft.com", "type": "work",
                              "primary": True}]
    assert doc["name"]["givenName"] == "Gtfd"
    assert doc["name"]["familyName"] == "Pkqf"
    assert doc["externalId"] == "Eqpj"
    assert ent(doc)["employeeNumber"] == "Eqpj"
    assert ent(doc)["department"] == "Sales"  # untouched extension attributes survive
    assert checked(body)[ENTERPRISE_URN]["employeeNumber"] == "Eqpj"


def test_b3_replace_multiple_attributes_with_flag_pathless_dotted_and_urn_keys() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "replace",
                "path": "emails[type eq \"work\"].value",
                "value": "TestMhvaes@test.microsoft.com"
            },
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"  # noqa: E501
                }
            }
        ]
    }
    doc = run(body).doc
    assert doc["emails"][0]["value"] == "TestMhvaes@test.microsoft.com"
    assert doc["displayName"] == "Bjfe"
    assert doc["name"] == {"formatted": "givenName familyName", "familyName": "Unua",
                           "givenName": "Kkom"}
    assert ent(doc)["employeeNumber"] == "Aklq"
    # Dotted keys are paths, never stored as attribute names.
    assert "name.givenName" not in doc
    assert not any(k.startswith("urn:") and k.endswith("employeeNumber") for k in doc)
    assert checked(body)["name"]["givenName"] == "Kkom"


def test_b3_remove_member_without_flag() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "Remove",
                "path": "members",
                "value": [
                    {
                        "value": "u1091"
                    }
                ]
            }
        ]
    }
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=[], remove=["u1091"], replace=None)
    assert result.members.apply_to({"u1091", "u7", "u8"}) == {"u7", "u8"}


def test_b3_remove_member_with_flag() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        ],
        "Operations": [
            {
                "op": "remove",
                "path": "members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"
            }
        ]
    }
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(
        add=[], remove=["7f4bc1a3-285e-48ae-8202-5accb43efb0e"], replace=None)


# =============================================================================================
# Manager (SCIM endpoint tutorial) and roles (SingleAppRoleAssignment mapping)
# =============================================================================================


def test_b4_example5_manager_add_as_list_with_ref() -> None:
    body = {
        "schemas":
        [
          "urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":
        [
          {
            "op":"Add",
            "path":"manager",
            "value":
              [
                {
                  "$ref":"http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                  "value":"00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}]}]}
    doc = run(body).doc
    # The old manager's $ref/displayName must not survive the change; the new $ref is kept.
    assert ent(doc)["manager"] == {
        "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "$ref": "http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}
    assert ent(doc)["employeeNumber"] == "701984"
    assert checked(body)[ENTERPRISE_URN]["manager"]["value"] == (
        "00aa00aa-bb11-cc22-dd33-44ee44ee44ee")


def test_b5_roles_json_encoded_values_are_decoded() -> None:
    body = {
      "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
      ],
      "Operations": [
        {
          "op": "Add",
          "path": "roles",
          "value": [
            {
              "value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}"  # noqa: E501
            }
          ]
        }
      ]
    }
    doc = run(body).doc
    assert doc["roles"] == [{"value": "25", "display": "Role1234"}]
    # Entra re-sends the same add each cycle: no duplicate role.
    again = run(body, doc).doc
    assert again["roles"] == [{"value": "25", "display": "Role1234"}]
    assert checked(body)["roles"] == [{"value": "25", "display": "Role1234"}]


def test_b5_assertive_roles_replace_with_objects() -> None:
    doc = dict(USER_DOC, roles=[{"value": "Old", "primary": True}])
    body = ops_body({"op": "replace", "path": "roles", "value": [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]})
    assert run(body, doc).doc["roles"] == [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]


# =============================================================================================
# Manager shapes from the SCIM Validator
# =============================================================================================


def test_b6_validator_add_manager() -> None:
    body = { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [ { "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": { "value": "AXTKDLNRKMKT" } } ] }  # noqa: E501
    assert ent(run(body).doc)["manager"] == {"value": "AXTKDLNRKMKT"}
    no_ext = {k: v for k, v in USER_DOC.items() if k != ENTERPRISE_URN}
    assert run(body, no_ext).doc[ENTERPRISE_URN] == {"manager": {"value": "AXTKDLNRKMKT"}}


def test_b6_validator_remove_manager_by_empty_value() -> None:
    body = { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [ { "op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": { "value": "" } } ] }  # noqa: E501
    doc = run(body).doc
    assert "manager" not in ent(doc)
    assert ent(doc)["department"] == "Sales"
    assert "manager" not in checked(body)[ENTERPRISE_URN]


def test_b6_validator_remove_manager_op_remove() -> None:
    body = ops_body({"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"})  # noqa: E501
    assert "manager" not in ent(run(body).doc)


def test_b6_remove_manager_when_it_was_the_only_enterprise_attribute() -> None:
    doc = dict(USER_DOC, **{ENTERPRISE_URN: {"manager": {"value": "m"}}})
    body = ops_body({"op": "remove", "path": f"{ENTERPRISE_URN}:manager"})
    assert ENTERPRISE_URN not in run(body, doc).doc


@pytest.mark.parametrize("value", [
    "new-boss",
    {"value": "new-boss"},
    {"Value": "new-boss"},
    [{"$ref": "https://x/scim/Users/new-boss", "value": "new-boss"}],
    {"value": "new-boss", "$ref": None, "displayName": "ignored"},
])
@pytest.mark.parametrize("op", ["Add", "replace", "REPLACE"])
@pytest.mark.parametrize("path", [
    "manager", "Manager", f"{ENTERPRISE_URN}:manager", f"{ENTERPRISE_URN.lower()}:MANAGER",
    "manager.value", f"{ENTERPRISE_URN}:manager.value",
])
def test_manager_set_in_every_shape(value: Any, op: str, path: str) -> None:
    if path.endswith(".value") and not isinstance(value, str):
        value = "new-boss"  # a sub-attribute path takes the bare id
    doc = run(ops_body({"op": op, "path": path, "value": value})).doc
    expected = {"value": "new-boss"}
    if isinstance(value, list):
        expected["$ref"] = "https://x/scim/Users/new-boss"  # a $ref sent is kept as sent
    assert ent(doc)["manager"] == expected


@pytest.mark.parametrize("operation", [
    {"op": "Remove", "path": "manager"},
    {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"},
    {"op": "remove", "path": f"{ENTERPRISE_URN}:manager.value"},
    {"op": "Replace", "path": "manager", "value": ""},
    {"op": "Replace", "path": "manager", "value": None},
    {"op": "Replace", "path": "manager", "value": {"value": ""}},
    {"op": "Replace", "path": "manager", "value": {"value": None}},
    {"op": "Replace", "path": "manager", "value": []},
    {"op": "Add", "path": "manager", "value": [{"value": ""}]},
    {"op": "replace", "path": "manager.value", "value": ""},
])
def test_manager_removed_in_every_shape(operation: dict[str, Any]) -> None:
    doc = run(ops_body(operation)).doc
    assert "manager" not in ent(doc)
    assert ent(doc)["employeeNumber"] == "701984"


def test_manager_remove_when_absent_is_a_no_op() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k != ENTERPRISE_URN}
    assert run(ops_body({"op": "remove", "path": "manager"}), doc).doc == doc


def test_manager_in_pathless_value_and_extension_object() -> None:
    body = ops_body({"op": "replace", "value": {ENTERPRISE_URN: {
        "department": "R&D", "manager": {"value": "boss2"}}}})
    doc = run(body).doc
    assert ent(doc)["manager"] == {"value": "boss2"}
    assert ent(doc)["department"] == "R&D"
    assert ent(doc)["employeeNumber"] == "701984"


def test_manager_list_of_two_is_invalid_value() -> None:
    err = error(ops_body({"op": "add", "path": "manager",
                          "value": [{"value": "a"}, {"value": "b"}]}))
    assert err.scim_type == "invalidValue"


def test_manager_displayname_is_read_only() -> None:
    err = error(ops_body({"op": "replace", "path": "manager.displayName", "value": "X"}))
    assert err.scim_type == "mutability"


# =============================================================================================
# SCIM Validator shapes and the reference Postman collection
# =============================================================================================


def test_validator_pathless_replace_username() -> None:
    body = ops_body({"op": "replace", "value": {"userName": "renamed@contoso.com"}})
    assert run(body).doc["userName"] == "renamed@contoso.com"


def test_validator_group_pathless_replace_external_id() -> None:
    body = ops_body({"op": "replace", "value": {"externalId": "b6e7c2a0-new"}})
    result = run(body, rtype=GROUP)
    assert result.doc["externalId"] == "b6e7c2a0-new"
    assert result.members is None


def test_validator_group_add_then_remove_in_one_patch() -> None:
    body = ops_body(
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": "members[value eq \"u1\"]"},
    )
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=["u2"], remove=["u1"], replace=None)
    assert result.members.apply_to(set()) == {"u2"}
    assert result.members.apply_to({"u1", "u9"}) == {"u2", "u9"}


def test_validator_group_remove_then_add_same_member() -> None:
    body = ops_body(
        {"op": "remove", "path": "members[value eq \"u1\"]"},
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
    )
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=["u1"], remove=[], replace=None)


def test_validator_group_member_replace() -> None:
    body = ops_body({"op": "replace", "path": "members",
                     "value": [{"value": "u3"}, {"value": "u4"}, {"value": "u3"}]})
    result = run(body, rtype=GROUP)
    assert result.members == MemberChanges(add=[], remove=[], replace=["u3", "u4"])
    assert result.members.apply_to({"u1", "u3"}) == {"u3", "u4"}


def test_validator_patch_user_replace_attributes_verbose_creates_missing_elements() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k not in ("phoneNumbers", "addresses")}
    body = ops_body(
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.com"},
        {"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "True"},
        {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "555 0100"},
        {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555 0101"},
        {"op": "replace", "path": "phoneNumbers[type eq \"fax\"].value", "value": "555 0102"},
        {"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Way"},
        {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
        {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
        {"op": "replace", "path": "addresses[type eq \"work\"].country", "value": "US"},
    )
    out = run(body, doc).doc
    assert out["emails"] == [{"value": "w@x.com", "type": "work", "primary": True}]
    assert out["phoneNumbers"] == [
        {"type": "work", "value": "555 0100"},
        {"type": "mobile", "value": "555 0101"},
        {"type": "fax", "value": "555 0102"},
    ]
    assert out["addresses"] == [{"type": "work", "streetAddress": "1 Way", "locality": "Redmond",
                                 "postalCode": "98052", "country": "US"}]
    checked(body, doc)


def test_postman_56_replace_username() -> None:
    body = {"schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "userName", "value": "newusername"}]}
    assert run(body).doc["userName"] == "newusername"


def test_postman_57_replace_active_with_boolean() -> None:
    body = {"schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": False}]}
    assert run(body).doc["active"] is False


def test_postman_67_68_add_member_as_bare_string_with_top_level_id() -> None:
    first = {"id": "g1", "Operations": [{"op": "add", "path": "members",
                                         "value": "string id 1"}], "schemas": [PATCH_OP]}
    second = {"id": "g1", "Operations": [{"op": "add", "path": "members",
                                          "value": "string id 2"}], "schemas": [PATCH_OP]}
    r1 = run(first, rtype=GROUP)
    r2 = run(second, rtype=GROUP)
    assert r1.members == MemberChanges(add=["string id 1"], remove=[], replace=None)
    assert r2.members == MemberChanges(add=["string id 2"], remove=[], replace=None)


def test_postman_27_add_member_with_display_name() -> None:
    body = ops_body({"op": "add", "path": "members",
                     "value": [{"displayName": "new User", "value": "id4"}]})
    assert run(body, rtype=GROUP).members == MemberChanges(["id4"], [], None)


def test_postman_31_remove_all_members() -> None:
    result = run(ops_body({"op": "remove", "path": "members"}), rtype=GROUP)
    assert result.members == MemberChanges(add=[], remove=[], replace=[])
    assert result.members.apply_to({"a", "b"}) == set()


# =============================================================================================
# Members: never remove-all by accident
# =============================================================================================


@pytest.mark.parametrize("value", [
    [{"value": "u1"}, {"value": "u2"}],
    [{"$ref": None, "value": "u1"}, {"$ref": None, "value": "u2"}],
    ["u1", "u2"],
    [{"value": "u1", "display": "One", "type": "User"}, "u2"],
])
def test_member_remove_with_value_list_removes_only_those(value: Any) -> None:
    body = ops_body({"op": "Remove", "path": "members", "value": value})
    result = run(body, rtype=GROUP)
    assert result.members is not None
    assert result.members.replace is None
    assert result.members.remove == ["u1", "u2"]
    assert result.members.apply_to({"u1", "u2", "u3"}) == {"u3"}


def test_member_remove_with_empty_list_removes_nobody() -> None:
    result = run(ops_body({"op": "remove", "path": "members", "value": []}), rtype=GROUP)
    assert result.members is None or result.members.apply_to({"a"}) == {"a"}


def test_member_remove_with_or_filter() -> None:
    body = ops_body({"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"})
    assert run(body, rtype=GROUP).members == MemberChanges([], ["a", "b"], None)


def test_member_remove_with_unquoted_numeric_id() -> None:
    body = ops_body({"op": "remove", "path": "members[value eq 12345]"})
    assert run(body, rtype=GROUP).members == MemberChanges([], ["12345"], None)


@pytest.mark.parametrize("path", [
    "members[type eq \"User\"]",
    "members[value ne \"a\"]",
    "members[value co \"a\"]",
    "members[value pr]",
    "members[not (value eq \"a\")]",
    "members[value eq \"a\" and type eq \"User\"]",
])
def test_member_remove_with_unsupported_filter_is_refused_not_widened(path: str) -> None:
    err = error(ops_body({"op": "remove", "path": path}), rtype=GROUP)
    assert err.scim_type == "invalidFilter"


@pytest.mark.parametrize("value", [
    [{"$ref": None}],
    [{"value": ""}],
    [{"value": None}],
    [{"value": 7}],
    [{"value": {"value": "x"}}],
    [[]],
    "",
    {},
    True,
])
@pytest.mark.parametrize("op", ["add", "remove", "replace"])
def test_malformed_member_values_are_invalid_value(value: Any, op: str) -> None:
    err = error(ops_body({"op": op, "path": "members", "value": value}), rtype=GROUP)
    assert err.scim_type == "invalidValue"


def test_member_add_then_remove_then_add_nets_out() -> None:
    body = ops_body(
        {"op": "Add", "path": "members", "value": [{"value": "a"}]},
        {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
        {"op": "Add", "path": "members", "value": [{"value": "b"}]},
        {"op": "Add", "path": "members", "value": [{"value": "b"}]},
    )
    changes = run(body, rtype=GROUP).members
    assert changes == MemberChanges(add=["b"], remove=["a"], replace=None)


def test_member_replace_then_add_and_remove() -> None:
    body = ops_body(
        {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "add", "path": "members", "value": [{"value": "c"}]},
        {"op": "remove", "path": "members[value eq \"a\"]"},
    )
    changes = run(body, rtype=GROUP).members
    assert changes == MemberChanges(add=[], remove=[], replace=["b", "c"])


@pytest.mark.parametrize("value", [[], None])
def test_member_replace_with_empty_or_null_means_no_members(value: Any) -> None:
    changes = run(ops_body({"op": "replace", "path": "members", "value": value}),
                  rtype=GROUP).members
    assert changes == MemberChanges([], [], [])


@pytest.mark.parametrize("value", [[], None])
def test_member_add_with_nothing_is_a_no_op(value: Any) -> None:
    result = run(ops_body({"op": "add", "path": "members", "value": value}), rtype=GROUP)
    assert result.members is None


def test_pathless_group_replace_with_members_and_display_name() -> None:
    body = ops_body({"op": "replace", "value": {
        "id": "ignored", "displayName": "New", "members": [{"value": "x"}]}})
    result = run(body, rtype=GROUP)
    assert result.doc["displayName"] == "New"
    assert result.doc["id"] == GROUP_DOC["id"]
    assert result.members == MemberChanges([], [], ["x"])


@pytest.mark.parametrize("operation", [
    {"op": "add", "path": "members[value eq \"a\"]", "value": [{"value": "a"}]},
    {"op": "replace", "path": "members[value eq \"a\"]", "value": {"value": "b"}},
    {"op": "replace", "path": "members.value", "value": "a"},
    {"op": "remove", "path": "members[value eq \"a\"].display"},
])
def test_member_paths_that_are_not_supported(operation: dict[str, Any]) -> None:
    assert error(ops_body(operation), rtype=GROUP).scim_type == "invalidPath"


def test_group_doc_members_key_is_never_touched() -> None:
    doc = dict(GROUP_DOC, members=[{"value": "kept"}])
    result = run(ops_body({"op": "remove", "path": "members"}), doc, GROUP)
    assert result.doc["members"] == [{"value": "kept"}]
    assert result.members == MemberChanges([], [], [])


def test_members_on_a_user_is_not_a_membership() -> None:
    # No User schema declares `members`: it is an undeclared attribute like any other, kept
    # whole as sent (no member changes), and refused by a type that refuses those.
    result = run(ops_body({"op": "add", "path": "members", "value": "x"}))
    assert result.doc["members"] == "x"
    assert result.members is None
    err = error(ops_body({"op": "add", "path": "members", "value": "x"}), USER_DOC, STRICT_USER)
    assert err.scim_type == "invalidValue"
    assert err.detail.startswith("members is not declared")


# =============================================================================================
# Null and empty-string updates (Entra's null, the gallery validation's null-update test)
# =============================================================================================

NULLABLE_PATHS = [
    "displayName",
    "title",
    "nickName",
    "name.givenName",
    "emails[type eq \"work\"].value",
    "phoneNumbers[type eq \"work\"].value",
    "addresses[type eq \"work\"].country",
    f"{ENTERPRISE_URN}:department",
    f"{ENTERPRISE_URN}:employeeNumber",
    "manager",
]


def _read(doc: dict[str, Any], path: str) -> Any:
    """What a client would read back at `path` (None = absent)."""
    if path == "manager":
        return ent(doc).get("manager")
    if path.startswith(ENTERPRISE_URN):
        return ent(doc).get(path.rsplit(":", 1)[1])
    if "[" in path:
        attr = path.split("[")[0]
        kind = path.split('"')[1]
        sub = path.rsplit(".", 1)[1]
        for element in doc.get(attr, []):
            if element.get("type") == kind and sub in element:
                return element[sub]
        return None
    if "." in path:
        attr, sub = path.split(".")
        return doc.get(attr, {}).get(sub)
    return doc.get(path)


@pytest.mark.parametrize("path", NULLABLE_PATHS)
@pytest.mark.parametrize("blank", ["", None])
@pytest.mark.parametrize("op", ["Replace", "add"])
def test_null_update_reads_back_absent(path: str, blank: Any, op: str) -> None:
    doc = dict(USER_DOC, title="Boss", nickName="Bo")
    out = run(ops_body({"op": op, "path": path, "value": blank}), doc).doc
    assert _read(out, path) is None
    assert checked(ops_body({"op": op, "path": path, "value": blank}), doc) is not None


def test_null_update_gallery_sequence_empty_strings_then_nulls() -> None:
    doc = dict(USER_DOC, title="Boss")
    empties = ops_body(*({"op": "Replace", "path": p, "value": ""} for p in NULLABLE_PATHS))
    nulls = ops_body(*({"op": "Replace", "path": p, "value": None} for p in NULLABLE_PATHS))
    after_empty = run(empties, doc).doc
    after_null = run(nulls, after_empty).doc
    for path in NULLABLE_PATHS:
        assert _read(after_empty, path) is None
        assert _read(after_null, path) is None
    # The work email/phone/address that only held the cleared value are gone entirely, not
    # left as {"type": "work"}.
    assert "emails" not in after_empty
    assert "phoneNumbers" not in after_empty
    assert "addresses" not in after_empty
    assert checked(nulls, after_empty) is not None


def test_pathless_null_values_remove_those_attributes() -> None:
    body = ops_body({"op": "replace", "value": {
        "displayName": None, "name.familyName": "", "title": "New",
        ENTERPRISE_URN: {"department": None}}})
    out = run(body).doc
    assert "displayName" not in out
    assert out["name"] == {"formatted": "givenName familyName", "givenName": "givenName"}
    assert out["title"] == "New"
    assert "department" not in ent(out)


def test_null_inside_an_object_value_removes_that_sub_attribute() -> None:
    body = ops_body({"op": "replace", "path": "name",
                     "value": {"givenName": None, "middleName": "Q", "familyName": ""}})
    assert run(body).doc["name"] == {"formatted": "givenName familyName", "middleName": "Q"}


def test_core_schema_urn_with_null_is_refused_not_a_wipe() -> None:
    body = ops_body({"op": "replace", "value": {USER_URN: None}})
    assert error(body).scim_type == "invalidValue"


def test_extension_null_in_pathless_value_removes_the_extension() -> None:
    body = ops_body({"op": "replace", "value": {ENTERPRISE_URN: None}})
    assert ENTERPRISE_URN not in run(body).doc


# =============================================================================================
# RFC 7644 §3.5.2.1 add
# =============================================================================================


def test_add_multi_valued_appends_and_skips_existing_values() -> None:
    body = ops_body({"op": "add", "path": "emails", "value": [
        {"value": "home@x.com", "type": "home"},
        {"value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com", "type": "work"},
    ]})
    out = run(body).doc
    assert out["emails"] == [USER_DOC["emails"][0], {"value": "home@x.com", "type": "home"}]


def test_add_single_element_object_to_multi_valued() -> None:
    body = ops_body({"op": "add", "path": "phoneNumbers",
                     "value": {"value": "+1 555", "type": "mobile"}})
    assert run(body).doc["phoneNumbers"][-1] == {"value": "+1 555", "type": "mobile"}


def test_add_bare_value_to_multi_valued_with_value_sub_attribute() -> None:
    body = ops_body({"op": "add", "path": "emails", "value": ["plain@x.com"]})
    assert run(body).doc["emails"][-1] == {"value": "plain@x.com"}


def test_add_empty_list_is_a_no_op() -> None:
    assert run(ops_body({"op": "add", "path": "emails", "value": []})).doc == USER_DOC


def test_add_complex_single_valued_merges() -> None:
    body = ops_body({"op": "add", "path": "name", "value": {"middleName": "M", "GivenName": "G"}})
    assert run(body).doc["name"] == {"formatted": "givenName familyName",
                                     "familyName": "familyName", "givenName": "G",
                                     "middleName": "M"}


def test_add_sub_attribute_creates_complex() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k != "name"}
    assert run(ops_body({"op": "add", "path": "name.givenName", "value": "G"}), doc).doc[
        "name"] == {"givenName": "G"}


def test_pathless_add_merges_into_resource() -> None:
    body = ops_body({"op": "add", "value": {
        "nickName": "Nick", "emails": [{"value": "h@x.com", "type": "home"}],
        "name": {"middleName": "M"}}})
    out = run(body).doc
    assert out["nickName"] == "Nick"
    assert len(out["emails"]) == 2
    assert out["name"]["middleName"] == "M"
    assert out["name"]["givenName"] == "givenName"


def test_add_extension_attribute_creates_extension_object() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k != ENTERPRISE_URN}
    body = ops_body({"op": "add", "path": f"{ENTERPRISE_URN}:costCenter", "value": "CC1"})
    assert run(body, doc).doc[ENTERPRISE_URN] == {"costCenter": "CC1"}


def test_add_whole_extension_path_with_object() -> None:
    body = ops_body({"op": "add", "path": ENTERPRISE_URN,
                     "value": {"department": "x", "Division": "d"}})
    out = ent(run(body).doc)
    assert out["department"] == "x"
    assert out["division"] == "d"
    assert out["employeeNumber"] == "701984"


def test_add_with_value_filter_behaves_like_replace() -> None:
    body = ops_body({"op": "add", "path": "emails[type eq \"work\"].value", "value": "n@x.com"})
    assert run(body).doc["emails"] == [{"value": "n@x.com", "type": "work", "primary": True}]


def test_add_primary_true_clears_other_primaries() -> None:
    body = ops_body({"op": "add", "path": "emails",
                     "value": [{"value": "h@x.com", "type": "home", "primary": "True"}]})
    out = run(body).doc
    assert out["emails"] == [
        {"value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
         "type": "work", "primary": False},
        {"value": "h@x.com", "type": "home", "primary": True},
    ]


def test_add_number_to_string_attribute_is_stored_as_text() -> None:
    body = ops_body({"op": "add", "path": f"{ENTERPRISE_URN}:employeeNumber", "value": 42})
    assert ent(run(body).doc)["employeeNumber"] == "42"


# =============================================================================================
# RFC 7644 §3.5.2.3 replace
# =============================================================================================


def test_replace_multi_valued_without_filter_replaces_the_list() -> None:
    body = ops_body({"op": "replace", "path": "emails",
                     "value": [{"value": "only@x.com", "type": "work"}]})
    assert run(body).doc["emails"] == [{"value": "only@x.com", "type": "work"}]


def test_replace_multi_valued_with_empty_list_removes_it() -> None:
    assert "emails" not in run(ops_body({"op": "replace", "path": "emails", "value": []})).doc


def test_replace_filter_updates_every_matching_element_only() -> None:
    doc = dict(USER_DOC, emails=[
        {"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"},
        {"value": "c@x", "type": "WORK"}])
    out = run(ops_body({"op": "replace", "path": "emails[type eq \"work\"].value",
                        "value": "n@x"}), doc).doc
    assert out["emails"] == [{"value": "n@x", "type": "work"}, {"value": "b@x", "type": "home"},
                             {"value": "n@x", "type": "WORK"}]


def test_replace_filter_creates_element_from_and_of_eqs() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k != "emails"}
    body = ops_body({"op": "replace",
                     "path": "emails[type eq \"work\" and primary eq true].value",
                     "value": "w@x"})
    assert run(body, doc).doc["emails"] == [{"type": "work", "primary": True, "value": "w@x"}]


def test_replace_roles_primary_filter_creates_boolean_primary() -> None:
    body = ops_body({"op": "replace", "path": "roles[primary eq \"True\"].value",
                     "value": "Admin"})
    assert run(body).doc["roles"] == [{"primary": True, "value": "Admin"}]


def test_replace_filter_matches_string_boolean_against_stored_boolean() -> None:
    doc = dict(USER_DOC, roles=[{"value": "Old", "primary": True}, {"value": "Other"}])
    body = ops_body({"op": "replace", "path": "roles[primary eq \"True\"].value",
                     "value": "New"})
    assert run(body, doc).doc["roles"] == [{"value": "New", "primary": True},
                                           {"value": "Other"}]


def test_replace_filter_without_sub_merges_object_into_matches() -> None:
    body = ops_body({"op": "replace", "path": "emails[type eq \"work\"]",
                     "value": {"value": "m@x", "display": "Work"}})
    assert run(body).doc["emails"] == [{"value": "m@x", "type": "work", "primary": True,
                                        "display": "Work"}]


def test_replace_filter_without_sub_creates_when_nothing_matches() -> None:
    body = ops_body({"op": "replace", "path": "emails[type eq \"home\"]",
                     "value": {"value": "h@x"}})
    assert run(body).doc["emails"][-1] == {"type": "home", "value": "h@x"}


def test_replace_filter_that_cannot_seed_an_element_is_no_target() -> None:
    body = ops_body({"op": "replace", "path": "emails[value co \"nomatch\"].value",
                     "value": "x"})
    assert error(body).scim_type == "noTarget"


def test_replace_filter_eq_that_contradicts_itself_is_no_target() -> None:
    body = ops_body({"op": "replace",
                     "path": "emails[type eq \"a\" and type eq \"b\"].value", "value": "x"})
    assert error(body).scim_type == "noTarget"


def test_replace_sub_attribute_of_multi_valued_without_filter_sets_all() -> None:
    doc = dict(USER_DOC, emails=[{"value": "a", "type": "work"}, {"value": "b", "type": "home"}])
    out = run(ops_body({"op": "replace", "path": "emails.display", "value": "D"}), doc).doc
    assert out["emails"] == [{"value": "a", "type": "work", "display": "D"},
                             {"value": "b", "type": "home", "display": "D"}]


def test_replace_is_case_insensitive_on_names_and_writes_canonical_names() -> None:
    body = ops_body(
        {"op": "REPLACE", "path": "NAME.GIVENNAME", "value": "G"},
        {"op": "Replace", "path": "Emails[Type eq \"Work\"].Value", "value": "e@x"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:"
                                  "DEPARTMENT", "value": "D"},
        {"op": "replace", "path": "DisplayName", "value": "DN"},
    )
    out = run(body).doc
    assert out["name"]["givenName"] == "G"
    assert out["emails"][0]["value"] == "e@x"
    assert ent(out)["department"] == "D"
    assert out["displayName"] == "DN"
    assert "DisplayName" not in out
    assert "Department" not in ent(out)


def test_replace_object_value_keys_are_canonicalised() -> None:
    body = ops_body({"op": "replace", "path": "emails",
                     "value": [{"Value": "a@x", "TYPE": "work", "Primary": "true",
                                "unknownKey": "dropped"}]})
    assert run(body).doc["emails"] == [{"value": "a@x", "type": "work", "primary": True}]


def test_replace_site_is_structural_here_and_refused_by_check_update() -> None:
    body = ops_body({"op": "replace", "path": f"{EIGHT_BY_EIGHT_URN}:site", "value": "London"})
    assert run(body).doc[EIGHT_BY_EIGHT_URN] == {"site": "London"}
    with pytest.raises(ScimError) as info:
        checked(body)
    assert info.value.scim_type == "mutability"


# =============================================================================================
# RFC 7644 §3.5.2.2 remove
# =============================================================================================


def test_remove_attribute() -> None:
    assert "displayName" not in run(ops_body({"op": "remove", "path": "displayName"})).doc


def test_remove_sub_attribute_and_drop_empty_complex() -> None:
    doc = dict(USER_DOC, name={"givenName": "G"})
    out = run(ops_body({"op": "remove", "path": "name.givenName"}), doc).doc
    assert "name" not in out


def test_remove_matching_elements() -> None:
    doc = dict(USER_DOC, emails=[{"value": "a", "type": "work"}, {"value": "b", "type": "home"}])
    out = run(ops_body({"op": "remove", "path": "emails[type eq \"work\"]"}), doc).doc
    assert out["emails"] == [{"value": "b", "type": "home"}]


def test_remove_last_matching_element_drops_the_attribute() -> None:
    out = run(ops_body({"op": "remove", "path": "emails[type eq \"work\"]"})).doc
    assert "emails" not in out


def test_remove_sub_attribute_of_matching_elements() -> None:
    doc = dict(USER_DOC, emails=[{"value": "a", "type": "work", "display": "A"},
                                 {"value": "b", "type": "home", "display": "B"}])
    out = run(ops_body({"op": "remove", "path": "emails[type eq \"work\"].display"}), doc).doc
    assert out["emails"] == [{"value": "a", "type": "work"},
                             {"value": "b", "type": "home", "display": "B"}]


def test_remove_value_of_matching_element_drops_element_left_with_type_and_primary() -> None:
    out = run(ops_body({"op": "remove", "path": "emails[type eq \"work\"].value"})).doc
    assert "emails" not in out


def test_remove_multi_valued_with_value_list_removes_matching_elements_only() -> None:
    doc = dict(USER_DOC, roles=[{"value": "a"}, {"value": "b", "display": "B"}, {"value": "c"}])
    body = ops_body({"op": "Remove", "path": "roles", "value": [{"value": "b"}, {"value": "c"}]})
    assert run(body, doc).doc["roles"] == [{"value": "a"}]


def test_remove_multi_valued_with_value_naming_nothing_is_refused() -> None:
    body = ops_body({"op": "Remove", "path": "roles", "value": [{"display": None}]})
    assert error(body).scim_type == "invalidValue"


@pytest.mark.parametrize("path", [
    "nickName", "name.middleName", "emails[type eq \"other\"]",
    "emails[type eq \"other\"].value", f"{ENTERPRISE_URN}:costCenter", "x509Certificates",
    "ims[type eq \"skype\"].value",
])
def test_remove_missing_target_is_a_no_op(path: str) -> None:
    assert run(ops_body({"op": "remove", "path": path})).doc == USER_DOC


def test_remove_from_missing_extension_is_a_no_op() -> None:
    doc = {k: v for k, v in USER_DOC.items() if k != ENTERPRISE_URN}
    assert run(ops_body({"op": "remove", "path": f"{ENTERPRISE_URN}:department"}), doc).doc == doc


def test_remove_whole_extension() -> None:
    out = run(ops_body({"op": "remove", "path": ENTERPRISE_URN})).doc
    assert ENTERPRISE_URN not in out
    assert out[EIGHT_BY_EIGHT_URN] == {"site": "Paris"}


def test_remove_is_idempotent() -> None:
    body = ops_body({"op": "remove", "path": "emails[type eq \"work\"]"},
                    {"op": "remove", "path": "title"})
    once = run(body).doc
    assert run(body, once).doc == once


# =============================================================================================
# Errors
# =============================================================================================


@pytest.mark.parametrize(("operation", "scim_type"), [
    ({"op": "replace", "path": "nosuchattr.sub", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "nosuchattr[value eq \"x\"]", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "name.nosuch", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "userName.sub", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "urn:example:unknown:2.0:Device:x", "value": "x"},
     "invalidPath"),
    ({"op": "replace", "path": "password", "value": "secret"}, "invalidPath"),
    ({"op": "replace", "path": "emails[type eq \"work\"].nosuch", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "name[givenName eq \"x\"]", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "userName[value eq \"x\"]", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "manager[value eq \"x\"]", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}, "invalidFilter"),
    ({"op": "replace", "path": "emails..value", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "userName", "value": {"value": "x"}}, "invalidValue"),
    ({"op": "replace", "path": "userName", "value": ["x"]}, "invalidValue"),
    ({"op": "replace", "path": "name", "value": "just a string"}, "invalidValue"),
    ({"op": "replace", "path": "name.givenName", "value": {"x": 1}}, "invalidValue"),
    ({"op": "replace", "path": "emails", "value": [[1]]}, "invalidValue"),
    ({"op": "replace", "path": "emails[type eq \"work\"].value", "value": ["a"]},
     "invalidValue"),
    ({"op": "add", "path": "emails", "value": [{"value": {"nested": 1}}]}, "invalidValue"),
    ({"op": "replace", "path": "id", "value": "new"}, "mutability"),
    ({"op": "remove", "path": "id"}, "mutability"),
    ({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}, "mutability"),
    ({"op": "add", "path": "groups", "value": [{"value": "g"}]}, "mutability"),
    ({"op": "remove", "path": "groups[value eq \"g\"]"}, "mutability"),
    ({"op": "remove"}, "noTarget"),
    ({"op": "add", "value": "not an object"}, "invalidValue"),
    ({"op": "replace", "value": [{"userName": "x"}]}, "invalidValue"),
    ({"op": "replace", "value": {ENTERPRISE_URN: "not an object"}}, "invalidValue"),
    ({"op": "replace", "value": {"nosuch.sub": 1}}, "invalidPath"),
])
def test_errors(operation: dict[str, Any], scim_type: str) -> None:
    err = error(ops_body(operation))
    assert err.scim_type == scim_type
    assert err.detail  # actionable text, asserted loosely


@pytest.mark.parametrize(("operation", "key", "stored"), [
    ({"op": "replace", "path": "nosuchattr", "value": "x"}, None, ("nosuchattr", "x")),
    ({"op": "replace", "value": {"nosuch": 1}}, None, ("nosuch", 1)),
    ({"op": "replace", "path": "urn:example:unknown:2.0:User:x", "value": "x"},
     "urn:example:unknown:2.0:User", ("x", "x")),
    ({"op": "replace", "path": f"{ENTERPRISE_URN}:nosuch", "value": "x"},
     ENTERPRISE_URN, ("nosuch", "x")),
])
def test_undeclared_attributes_are_captured_or_refused_by_policy(
    operation: dict[str, Any], key: str | None, stored: tuple[str, Any]
) -> None:
    doc = checked(ops_body(operation))
    name, value = stored
    assert (doc if key is None else doc[key])[name] == value
    err = error(ops_body(operation), USER_DOC, STRICT_USER)
    assert err.scim_type == "invalidValue"
    assert name in err.detail
    assert "declare it with: python -m shared.admin schema add TENANT FILE.json" in err.detail


def test_a_sub_path_of_an_undeclared_attribute_says_to_declare_it() -> None:
    err = error(ops_body({"op": "replace", "path": "nosuchattr.sub", "value": "x"}))
    assert "nosuchattr" in err.detail
    assert "schema add" in err.detail


def test_one_bad_operation_fails_the_whole_patch() -> None:
    body = ops_body({"op": "replace", "path": "displayName", "value": "ok"},
                    {"op": "replace", "path": "id", "value": "x"})
    assert error(body).scim_type == "mutability"


def test_schemas_operations_are_ignored() -> None:
    body = ops_body({"op": "replace", "path": "schemas", "value": ["x"]},
                    {"op": "add", "value": {"schemas": ["y"], "title": "T"}})
    out = run(body).doc
    assert out["schemas"] == USER_DOC["schemas"]
    assert out["title"] == "T"


def test_pathless_read_only_keys_are_ignored_like_put() -> None:
    body = ops_body({"op": "replace", "value": {
        "id": "other", "meta": {"resourceType": "User"}, "groups": [{"value": "g"}],
        "displayName": "D"}})
    out = run(body).doc
    assert out["id"] == USER_DOC["id"]
    assert out["meta"] == USER_DOC["meta"]
    assert "groups" not in out
    assert out["displayName"] == "D"


# =============================================================================================
# apply_patch used directly (operations not produced by the dialect)
# =============================================================================================


def op(name: str, path: str | None, value: Any = None) -> PatchOperation:
    return PatchOperation(name, parse_patch_path(path) if path is not None else None, value)


def test_direct_pathless_add_with_nested_extension_object() -> None:
    result = apply_patch(USER_DOC, [op("add", None, {ENTERPRISE_URN: {"division": "D"}})], USER)
    assert ent(result.doc)["division"] == "D"


def test_direct_null_value_is_removal() -> None:
    result = apply_patch(USER_DOC, [op("replace", "displayName", None)], USER)
    assert "displayName" not in result.doc


def test_direct_unknown_op_is_invalid_syntax() -> None:
    with pytest.raises(ScimError) as info:
        apply_patch(USER_DOC, [op("delete", "displayName")], USER)
    assert info.value.scim_type == "invalidSyntax"


def test_direct_add_members_without_value_is_invalid_value() -> None:
    with pytest.raises(ScimError) as info:
        apply_patch(GROUP_DOC, [op("add", "members")], GROUP)
    assert info.value.scim_type == "invalidValue"


def test_direct_remove_without_path_is_no_target() -> None:
    with pytest.raises(ScimError) as info:
        apply_patch(USER_DOC, [op("remove", None)], USER)
    assert info.value.scim_type == "noTarget"


def test_direct_replace_whole_extension_and_remove_it() -> None:
    result = apply_patch(USER_DOC, [op("replace", ENTERPRISE_URN, {"department": "Z"}),
                                    op("remove", EIGHT_BY_EIGHT_URN)], USER)
    assert ent(result.doc)["department"] == "Z"
    assert ent(result.doc)["employeeNumber"] == "701984"
    assert EIGHT_BY_EIGHT_URN not in result.doc


def test_empty_op_list_returns_equal_copy() -> None:
    result = apply_patch(USER_DOC, [], USER)
    assert result.doc == USER_DOC
    assert result.doc is not USER_DOC
    assert result.members is None


# =============================================================================================
# Copy-on-write and speed
# =============================================================================================


def test_untouched_containers_are_shared_and_touched_ones_copied() -> None:
    result = run(ops_body({"op": "replace", "path": "name.givenName", "value": "G"}))
    assert result.doc["emails"] is USER_DOC["emails"]
    assert result.doc[ENTERPRISE_URN] is USER_DOC[ENTERPRISE_URN]
    assert result.doc["name"] is not USER_DOC["name"]


def test_mutating_the_result_leaves_the_input_alone() -> None:
    doc = copy.deepcopy(USER_DOC)
    result = run(ops_body({"op": "replace", "path": f"{ENTERPRISE_URN}:department",
                           "value": "X"}), doc)
    result.doc[ENTERPRISE_URN]["costCenter"] = "mutated"
    result.doc["emails"][0]["value"] = "changed"  # shared: this is the caller's to avoid
    assert "costCenter" not in doc[ENTERPRISE_URN]


def test_three_op_patch_is_fast() -> None:
    body = ops_body(
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "u@x.com"},
        {"op": "Replace", "path": "name.familyName", "value": "F"},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    ops = normalize_patch(body, USER)
    n = 2000
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            apply_patch(USER_DOC, ops, USER)
        best = min(best, (time.perf_counter() - start) / n)
    # Typically ~10-15 µs here; the bound leaves room for slow CI machines.
    assert best < 100e-6, f"apply_patch took {best * 1e6:.1f} µs"
