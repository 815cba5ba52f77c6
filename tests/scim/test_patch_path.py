"""PATCH path parsing (RFC 7644 §3.5.2): attribute paths with optional value filters."""

from __future__ import annotations

import pytest

from shared.scim.attr_path import AttrPath
from shared.scim.errors import ScimError
from shared.scim.filter import And, Compare
from shared.scim.patch_path import PatchPath, parse_patch_path
from shared.scim.schemas import EIGHT_BY_EIGHT_URN, ENTERPRISE_URN, USER_URN

T = AttrPath(None, "type")


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
