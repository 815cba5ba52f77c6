"""Attribute paths (RFC 7644 §3.10): parsing, and resolution against a resource type's schemas."""

from __future__ import annotations

import pytest

from shared.scim.attr_path import AttrPath, is_attr_name, parse_attr_path, resolve_path
from shared.scim.errors import ScimError
from shared.scim.schemas import (
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_SCHEMA,
    ENTERPRISE_URN,
    GROUP,
    USER,
    USER_SCHEMA,
    USER_URN,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName", AttrPath(None, "userName")),
        ("name.givenName", AttrPath(None, "name", "givenName")),
        ("members.$ref", AttrPath(None, "members", "$ref")),
        ("x509Certificates", AttrPath(None, "x509Certificates")),
        ("a-b_c9", AttrPath(None, "a-b_c9")),
        (f"{USER_URN}:userName", AttrPath(USER_URN, "userName")),
        (f"{ENTERPRISE_URN}:manager.value", AttrPath(ENTERPRISE_URN, "manager", "value")),
        (f"{ENTERPRISE_URN}:employeeNumber", AttrPath(ENTERPRISE_URN, "employeeNumber")),
        (f"{EIGHT_BY_EIGHT_URN}:site", AttrPath(EIGHT_BY_EIGHT_URN, "site")),
        ("URN:Foo:bar", AttrPath("URN:Foo", "bar")),
    ],
)
def test_parse_attr_path(text: str, expected: AttrPath) -> None:
    assert parse_attr_path(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Invalid attribute name ''"),
        ("1abc", "Invalid attribute name '1abc' at position 0"),
        ("name.", "Invalid sub-attribute name '' at position 5"),
        ("a.b.c", "only one level of sub-attribute"),
        ("foo:bar", "only a schema URN prefix"),
        ("urn:bar", "Malformed schema URN 'urn'"),
        ("urn::x", "Malformed schema URN 'urn:'"),
        (f"{ENTERPRISE_URN}:", "Expected an attribute name after the schema URN"),
        ("user name", "Invalid attribute name 'user name'"),
    ],
)
def test_parse_attr_path_errors(text: str, fragment: str) -> None:
    with pytest.raises(ScimError) as err:
        parse_attr_path(text)
    assert err.value.status == 400
    assert err.value.scim_type == "invalidPath"
    assert fragment in err.value.detail
    assert repr(text) in err.value.detail


@pytest.mark.parametrize("text", ["userName", "x509Certificates", "a-b_c9", "$ref", "$REF"])
def test_is_attr_name_accepts_names(text: str) -> None:
    assert is_attr_name(text)


@pytest.mark.parametrize("text", ["", "1abc", "a.b", "urn:x:y", "a b", "-a", "$refx"])
def test_is_attr_name_refuses_non_names(text: str) -> None:
    assert not is_attr_name(text)


def test_resolve_path() -> None:
    r = resolve_path(parse_attr_path("NAME.GIVENNAME"), USER)
    assert r is not None
    assert r.canonical == "name.givenName"
    r = resolve_path(parse_attr_path(f"{ENTERPRISE_URN.lower()}:Manager.Value"), USER)
    assert r is not None
    assert r.schema is ENTERPRISE_SCHEMA
    assert r.canonical == f"{ENTERPRISE_URN}:manager.value"
    r = resolve_path(parse_attr_path(f"{USER_URN}:userName"), USER)
    assert r is not None
    assert (r.schema, r.is_extension, r.canonical) == (USER_SCHEMA, False, "userName")


def test_resolve_bare_extension_urn() -> None:
    path = parse_attr_path(ENTERPRISE_URN)
    assert path == AttrPath(ENTERPRISE_URN.rsplit(":", 1)[0], "User")
    r = resolve_path(path, USER)
    assert r is not None
    assert (r.schema, r.attribute, r.is_extension) == (ENTERPRISE_SCHEMA, None, True)


@pytest.mark.parametrize(
    "text", ["nope", "name.nope", "urn:x:y:userName", f"{ENTERPRISE_URN}:nope"]
)
def test_resolve_unknown_is_none(text: str) -> None:
    assert resolve_path(parse_attr_path(text), USER) is None


def test_resolve_unqualified_extension_attribute() -> None:
    # Entra's reference check sends `manager eq …` without the enterprise URN.
    r = resolve_path(parse_attr_path("Manager.value"), USER)
    assert r is not None
    assert r.canonical == f"{ENTERPRISE_URN}:manager.value"
    r = resolve_path(parse_attr_path("site"), USER)
    assert r is not None
    assert r.canonical == f"{EIGHT_BY_EIGHT_URN}:site"
    # The core schema wins over extensions, and a URN-qualified path never falls back.
    r = resolve_path(parse_attr_path("userName"), USER)
    assert r is not None
    assert not r.is_extension
    assert resolve_path(parse_attr_path(f"{USER_URN}:manager"), USER) is None


def test_resolve_extension_not_on_resource_type() -> None:
    assert resolve_path(parse_attr_path(f"{ENTERPRISE_URN}:department"), GROUP) is None
