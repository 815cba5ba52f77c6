"""shared.scim.patch_operation: resolving a PATCH path to its target in a resource type, and
expanding a path-less add/replace into one operation per attribute. How the operations are then
applied is in test_patch.py."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scim.errors import ScimError
from shared.scim.patch_operation import (
    ADD,
    REMOVE,
    REPLACE,
    PatchOperation,
    expand_pathless,
    expand_schema_object,
    is_read_only,
    resolve_target,
)
from shared.scim.patch_path import parse_patch_path
from shared.scim.schema import READ_ONLY
from shared.scim.schemas import (
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_SCHEMA,
    ENTERPRISE_URN,
    GROUP,
    USER,
    USER_SCHEMA,
    USER_URN,
)


def target_of(path: str, rtype: Any = USER) -> Any:
    return resolve_target(parse_patch_path(path), rtype)


# -- resolve_target --------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "spelled"), [
    ("USERNAME", "userName"),
    ("name.givenName", "name.givenName"),
    ('emails[type eq "work"].value', 'emails[type eq "work"].value'),
    ("manager", f"{ENTERPRISE_URN}:manager"),  # an unqualified extension attribute
    (f"{ENTERPRISE_URN.lower()}:Manager.Value", f"{ENTERPRISE_URN}:manager.value"),
    (f"{USER_URN}:displayName", "displayName"),
    (ENTERPRISE_URN, ENTERPRISE_URN),
])
def test_resolve_target_spells_canonically(path: str, spelled: str) -> None:
    target = target_of(path)
    assert target is not None
    assert target.spell() == spelled


def test_resolve_target_parts() -> None:
    target = target_of('emails[type eq "work"].value')
    assert target.schema is USER_SCHEMA
    assert (target.attribute.name, target.sub.name, target.is_extension) == (
        "emails", "value", False)
    assert target.value_filter is not None
    assert target.leaf is target.sub
    whole = target_of(ENTERPRISE_URN)
    assert (whole.schema, whole.attribute, whole.leaf, whole.is_extension) == (
        ENTERPRISE_SCHEMA, None, None, True)


def test_schemas_is_no_target() -> None:
    assert target_of("schemas") is None
    assert target_of("Schemas") is None


def test_is_members_only_for_group_members() -> None:
    assert target_of("members", GROUP).is_members
    assert not target_of("displayName", GROUP).is_members
    assert not target_of("emails").is_members


@pytest.mark.parametrize(("path", "fragment"), [
    ("password", "Unknown attribute 'password' for User"),
    ("nope.sub", "'nope.sub' goes inside nope, which no schema declares"),
    ('nope[value eq "x"]', "which no schema declares"),
    ("name.nope", "'name' has no sub-attribute 'nope'"),
    ("urn:x:y:userName", "Unknown schema URN 'urn:x:y'"),
    ('userName[value eq "x"]', "'userName' is not a multi-valued complex attribute"),
    ('name[givenName eq "x"]', "'name' is not a multi-valued complex attribute"),
    ('emails[type eq "work"].nope', "'emails' has no sub-attribute 'nope'"),
    ('schemas[value eq "x"]', "'schemas' has no sub-attributes"),
    (f'{ENTERPRISE_URN}[department eq "x"]', "A value filter needs an attribute"),
])
def test_resolve_target_refuses_unknown_paths(path: str, fragment: str) -> None:
    with pytest.raises(ScimError) as info:
        target_of(path)
    assert (info.value.status, info.value.scim_type) == (400, "invalidPath")
    assert fragment in info.value.detail


def test_members_on_users_is_an_undeclared_attribute_not_a_membership() -> None:
    target = target_of("members")
    assert not target.is_members
    assert (target.declared, target.schema, target.is_extension) == (False, USER.schema, False)


# -- is_read_only ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "read_only"), [
    ("id", True), ("meta.created", True), ("groups", True), ("manager.displayName", True),
    ("userName", False), ("manager.value", False), ("emails", False),
])
def test_is_read_only(path: str, read_only: bool) -> None:
    assert is_read_only(target_of(path)) is read_only


# -- expand_pathless -------------------------------------------------------------------------


def paths_and_values(ops: list[PatchOperation]) -> list[tuple[str, str, Any]]:
    return [(o.op, str(o.path), o.value) for o in ops]


def test_expand_pathless_one_operation_per_key() -> None:
    ops = expand_pathless(REPLACE, {
        "displayName": "Bjfe", "name.givenName": "Kkom",
        f"{ENTERPRISE_URN}:employeeNumber": "Aklq",
    }, USER)
    assert paths_and_values(ops) == [
        (REPLACE, "displayName", "Bjfe"),
        (REPLACE, "name.givenName", "Kkom"),
        (REPLACE, f"{ENTERPRISE_URN}:employeeNumber", "Aklq"),
    ]


def test_expand_pathless_skips_read_only_keys_and_schemas() -> None:
    ops = expand_pathless(ADD, {"id": "x", "meta": {}, "groups": [], "schemas": [USER_URN],
                                "title": "T"}, USER)
    assert paths_and_values(ops) == [(ADD, "title", "T")]


def test_expand_pathless_extension_object() -> None:
    ops = expand_pathless(ADD, {ENTERPRISE_URN: {"department": "R&D", "schemas": ["x"]},
                                EIGHT_BY_EIGHT_URN.upper(): {"site": "Paris"}}, USER)
    assert paths_and_values(ops) == [
        (ADD, f"{ENTERPRISE_URN}:department", "R&D"),
        (ADD, f"{EIGHT_BY_EIGHT_URN}:site", "Paris"),
    ]


def test_expand_pathless_core_urn_object() -> None:
    ops = expand_pathless(REPLACE, {USER_URN: {"title": "T"}}, USER)
    assert paths_and_values(ops) == [(REPLACE, "title", "T")]


@pytest.mark.parametrize(("value", "fragment"), [
    ("x", "without a path needs an object of attributes"),
    ([{"title": "T"}], "without a path needs an object of attributes"),
    ({"": "x"}, "Invalid attribute name ''"),
    ({ENTERPRISE_URN: "x"}, f"The value of '{ENTERPRISE_URN}' must be an object"),
    ({USER_URN: None}, f"The value of '{USER_URN}' must be an object"),
])
def test_expand_pathless_refuses_values_that_are_not_attribute_objects(
    value: Any, fragment: str
) -> None:
    with pytest.raises(ScimError) as info:
        expand_pathless(REPLACE, value, USER)
    assert info.value.scim_type == "invalidValue"
    assert fragment in info.value.detail


def test_expand_pathless_undeclared_key_is_an_operation_on_it() -> None:
    [op] = expand_pathless(REPLACE, {"nope": 1}, USER)
    assert (op.op, str(op.path), op.value) == (REPLACE, "nope", 1)
    with pytest.raises(ScimError) as info:
        expand_pathless(REPLACE, {"nope": 1}, USER.extended(undeclared="reject"))
    assert info.value.scim_type == "invalidValue"
    assert "nope is not declared" in info.value.detail


def test_expand_pathless_sub_key_of_an_undeclared_attribute_is_invalid_path() -> None:
    with pytest.raises(ScimError) as info:
        expand_pathless(REPLACE, {"nope.sub": 1}, USER)
    assert info.value.scim_type == "invalidPath"


# -- expand_schema_object --------------------------------------------------------------------


@pytest.mark.parametrize("absent", [None, ""])
def test_expand_schema_object_absent_extension_removes_its_writable_attributes(
    absent: Any
) -> None:
    ops = expand_schema_object(REPLACE, ENTERPRISE_SCHEMA, absent, USER)
    assert {o.op for o in ops} == {REMOVE}
    removed = {str(o.path) for o in ops}
    assert f"{ENTERPRISE_URN}:department" in removed
    assert f"{ENTERPRISE_URN}:manager" in removed
    assert len(removed) == sum(1 for a in ENTERPRISE_SCHEMA.attributes
                               if a.mutability != READ_ONLY)
