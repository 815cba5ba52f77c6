"""shared.scim.entra_values: Entra's value quirks, as pure functions and as the POST and PATCH
paths read them. The last section pins the inputs one path used to accept and the other
refuse (or read differently): both now give the same result."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.scim.dialect import PATCH_OP_URN, normalize_patch
from shared.scim.entra_values import (
    as_boolean,
    coerce_boolean,
    decode_role,
    decode_roles,
    get_caseless,
    is_absent,
    manager_reference,
    single_element,
    value_object,
)
from shared.scim.errors import ScimError
from shared.scim.patch import apply_patch
from shared.scim.resource import check_update, normalize
from shared.scim.schemas import ENTERPRISE_URN, USER, USER_URN

FAST = settings(max_examples=200, deadline=None)

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)


# -- get_caseless --------------------------------------------------------------------------


def test_get_caseless_prefers_the_exact_spelling() -> None:
    assert get_caseless({"Value": "a", "value": "b"}, "value") == "b"


def test_get_caseless_takes_the_first_other_spelling() -> None:
    assert get_caseless({"VALUE": "a", "Value": "b"}, "value") == "a"


def test_get_caseless_default() -> None:
    assert get_caseless({"other": 1}, "value") is None
    marker = object()
    assert get_caseless({}, "value", marker) is marker


# -- is_absent -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "absent"), [
    (None, True), ("", True), (" ", False), (0, False), (False, False), ([], False),
    ({}, False), ("x", False),
])
def test_is_absent(value: Any, absent: bool) -> None:
    assert is_absent(value) is absent


# -- booleans ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("True", True), ("False", False), ("TRUE", True),
    ("false", False), (" true\t", True), ("\nFalse ", False),
    ("yes", None), ("1", None), ("", None), (1, None), (0, None), (None, None),
    (["true"], None), ({"value": "true"}, None), ("tru e", None),
])
def test_as_boolean(value: Any, expected: bool | None) -> None:
    assert as_boolean(value) is expected


@FAST
@given(st.sampled_from(["true", "false"]), st.lists(st.booleans(), min_size=5, max_size=5),
       st.text(" \t\n", max_size=3), st.text(" \t\n", max_size=3))
def test_as_boolean_reads_any_case_and_surrounding_whitespace(
    word: str, upper: list[bool], before: str, after: str
) -> None:
    text = before + "".join(c.upper() if u else c for c, u in zip(word, upper, strict=False)) \
        + after
    assert as_boolean(text) is (word == "true")


@FAST
@given(st.text(max_size=12))
def test_as_boolean_of_text_is_none_unless_true_or_false(text: str) -> None:
    expected = {"true": True, "false": False}.get(text.strip().lower())
    assert as_boolean(text) is expected


@FAST
@given(json_values)
def test_coerce_boolean_changes_only_boolean_text(value: Any) -> None:
    coerced = coerce_boolean(value)
    if as_boolean(value) is None:
        assert coerced is value
    else:
        assert coerced is as_boolean(value)


# -- single_element and value_object --------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ([{"value": "a"}], {"value": "a"}), (["a"], "a"), ([None], None), ([], []),
    ({"value": "a"}, {"value": "a"}), ("a", "a"), (None, None),
])
def test_single_element(value: Any, expected: Any) -> None:
    assert single_element(value, "manager", "{}") == expected


def test_single_element_refuses_more_than_one() -> None:
    with pytest.raises(ScimError) as info:
        single_element([{"value": "a"}, {"value": "b"}], "manager", '{"value": "<id>"}')
    assert (info.value.status, info.value.scim_type) == (400, "invalidValue")
    assert info.value.detail == ('manager takes a single object, but the request sent a list '
                                 'of 2; send one object, e.g. {"value": "<id>"}.')


@pytest.mark.parametrize(("value", "expected"), [
    ("a@b", {"value": "a@b"}), (5, {"value": 5}), (1.5, {"value": 1.5}), ("", {"value": ""}),
    (True, True), (None, None), ([1], [1]), ({"type": "work"}, {"type": "work"}),
])
def test_value_object(value: Any, expected: Any) -> None:
    assert value_object(value) == expected


# -- manager ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("boss", {"value": "boss"}),
    ({"value": "boss"}, {"value": "boss"}),
    ({"Value": "boss"}, {"value": "boss"}),
    ([{"$ref": "https://x/scim/Users/boss", "value": "boss"}],
     {"value": "boss", "$ref": "https://x/scim/Users/boss"}),
    (["boss"], {"value": "boss"}),
    ({"value": "boss", "$REF": "r", "displayName": "ignored"}, {"value": "boss", "$ref": "r"}),
    ({"value": "boss", "$ref": None}, {"value": "boss"}),
    ({"value": "boss", "$ref": "  "}, {"value": "boss"}),
    (12345, {"value": "12345"}),
    ({"value": 1.5}, {"value": "1.5"}),
    ({"value": True}, {"value": "true"}),
    ({"value": "  "}, {"value": "  "}),
])
def test_manager_reference_shapes(value: Any, expected: dict[str, Any]) -> None:
    assert manager_reference(value) == expected


@pytest.mark.parametrize("value", [
    None, "", [], {}, [None], [""], [{}], {"value": ""}, {"value": None}, {"value": {}},
    {"value": []}, {"$ref": "https://x/scim/Users/boss"},
])
def test_manager_reference_that_names_nobody_is_none(value: Any) -> None:
    assert manager_reference(value) is None


@pytest.mark.parametrize(("value", "fragment"), [
    (True, "manager must be the manager's id"),
    ([[1]], "manager must be the manager's id"),
    ({"value": ["a"]}, "manager's value must be the manager's id as a string"),
    ({"value": {"id": "a"}}, "manager's value must be the manager's id as a string"),
    ([{"value": "a"}, {"value": "b"}], "manager takes a single object"),
])
def test_manager_reference_refuses_what_names_no_id(value: Any, fragment: str) -> None:
    with pytest.raises(ScimError) as info:
        manager_reference(value)
    assert (info.value.status, info.value.scim_type) == (400, "invalidValue")
    assert fragment in info.value.detail


# -- roles -----------------------------------------------------------------------------------

# Verbatim from the SingleAppRoleAssignment PATCH example on Microsoft Learn
# (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes).
ENTRA_ROLE = {"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\","
                       "\"displayName\":\"Role1234\"}"}


def test_decode_role_entra_example() -> None:
    assert decode_role(ENTRA_ROLE) == {"value": "25", "display": "Role1234"}


def test_decode_role_bare_string_is_the_value() -> None:
    assert decode_role("Admin") == {"value": "Admin"}
    assert decode_role(ENTRA_ROLE["value"]) == {"value": "25", "display": "Role1234"}


def test_decode_role_decoded_members_replace_the_wrappers() -> None:
    element = {"primary": True, "display": "Mine", "type": "outer",
               "value": json.dumps({"value": "7", "display": "Theirs", "type": "inner"})}
    assert decode_role(element) == {"primary": True, "display": "Theirs", "type": "inner",
                                    "value": "7"}


def test_decode_role_explicit_display_beats_display_name() -> None:
    element = {"display": "Mine", "value": json.dumps({"value": "7", "displayName": "Alias"})}
    assert decode_role(element) == {"display": "Mine", "value": "7"}
    assert decode_role(json.dumps({"value": "7", "displayName": "A", "display": "S"})) == {
        "value": "7", "display": "S"}


def test_decode_role_renames_display_name_of_plain_roles() -> None:
    assert decode_role({"Value": "x", "DisplayName": "X", "Type": "t"}) == {
        "value": "x", "display": "X", "type": "t"}


def test_decode_role_decodes_nested_encodings() -> None:
    twice = json.dumps({"value": json.dumps({"value": "9", "displayName": "Nine"})})
    assert decode_role({"value": twice}) == {"value": "9", "display": "Nine"}


def test_decode_role_drops_the_app_role_id_and_other_unknown_members() -> None:
    element = {"value": json.dumps({"id": "x", "value": "1", "extra": 2, "primary": "True"})}
    assert decode_role(element) == {"value": "1", "primary": "True"}


@pytest.mark.parametrize("text", ["Admin", "{not json", "[1, 2]", "{\"a\": 1", "  {}x", "{}"])
def test_decode_role_keeps_values_that_are_not_encoded_roles(text: str) -> None:
    expected: dict[str, Any] = {} if text == "{}" else {"value": text}
    assert decode_role({"value": text}) == expected


@pytest.mark.parametrize("element", [None, 5, True, [1], 1.5])
def test_decode_role_leaves_other_values_alone(element: Any) -> None:
    assert decode_role(element) == element


def test_decode_roles_maps_lists_and_single_elements() -> None:
    assert decode_roles([ENTRA_ROLE, "x"]) == [{"value": "25", "display": "Role1234"},
                                               {"value": "x"}]
    assert decode_roles(ENTRA_ROLE) == {"value": "25", "display": "Role1234"}


role_members = st.fixed_dictionaries({}, optional={
    "value": st.text(max_size=6), "display": st.text(max_size=6),
    "displayName": st.text(max_size=6), "type": st.text(max_size=6), "primary": st.booleans(),
    "id": st.text(max_size=6)})


@st.composite
def encoded_roles(draw: st.DrawFn) -> Any:
    role: Any = draw(role_members)
    for _ in range(draw(st.integers(0, 3))):
        wrapper = draw(role_members)
        wrapper["value"] = json.dumps(role)
        role = wrapper
    return role if draw(st.booleans()) else json.dumps(role)


@FAST
@given(encoded_roles())
def test_decode_role_is_idempotent(element: Any) -> None:
    once = decode_role(element)
    assert decode_role(once) == once
    assert "displayname" not in once


@FAST
@given(encoded_roles())
def test_decode_role_leaves_no_encoded_role_in_value(element: Any) -> None:
    value = decode_role(element).get("value")
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return
        assert not isinstance(decoded, dict)


@FAST
@given(json_values)
def test_decode_role_never_raises(value: Any) -> None:
    decode_role(value)


# -- both request paths read a value alike ---------------------------------------------------

STORED = {"schemas": [USER_URN], "id": "u-1", "userName": "joy",
          ENTERPRISE_URN: {"department": "Sales"}}


def posted(attribute: str, value: Any) -> Any:
    """What a POST stores for `attribute` (the enterprise manager, or a core attribute)."""
    body = {"userName": "joy", **(
        {ENTERPRISE_URN: {"manager": value}} if attribute == "manager" else {attribute: value})}
    doc = normalize(body, USER)
    return doc.get(ENTERPRISE_URN, {}).get("manager") if attribute == "manager" \
        else doc.get(attribute)


def patched(attribute: str, value: Any) -> Any:
    """What a PATCH add of `attribute` stores, through the service's pipeline."""
    ops = normalize_patch({"schemas": [PATCH_OP_URN],
                           "Operations": [{"op": "add", "path": attribute, "value": value}]},
                          USER)
    doc = check_update(STORED, apply_patch(STORED, ops, USER).doc, USER)
    return doc.get(ENTERPRISE_URN, {}).get("manager") if attribute == "manager" \
        else doc.get(attribute)


@pytest.mark.parametrize(("attribute", "value", "stored"), [
    # Accepted by POST only, before: PATCH refused a non-string id inside the object...
    ("manager", {"value": True}, {"value": "true"}),
    # ...and an empty object or array as the id, which POST reads as "no manager".
    ("manager", {"value": {}}, None),
    ("manager", {"value": []}, None),
    # PATCH dropped `displayName` of a plain role; POST made it the role's `display`.
    ("roles", [{"value": "x", "displayName": "X"}], [{"value": "x", "display": "X"}]),
    # PATCH kept the wrapper's `display` over the encoded role's; POST the encoded one's.
    ("roles", [{"display": "Mine", "value": json.dumps({"value": "7", "display": "Theirs"})}],
     [{"value": "7", "display": "Theirs"}]),
    # Shapes both always accepted, pinned so they stay alike.
    ("manager", [{"$ref": "https://x/scim/Users/b", "value": "b"}],
     {"value": "b", "$ref": "https://x/scim/Users/b"}),
    ("manager", 12345, {"value": "12345"}),
    ("roles", [ENTRA_ROLE], [{"value": "25", "display": "Role1234"}]),
    ("active", " False ", False),
])
def test_post_and_patch_store_the_same(attribute: str, value: Any, stored: Any) -> None:
    assert posted(attribute, value) == stored
    assert patched(attribute, value) == stored


@pytest.mark.parametrize(("attribute", "value"), [
    # Accepted by PATCH only, before (stored as the text "true"); a boolean is no address.
    ("emails", [True]),
    ("roles", [True]),
    # Refused by both, pinned.
    ("manager", True),
    ("manager", [{"value": "a"}, {"value": "b"}]),
    ("manager", {"value": ["a"]}),
    ("active", "yes"),
])
def test_post_and_patch_refuse_the_same(attribute: str, value: Any) -> None:
    for path in (posted, patched):
        with pytest.raises(ScimError) as info:
            path(attribute, value)
        assert (info.value.status, info.value.scim_type) == (400, "invalidValue")
        assert attribute in info.value.detail
