"""shared.scim.filter_validation: well-formed filters that cannot mean anything for a resource
type are refused with invalidFilter (RFC 7644 §3.4.2.2); unknown attributes are not errors,
unless the type refuses undeclared attributes."""

from __future__ import annotations

import pytest

from shared.scim.errors import ScimError
from shared.scim.filter import parse_filter
from shared.scim.filter_validation import validate_filter
from shared.scim.schemas import ENTERPRISE_URN, GROUP, USER, USER_URN


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("active gt true", "'active gt' is not allowed: boolean attributes cannot be ordered"),
        ("emails ge \"x\"", "complex attributes cannot be ordered"),
        ("x509Certificates.value lt \"x\"", "binary attributes cannot be ordered"),
        ("active co \"t\"", "boolean attributes take only eq, ne and pr"),
        ("active eq \"yes\"", "'active' is boolean; expected true or false, got \"yes\""),
        ("active eq 1", "expected true or false, got 1"),
        ("meta.created gt \"yesterday\"", "'meta.created' is a dateTime; expected an ISO 8601"),
        ("name eq \"x\"", "'name' is complex; compare one of its sub-attributes"),
        # Not an extension of this type (custom ones end with `:User`): no attribute at all.
        ("urn:example:nope:1.0:Device:foo eq \"x\"", "Unknown schema URN in"),
        ("urn:example:nope:1.0:Device:foo pr", "Unknown schema URN in"),
        ("userName[value eq \"x\"]", "value filters apply only to complex attributes"),
        ("emails[primary gt true]", "'emails.primary gt' is not allowed"),
        ("not (active gt true)", "boolean attributes cannot be ordered"),
        ("title pr or active lt false", "boolean attributes cannot be ordered"),
    ],
)
def test_validate_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ScimError) as err:
        validate_filter(parse_filter(text), USER)
    assert err.value.scim_type == "invalidFilter"
    assert fragment in err.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "nope eq 1",  # unknown attributes are not errors: they match nothing
        "nope gt 1",
        "name.nope eq 1",
        f"{ENTERPRISE_URN}:nope eq 1",
        'active eq "True"',
        "active eq TRUE",
        "active ne false",
        "active eq null",
        "meta.created co \"2011\"",
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        'emails co "x" and emails[type eq "work" and primary eq true]',
        'manager eq "x"',
        "title pr",
        'schemas eq "x"',
        "emails[nope eq 1]",
        f"{USER_URN}:userName eq x",
        # Undeclared attributes a User may have captured, Entra's custom ones among them.
        "urn:example:nope:1.0:User:foo eq \"x\"",
        "urn:example:nope:1.0:User:foo pr",
        "urn:example:nope:1.0:User:foo gt 5",
        "urn:example:nope:1.0:User:foo[value eq 1]",
        "nope[value eq 1]",
    ],
)
def test_validate_accepts(text: str) -> None:
    validate_filter(parse_filter(text), USER)


@pytest.mark.parametrize(("text", "named"), [
    ("nope eq 1", "nope"),
    ("title pr and not (nope pr)", "nope"),
    (f"{ENTERPRISE_URN}:nope eq 1", f"{ENTERPRISE_URN}:nope"),
    ("urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute eq "
     "701984", "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:"
     "CustomAttribute"),
    ("emails co \"x\" or nope[value eq 1]", "nope"),
])
def test_a_type_that_refuses_undeclared_attributes_refuses_filters_on_them(
    text: str, named: str
) -> None:
    with pytest.raises(ScimError) as err:
        validate_filter(parse_filter(text), USER.extended(undeclared="reject"))
    assert err.value.scim_type == "invalidFilter"
    assert err.value.detail.startswith(f"{named} is not declared for this tenant")
    assert "declare it with: python -m shared.admin schema add TENANT FILE.json" in (
        err.value.detail)


@pytest.mark.parametrize("text", ["name.nope eq 1", "password eq 1", "emails[nope eq 1]"])
def test_a_type_that_refuses_undeclared_attributes_still_ignores_unknown_sub_attributes(
    text: str,
) -> None:
    # Unknown sub-attributes of declared attributes are never captured, so never undeclared.
    validate_filter(parse_filter(text), USER.extended(undeclared="reject"))


def test_validate_unknown_urn_on_group() -> None:
    with pytest.raises(ScimError, match="Unknown schema URN"):
        validate_filter(parse_filter(f"{ENTERPRISE_URN}:department eq x"), GROUP)
