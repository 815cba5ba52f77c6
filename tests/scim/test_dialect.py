"""Entra's PATCH dialect -> RFC 7644 operations: the envelope, and each quirk listed in
`shared.scim.dialect` (op casing, path-less dotted keys, string booleans, manager, roles,
members, null updates) at the level of the operations `normalize_patch` produces."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scim.dialect import MAX_OPERATIONS, PATCH_OP_URN, normalize_patch
from shared.scim.errors import ScimError
from shared.scim.patch_operation import PatchOperation
from shared.scim.patch_path import PatchPath
from shared.scim.schemas import EIGHT_BY_EIGHT_URN, ENTERPRISE_URN, GROUP, USER

MANAGER = f"{ENTERPRISE_URN}:manager"


def body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_URN], "Operations": list(ops)}


def norm(*ops: dict[str, Any], rtype: Any = USER) -> list[PatchOperation]:
    return normalize_patch(body(*ops), rtype)


def shapes(ops: list[PatchOperation]) -> list[tuple[str, str | None, Any]]:
    """(op, path text, value): easy to compare."""
    return [(o.op, str(o.path) if o.path is not None else None, o.value) for o in ops]


def fails(raw: Any, rtype: Any = USER) -> ScimError:
    with pytest.raises(ScimError) as info:
        normalize_patch(raw, rtype)
    assert info.value.status == 400
    return info.value


# -- envelope ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], "text", 3, [{"op": "add"}]])
def test_body_must_be_an_object(raw: Any) -> None:
    assert fails(raw).scim_type == "invalidSyntax"


def test_missing_schemas_is_tolerated() -> None:
    ops = normalize_patch({"Operations": [{"op": "add", "path": "title", "value": "T"}]}, USER)
    assert shapes(ops) == [("add", "title", "T")]


def test_empty_schemas_list_is_tolerated() -> None:
    raw = {"schemas": [], "Operations": [{"op": "add", "path": "title", "value": "T"}]}
    assert len(normalize_patch(raw, USER)) == 1


def test_schemas_urn_matched_case_insensitively() -> None:
    raw = {"schemas": [PATCH_OP_URN.upper()],
           "Operations": [{"op": "add", "path": "title", "value": "T"}]}
    assert len(normalize_patch(raw, USER)) == 1


@pytest.mark.parametrize("schemas", [PATCH_OP_URN, {"x": 1}, None, 5])
def test_schemas_must_be_a_list(schemas: Any) -> None:
    raw = {"schemas": schemas, "Operations": [{"op": "add", "path": "title", "value": "T"}]}
    assert fails(raw).scim_type == "invalidSyntax"


def test_schemas_without_patchop_urn_is_refused() -> None:
    raw = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
           "Operations": [{"op": "add", "path": "title", "value": "T"}]}
    err = fails(raw)
    assert err.scim_type == "invalidSyntax"
    assert PATCH_OP_URN in err.detail


@pytest.mark.parametrize("key", ["Operations", "operations", "OPERATIONS", "oPeRaTiOnS"])
def test_operations_key_is_case_insensitive(key: str) -> None:
    raw = {"schemas": [PATCH_OP_URN], key: [{"op": "add", "path": "title", "value": "T"}]}
    assert len(normalize_patch(raw, USER)) == 1


@pytest.mark.parametrize("raw", [
    {"schemas": [PATCH_OP_URN]},
    {"schemas": [PATCH_OP_URN], "Operations": []},
    {"schemas": [PATCH_OP_URN], "Operations": None},
    {"schemas": [PATCH_OP_URN], "Operations": {"op": "add"}},
    {"schemas": [PATCH_OP_URN], "Operations": "add"},
])
def test_operations_must_be_a_non_empty_list(raw: dict[str, Any]) -> None:
    err = fails(raw)
    assert err.scim_type == "invalidSyntax"
    assert "Operations" in err.detail


def test_too_many_operations() -> None:
    raw = body(*([{"op": "add", "path": "title", "value": "T"}] * (MAX_OPERATIONS + 1)))
    assert fails(raw).scim_type == "invalidSyntax"


@pytest.mark.parametrize("entry", [None, "add", 1, ["add", "title"]])
def test_each_operation_must_be_an_object(entry: Any) -> None:
    err = fails(body(entry))
    assert err.scim_type == "invalidSyntax"
    assert "Operations[0]" in err.detail


@pytest.mark.parametrize(("entry", "named"), [
    ({"op": "delete", "path": "title"}, '"delete"'),
    ({"op": "Update", "path": "title", "value": "x"}, '"Update"'),
    ({"op": "", "path": "title"}, '""'),
    ({"op": 1, "path": "title"}, "1"),
    ({"op": None, "path": "title"}, "null"),
    ({"path": "title", "value": "x"}, "missing"),
])
def test_bad_op_is_invalid_syntax_naming_it(entry: dict[str, Any], named: str) -> None:
    err = fails(body({"op": "add", "path": "title", "value": "ok"}, entry))
    assert err.scim_type == "invalidSyntax"
    assert named in err.detail
    assert "Operations[1]" in err.detail


@pytest.mark.parametrize(("spelled", "canonical"), [
    ("Add", "add"), ("ADD", "add"), ("add", "add"), ("Replace", "replace"),
    ("REPLACE", "replace"), ("replace", "replace"), ("Remove", "remove"), ("remove", "remove"),
    ("REMOVE", "remove"), (" Replace ", "replace"),
])
def test_op_is_case_insensitive(spelled: str, canonical: str) -> None:
    (op,) = norm({"op": spelled, "path": "title", "value": "T"})
    assert op.op == canonical


def test_operation_member_names_are_case_insensitive() -> None:
    ops = norm({"OP": "Replace", "Path": "title", "Value": "T"})
    assert shapes(ops) == [("replace", "title", "T")]


@pytest.mark.parametrize("path", [1, ["title"], {"a": 1}, True])
def test_path_must_be_a_string(path: Any) -> None:
    assert fails(body({"op": "add", "path": path, "value": "x"})).scim_type == "invalidSyntax"


@pytest.mark.parametrize("path", [None, "", "   "])
def test_blank_path_means_no_path(path: Any) -> None:
    ops = norm({"op": "replace", "path": path, "value": {"title": "T"}})
    assert shapes(ops) == [("replace", "title", "T")]
    err = fails(body({"op": "remove", "path": path}))
    assert err.scim_type == "noTarget"


def test_remove_without_path_is_no_target() -> None:
    assert fails(body({"op": "Remove", "value": {"title": "x"}})).scim_type == "noTarget"


@pytest.mark.parametrize("value", ["x", 1, ["title"], None, True])
def test_pathless_value_must_be_an_object(value: Any) -> None:
    assert fails(body({"op": "replace", "value": value})).scim_type == "invalidValue"


def test_extra_envelope_members_are_ignored() -> None:
    raw = {"id": "g1", "schemas": [PATCH_OP_URN],
           "Operations": [{"op": "add", "path": "title", "value": "T", "extra": 1}]}
    assert shapes(normalize_patch(raw, USER)) == [("add", "title", "T")]


# -- paths -------------------------------------------------------------------------------


def test_paths_are_parsed() -> None:
    (op,) = norm({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "x"})
    assert isinstance(op.path, PatchPath)
    assert op.path.attr.attr == "emails"
    assert op.path.sub == "value"
    assert op.path.value_filter is not None


@pytest.mark.parametrize(("path", "scim_type"), [
    ("emails[type eq \"work\"", "invalidFilter"),
    ("emails[type zz \"work\"].value", "invalidFilter"),
    ("bad path", "invalidPath"),
    ("name..givenName", "invalidPath"),
    ("nosuch.sub", "invalidPath"),
    ("urn:x:y:z", "invalidPath"),
])
def test_bad_paths(path: str, scim_type: str) -> None:
    assert fails(body({"op": "replace", "path": path, "value": "x"})).scim_type == scim_type


def test_schemas_path_is_dropped() -> None:
    assert norm({"op": "replace", "path": "schemas", "value": ["x"]}) == []


# -- quirk 2: path-less values with dotted and URN keys -----------------------------------


def test_flag_pathless_replace_is_expanded_per_key() -> None:
    ops = norm({
        "op": "replace",
        "value": {
            "displayName": "Bjfe",
            "name.givenName": "Kkom",
            "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
        },
    })
    assert shapes(ops) == [
        ("replace", "displayName", "Bjfe"),
        ("replace", "name.givenName", "Kkom"),
        ("replace", "name.familyName", "Unua"),
        ("replace", f"{ENTERPRISE_URN}:employeeNumber", "Aklq"),
    ]


def test_pathless_extension_object_is_expanded_per_attribute() -> None:
    ops = norm({"op": "add", "value": {ENTERPRISE_URN: {"department": "x", "costCenter": "c"},
                                       "schemas": ["ignored"]}})
    assert shapes(ops) == [("add", f"{ENTERPRISE_URN}:department", "x"),
                           ("add", f"{ENTERPRISE_URN}:costCenter", "c")]


def test_pathless_core_urn_object_is_expanded_as_core_attributes() -> None:
    ops = norm({"op": "add", "value": {"urn:ietf:params:scim:schemas:core:2.0:User": {
        "title": "T"}}})
    assert shapes(ops) == [("add", "title", "T")]


def test_whole_extension_path_is_expanded() -> None:
    ops = norm({"op": "replace", "path": ENTERPRISE_URN, "value": {"department": "x"}})
    assert shapes(ops) == [("replace", f"{ENTERPRISE_URN}:department", "x")]


def test_whole_extension_remove_removes_each_attribute() -> None:
    ops = norm({"op": "remove", "path": EIGHT_BY_EIGHT_URN})
    assert shapes(ops) == [("remove", f"{EIGHT_BY_EIGHT_URN}:site", None)]


def test_pathless_read_only_keys_are_dropped() -> None:
    ops = norm({"op": "replace", "value": {"id": "x", "meta": {}, "groups": [], "title": "T"}})
    assert shapes(ops) == [("replace", "title", "T")]


def test_pathless_undeclared_key_is_kept_as_its_own_operation() -> None:
    # A misspelt name is an undeclared attribute: captured by default, refused by a type that
    # refuses undeclared attributes (see test_undeclared.py).
    assert shapes(norm({"op": "replace", "value": {"titel": "T"}})) == [("replace", "titel", "T")]
    with pytest.raises(ScimError) as info:
        normalize_patch(body({"op": "replace", "value": {"titel": "T"}}),
                        USER.extended(undeclared="reject"))
    assert info.value.scim_type == "invalidValue"
    assert "titel is not declared" in info.value.detail


def test_pathless_sub_key_of_an_undeclared_attribute_is_invalid_path() -> None:
    err = fails(body({"op": "replace", "value": {"titel.x": "T"}}))
    assert err.scim_type == "invalidPath"
    assert "titel" in err.detail


@pytest.mark.parametrize("key", [1, "", "  "])
def test_pathless_bad_key(key: Any) -> None:
    assert fails(body({"op": "replace", "value": {key: "T"}})).scim_type == "invalidValue"


# -- quirk 3: string booleans ------------------------------------------------------------


@pytest.mark.parametrize(("sent", "expected"), [
    ("False", False), ("false", False), ("FALSE", False), ("True", True), ("true", True),
    (" TRUE ", True), (False, False), (True, True),
])
def test_active_string_booleans(sent: Any, expected: bool) -> None:
    (op,) = norm({"op": "Replace", "path": "active", "value": sent})
    assert op.value is expected


def test_non_boolean_strings_for_boolean_targets_are_left_for_validation() -> None:
    (op,) = norm({"op": "Replace", "path": "active", "value": "yes"})
    assert op.value == "yes"


def test_string_boolean_on_string_attribute_is_kept() -> None:
    (op,) = norm({"op": "replace", "path": "displayName", "value": "True"})
    assert op.value == "True"


def test_primary_string_booleans_inside_values() -> None:
    (op,) = norm({"op": "add", "path": "emails",
                  "value": [{"value": "a@x", "Primary": "True"}, {"value": "b@x"}]})
    assert op.value == [{"value": "a@x", "Primary": True}, {"value": "b@x"}]
    (op,) = norm({"op": "replace", "path": "emails[type eq \"work\"].primary",
                  "value": "FALSE"})
    assert op.value is False
    (op,) = norm({"op": "replace", "path": "emails[type eq \"work\"]",
                  "value": {"primary": "true"}})
    assert op.value == {"primary": True}


def test_pathless_boolean_coerced() -> None:
    (op,) = norm({"op": "replace", "value": {"active": "False"}})
    assert op.value is False


# -- quirk 4: manager --------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "id1", {"value": "id1"}, {"VALUE": "id1"}, [{"$ref": "http://.../Users/id1", "value": "id1"}],
    [{"value": "id1"}], ["id1"], {"value": "id1", "$ref": "x", "displayName": "y"},
])
@pytest.mark.parametrize("path", ["manager", "MANAGER", MANAGER, "manager.value"])
def test_manager_values_normalise_to_remove_then_add(value: Any, path: str) -> None:
    if path.endswith(".value") and not isinstance(value, str):
        value = "id1"
    ops = norm({"op": "Add", "path": path, "value": value})
    expected: dict[str, str] = {"value": "id1"}
    if path != "manager.value":
        ref = value[0].get("$ref") if isinstance(value, list) and isinstance(value[0], dict) \
            else value.get("$ref") if isinstance(value, dict) else None
        if ref:
            expected["$ref"] = ref  # kept as sent; displayName (readOnly) is not
    assert shapes(ops) == [("remove", MANAGER, None), ("add", MANAGER, expected)]


def test_manager_numeric_id_becomes_text() -> None:
    ops = norm({"op": "replace", "path": "manager", "value": 12345})
    assert ops[-1].value == {"value": "12345"}


@pytest.mark.parametrize("operation", [
    {"op": "remove", "path": "manager"},
    {"op": "remove", "path": MANAGER, "value": [{"value": "old"}]},
    {"op": "replace", "path": MANAGER, "value": {"value": ""}},
    {"op": "replace", "path": "manager", "value": ""},
    {"op": "replace", "path": "manager", "value": None},
    {"op": "replace", "path": "manager", "value": []},
    {"op": "add", "path": "manager", "value": [None]},
    {"op": "replace", "path": "manager"},
    {"op": "remove", "path": "manager.value"},
])
def test_manager_removals(operation: dict[str, Any]) -> None:
    assert shapes(norm(operation)) == [("remove", MANAGER, None)]


@pytest.mark.parametrize("value", [[{"value": "a"}, {"value": "b"}], {"value": {"x": 1}},
                                   True, {"value": ["a"]}])
def test_manager_bad_values(value: Any) -> None:
    err = fails(body({"op": "replace", "path": "manager", "value": value}))
    assert err.scim_type == "invalidValue"


def test_manager_ref_sub_path_is_plain() -> None:
    ops = norm({"op": "replace", "path": "manager.$ref", "value": "http://x"})
    assert shapes(ops) == [("replace", f"{MANAGER}.$ref", "http://x")]


def test_unqualified_extension_attribute_is_qualified() -> None:
    ops = norm({"op": "replace", "path": "department", "value": "D"},
               {"op": "replace", "path": "site", "value": "S"})
    assert shapes(ops) == [("replace", f"{ENTERPRISE_URN}:department", "D"),
                           ("replace", f"{EIGHT_BY_EIGHT_URN}:site", "S")]


def test_core_attribute_wins_over_extension_qualification() -> None:
    (op,) = norm({"op": "replace", "path": "displayName", "value": "D"})
    assert op.path is not None
    assert op.path.attr.urn is None


# -- quirk 5: roles ----------------------------------------------------------------------


def test_roles_json_encoded_value_is_decoded() -> None:
    (op,) = norm({"op": "Add", "path": "roles", "value": [
        {"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\","
                  "\"displayName\":\"Role1234\"}"}]})
    assert op.value == [{"value": "25", "display": "Role1234"}]


def test_roles_decoding_keeps_outer_members_and_explicit_display() -> None:
    (op,) = norm({"op": "Add", "path": "roles", "value": {
        "primary": "True", "display": "Mine",
        "value": "{\"value\":\"7\",\"displayName\":\"Theirs\",\"type\":\"t\"}"}})
    assert op.value == {"primary": True, "display": "Mine", "value": "7", "type": "t"}


@pytest.mark.parametrize("value", ["Admin", "{not json", "[1, 2]", "{\"a\": 1", "  {}x"])
def test_roles_values_that_are_not_encoded_objects_are_kept(value: str) -> None:
    (op,) = norm({"op": "add", "path": "roles", "value": [{"value": value}]})
    assert op.value == [{"value": value}]


def test_roles_bare_string_elements() -> None:
    (op,) = norm({"op": "add", "path": "roles", "value": ["{\"value\":\"25\"}", "Plain"]})
    assert op.value == [{"value": "25"}, {"value": "Plain"}]


def test_roles_remove_with_encoded_value_is_decoded_too() -> None:
    (op,) = norm({"op": "remove", "path": "roles", "value": [{"value": "{\"value\":\"25\"}"}]})
    assert op.value == [{"value": "25"}]


# -- quirk 6: members --------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    [{"$ref": None, "value": "u1"}],
    [{"value": "u1"}],
    {"value": "u1"},
    "u1",
    ["u1"],
    [{"Value": "u1", "display": "x", "type": "User"}],
])
@pytest.mark.parametrize("op", ["Add", "Remove", "replace"])
def test_member_value_shapes(value: Any, op: str) -> None:
    (out,) = norm({"op": op, "path": "members", "value": value}, rtype=GROUP)
    assert out.op == op.lower()
    stated_type = isinstance(value, list) and isinstance(value[0], dict) and "type" in value[0]
    if stated_type and op != "Remove":
        assert out.value == [{"value": "u1", "type": "User"}]  # kept for the member's $ref
    else:
        assert out.value == [{"value": "u1"}]


def test_member_multi_value() -> None:
    (out,) = norm({"op": "Add", "path": "members",
                   "value": [{"$ref": None, "value": "a"}, {"$ref": None, "value": "b"}]},
                  rtype=GROUP)
    assert out.value == [{"value": "a"}, {"value": "b"}]


def test_member_remove_without_value_is_kept_as_remove_all() -> None:
    (out,) = norm({"op": "remove", "path": "members"}, rtype=GROUP)
    assert (out.op, out.value) == ("remove", None)


def test_member_remove_with_empty_list_names_nobody() -> None:
    assert norm({"op": "remove", "path": "members", "value": []}, rtype=GROUP) == []


def test_member_filter_path_passes_through() -> None:
    (out,) = norm({"op": "remove", "path": "members[value eq \"7f4bc1a3\"]"}, rtype=GROUP)
    assert out.path is not None
    assert out.path.value_filter is not None
    assert out.value is None


@pytest.mark.parametrize("value", [[{"$ref": None}], [{"value": ""}], [{"value": 1}], "", {}])
def test_member_values_naming_nobody_are_refused(value: Any) -> None:
    err = fails(body({"op": "Remove", "path": "members", "value": value}), GROUP)
    assert err.scim_type == "invalidValue"


def test_member_replace_null_means_no_members() -> None:
    (out,) = norm({"op": "replace", "path": "members", "value": None}, rtype=GROUP)
    assert (out.op, out.value) == ("replace", [])


def test_member_add_nothing_is_dropped() -> None:
    assert norm({"op": "add", "path": "members", "value": []}, rtype=GROUP) == []
    assert norm({"op": "add", "path": "members"}, rtype=GROUP) == []


# -- quirk 7: null and empty string ------------------------------------------------------


@pytest.mark.parametrize("blank", [None, ""])
@pytest.mark.parametrize("op", ["Add", "Replace"])
@pytest.mark.parametrize("path", ["title", "name.givenName", "emails[type eq \"work\"].value",
                                  f"{ENTERPRISE_URN}:department", "emails"])
def test_null_and_empty_become_remove(blank: Any, op: str, path: str) -> None:
    (out,) = norm({"op": op, "path": path, "value": blank})
    assert out.op == "remove"
    assert out.value is None
    assert str(out.path) == path


def test_missing_value_on_replace_is_remove() -> None:
    (out,) = norm({"op": "Replace", "path": "title"})
    assert out.op == "remove"


def test_empty_list_is_not_a_remove_for_add() -> None:
    (out,) = norm({"op": "add", "path": "emails", "value": []})
    assert (out.op, out.value) == ("add", [])
