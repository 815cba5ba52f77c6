"""Attribute and PATCH path parsing (RFC 7644 §3.10, §3.5.2) and resolution against schemas."""

from __future__ import annotations

import pytest

from shared.scim.errors import ScimError
from shared.scim.filter import And, Compare
from shared.scim.path import (
    AttrPath,
    PatchPath,
    parse_attr_path,
    parse_patch_path,
    resolve_path,
)
from shared.scim.schemas import (
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_SCHEMA,
    ENTERPRISE_URN,
    GROUP,
    USER,
    USER_SCHEMA,
    USER_URN,
)

T = AttrPath(None, "type")


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("members", PatchPath(AttrPath(None, "members"))),
        (
            'members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]',
            PatchPath(
                AttrPath(None, "members"),
                Compare(AttrPath(None, "value"), "eq", "7f4bc1a3-285e-48ae-8202-5accb43efb0e"),
            ),
        ),
        (
            'emails[type eq "work"].value',
            PatchPath(AttrPath(None, "emails"), Compare(T, "eq", "work"), "value"),
        ),
        (
            'phoneNumbers[type eq "mobile"].value',
            PatchPath(AttrPath(None, "phoneNumbers"), Compare(T, "eq", "mobile"), "value"),
        ),
        (
            'roles[primary eq "True"].value',
            PatchPath(
                AttrPath(None, "roles"), Compare(AttrPath(None, "primary"), "eq", "True"), "value"
            ),
        ),
        (
            'addresses[type eq "work"].streetAddress',
            PatchPath(AttrPath(None, "addresses"), Compare(T, "eq", "work"), "streetAddress"),
        ),
        ("name.givenName", PatchPath(AttrPath(None, "name", "givenName"))),
        (
            f"{ENTERPRISE_URN}:employeeNumber",
            PatchPath(AttrPath(ENTERPRISE_URN, "employeeNumber")),
        ),
        (f"{ENTERPRISE_URN}:manager", PatchPath(AttrPath(ENTERPRISE_URN, "manager"))),
        (f"{EIGHT_BY_EIGHT_URN}:site", PatchPath(AttrPath(EIGHT_BY_EIGHT_URN, "site"))),
        (
            'emails[type eq "work" and value co "@example.com"]',
            PatchPath(
                AttrPath(None, "emails"),
                And(Compare(T, "eq", "work"), Compare(AttrPath(None, "value"), "co",
                                                      "@example.com")),
            ),
        ),
        (
            f'{USER_URN}:emails[type eq "work"].value',
            PatchPath(AttrPath(USER_URN, "emails"), Compare(T, "eq", "work"), "value"),
        ),
        # Entra-style unquoted filter value inside a path.
        ("members[value eq 7f4b]", PatchPath(
            AttrPath(None, "members"), Compare(AttrPath(None, "value"), "eq", "7f4b"))),
    ],
)
def test_parse_patch_path(text: str, expected: PatchPath) -> None:
    assert parse_patch_path(text) == expected
    assert parse_patch_path(str(expected)) == expected


def test_patch_path_str_is_canonical() -> None:
    assert str(parse_patch_path("emails[ type  EQ  \"work\" ].value")) == (
        'emails[type eq "work"].value'
    )


def test_patch_path_surrounding_whitespace_is_ignored() -> None:
    assert parse_patch_path("  userName ") == PatchPath(AttrPath(None, "userName"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "PATCH path is empty"),
        ("   ", "PATCH path is empty"),
        ("[type eq \"work\"]", "Expected an attribute name at position 0"),
        ("emails[type eq \"work\"]x", "Unexpected 'x' at position 22"),
        ("emails[type eq \"work\"].", "Invalid sub-attribute name '' at position 23"),
        ("emails[type eq \"work\"].va lue", "Invalid sub-attribute name 'va lue'"),
        ("name.givenName[type eq \"x\"]", "must follow a multi-valued attribute"),
        ("emails]", "Unexpected ']' at position 6"),
        ("emails[type eq \"a\"][x pr]", "Unexpected '[x pr]' at position 19"),
        ("user name", "Unexpected ' ' at position 4"),
        ("1userName", "Invalid attribute name '1userName'"),
        ("x" * 5000, "limit is 4096"),
    ],
)
def test_parse_patch_path_errors(text: str, fragment: str) -> None:
    with pytest.raises(ScimError) as err:
        parse_patch_path(text)
    assert err.value.status == 400
    assert err.value.scim_type == "invalidPath"
    assert fragment in err.value.detail


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("emails[type eq]", "Expected a value after 'eq' at position 14; got ']'"),
        ("emails[type eq \"work\"", "Expected ']' to close the '[' at position 6"),
        ("emails[type equals \"work\"]", "Expected a comparison operator"),
        ("emails[]", "Expected an attribute name, 'not' or '(' at position 7"),
    ],
)
def test_malformed_filter_inside_path_is_invalid_filter(text: str, fragment: str) -> None:
    # RFC 7644 §3.12 Table 9 assigns invalidFilter to PATCH path filters.
    with pytest.raises(ScimError) as err:
        parse_patch_path(text)
    assert err.value.scim_type == "invalidFilter"
    assert fragment in err.value.detail
    assert repr(text) in err.value.detail


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
