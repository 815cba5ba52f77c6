"""shared.scim.undeclared, and attributes no schema declares across the engine: Entra's custom
extension attributes
(`urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute`) and
misspelt names, through POST/PUT (`resource`), PATCH in both of Entra's dialects (`dialect`,
`patch`, `resource.check_update`), filters and projection, under the two policies of
`ResourceType.undeclared`: `capture` (keep them as sent) and `reject` (refuse the request).
Attributes a tenant declares with `ResourceType.extended` must behave like built-in ones.

The bodies are the shapes Microsoft documents for custom extension attributes
(Microsoft Learn, https://learn.microsoft.com/entra/identity/app-provisioning/customize-application-attributes,
"Provisioning a custom extension attribute to a SCIM compliant application"; its example's
trailing comma dropped, since it is not JSON), with the
PATCH shapes it documents for the enterprise extension applied to the custom URN.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.scim.dialect import normalize_patch
from shared.scim.errors import ScimError
from shared.scim.filter import matches, parse_filter
from shared.scim.filter_validation import validate_filter
from shared.scim.patch import apply_patch
from shared.scim.projection import default_view, project
from shared.scim.resource import (
    check_update,
    diff_attributes,
    normalize,
    prepare_create,
    prepare_replace,
    undeclared_names,
)
from shared.scim.schema import ResourceType
from shared.scim.schema_doc import load_schema
from shared.scim.schemas import ENTERPRISE_URN, GROUP, GROUP_URN, USER, USER_URN
from shared.scim.undeclared import (
    MAX_UNDECLARED,
    MAX_UNDECLARED_BYTES,
    MAX_UNDECLARED_DEPTH,
    kept_value,
)
from tests.scim.test_resource import plausible_user_bodies

CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
CUSTOM_ATTR = f"{CUSTOM}:CustomAttribute"
CUSTOM_GROUP = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HINT = "declare it with: python -m shared.admin schema add TENANT FILE.json"

STRICT = USER.extended(undeclared="reject")

# Microsoft's example user for a custom extension attribute.
ENTRA_USER: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE_URN],
    "userName": "bjensen", "id": "48af03ac28ad4fb88478", "externalId": "bjensen",
    "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
             "givenName": "Barbara"},
    ENTERPRISE_URN: {
        "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
        "division": "Theme Park", "department": "Tour Operations",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                    "displayName": "John Smith"}},
    CUSTOM: {"CustomAttribute": "701984"},
    "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
             "lastModified": "2011-05-13T04:42:34Z", "version": 'W/"3694e05e9dff591"',
             "location": "https://example.com/v2/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee"},
}


def stored(rtype: ResourceType = USER, **extra: Any) -> dict[str, Any]:
    """The Entra user as the service stores it (with id and meta, which it adds)."""
    doc = prepare_create({**ENTRA_USER, **extra}, rtype)
    return {"id": "48af03ac28ad4fb88478", **doc, "meta": copy.deepcopy(ENTRA_USER["meta"])}


def patched(doc: dict[str, Any], *ops: dict[str, Any], rtype: ResourceType = USER
            ) -> dict[str, Any]:
    """The service's PATCH pipeline minus storage; `doc` must come out unchanged."""
    before = copy.deepcopy(doc)
    body = {"schemas": [PATCH_OP], "Operations": list(ops)}
    result = apply_patch(doc, normalize_patch(body, rtype), rtype)
    assert doc == before
    return check_update(doc, result.doc, rtype)


def refusal(call: Any, *args: Any, **kwargs: Any) -> ScimError:
    with pytest.raises(ScimError) as info:
        call(*args, **kwargs)
    assert info.value.status == 400
    return info.value


def attempt(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | int:
    """The document `call` returns, or the status of the ScimError it raises (always 400)."""
    try:
        result: dict[str, Any] = call(*args, **kwargs)
    except ScimError as err:
        status: int = err.status
    else:
        return result
    assert status == 400
    return status


def assert_refused_as_undeclared(err: ScimError, path: str) -> None:
    assert err.scim_type == "invalidValue"
    assert err.detail.startswith(f"{path} is not declared for this tenant")
    assert HINT in err.detail


# --------------------------------------------------------------------------------------------
# POST and PUT
# --------------------------------------------------------------------------------------------


def test_entra_custom_extension_user_is_captured_under_its_urn() -> None:
    doc = prepare_create(ENTRA_USER, USER)
    assert doc[CUSTOM] == {"CustomAttribute": "701984"}
    # Not listed in `schemas`: no /Schemas document describes it (Entra does not list it either).
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN]
    assert list(doc)[-1] == CUSTOM  # after the declared extensions
    assert undeclared_names(doc, USER) == [(CUSTOM_ATTR, "string")]


def test_entra_custom_extension_user_is_refused_by_a_strict_type() -> None:
    assert_refused_as_undeclared(refusal(prepare_create, ENTRA_USER, STRICT), CUSTOM_ATTR)


@pytest.mark.parametrize("key", [CUSTOM_ATTR, CUSTOM_ATTR.lower(), CUSTOM_ATTR.upper()[:-15]
                                 + "CustomAttribute"])
def test_a_urn_qualified_top_level_key_is_captured_in_its_extension(key: str) -> None:
    doc = normalize({"userName": "u", key: "701984"}, USER)
    urn, _, name = key.rpartition(":")
    assert doc[urn] == {name: "701984"}
    assert_refused_as_undeclared(refusal(normalize, {"userName": "u", key: "x"}, STRICT), key)


def test_names_match_in_any_case_and_keep_the_first_spelling() -> None:
    doc = normalize({"userName": "u", CUSTOM: {"CustomAttribute": "a"},
                     CUSTOM_ATTR.lower(): "b", "fooBar": 1, "FOOBAR": 2}, USER)
    assert doc[CUSTOM] == {"CustomAttribute": "b"}
    assert doc["fooBar"] == 2
    assert CUSTOM.lower() not in doc


def test_values_are_kept_as_sent_except_for_no_value() -> None:
    value = {"a": [1, "x", {"b": None, "c": []}], "d": {}, "e": 1.5, "f": "", "g": False}
    doc = normalize({"userName": "u", "blob": value, "gone": None, "none": "", "empty": []}, USER)
    assert doc["blob"] == {"a": [1, "x"], "e": 1.5, "f": "", "g": False}
    assert not {"gone", "none", "empty"} & set(doc)


@pytest.mark.parametrize(("sent", "kept"), [
    ("", None), (None, None), ({}, None), ([], None), ([None, {}, [[]]], None),
    ({"a": None, "b": [None, 1]}, {"b": [1]}), ([""], [""]), (0, 0), (False, False),
    ("x", "x"), ({"a": {"b": ""}}, {"a": {"b": ""}}),
])
def test_kept_value_leaves_out_what_means_no_value(sent: Any, kept: Any) -> None:
    assert kept_value(sent, "x") == kept


def test_put_replaces_what_was_captured() -> None:
    current = stored()
    body = {"userName": "bjensen", "fooBar": "new"}
    doc = prepare_replace(current, body, USER)
    assert CUSTOM not in doc
    assert doc["fooBar"] == "new"


@pytest.mark.parametrize("rtype", [USER, STRICT])
def test_password_is_never_kept_whatever_the_policy(rtype: ResourceType) -> None:
    body = {"userName": "u", "password": "secret", "PASSWORD": None,
            "urn:ietf:params:scim:schemas:core:2.0:User:password": "secret"}
    doc = normalize(body, rtype)
    assert "secret" not in json.dumps(doc)
    doc = normalize({"userName": "u", CUSTOM: {"password": "secret", "Other": "x"}}, USER)
    assert doc[CUSTOM] == {"Other": "x"}


@pytest.mark.parametrize("rtype", [USER, STRICT])
def test_what_cannot_be_an_attribute_is_dropped_whatever_the_policy(rtype: ResourceType) -> None:
    body = {"userName": "u", "urn:example:nope:2.0:Device:x": 1, "not a name": 1, "$ref": 1,
            "name.nickname": "x", f"{ENTERPRISE_URN}:manager.nope": "x",
            # A Group extension for a User; the enterprise URN typo Postman sends.
            f"{CUSTOM_GROUP}:CustomAttribute": "x", f"{ENTERPRISE_URN[:-5]}2.0User": {"a": 1},
            "department": "misplaced"}
    assert normalize(body, rtype) == {"schemas": [USER_URN], "userName": "u"}


def test_a_user_extension_sent_for_a_group_is_dropped_and_a_group_one_captured() -> None:
    body = {"displayName": "g", CUSTOM: {"CustomAttribute": "x"}, CUSTOM_GROUP: {"Team": "y"},
            f"{CUSTOM_GROUP}:Cost": 5}
    assert prepare_create(body, GROUP) == {
        "schemas": [GROUP_URN], "displayName": "g", CUSTOM_GROUP: {"Team": "y", "Cost": 5}}


@pytest.mark.parametrize("value", ["x", 5, ["x"]])
def test_an_unknown_extension_must_be_an_object(value: Any) -> None:
    err = refusal(normalize, {"userName": "u", CUSTOM: value}, USER)
    assert err.scim_type == "invalidValue"
    assert f"{CUSTOM} must be a JSON object" in err.detail


def test_a_sub_attribute_of_an_undeclared_attribute_is_dropped_or_refused() -> None:
    assert "fooBar" not in normalize({"userName": "u", "fooBar.baz": 1}, USER)
    assert_refused_as_undeclared(refusal(normalize, {"userName": "u", "fooBar.baz": 1}, STRICT),
                                 "fooBar.baz")


# --------------------------------------------------------------------------------------------
# Limits per resource
# --------------------------------------------------------------------------------------------


def test_at_most_max_undeclared_attributes() -> None:
    body = {"userName": "u", **{f"a{i}": i for i in range(MAX_UNDECLARED - 1)},
            CUSTOM: {"CustomAttribute": "x"}}
    assert len(undeclared_names(normalize(body, USER), USER)) == MAX_UNDECLARED == 50
    body["one_more"] = 1
    err = refusal(normalize, body, USER)
    assert err.scim_type == "invalidValue"
    assert f"at most {MAX_UNDECLARED} are kept per resource (MAX_UNDECLARED)" in err.detail
    assert HINT in err.detail


def test_at_most_max_undeclared_bytes() -> None:
    assert MAX_UNDECLARED_BYTES == 64 * 1024
    half = "x" * (MAX_UNDECLARED_BYTES // 2 - 10)
    normalize({"userName": "u", "a": half, "b": half}, USER)
    err = refusal(normalize, {"userName": "u", "a": half, "b": half + "x" * 20}, USER)
    assert err.scim_type == "invalidValue"
    assert f"at most {MAX_UNDECLARED_BYTES} bytes are kept per resource" in err.detail
    assert "MAX_UNDECLARED_BYTES" in err.detail


def test_the_limits_apply_to_a_patch_too() -> None:
    doc = stored(**{f"a{i}": i for i in range(MAX_UNDECLARED - 1)})
    err = refusal(patched, doc, {"op": "add", "path": "oneMore", "value": 1})
    assert "MAX_UNDECLARED" in err.detail
    patched(doc, {"op": "replace", "path": "a1", "value": "fine"})  # replacing adds nothing


def test_nesting_is_bounded() -> None:
    value: Any = "leaf"
    for _ in range(MAX_UNDECLARED_DEPTH):
        value = [value]
    normalize({"userName": "u", "deep": value}, USER)
    err = refusal(normalize, {"userName": "u", "deep": [value]}, USER)
    assert f"more than {MAX_UNDECLARED_DEPTH} levels" in err.detail


# --------------------------------------------------------------------------------------------
# PATCH: both of Entra's dialects
# --------------------------------------------------------------------------------------------

# (operation, the custom extension after it) starting from `stored()`'s {"CustomAttribute":
# "701984"}: without the aadOptscim062020 flag (capitalised op, path), then with it.
ENTRA_PATCHES: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
    ({"op": "Add", "path": CUSTOM_ATTR, "value": "701985"}, {"CustomAttribute": "701985"}),
    ({"op": "Replace", "path": CUSTOM_ATTR, "value": "701985"}, {"CustomAttribute": "701985"}),
    ({"op": "Remove", "path": CUSTOM_ATTR}, None),
    ({"op": "Replace", "path": CUSTOM_ATTR, "value": None}, None),
    ({"op": "Replace", "path": CUSTOM_ATTR, "value": ""}, None),
    ({"op": "replace", "value": {CUSTOM_ATTR: "701986"}}, {"CustomAttribute": "701986"}),
    ({"op": "add", "value": {CUSTOM_ATTR: "701986", "displayName": "B"}},
     {"CustomAttribute": "701986"}),
    ({"op": "add", "value": {CUSTOM: {"CustomAttribute": "701986", "Other": True}}},
     {"CustomAttribute": "701986", "Other": True}),
    ({"op": "replace", "value": {CUSTOM: None}}, None),
    ({"op": "remove", "path": CUSTOM_ATTR}, None),
    ({"op": "remove", "path": CUSTOM}, None),
    ({"op": "add", "path": CUSTOM, "value": {"Other": 2}}, {"CustomAttribute": "701984",
                                                            "Other": 2}),
    # Any letter case: the stored spellings stay.
    ({"op": "replace", "path": CUSTOM_ATTR.lower(), "value": "x"}, {"CustomAttribute": "x"}),
    ({"op": "replace", "value": {CUSTOM_ATTR.upper(): "x"}}, {"CustomAttribute": "x"}),
    ({"op": "remove", "path": CUSTOM.upper()}, None),
]


@pytest.mark.parametrize(("operation", "after"), ENTRA_PATCHES)
def test_entra_patches_of_a_custom_attribute_under_capture(
    operation: dict[str, Any], after: dict[str, Any] | None
) -> None:
    before = stored()
    doc = patched(before, operation)
    assert doc.get(CUSTOM) == after
    assert [k for k in doc if k.lower() == CUSTOM.lower()] == ([CUSTOM] if after else [])
    # Everything else is as it was (id and meta are the service's to add back).
    rest = {k: v for k, v in doc.items() if k not in (CUSTOM, "displayName")}
    assert rest == {k: v for k, v in before.items() if k not in (CUSTOM, "id", "meta")}


@pytest.mark.parametrize(("operation", "after"), ENTRA_PATCHES)
def test_entra_patches_of_a_custom_attribute_under_reject(
    operation: dict[str, Any], after: dict[str, Any] | None
) -> None:
    del after
    err = refusal(patched, stored(), operation, rtype=STRICT)
    assert err.scim_type == "invalidValue"
    assert " is not declared for this tenant" in err.detail
    assert CUSTOM.lower() in err.detail.lower()
    assert HINT in err.detail


def test_a_patch_adds_the_first_custom_attribute_to_a_user_without_one() -> None:
    doc = patched(stored(**{CUSTOM: None}), {"op": "Add", "path": CUSTOM_ATTR, "value": "1"})
    assert doc[CUSTOM] == {"CustomAttribute": "1"}
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN]
    assert diff_attributes(stored(**{CUSTOM: None}), doc) == [CUSTOM_ATTR]


def test_a_patch_of_a_captured_attribute_names_it_in_the_change() -> None:
    before = stored(fooBar=1)
    doc = patched(before, {"op": "replace", "path": "FOOBAR", "value": 2},
                  {"op": "replace", "path": CUSTOM_ATTR, "value": "z"})
    assert (doc["fooBar"], "FOOBAR" in doc) == (2, False)
    assert sorted(diff_attributes(before, doc)) == sorted(["fooBar", CUSTOM_ATTR])


@pytest.mark.parametrize("rtype", [USER, STRICT])
def test_stored_undeclared_values_a_patch_leaves_alone_are_kept_under_both_policies(
    rtype: ResourceType,
) -> None:
    # Captured while the tenant captured; it then chose reject. Its PATCHes must still work.
    before = stored(fooBar={"x": 1}, **{f"{ENTERPRISE_URN}:shoeSize": 9})
    doc = patched(before, {"op": "replace", "path": "displayName", "value": "B"},
                  {"op": "replace", "path": f"{ENTERPRISE_URN}:department", "value": "D"},
                  rtype=rtype)
    assert doc[CUSTOM] is before[CUSTOM]  # the stored object itself: not even re-read
    assert doc["fooBar"] is before["fooBar"]
    assert doc[ENTERPRISE_URN]["shoeSize"] == 9
    assert doc[ENTERPRISE_URN]["department"] == "D"
    assert sorted(diff_attributes(before, doc)) == sorted(
        ["displayName", f"{ENTERPRISE_URN}:department"])


def test_removing_a_declared_extension_removes_what_was_captured_in_it() -> None:
    doc = patched(stored(**{f"{ENTERPRISE_URN}:shoeSize": 9}),
                  {"op": "remove", "path": ENTERPRISE_URN})
    assert ENTERPRISE_URN not in doc
    assert doc["schemas"] == [USER_URN]


def test_a_patch_cannot_reach_inside_an_undeclared_attribute() -> None:
    for path in (f"{CUSTOM_ATTR}.sub", f'{CUSTOM_ATTR}[value eq "x"]', "fooBar.x"):
        err = refusal(patched, stored(), {"op": "replace", "path": path, "value": 1})
        assert err.scim_type == "invalidPath"
        assert "which no schema declares" in err.detail
        assert "schema add" in err.detail


def test_a_captured_attribute_holds_any_json_value_set_whole() -> None:
    doc = patched(stored(), {"op": "add", "path": "tags", "value": ["a", "b"]},
                  {"op": "add", "path": "tags", "value": ["c"]},
                  {"op": "replace", "path": CUSTOM_ATTR, "value": {"n": 1}})
    assert doc["tags"] == ["c"]  # nothing says it is multi-valued: set whole, not appended
    assert doc[CUSTOM] == {"CustomAttribute": {"n": 1}}


# --------------------------------------------------------------------------------------------
# Filters and projection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (f"{CUSTOM_ATTR} eq 701984", True),  # unquoted, as Entra sends values
    (f'{CUSTOM_ATTR} eq "701984"', True),
    (f'{CUSTOM_ATTR.lower()} eq "701984"', True),
    (f'{CUSTOM_ATTR} eq "701985"', False),
    (f'{CUSTOM_ATTR} ne "701985"', True),
    (f"{CUSTOM_ATTR} pr", True),
    (f'{CUSTOM_ATTR} sw "7019"', True),
    (f"{CUSTOM}:Other pr", False),
    ('fooBar eq "ABC"', True),  # strings compare case-insensitively
    ("fooBar co b", True),
    ("count gt 4", True),
    ('count eq "5"', True),
    ("count lt 5", False),
    ("flag eq true", True),
    ("flag eq false", False),
    ('list eq "two"', True),  # any element of an array
    ("blob eq 1", False),  # objects match nothing
    ("blob.inner eq 1", True),
])
def test_filters_on_captured_attributes(text: str, expected: bool) -> None:
    doc = stored(fooBar="abc", count=5, flag=True, list=["one", "two"], blob={"inner": 1})
    f = parse_filter(text)
    validate_filter(f, USER)
    assert matches(f, doc, USER) is expected
    with pytest.raises(ScimError) as info:
        validate_filter(f, STRICT)
    assert info.value.scim_type == "invalidFilter"
    assert HINT in info.value.detail


def test_projection_returns_captured_attributes_by_default_and_on_request() -> None:
    doc = stored(fooBar="abc")
    shown = project(doc, USER)
    assert (shown[CUSTOM], shown["fooBar"]) == ({"CustomAttribute": "701984"}, "abc")
    assert shown["schemas"] == [USER_URN, ENTERPRISE_URN]
    assert default_view(doc, USER) == shown  # the fast path shows them too
    picked = project(doc, USER, attributes=[CUSTOM_ATTR.lower(), "FOOBAR"])
    assert picked == {"schemas": [USER_URN], "id": doc["id"], "fooBar": "abc",
                      CUSTOM: {"CustomAttribute": "701984"}}
    assert project(doc, USER, attributes=[CUSTOM.upper()])[CUSTOM] == {
        "CustomAttribute": "701984"}
    assert project(doc, USER, attributes=[f"{CUSTOM}:Other"]).get(CUSTOM) is None
    dropped = project(doc, USER, excluded=[CUSTOM_ATTR.upper(), "foobar"])
    assert not {CUSTOM, "fooBar"} & set(dropped)
    assert dropped["userName"] == "bjensen"
    assert CUSTOM not in project(doc, USER, excluded=[CUSTOM.lower()])


def test_projection_of_an_undeclared_attribute_of_a_declared_extension() -> None:
    doc = stored(**{f"{ENTERPRISE_URN}:shoeSize": 9})
    assert project(doc, USER)[ENTERPRISE_URN]["shoeSize"] == 9
    assert project(doc, USER, attributes=[f"{ENTERPRISE_URN}:SHOESIZE"])[ENTERPRISE_URN] == {
        "shoeSize": 9}
    kept = project(doc, USER, excluded=[f"{ENTERPRISE_URN}:shoesize"])[ENTERPRISE_URN]
    assert "shoeSize" not in kept
    assert kept["department"] == "Tour Operations"


# --------------------------------------------------------------------------------------------
# Declared extension attributes behave like built-in ones
# --------------------------------------------------------------------------------------------

DECLARED = load_schema({"id": CUSTOM, "attributes": [
    {"name": "CustomAttribute", "type": "string"},
    {"name": "level", "type": "integer"},
    {"name": "badge", "mutability": "immutable"},
    {"name": "code", "caseExact": True},
    {"name": "active", "type": "boolean"},
]})
DECLARING = USER.extended([DECLARED])
DECLARING_STRICT = USER.extended([DECLARED], undeclared="reject")


@pytest.mark.parametrize("rtype", [DECLARING, DECLARING_STRICT])
def test_declared_attributes_are_validated_and_coerced(rtype: ResourceType) -> None:
    doc = prepare_create({**ENTRA_USER, f"{CUSTOM}:level": "42", f"{CUSTOM}:ACTIVE": "True"},
                         rtype)
    assert doc[CUSTOM] == {"CustomAttribute": "701984", "level": 42, "active": True}
    assert doc["schemas"] == [USER_URN, ENTERPRISE_URN, CUSTOM]
    assert undeclared_names(doc, rtype) == []
    err = refusal(prepare_create, {**ENTRA_USER, f"{CUSTOM}:level": "many"}, rtype)
    assert (err.scim_type, f"{CUSTOM}:level must be a whole number") == (
        "invalidValue", err.detail[:len(CUSTOM) + 29])


@pytest.mark.parametrize("rtype", [DECLARING, DECLARING_STRICT])
def test_declared_attributes_patch_like_built_in_ones(rtype: ResourceType) -> None:
    doc = stored(rtype)
    doc = patched(doc, {"op": "Replace", "path": CUSTOM_ATTR, "value": 5},
                  {"op": "replace", "value": {f"{CUSTOM}:level": "7", f"{CUSTOM}:active": "False"}},
                  rtype=rtype)
    assert doc[CUSTOM] == {"CustomAttribute": "5", "level": 7, "active": False}
    err = refusal(patched, doc, {"op": "replace", "path": f"{CUSTOM}:level.x", "value": 1},
                  rtype=rtype)
    assert err.scim_type == "invalidPath"


@pytest.mark.parametrize("rtype", [DECLARING, DECLARING_STRICT])
def test_a_declared_immutable_attribute_is_set_once(rtype: ResourceType) -> None:
    doc = stored(rtype, **{f"{CUSTOM}:badge": "Gold"})
    assert patched(doc, {"op": "replace", "path": f"{CUSTOM}:badge", "value": "gold"},
                   rtype=rtype)[CUSTOM]["badge"] == "Gold"  # the same value, caseExact false
    err = refusal(patched, doc, {"op": "replace", "path": f"{CUSTOM}:badge", "value": "Silver"},
                  rtype=rtype)
    assert err.scim_type == "mutability"
    assert f"{CUSTOM}:badge is immutable" in err.detail
    err = refusal(prepare_replace, doc, {**ENTRA_USER, f"{CUSTOM}:badge": "Silver"}, rtype)
    assert err.scim_type == "mutability"


@pytest.mark.parametrize(("text", "expected"), [
    (f'{CUSTOM}:code eq "AbC"', True),
    (f'{CUSTOM}:code eq "abc"', False),  # caseExact
    (f'{CUSTOM_ATTR} eq "X-1"', True),
    (f'{CUSTOM_ATTR} eq "x-1"', True),  # not caseExact
    (f"{CUSTOM}:level gt 3", True),
    (f"{CUSTOM}:level gt 4", False),
])
def test_declared_attributes_filter_by_their_characteristics(text: str, expected: bool) -> None:
    doc = stored(DECLARING, **{CUSTOM: {"CustomAttribute": "X-1", "code": "AbC", "level": 4}})
    for rtype in (DECLARING, DECLARING_STRICT):
        f = parse_filter(text)
        validate_filter(f, rtype)
        assert matches(f, doc, rtype) is expected


def test_a_declared_attribute_is_checked_in_filters() -> None:
    with pytest.raises(ScimError) as info:
        validate_filter(parse_filter(f"{CUSTOM}:active gt true"), DECLARING)
    assert info.value.scim_type == "invalidFilter"


def test_a_strict_type_refuses_what_its_extension_does_not_declare() -> None:
    assert_refused_as_undeclared(
        refusal(prepare_create, {**ENTRA_USER, f"{CUSTOM}:nope": 1}, DECLARING_STRICT),
        f"{CUSTOM}:nope")
    doc = prepare_create({**ENTRA_USER, f"{CUSTOM}:nope": 1}, DECLARING)
    assert doc[CUSTOM]["nope"] == 1
    assert undeclared_names(doc, DECLARING) == [(f"{CUSTOM}:nope", "number")]


# --------------------------------------------------------------------------------------------
# undeclared_names
# --------------------------------------------------------------------------------------------


def test_undeclared_names_lists_every_undeclared_attribute_with_its_json_type() -> None:
    doc = normalize({"userName": "u", "s": "x", "n": 1.5, "b": False, "o": {"k": 1},
                     "a": [1], f"{ENTERPRISE_URN}:shoeSize": 9, CUSTOM_ATTR: "v",
                     f"{ENTERPRISE_URN}:department": "declared"}, USER)
    assert sorted(undeclared_names(doc, USER)) == sorted([
        ("s", "string"), ("n", "number"), ("b", "boolean"), ("o", "object"), ("a", "array"),
        (f"{ENTERPRISE_URN}:shoeSize", "number"), (CUSTOM_ATTR, "string")])
    assert undeclared_names(prepare_create(ENTRA_USER, DECLARING), DECLARING) == []


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=200, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

# Undeclared attribute names: RFC 7643 names that no User schema declares.
_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True).filter(
    lambda n: n.lower() not in ("password", "schemas")
    and not any(s.attribute(n) for s in USER.all_schemas))
_scalars = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans(),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))
# Values as captured: no null, {} or [] anywhere (no value), no "" at the top.
_kept = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=6), inner,
                                            min_size=1, max_size=3)),
    max_leaves=8,
).filter(lambda v: v != "")
# Values a client may send: the above, with what means "no value" mixed in.
_sent = st.recursive(
    st.one_of(_scalars, st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _placed(where: str, name: str, value: Any) -> tuple[dict[str, Any], list[str]]:
    """A body holding `value` under `name` the way `where` says, and the stored path to it."""
    if where == "core":
        return {name: value}, [name]
    if where == "qualified":
        return {f"{CUSTOM}:{name}": value}, [CUSTOM, name]
    return {CUSTOM: {name: value}}, [CUSTOM, name]


def _at(doc: dict[str, Any], path: list[str]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@_SETTINGS
@given(_names, _kept, st.sampled_from(["core", "qualified", "object"]))
def test_a_captured_value_round_trips_through_normalize_and_project(
    name: str, value: Any, where: str
) -> None:
    extra, path = _placed(where, name, value)
    doc = normalize({"userName": "u", **extra}, USER)
    assert _at(doc, path) == value
    assert _at(project(doc, USER), path) == value
    assert _at(default_view(doc, USER) or {}, path) == value
    assert _at(project(doc, USER, attributes=[":".join(path)]), path) == value
    assert (dict(undeclared_names(doc, USER))[":".join(path)]
            == {str: "string", bool: "boolean", int: "number", float: "number",
                dict: "object", list: "array"}[type(value)])


@_SETTINGS
@given(_names, _kept, st.sampled_from(["core", "qualified", "object"]))
def test_a_captured_value_survives_a_patch_of_something_else(
    name: str, value: Any, where: str
) -> None:
    extra, path = _placed(where, name, value)
    doc = stored(**extra)
    for rtype in (USER, STRICT):
        after = patched(doc, {"op": "replace", "path": "displayName", "value": "x"},
                        rtype=rtype)
        assert _at(after, path) == value


@_SETTINGS
@given(_names.filter(lambda n: n.lower() != "customattribute"), st.text(min_size=1, max_size=12),
       st.booleans())
def test_declaring_a_captured_attribute_later_reads_the_stored_value_the_same(
    name: str, value: str, strict: bool
) -> None:
    doc = stored(**{f"{CUSTOM}:{name}": value})
    later = USER.extended([load_schema({"id": CUSTOM, "attributes": [{"name": name}]})],
                          undeclared="reject" if strict else "capture")
    assert undeclared_names(doc, later) == [(CUSTOM_ATTR, "string")]  # only the Entra one left
    for view in (project(doc, later), default_view(doc, later)):
        assert view is not None
        assert view[CUSTOM][name] == value
        assert view["schemas"] == [USER_URN, ENTERPRISE_URN, CUSTOM]  # now described
    assert project(doc, later, attributes=[f"{CUSTOM}:{name}"])[CUSTOM] == {name: value}
    f = parse_filter(f"{CUSTOM}:{name} eq {json.dumps(value)}")
    validate_filter(f, later)
    assert matches(f, doc, later) is matches(f, doc, USER) is True
    # A PATCH of something else keeps it as stored; one of it validates it like any string.
    assert patched(doc, {"op": "replace", "path": "title", "value": "T"},
                   {"op": "remove", "path": CUSTOM_ATTR}, rtype=USER
                   )[CUSTOM][name] == value
    assert patched(doc, {"op": "replace", "path": f"{CUSTOM}:{name}", "value": 5},
                   rtype=later.extended(undeclared="capture"))[CUSTOM][name] == "5"


@_SETTINGS
@given(st.one_of(plausible_user_bodies(),
                 st.dictionaries(st.one_of(_names, st.sampled_from(
                     [CUSTOM, CUSTOM_ATTR, f"{ENTERPRISE_URN}:x", "password", "a.b"]),
                     st.builds(lambda n: f"{CUSTOM}:{n}", _names)), _sent, max_size=5)))
def test_reject_never_stores_an_undeclared_attribute(body: dict[str, Any]) -> None:
    body = {"userName": "u", **body}
    outcome = attempt(normalize, body, STRICT)
    if isinstance(outcome, dict):
        assert undeclared_names(outcome, STRICT) == []


@_SETTINGS
@given(st.lists(st.fixed_dictionaries({
    "op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove"]),
    "path": st.one_of(st.none(), _names, st.sampled_from([CUSTOM, CUSTOM_ATTR, "title",
                                                          f"{ENTERPRISE_URN}:x"])),
    "value": st.one_of(_sent, st.dictionaries(
        st.one_of(_names, st.just(CUSTOM_ATTR), st.just("title")), _sent, max_size=3)),
}), min_size=1, max_size=4))
def test_reject_never_stores_an_undeclared_attribute_by_patch(ops: list[dict[str, Any]]) -> None:
    doc = stored(**{CUSTOM: None})
    outcome = attempt(patched, doc, *ops, rtype=STRICT)
    if isinstance(outcome, dict):
        assert undeclared_names(outcome, STRICT) == []


def test_a_whole_undeclared_extension_under_reject_names_an_attribute_it_holds() -> None:
    """The operator declares attributes: the refusal names one, not only the extension."""
    body = {"schemas": [USER_URN], "userName": "bjensen",
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":
                {"CustomAttribute": "701984"}}
    with pytest.raises(ScimError) as info:
        normalize(body, USER.extended((), undeclared="reject"))
    assert info.value.detail.startswith(
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute "
        "is not declared for this tenant")
