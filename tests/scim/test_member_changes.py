"""shared.scim.member_changes: member ids and types from the shapes clients send, the member
filters that can be honoured, and the in-order fold of member operations (checked against a
plain set model). End-to-end member PATCHes are in test_patch.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.filter import parse_filter
from shared.scim.member_changes import (
    MemberChanges,
    MemberFold,
    member_filter_ids,
    member_ids,
    member_types,
)
from shared.scim.patch_operation import ADD, REMOVE, REPLACE, PatchOperation, resolve_target
from shared.scim.patch_path import parse_patch_path
from shared.scim.schemas import GROUP

FAST = settings(max_examples=200, deadline=None)


# -- member_ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ids"), [
    ([{"$ref": None, "value": "u1"}], ["u1"]),  # Entra's shape
    ({"value": "u1"}, ["u1"]),
    ("u1", ["u1"]),  # the reference Postman collection's bare id
    (["u1", {"Value": "u2"}, {"VALUE": "u3", "display": "x"}], ["u1", "u2", "u3"]),
    ({"value": "u1", "Value": "other"}, ["u1"]),  # the exact spelling wins
    ([], []),
])
def test_member_ids(value: Any, ids: list[str]) -> None:
    assert member_ids(value) == ids


@pytest.mark.parametrize("value", [
    None, "", "  ", 5, True, {}, {"value": ""}, {"value": None}, {"value": 5}, {"$ref": "x"},
    [{"value": "u1"}, {"display": "no id"}], [["u1"]],
])
def test_member_ids_refuses_what_names_no_member(value: Any) -> None:
    with pytest.raises(ScimError) as info:
        member_ids(value)
    assert (info.value.status, info.value.scim_type) == (400, "invalidValue")
    assert "non-empty string 'value'" in info.value.detail


# -- member_types ----------------------------------------------------------------------------


def test_member_types_keeps_known_types_in_canonical_case() -> None:
    value = [{"value": "u1", "type": "user"}, {"Value": "g1", "Type": "GROUP"},
             {"value": "x", "type": "Robot"}, {"value": "y", "$ref": None}, "bare"]
    assert member_types(value) == {"u1": "User", "g1": "Group"}


def test_member_types_of_a_single_element() -> None:
    assert member_types({"value": "g1", "type": "Group"}) == {"g1": "Group"}
    assert member_types(None) == {}


# -- member_filter_ids -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ids"), [
    ('value eq "u1"', ["u1"]),
    ('value eq "u1" or Value eq "u2" or value eq "u3"', ["u1", "u2", "u3"]),
    ("value eq 12345", ["12345"]),  # an unquoted numeric id
])
def test_member_filter_ids(text: str, ids: list[str]) -> None:
    assert member_filter_ids(parse_filter(text)) == ids


@pytest.mark.parametrize("text", [
    'value ne "u1"', 'display eq "x"', 'value eq "u1" and value eq "u2"', "value pr",
    'not (value eq "u1")', 'value eq ""', "value eq null", "value eq true",
    'value eq "u1" or display eq "x"', 'value.sub eq "u1"',
])
def test_member_filter_ids_refuses_filters_that_do_not_name_ids(text: str) -> None:
    with pytest.raises(ScimError) as info:
        member_filter_ids(parse_filter(text))
    assert info.value.scim_type == "invalidFilter"


# -- MemberChanges ---------------------------------------------------------------------------


def test_member_changes_apply_to() -> None:
    assert MemberChanges(add=["c"], remove=["a"]).apply_to({"a", "b"}) == {"b", "c"}
    assert MemberChanges(replace=["x", "y"], remove=["y"], add=["z"]).apply_to({"a"}) == {
        "x", "z"}
    assert MemberChanges(replace=[]).apply_to({"a"}) == set()


# -- MemberFold --------------------------------------------------------------------------------


def fold(*ops: tuple[str, str, Any]) -> MemberChanges:
    members = MemberFold()
    for op, path, value in ops:
        target = resolve_target(parse_patch_path(path), GROUP)
        assert target is not None
        assert target.is_members
        members.apply(PatchOperation(op, parse_patch_path(path), value), target)
    return members.result()


def test_fold_add_then_remove_nets_out() -> None:
    changes = fold((ADD, "members", [{"value": "a"}, {"value": "b"}]),
                   (REMOVE, "members", [{"value": "a"}]))
    assert changes == MemberChanges(add=["b"], remove=["a"])


def test_fold_remove_without_value_is_replace_with_nobody() -> None:
    changes = fold((ADD, "members", [{"value": "a"}]), (REMOVE, "members", None),
                   (ADD, "members", [{"value": "b"}]))
    assert changes == MemberChanges(replace=["b"])


def test_fold_remove_by_filter() -> None:
    assert fold((REMOVE, 'members[value eq "a"]', None)) == MemberChanges(remove=["a"])


def test_fold_keeps_types_only_for_members_it_adds() -> None:
    changes = fold((ADD, "members", [{"value": "g", "type": "Group"},
                                     {"value": "u", "type": "User"}]),
                   (REMOVE, "members", [{"value": "u"}]))
    assert changes == MemberChanges(add=["g"], remove=["u"], types={"g": "Group"})


@pytest.mark.parametrize(("op", "path", "value", "scim_type"), [
    (ADD, "members", None, "invalidValue"),
    (ADD, "members.value", "a", "invalidPath"),
    (REPLACE, 'members[value eq "a"]', {"value": "b"}, "invalidPath"),
    (REMOVE, 'members[display eq "a"]', None, "invalidFilter"),
])
def test_fold_refuses_member_operations_it_cannot_honour(
    op: str, path: str, value: Any, scim_type: str
) -> None:
    with pytest.raises(ScimError) as info:
        fold((op, path, value))
    assert info.value.scim_type == scim_type


ids = st.sampled_from(["a", "b", "c", "d"])
member_ops = st.tuples(st.sampled_from([ADD, REMOVE, REPLACE, "remove-all"]),
                       st.lists(ids, max_size=3))


@FAST
@given(initial=st.sets(ids), ops=st.lists(member_ops, max_size=6))
def test_fold_matches_applying_each_operation_to_a_set(
    initial: set[str], ops: list[tuple[str, list[str]]]
) -> None:
    model = set(initial)
    steps: list[tuple[str, str, Any]] = []
    for op, chosen in ops:
        value = [{"value": i} for i in chosen]
        if op == "remove-all":
            steps.append((REMOVE, "members", None))
            model = set()
        elif op == ADD:
            steps.append((ADD, "members", value))
            model |= set(chosen)
        elif op == REMOVE:
            steps.append((REMOVE, "members", value))
            model -= set(chosen)
        else:
            steps.append((REPLACE, "members", value))
            model = set(chosen)
    changes = fold(*steps)
    assert changes.apply_to(initial) == model
    assert not set(changes.add) & set(changes.remove)
    if changes.replace is not None:
        assert changes.add == changes.remove == []
