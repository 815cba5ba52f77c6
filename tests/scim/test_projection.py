"""shared.scim.projection: attributes / excludedAttributes (RFC 7644 §3.4.2.5, §3.9) and the
`returned` characteristic (RFC 7643 §2.4)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.projection import default_view, parse_attribute_list, project
from shared.scim.resource import normalize
from shared.scim.schemas import (
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_URN,
    GROUP,
    GROUP_URN,
    USER,
    USER_URN,
)
from tests.scim.test_resource import plausible_user_bodies

META = {
    "resourceType": "User",
    "created": "2018-03-27T19:59:26.000Z",
    "lastModified": "2018-03-27T19:59:26.000Z",
    "location": "https://example.com/scim/v2/t1/Users/2819c223",
    "version": 'W/"3694e05e9dff591"',
}

# A stored user as the service would hand it over: canonical, with id and meta (and, for this
# test, groups, which the service returns only on request).
USER_DOC: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN],
    "id": "2819c223",
    "externalId": "0a21f0f2",
    "meta": META,
    "userName": "bjensen@example.com",
    "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
             "givenName": "Barbara"},
    "displayName": "Babs Jensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    "groups": [{"value": "e9e30dba", "display": "Tour Guides", "type": "direct"}],
    ENTERPRISE_URN: {"employeeNumber": "701984", "department": "Tour Operations",
                     "manager": {"value": "26118915", "$ref": "../Users/26118915"}},
    EIGHT_BY_EIGHT_URN: {"site": "Paris"},
}

GROUP_DOC: dict[str, Any] = {
    "schemas": [GROUP_URN],
    "id": "40734ae655284ad3abcc",
    "externalId": "60f1bb27-2e1e-402d-bcc4-ec999564a194",
    "meta": {"resourceType": "Group", "created": "2018-03-27T19:59:26.000Z",
             "lastModified": "2018-03-27T19:59:26.000Z"},
    "displayName": "displayName",
    "members": [{"value": "f648f8d5ea4e4cd38e9c", "display": "Babs", "type": "User"}],
}


def default_user() -> dict[str, Any]:
    """USER_DOC as returned by default: no password, no groups."""
    return {k: v for k, v in USER_DOC.items() if k not in ("password", "groups")}


# --------------------------------------------------------------------------------------------
# parse_attribute_list
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, None),
        ("", None),
        (" , ,", None),
        ("userName", ["userName"]),
        ("userName,emails", ["userName", "emails"]),
        (" userName , name.givenName ,,", ["userName", "name.givenName"]),
        (f"{ENTERPRISE_URN}:department", [f"{ENTERPRISE_URN}:department"]),
    ],
)
def test_parse_attribute_list(raw: str | None, parsed: list[str] | None) -> None:
    assert parse_attribute_list(raw) == parsed


# --------------------------------------------------------------------------------------------
# Default set
# --------------------------------------------------------------------------------------------


def test_default_returns_everything_but_never_and_request_attributes() -> None:
    assert project(USER_DOC, USER) == default_user()


def test_default_keeps_meta_and_schemas_first() -> None:
    out = project(USER_DOC, USER)
    assert next(iter(out)) == "schemas"
    assert out["meta"] == META


def test_project_neither_mutates_nor_shares_with_the_document() -> None:
    doc = copy.deepcopy(USER_DOC)
    out = project(doc, USER)
    out["emails"][0]["value"] = "changed"
    out[ENTERPRISE_URN]["manager"]["value"] = "changed"
    out["schemas"].append("x")
    assert doc == USER_DOC


def test_schemas_are_recomputed_from_the_output() -> None:
    doc = {**USER_DOC, "schemas": [USER_URN]}  # a stale list in the stored document
    assert project(doc, USER)["schemas"] == [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN]


def test_disabled_user_keeps_active_false() -> None:
    # SCIM Validator "Patch User - Disable User": active must be in GET and filter responses.
    assert project({**USER_DOC, "active": False}, USER)["active"] is False


# --------------------------------------------------------------------------------------------
# attributes= (RFC 7644 §3.4.2.5: only those, plus `always`)
# --------------------------------------------------------------------------------------------


def test_attributes_username_rfc_example() -> None:
    # RFC 7644 §3.4.2.5 / §3.9: GET /Users/2819c223…?attributes=userName
    assert project(USER_DOC, USER, ["userName"]) == {
        "schemas": [USER_URN],
        "id": "2819c223",
        "userName": "bjensen@example.com",
    }


def test_attributes_id_only_entra_reference_query() -> None:
    # Entra's reference check: …filter=id eq X and manager eq Y&attributes=id
    assert project(USER_DOC, USER, ["id"]) == {"schemas": [USER_URN], "id": "2819c223"}


def test_attributes_postman_username_and_emails() -> None:
    assert project(USER_DOC, USER, parse_attribute_list("userName,emails")) == {
        "schemas": [USER_URN],
        "id": "2819c223",
        "userName": "bjensen@example.com",
        "emails": USER_DOC["emails"],
    }


def test_attributes_sub_attribute_of_a_complex_attribute() -> None:
    assert project(USER_DOC, USER, ["name.givenName"]) == {
        "schemas": [USER_URN], "id": "2819c223", "name": {"givenName": "Barbara"},
    }


def test_attributes_sub_attribute_of_a_multi_valued_attribute() -> None:
    out = project(USER_DOC, USER, ["emails.value", "emails.type"])
    assert out["emails"] == [
        {"value": "bjensen@example.com", "type": "work"},
        {"value": "babs@jensen.org", "type": "home"},
    ]


def test_attributes_sub_attribute_drops_elements_left_empty() -> None:
    doc = {**USER_DOC, "emails": [{"value": "a@b", "type": "work"}, {"value": "c@d"}]}
    assert project(doc, USER, ["emails.type"])["emails"] == [{"type": "work"}]


def test_attributes_whole_attribute_wins_over_its_sub_attribute() -> None:
    for order in (["emails.value", "emails"], ["emails", "emails.value"]):
        assert project(USER_DOC, USER, order)["emails"] == USER_DOC["emails"]


def test_attributes_extension_attribute() -> None:
    out = project(USER_DOC, USER, [f"{ENTERPRISE_URN}:department"])
    assert out == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": "2819c223",
        ENTERPRISE_URN: {"department": "Tour Operations"},
    }


def test_attributes_extension_sub_attribute() -> None:
    out = project(USER_DOC, USER, [f"{ENTERPRISE_URN}:manager.value"])
    assert out[ENTERPRISE_URN] == {"manager": {"value": "26118915"}}


def test_attributes_whole_extension() -> None:
    out = project(USER_DOC, USER, [ENTERPRISE_URN, f"{ENTERPRISE_URN}:department"])
    assert out == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": "2819c223",
        ENTERPRISE_URN: USER_DOC[ENTERPRISE_URN],
    }


def test_attributes_fully_qualified_core_name() -> None:
    out = project(USER_DOC, USER, [f"{USER_URN}:userName"])
    assert out == {"schemas": [USER_URN], "id": "2819c223", "userName": "bjensen@example.com"}


def test_attribute_names_are_case_insensitive() -> None:
    out = project(
        USER_DOC, USER,
        ["USERNAME", "Name.GivenName", ENTERPRISE_URN.upper() + ":DEPARTMENT",
         "urn:ietf:params:scim:schemas:extension:8X8:1.1:user"],
    )
    assert out == {
        "schemas": [USER_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN],
        "id": "2819c223",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara"},
        ENTERPRISE_URN: {"department": "Tour Operations"},
        EIGHT_BY_EIGHT_URN: {"site": "Paris"},
    }


def test_attributes_meta_only_when_named() -> None:
    assert "meta" not in project(USER_DOC, USER, ["userName"])
    assert project(USER_DOC, USER, ["meta"])["meta"] == META
    assert project(USER_DOC, USER, ["meta.lastModified"])["meta"] == {
        "lastModified": "2018-03-27T19:59:26.000Z"
    }


def test_never_attribute_is_never_returned() -> None:
    # No served schema has a `returned: never` attribute (password is not stored at all), so
    # the rule is checked on a schema made for the test.
    from shared.scim.schema import NEVER, Attribute, ResourceType, Schema

    secret = Schema("urn:test:Secret", "Secret", "", (
        Attribute("id", returned="always"), Attribute("name"),
        Attribute("pin", returned=NEVER)))
    rtype = ResourceType("Secret", "/Secrets", "", secret)
    doc = {"schemas": ["urn:test:Secret"], "id": "1", "name": "n", "pin": "1234"}
    assert "pin" not in project(doc, rtype)
    assert "pin" not in project(doc, rtype, ["pin", "name"])


def test_request_attribute_only_when_named() -> None:
    assert "groups" not in project(USER_DOC, USER)
    assert "groups" not in project(USER_DOC, USER, ["userName"])
    assert "groups" not in project(USER_DOC, USER, excluded=["emails"])
    assert project(USER_DOC, USER, ["groups"])["groups"] == USER_DOC["groups"]
    assert project(USER_DOC, USER, ["groups.display"])["groups"] == [{"display": "Tour Guides"}]


def test_attribute_not_in_the_document_is_simply_absent() -> None:
    assert project(USER_DOC, USER, ["nickName", "addresses"]) == {
        "schemas": [USER_URN], "id": "2819c223",
    }


def test_unknown_names_are_ignored() -> None:
    out = project(USER_DOC, USER, ["bogus", "name.bogus", "urn:x:y:z", "userName"])
    assert out == {"schemas": [USER_URN], "id": "2819c223", "userName": "bjensen@example.com"}
    assert project(USER_DOC, USER, ["bogus"]) == {"schemas": [USER_URN], "id": "2819c223"}


def test_value_filter_in_attributes_reads_as_the_attribute() -> None:
    # Postman #40-41: attributes=emails[type eq "work"] (not RFC syntax): the whole attribute.
    out = project(USER_DOC, USER, ['emails[type eq "work"]'])
    assert out["emails"] == USER_DOC["emails"]


def test_attributes_win_over_excluded_attributes() -> None:
    out = project(USER_DOC, USER, ["userName"], ["userName"])
    assert out["userName"] == "bjensen@example.com"


def test_empty_attribute_list_means_the_default_set() -> None:
    assert project(USER_DOC, USER, []) == default_user()


# --------------------------------------------------------------------------------------------
# excludedAttributes=
# --------------------------------------------------------------------------------------------


def test_group_excluded_members_matches_the_entra_get_group_response() -> None:
    # The tutorial's "Get Group": GET /Groups/{id}?excludedAttributes=members
    assert project(GROUP_DOC, GROUP, excluded=parse_attribute_list("members")) == {
        "schemas": [GROUP_URN],
        "id": "40734ae655284ad3abcc",
        "externalId": "60f1bb27-2e1e-402d-bcc4-ec999564a194",
        "meta": GROUP_DOC["meta"],
        "displayName": "displayName",
    }


def test_group_excluded_members_in_any_case() -> None:
    assert "members" not in project(GROUP_DOC, GROUP, excluded=["MEMBERS"])


def test_group_default_includes_members() -> None:
    assert project(GROUP_DOC, GROUP)["members"] == GROUP_DOC["members"]


def test_group_attributes_display_name() -> None:
    assert project(GROUP_DOC, GROUP, ["displayName"]) == {
        "schemas": [GROUP_URN], "id": "40734ae655284ad3abcc", "displayName": "displayName",
    }


def test_always_attributes_cannot_be_excluded() -> None:
    out = project(USER_DOC, USER, excluded=["id", "schemas"])
    assert out["id"] == "2819c223"
    assert out["schemas"][0] == USER_URN


def test_excluded_sub_attribute() -> None:
    out = project(USER_DOC, USER, excluded=["emails.primary", "name.formatted"])
    assert out["emails"] == [
        {"value": "bjensen@example.com", "type": "work"},
        {"value": "babs@jensen.org", "type": "home"},
    ]
    assert out["name"] == {"familyName": "Jensen", "givenName": "Barbara"}


def test_excluding_every_sub_attribute_removes_the_attribute() -> None:
    doc = {**USER_DOC, "phoneNumbers": [{"value": "555"}]}
    assert "phoneNumbers" not in project(doc, USER, excluded=["phoneNumbers.value"])


def test_excluded_extension_attribute_and_whole_extension() -> None:
    out = project(USER_DOC, USER, excluded=[f"{ENTERPRISE_URN}:department", EIGHT_BY_EIGHT_URN])
    assert out[ENTERPRISE_URN] == {"employeeNumber": "701984",
                                   "manager": {"value": "26118915", "$ref": "../Users/26118915"}}
    assert EIGHT_BY_EIGHT_URN not in out
    assert out["schemas"] == [USER_URN, ENTERPRISE_URN]


def test_excluding_every_extension_attribute_drops_the_extension_from_schemas() -> None:
    out = project(USER_DOC, USER, excluded=[f"{EIGHT_BY_EIGHT_URN}:site"])
    assert EIGHT_BY_EIGHT_URN not in out
    assert out["schemas"] == [USER_URN, ENTERPRISE_URN]


def test_excluded_unknown_names_are_ignored() -> None:
    assert project(USER_DOC, USER, excluded=["bogus", "urn:x:y"]) == default_user()


def test_excluded_meta() -> None:
    assert "meta" not in project(USER_DOC, USER, excluded=["meta"])


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    try:
        doc = normalize(body, USER)
    except ScimError:
        reject()  # the generator's random extra keys can make a body invalid; not this test
    return {**doc, "id": "abc", "meta": {"resourceType": "User"}}


_PATHS = [
    "userName", "name", "name.givenName", "emails", "emails.value", "emails.type", "active",
    "meta", "meta.created", "groups", "password", "roles.display", ENTERPRISE_URN,
    f"{ENTERPRISE_URN}:manager", f"{ENTERPRISE_URN}:manager.value",
    f"{ENTERPRISE_URN}:department", EIGHT_BY_EIGHT_URN, f"{EIGHT_BY_EIGHT_URN}:site", "bogus",
]


@_SETTINGS
@given(plausible_user_bodies())
def test_default_projection_keeps_every_default_attribute(body: dict[str, Any]) -> None:
    doc = _stored(body)
    # normalize already dropped groups (readOnly); password is the only thing left to hide
    assert project(doc, USER) == {k: v for k, v in doc.items() if k != "password"}


@_SETTINGS
@given(plausible_user_bodies(), st.lists(st.sampled_from(_PATHS), max_size=4))
def test_projection_only_narrows(body: dict[str, Any], paths: list[str]) -> None:
    doc = _stored(body)
    for out in (project(doc, USER, paths), project(doc, USER, excluded=paths)):
        assert out["id"] == "abc"
        assert "password" not in out
        assert set(out) <= set(doc)
        assert out["schemas"] == [USER_URN, *(k for k in out if k.startswith("urn:"))]


# --------------------------------------------------------------------------------------------
# default_view: the default set without copies, for encoding


@_SETTINGS
@given(plausible_user_bodies(), st.booleans(), st.booleans())
def test_default_view_is_the_default_projection_or_declines(
        body: dict[str, Any], with_groups: bool, stale_schemas: bool) -> None:
    doc = {**_stored(body), "meta": META}
    if with_groups:
        doc["groups"] = USER_DOC["groups"]
    if stale_schemas:
        doc["schemas"] = [USER_URN]  # both recompute the list from what is shown
    shown = default_view(doc, USER)
    if "password" in doc or with_groups:  # `never` / `request`: only project() hides them
        assert shown is None
    else:
        assert shown is not None
        assert json.dumps(shown) == json.dumps(project(doc, USER))  # key order included


@pytest.mark.parametrize("members", [[], [{"value": "u1", "$ref": "https://x/Users/u1",
                                           "type": "User"}, {"value": "u2"}]])
def test_default_view_of_a_group_with_and_without_members(members: list[Any]) -> None:
    doc = {"schemas": [GROUP_URN], "id": "g1", "displayName": "Ops", "meta": META,
           **({"members": members} if members else {})}
    assert json.dumps(default_view(doc, GROUP)) == json.dumps(project(doc, GROUP))


def test_default_view_shares_the_documents_values() -> None:
    # What makes it cheap, and why its result is only for encoding (project() copies).
    doc = {k: v for k, v in USER_DOC.items() if k != "groups"}
    shown = default_view(doc, USER)
    assert shown is not None
    assert shown["emails"] is doc["emails"]
