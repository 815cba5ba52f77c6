"""shared.scim.schemas: the schemas this connector serves (RFC 7643 core User and Group, the
Enterprise User extension, the 8x8 extension with its immutable `site`), checked as data:
every attribute Entra's mappings send is declared with the type and mutability it needs, and
the definitions are consistent enough for the lookups built on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.scim.schema import (
    ALWAYS,
    BOOLEAN,
    COMPLEX,
    DEFAULT,
    IMMUTABLE,
    READ_ONLY,
    READ_WRITE,
    REFERENCE,
    REQUEST,
    STRING,
    Attribute,
    ResourceType,
    Schema,
)
from shared.scim.schemas import (
    ALL_SCHEMAS,
    EIGHT_BY_EIGHT_SCHEMA,
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_SCHEMA,
    ENTERPRISE_URN,
    GROUP,
    GROUP_SCHEMA,
    GROUP_URN,
    RESOURCE_TYPES,
    USER,
    USER_SCHEMA,
    USER_URN,
)

TYPES = {"string", "boolean", "decimal", "integer", "dateTime", "reference", "complex", "binary"}
MUTABILITY = {"readOnly", "readWrite", "immutable", "writeOnly"}
RETURNED = {"always", "never", "default", "request"}
UNIQUENESS = {"none", "server", "global"}


def declared(rtype: ResourceType) -> Iterator[tuple[str, Schema, Attribute, Attribute | None]]:
    """Every attribute and sub-attribute of a resource type, as (canonical path, schema,
    attribute, sub-attribute)."""
    for schema in rtype.all_schemas:
        prefix = "" if schema is rtype.schema else schema.id + ":"
        for attr in schema.attributes:
            yield prefix + attr.name, schema, attr, None
            for sub in attr.sub_attributes:
                yield f"{prefix}{attr.name}.{sub.name}", schema, attr, sub


def everything() -> Iterator[tuple[Schema, Attribute, Attribute | None]]:
    for schema in ALL_SCHEMAS:
        for attr in schema.attributes:
            yield schema, attr, None
            for sub in attr.sub_attributes:
                yield schema, attr, sub


def need(rtype: ResourceType, path: str) -> Attribute:
    resolved = rtype.resolve(path)
    assert resolved is not None, path
    assert resolved.target is not None, path
    return resolved.target


# --------------------------------------------------------------------------------------------
# The set of schemas
# --------------------------------------------------------------------------------------------


def test_urns_are_the_published_ones() -> None:
    assert USER_URN == "urn:ietf:params:scim:schemas:core:2.0:User"
    assert GROUP_URN == "urn:ietf:params:scim:schemas:core:2.0:Group"
    assert ENTERPRISE_URN == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert EIGHT_BY_EIGHT_URN == "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"
    assert [s.id for s in ALL_SCHEMAS] == [USER_URN, GROUP_URN, ENTERPRISE_URN,
                                           EIGHT_BY_EIGHT_URN]


def test_resource_types_users_with_both_extensions_optional_and_groups() -> None:
    assert RESOURCE_TYPES == (USER, GROUP)
    assert (USER.name, USER.endpoint, USER.schema) == ("User", "/Users", USER_SCHEMA)
    assert (GROUP.name, GROUP.endpoint, GROUP.schema) == ("Group", "/Groups", GROUP_SCHEMA)
    # Optional: Entra creates users without either extension when nothing maps to them.
    assert USER.extensions == ((ENTERPRISE_SCHEMA, False), (EIGHT_BY_EIGHT_SCHEMA, False))
    assert GROUP.extensions == ()


def test_every_characteristic_has_a_valid_rfc7643_value() -> None:
    for schema, attr, sub in everything():
        a = sub or attr
        where = (schema.name, attr.name, sub and sub.name)
        assert a.type in TYPES, where
        assert a.mutability in MUTABILITY, where
        assert a.returned in RETURNED, where
        assert a.uniqueness in UNIQUENESS, where
        assert a.description, where  # Entra's attribute editor shows it
        assert bool(a.sub_attributes) is (a.type == COMPLEX), where
        if sub is not None:
            assert not sub.sub_attributes, where  # RFC 7643 §2.3.8: one level only


@pytest.mark.parametrize("schema", ALL_SCHEMAS, ids=lambda s: s.name)
def test_no_two_names_differ_only_in_letter_case(schema: Schema) -> None:
    # Lookups are case-insensitive: a second spelling would shadow the first.
    names = [a.name.lower() for a in schema.attributes]
    assert len(names) == len(set(names))
    for attr in schema.attributes:
        subs = [s.name.lower() for s in attr.sub_attributes]
        assert len(subs) == len(set(subs)), attr.name


def test_no_writable_sub_attribute_under_a_read_only_attribute() -> None:
    for schema, attr, sub in everything():
        if sub is not None and attr.mutability == READ_ONLY:
            assert sub.mutability == READ_ONLY, (schema.name, attr.name, sub.name)


@pytest.mark.parametrize("rtype", RESOURCE_TYPES, ids=lambda r: r.name)
def test_every_declared_path_resolves_to_its_declaration(rtype: ResourceType) -> None:
    for path, schema, attr, sub in declared(rtype):
        resolved = rtype.resolve(path)
        assert resolved is not None, path
        assert (resolved.schema, resolved.attribute, resolved.sub) == (schema, attr, sub), path
        assert resolved.canonical == path


@given(st.sampled_from([p for p, *_ in declared(USER)] + [p for p, *_ in declared(GROUP)]),
       st.data())
def test_every_declared_path_resolves_in_any_letter_case(path: str, data: st.DataObject) -> None:
    rtype = USER if USER.resolve(path) is not None else GROUP
    spelled = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in path)
    resolved = rtype.resolve(spelled)
    assert resolved is not None, spelled
    assert resolved.canonical == path


# --------------------------------------------------------------------------------------------
# Core User and Group (RFC 7643 §4)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rtype", RESOURCE_TYPES, ids=lambda r: r.name)
def test_id_and_meta_are_server_owned_common_attributes(rtype: ResourceType) -> None:
    rid, meta = rtype.schema.attribute("id"), rtype.schema.attribute("meta")
    assert rid is not None
    assert meta is not None
    assert (rid.mutability, rid.returned, rid.uniqueness, rid.case_exact) == (
        READ_ONLY, ALWAYS, "server", True)
    assert meta.mutability == READ_ONLY
    assert [s.name for s in meta.sub_attributes] == [
        "resourceType", "created", "lastModified", "location", "version"]
    # RFC 7643 §3.1: common attributes, in no schema's /Schemas listing.
    assert not rid.advertised
    assert not meta.advertised
    external = rtype.schema.attribute("externalId")
    assert external is not None
    assert (external.mutability, external.case_exact) == (READ_WRITE, True)


@pytest.mark.parametrize(("rtype", "name"), [(USER, "userName"), (GROUP, "displayName")])
def test_the_matching_name_is_required_and_unique_case_insensitively(
        rtype: ResourceType, name: str) -> None:
    attr = rtype.schema.attribute(name)
    assert attr is not None
    assert (attr.type, attr.required, attr.uniqueness, attr.case_exact) == (
        STRING, True, "server", False)
    assert rtype.schema.required == (attr,)


def test_user_has_no_password_and_read_only_groups_on_request() -> None:
    # A provisioning connector has no use for a password: it is not even declared.
    assert USER.resolve("password") is None
    groups = USER_SCHEMA.attribute("groups")
    assert groups is not None
    assert (groups.multi_valued, groups.mutability, groups.returned) == (True, READ_ONLY, REQUEST)
    # The only core attribute the default view does not show whole.
    assert {a.name for a in USER_SCHEMA.attributes} - USER.shown_whole == {"groups"}


def test_group_members() -> None:
    members = GROUP_SCHEMA.attribute("members")
    assert members is not None
    assert (members.type, members.multi_valued, members.mutability) == (COMPLEX, True, READ_WRITE)
    value, ref, display, kind = (members.sub(n) for n in ("value", "$ref", "display", "type"))
    assert value is not None
    assert ref is not None
    assert display is not None
    assert kind is not None
    # A member is identified by its id, compared exactly; a member is added or removed, never
    # changed into another.
    assert (value.case_exact, value.mutability) == (True, IMMUTABLE)
    assert (ref.type, ref.reference_types) == (REFERENCE, ("User", "Group"))
    assert display.mutability == READ_ONLY
    assert kind.canonical_values == ("User", "Group")


# --------------------------------------------------------------------------------------------
# Enterprise User (RFC 7643 §4.3) and 8x8
# --------------------------------------------------------------------------------------------


def test_enterprise_user_attributes() -> None:
    assert [a.name for a in ENTERPRISE_SCHEMA.attributes] == [
        "employeeNumber", "costCenter", "organization", "division", "department", "manager"]
    assert all(a.mutability == READ_WRITE and not a.required and not a.multi_valued
               for a in ENTERPRISE_SCHEMA.attributes)
    manager = ENTERPRISE_SCHEMA.attribute("manager")
    assert manager is not None
    assert [(s.name, s.mutability) for s in manager.sub_attributes] == [
        ("value", READ_WRITE), ("$ref", READ_WRITE), ("displayName", READ_ONLY)]


def test_site_is_the_8x8_extensions_one_attribute_and_immutable() -> None:
    [site] = EIGHT_BY_EIGHT_SCHEMA.attributes
    assert site.name == "site"
    assert (site.type, site.multi_valued, site.required, site.mutability, site.returned) == (
        STRING, False, False, IMMUTABLE, DEFAULT)
    assert EIGHT_BY_EIGHT_SCHEMA.immutable == (site,)
    # What an Entra admin reads in the attribute list to map it correctly.
    assert "Only during object creation" in site.description


def test_site_is_the_only_immutable_attribute_of_a_user() -> None:
    immutable = [(s.id, a.name) for s in USER.all_schemas for a in s.attributes
                 if a.mutability == IMMUTABLE]
    assert immutable == [(EIGHT_BY_EIGHT_URN, "site")]


# --------------------------------------------------------------------------------------------
# What Entra's mappings send
# --------------------------------------------------------------------------------------------

ENT = ENTERPRISE_URN + ":"
# The 8x8 profile's user mappings (docs/entra-admin.md, "Attribute mapping"): (target path,
# the `type eq` filter of the target if any, value type, mutability).
EIGHT_BY_EIGHT_MAPPING = [
    ("userName", None, STRING, READ_WRITE),
    ("externalId", None, STRING, READ_WRITE),
    ("active", None, BOOLEAN, READ_WRITE),
    ("title", None, STRING, READ_WRITE),
    ("emails.value", "work", STRING, READ_WRITE),
    ("name.givenName", None, STRING, READ_WRITE),
    ("name.familyName", None, STRING, READ_WRITE),
    ("phoneNumbers.value", "mobile", STRING, READ_WRITE),
    ("phoneNumbers.value", "work", STRING, READ_WRITE),
    (ENT + "department", None, STRING, READ_WRITE),
    (EIGHT_BY_EIGHT_URN + ":site", None, STRING, IMMUTABLE),
    ("locale", None, STRING, READ_WRITE),
    ("timezone", None, STRING, READ_WRITE),
]
# Microsoft's reference table of user mappings beyond the 8x8 profile ("Design your user and
# group schema", https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
ENTRA_REFERENCE_MAPPING = [
    ("displayName", None, STRING, READ_WRITE),
    (ENT + "employeeNumber", None, STRING, READ_WRITE),
    ("phoneNumbers.value", "fax", STRING, READ_WRITE),
    (ENT + "manager", None, COMPLEX, READ_WRITE),
    (ENT + "manager.value", None, STRING, READ_WRITE),
    ("addresses.postalCode", "work", STRING, READ_WRITE),
    ("emails.value", "other", STRING, READ_WRITE),
    ("addresses.formatted", "other", STRING, READ_WRITE),
    ("addresses.streetAddress", "work", STRING, READ_WRITE),
]


@pytest.mark.parametrize(("path", "type_filter", "kind", "mutability"),
                         EIGHT_BY_EIGHT_MAPPING + ENTRA_REFERENCE_MAPPING)
def test_every_mapped_user_attribute_is_declared_writable_with_its_type(
        path: str, type_filter: str | None, kind: str, mutability: str) -> None:
    resolved = USER.resolve(path)
    assert resolved is not None, path
    assert resolved.attribute is not None
    target = need(USER, path)
    assert (target.type, target.mutability, target.multi_valued) == (kind, mutability, False)
    # The attribute holding it must take writes too (a read-only parent refuses the child).
    assert resolved.attribute.mutability in (READ_WRITE, IMMUTABLE)
    if type_filter is not None:
        # `emails[type eq "work"].value`: a multi-valued attribute whose `type` offers the value.
        assert resolved.attribute.multi_valued
        kind_sub = resolved.attribute.sub("type")
        assert kind_sub is not None
        assert type_filter in kind_sub.canonical_values


@pytest.mark.parametrize(("path", "kind"), [
    ("displayName", STRING), ("externalId", STRING), ("members", COMPLEX),
    ("members.value", STRING)])
def test_every_mapped_group_attribute_is_declared(path: str, kind: str) -> None:
    # Entra's group mappings: displayName, objectId -> externalId, members (PATCHed by id).
    assert need(GROUP, path).type == kind
    assert need(GROUP, path).mutability in (READ_WRITE, IMMUTABLE)
