"""shared.scim.schema: attribute, schema and resource type definitions as data (RFC 7643 §2,
§7), their case-insensitive lookups, the characteristic flags and their /Schemas rendering.

The definitions here are made for the tests, so that the mechanics are checked apart from the
schemas the connector serves (those are tests/scim/test_schemas.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.scim.schema import (
    ALWAYS,
    ANY,
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    DEFAULT,
    IMMUTABLE,
    INTEGER,
    NEVER,
    READ_ONLY,
    READ_WRITE,
    REFERENCE,
    REQUEST,
    STRING,
    WRITE_ONLY,
    Attribute,
    Resolved,
    ResourceType,
    Schema,
)

CORE_URN = "urn:test:schemas:core:Thing"
EXT_URN = "urn:test:schemas:extension:Thing"
# An extension whose URN continues another's: a path under it must not be read as the shorter
# one's attribute `Deep:…`.
DEEP_URN = EXT_URN + ":Deep"

NAME = Attribute("name", type=COMPLEX, sub_attributes=(
    Attribute("givenName"), Attribute("familyName"),
    Attribute("secret", returned=NEVER)))
TAGS = Attribute("tags", type=COMPLEX, multi_valued=True, sub_attributes=(
    Attribute("value"), Attribute("primary", type=BOOLEAN)))
CORE = Schema(CORE_URN, "Thing", "A thing", (
    Attribute("id", case_exact=True, mutability=READ_ONLY, returned=ALWAYS, uniqueness="server",
              advertised=False),
    Attribute("handle", required=True, uniqueness="server"),
    Attribute("serial", mutability=IMMUTABLE, case_exact=True),
    NAME,
    TAGS,
    Attribute("history", multi_valued=True, mutability=READ_ONLY, returned=REQUEST),
))
EXT = Schema(EXT_URN, "ThingExt", "", (
    Attribute("site", mutability=IMMUTABLE),
    Attribute("region", required=True),
))
DEEP = Schema(DEEP_URN, "ThingDeep", "", (Attribute("level", type=INTEGER),))
HIDDEN = Schema("urn:test:schemas:extension:Hidden", "Hidden", "", (
    Attribute("pin", returned=NEVER),))
THING = ResourceType("Thing", "/Things", "Things", CORE,
                     ((EXT, True), (DEEP, False), (HIDDEN, False)))


def case_variants(text: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(text, upper,
                                                                            strict=True)))


# --------------------------------------------------------------------------------------------
# Attribute
# --------------------------------------------------------------------------------------------


def test_an_attribute_has_rfc7643_default_characteristics() -> None:
    # RFC 7643 §2.2: string, single-valued, optional, case-insensitive, readWrite, returned by
    # default, no uniqueness.
    attr = Attribute("nickName")
    assert (attr.type, attr.multi_valued, attr.required, attr.case_exact) == (
        STRING, False, False, False)
    assert (attr.mutability, attr.returned, attr.uniqueness) == (READ_WRITE, DEFAULT, "none")
    assert attr.advertised


def test_characteristic_values_are_rfc7643_spellings() -> None:
    assert [STRING, BOOLEAN, DECIMAL, INTEGER, DATETIME, REFERENCE, COMPLEX, BINARY] == [
        "string", "boolean", "decimal", "integer", "dateTime", "reference", "complex", "binary"]
    assert [READ_ONLY, READ_WRITE, IMMUTABLE, WRITE_ONLY] == [
        "readOnly", "readWrite", "immutable", "writeOnly"]
    assert [ALWAYS, NEVER, DEFAULT, REQUEST] == ["always", "never", "default", "request"]


@given(st.sampled_from(["givenName", "familyName", "secret"]).flatmap(
    lambda name: st.tuples(st.just(name), case_variants(name))))
def test_sub_finds_a_sub_attribute_in_any_letter_case(pair: tuple[str, str]) -> None:
    name, spelled = pair
    found = NAME.sub(spelled)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize("name", ["given", "givenName2", "", "name", "value"])
def test_sub_of_an_unknown_name_is_none(name: str) -> None:
    assert NAME.sub(name) is None


def test_a_simple_attribute_has_no_sub_attributes() -> None:
    assert Attribute("handle").sub("value") is None


def test_default_subs_are_the_scalar_subs_shown_by_default() -> None:
    assert NAME.default_subs == {"givenName", "familyName"}  # not `secret` (never)
    assert TAGS.default_subs == {"value", "primary"}
    requested = Attribute("x", type=COMPLEX, sub_attributes=(
        Attribute("a"), Attribute("b", returned=REQUEST), Attribute("c", returned=ALWAYS)))
    assert requested.default_subs == {"a", "c"}


@pytest.mark.parametrize("inner", [
    Attribute("nested", type=COMPLEX, sub_attributes=(Attribute("v"),)),
    Attribute("many", multi_valued=True),
])
def test_default_subs_is_empty_when_a_sub_attribute_is_not_a_single_scalar(
        inner: Attribute) -> None:
    # An object with such a sub-attribute cannot be copied shallowly.
    attr = Attribute("x", type=COMPLEX, sub_attributes=(Attribute("plain"), inner))
    assert attr.default_subs == frozenset()


def test_to_scim_renders_every_characteristic() -> None:
    attr = Attribute("handle", required=True, case_exact=True, mutability=IMMUTABLE,
                     returned=ALWAYS, uniqueness="global", description="The handle.",
                     canonical_values=("a", "b"))
    assert attr.to_scim() == {
        "name": "handle", "type": "string", "multiValued": False, "description": "The handle.",
        "required": True, "mutability": "immutable", "returned": "always", "caseExact": True,
        "uniqueness": "global", "canonicalValues": ["a", "b"]}


@pytest.mark.parametrize("mutability", [READ_ONLY, READ_WRITE, IMMUTABLE, WRITE_ONLY])
@pytest.mark.parametrize("returned", [ALWAYS, NEVER, DEFAULT, REQUEST])
@pytest.mark.parametrize("uniqueness", ["none", "server", "global"])
def test_flags_are_rendered_as_declared(mutability: str, returned: str, uniqueness: str) -> None:
    out = Attribute("x", mutability=mutability, returned=returned,
                    uniqueness=uniqueness).to_scim()
    assert (out["mutability"], out["returned"], out["uniqueness"]) == (
        mutability, returned, uniqueness)


@pytest.mark.parametrize("kind", [STRING, REFERENCE, BINARY])
def test_case_exact_and_uniqueness_are_rendered_for_text_types(kind: str) -> None:
    out = Attribute("x", type=kind, case_exact=True, uniqueness="server").to_scim()
    assert (out["caseExact"], out["uniqueness"]) == (True, "server")


@pytest.mark.parametrize("kind", [BOOLEAN, DECIMAL, INTEGER, DATETIME, COMPLEX])
def test_case_exact_and_uniqueness_are_left_out_for_other_types(kind: str) -> None:
    # RFC 7643 §2.2 and §7 give them to string and reference attributes (and binary, which is
    # caseExact by definition); a boolean's "caseExact" means nothing to a client.
    out = Attribute("x", type=kind).to_scim()
    assert "caseExact" not in out
    assert "uniqueness" not in out


def test_empty_lists_are_left_out_and_sub_attributes_nest() -> None:
    plain = Attribute("x").to_scim()
    assert {"canonicalValues", "referenceTypes", "subAttributes"}.isdisjoint(plain)
    ref = Attribute("link", type=REFERENCE, reference_types=("User", "Group")).to_scim()
    assert ref["referenceTypes"] == ["User", "Group"]
    out = TAGS.to_scim()
    assert (out["type"], out["multiValued"]) == ("complex", True)
    assert out["subAttributes"] == [a.to_scim() for a in TAGS.sub_attributes]
    assert [s["name"] for s in out["subAttributes"]] == ["value", "primary"]


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


@given(st.sampled_from([a.name for a in CORE.attributes]).flatmap(
    lambda name: st.tuples(st.just(name), case_variants(name))))
def test_attribute_finds_an_attribute_in_any_letter_case(pair: tuple[str, str]) -> None:
    name, spelled = pair
    found = CORE.attribute(spelled)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize("name", ["site", "givenName", "name.givenName", "", "handles"])
def test_attribute_of_an_unknown_or_nested_name_is_none(name: str) -> None:
    # `site` is the extension's, `givenName` a sub-attribute: neither is CORE's attribute.
    assert CORE.attribute(name) is None


def test_required_and_immutable_list_the_attributes_each_rule_applies_to() -> None:
    assert [a.name for a in CORE.required] == ["handle"]
    assert [a.name for a in CORE.immutable] == ["serial"]
    assert ([a.name for a in EXT.required], [a.name for a in EXT.immutable]) == (
        ["region"], ["site"])
    assert (DEEP.required, DEEP.immutable) == ((), ())


def test_schema_to_scim_leaves_out_unadvertised_attributes() -> None:
    out = CORE.to_scim("https://scim.example.com/t1")
    assert out["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
    assert (out["id"], out["name"], out["description"]) == (CORE_URN, "Thing", "A thing")
    assert [a["name"] for a in out["attributes"]] == [
        "handle", "serial", "name", "tags", "history"]  # no `id`
    assert out["meta"] == {"resourceType": "Schema",
                           "location": f"https://scim.example.com/t1/Schemas/{CORE_URN}"}


# --------------------------------------------------------------------------------------------
# ResourceType: URNs and path resolution
# --------------------------------------------------------------------------------------------


def test_all_schemas_is_the_core_then_the_extensions_in_order() -> None:
    assert THING.all_schemas == (CORE, EXT, DEEP, HIDDEN)


@pytest.mark.parametrize(("urn", "expected"), [
    (CORE_URN, CORE), (CORE_URN.upper(), CORE), (EXT_URN.lower(), EXT), (DEEP_URN, DEEP),
    (EXT_URN + ":", None), ("urn:test:schemas:core", None), ("", None),
])
def test_schema_by_urn_is_case_insensitive_and_exact(urn: str, expected: Schema | None) -> None:
    assert THING.schema_by_urn(urn) is expected


@pytest.mark.parametrize(("urn", "expected"), [
    (EXT_URN, EXT), (EXT_URN.upper(), EXT), ("URN" + DEEP_URN[3:].lower(), DEEP),
    (CORE_URN, None),  # the core schema is no extension
    ("handle", None), ("", None), (EXT_URN + ":site", None),
])
def test_extension_by_urn(urn: str, expected: Schema | None) -> None:
    assert THING.extension_by_urn(urn) is expected


@pytest.mark.parametrize(("path", "expected"), [
    (f"{EXT_URN}:site", (EXT, "site")),
    (f"{DEEP_URN}:level", (DEEP, "level")),          # the longest URN wins
    (f"{DEEP_URN.upper()}:Level", (DEEP, "Level")),  # compared case-insensitively; local kept
    (DEEP_URN, (DEEP, "")),
    (f"{CORE_URN}:name.givenName", (CORE, "name.givenName")),
    ("name.givenName", (None, "name.givenName")),
    ("urn:test:unknown:site", (None, "urn:test:unknown:site")),
    (f"{EXT_URN}x:site", (None, f"{EXT_URN}x:site")),  # a URN only when a ':' or the end follows
])
def test_split_urn(path: str, expected: tuple[Schema | None, str]) -> None:
    assert THING.split_urn(path) == expected


@pytest.mark.parametrize(("path", "schema", "attribute", "sub", "is_extension", "canonical"), [
    ("handle", CORE, "handle", None, False, "handle"),
    ("HANDLE", CORE, "handle", None, False, "handle"),
    ("name.GIVENNAME", CORE, "name", "givenName", False, "name.givenName"),
    (f"{CORE_URN}:tags.value", CORE, "tags", "value", False, "tags.value"),
    (f"{EXT_URN.lower()}:SITE", EXT, "site", None, True, f"{EXT_URN}:site"),
    (f"{DEEP_URN}:level", DEEP, "level", None, True, f"{DEEP_URN}:level"),
    (EXT_URN, EXT, None, None, True, EXT_URN),
])
def test_resolve(path: str, schema: Schema, attribute: str | None, sub: str | None,
                 is_extension: bool, canonical: str) -> None:
    r = THING.resolve(path)
    assert r is not None
    assert r.schema is schema
    assert (r.attribute.name if r.attribute else None, r.sub.name if r.sub else None) == (
        attribute, sub)
    assert (r.is_extension, r.canonical) == (is_extension, canonical)
    assert r.target is (r.sub or r.attribute)


@pytest.mark.parametrize("path", [
    "nope", "name.nope", "handle.value", "site",  # an extension's attribute needs its URN here
    CORE_URN,                                     # the core URN names no attribute
    f"{CORE_URN}:site", f"{EXT_URN}:handle", f"{EXT_URN}:nope",
    "urn:test:unknown:handle", "", "name.givenName.more",
])
def test_resolve_of_an_unknown_path_is_none(path: str) -> None:
    assert THING.resolve(path) is None


def test_resolved_target_is_the_sub_attribute_or_the_attribute() -> None:
    name = CORE.attribute("name")
    given_name = NAME.sub("givenName")
    assert Resolved(CORE, name, given_name).target is given_name
    assert Resolved(CORE, name).target is name
    assert Resolved(EXT, None, None, True).target is None


def test_shown_whole_names_what_the_default_view_shows_entire() -> None:
    # `name` holds a `never` sub-attribute, `history` is `request`, HIDDEN holds a `never`
    # attribute: each must be looked into.
    assert THING.shown_whole == {"id", "handle", "serial", "tags", EXT_URN, DEEP_URN}


def test_resource_type_to_scim() -> None:
    out: dict[str, Any] = THING.to_scim("https://scim.example.com/t1")
    assert out == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Thing", "name": "Thing", "endpoint": "/Things", "description": "Things",
        "schema": CORE_URN,
        "meta": {"resourceType": "ResourceType",
                 "location": "https://scim.example.com/t1/ResourceTypes/Thing"},
        "schemaExtensions": [{"schema": EXT_URN, "required": True},
                             {"schema": DEEP_URN, "required": False},
                             {"schema": HIDDEN.id, "required": False}],
    }
    bare = ResourceType("Plain", "/Plains", "", DEEP).to_scim()
    assert "schemaExtensions" not in bare
    assert bare["meta"]["location"] == "/ResourceTypes/Plain"


# --------------------------------------------------------------------------------------------
# ResourceType: the undeclared-attribute policy and extra (tenant-declared) extensions
# --------------------------------------------------------------------------------------------

BADGES = Schema("urn:test:schemas:extension:Badges", "Badges", "", (
    Attribute("level", type=INTEGER), Attribute("secret", returned=NEVER)))
PLAIN = Schema("urn:test:schemas:extension:Plain", "Plain", "", (Attribute("note"),))


def test_the_default_policy_captures_undeclared_attributes() -> None:
    assert THING.undeclared == "capture"


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="undeclared must be one of capture, reject"):
        ResourceType("Thing", "/Things", "", CORE, undeclared="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'drop'"):
        THING.extended(undeclared="drop")


def test_extended_with_nothing_to_change_is_the_same_object() -> None:
    # A tenant that declares nothing must share the module's resource types (and their caches).
    assert THING.extended() is THING
    assert THING.extended((), undeclared="capture") is THING


def test_extended_appends_optional_extensions_after_the_existing_ones() -> None:
    more = THING.extended([BADGES, PLAIN])
    assert more is not THING
    assert more.extensions == (*THING.extensions, (BADGES, False), (PLAIN, False))
    assert more.all_schemas == (CORE, EXT, DEEP, HIDDEN, BADGES, PLAIN)
    assert (more.name, more.endpoint, more.schema, more.undeclared) == (
        "Thing", "/Things", CORE, "capture")
    # The derived lookups are rebuilt for the new set, the original is untouched.
    assert more.extension_by_urn(BADGES.id.upper()) is BADGES
    assert THING.extension_by_urn(BADGES.id) is None
    resolved = more.resolve(f"{BADGES.id}:LEVEL")
    assert resolved is not None
    assert (resolved.schema, resolved.attribute, resolved.is_extension) == (
        BADGES, BADGES.attribute("level"), True)
    assert PLAIN.id in more.shown_whole
    assert BADGES.id not in more.shown_whole  # holds a `never` attribute
    assert more.to_scim()["schemaExtensions"][-2:] == [
        {"schema": BADGES.id, "required": False}, {"schema": PLAIN.id, "required": False}]


def test_extended_sets_the_policy() -> None:
    strict = THING.extended(undeclared="reject")
    assert strict.undeclared == "reject"
    assert strict.extensions == THING.extensions
    assert strict.extended(undeclared="reject") is strict
    assert strict.extended(undeclared="capture").undeclared == "capture"


@pytest.mark.parametrize("clash", [EXT, CORE, Schema(EXT_URN.upper(), "Again", "", ())])
def test_extended_refuses_a_urn_the_type_already_has(clash: Schema) -> None:
    with pytest.raises(ValueError, match="already a schema of the Thing resource type"):
        THING.extended([clash])
    with pytest.raises(ValueError, match="already a schema"):
        THING.extended([BADGES, Schema(BADGES.id.lower(), "Twice", "", ())])


# --------------------------------------------------------------------------------------------
# ResourceType.resolve_undeclared: what a path that names no declared attribute names instead
# --------------------------------------------------------------------------------------------

THING_EXT = "urn:example:custom:2.0:Thing"


@pytest.mark.parametrize(("path", "schema_id", "attribute", "sub", "is_extension"), [
    ("fooBar", CORE_URN, "fooBar", None, False),
    ("fooBar.baz", CORE_URN, "fooBar", "baz", False),
    (f"{CORE_URN}:fooBar", CORE_URN, "fooBar", None, False),
    (f"{EXT_URN}:fooBar", EXT_URN, "fooBar", None, True),
    (f"{THING_EXT}:CustomAttribute", THING_EXT, "CustomAttribute", None, True),
    (f"{THING_EXT.lower()}:x.y", THING_EXT.lower(), "x", "y", True),
    (THING_EXT, THING_EXT, None, None, True),  # a whole extension
    (THING_EXT.upper(), THING_EXT.upper(), None, None, True),
])
def test_resolve_undeclared(path: str, schema_id: str, attribute: str | None, sub: str | None,
                            is_extension: bool) -> None:
    found = THING.resolve_undeclared(path)
    assert found is not None
    assert (found.schema.id, found.is_extension, found.declared) == (
        schema_id, is_extension, False)
    assert (found.attribute.name if found.attribute else None,
            found.sub.name if found.sub else None) == (attribute, sub)
    for attr in (found.attribute, found.sub):
        assert attr is None or (attr.type == ANY and not attr.declared)
    # A declared schema is the type's own; an unknown URN's is a stand-in with no attributes.
    assert THING.declares(found.schema) is (schema_id in (CORE_URN, EXT_URN))
    assert THING.resolve_any(path) == found


@pytest.mark.parametrize("path", [
    "schemas", "password", "PassWord", f"{EXT_URN}:password", f"{THING_EXT}:password",
    "name.nickname",            # an unknown sub-attribute of a declared attribute
    "site", "site.x",           # declared by an extension: misplaced, not undeclared
    f"{CORE_URN}:site",
    "1st", "$ref", "a.$ref", "a.b.c",
    "urn:example:custom:2.0:Other:x",  # a URN of another resource type
    "urn:example:custom:2.0",          # a URN naming no resource type
    "urn:a:b:c", "urn:x", "urn:has space:2.0:Thing:x",
    f"{EXT_URN}:a:b",
])
def test_resolve_undeclared_of_what_is_no_attribute_is_none(path: str) -> None:
    assert THING.resolve_undeclared(path) is None


def test_resolve_any_prefers_the_declared_attribute() -> None:
    found = THING.resolve_any("HANDLE")
    assert found is not None
    assert (found.attribute, found.declared) == (CORE.attribute("handle"), True)
    assert THING.resolve_any("name.nickname") is None


def test_resolve_undeclared_answers_are_cached_and_bounded() -> None:
    thing = ResourceType("Thing", "/Things", "", CORE)
    first = thing.resolve_undeclared("fooBar")
    assert thing.resolve_undeclared("fooBar") is first
    for i in range(600):
        thing.resolve_undeclared(f"name{i}")
    assert len(thing._undeclared) <= 512
    assert thing.resolve_undeclared("fooBar") == first
