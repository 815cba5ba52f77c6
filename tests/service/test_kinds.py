"""shared.service.kinds: which attributes of a User and a Group are indexed (and how:
folded or case-exact, unique or not), the filterable column copies, the member-value limit,
and `stored_indexes`, the indexer the store's invariant check and repair use - shown to be
the rows a write really leaves in Azurite. Per-tenant kinds (`TenantKinds`): copies with the
tenant's resource types, and the unique index rows of attributes it declares with
`uniqueness: server`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.schema import INTEGER, Attribute, Schema
from shared.scim.schemas import GROUP as GROUP_TYPE
from shared.scim.schemas import GROUP_URN
from shared.scim.schemas import USER as USER_TYPE
from shared.service.app import ScimService
from shared.service.kinds import (
    DEFAULT_KINDS,
    GROUPS,
    KINDS,
    MAX_WORK_EMAILS,
    USERS,
    Kind,
    TenantKinds,
    check_member_values,
    names_members,
    stored_indexes,
    work_emails,
)
from shared.service.messages import ScimRequest
from shared.store import invariants, keys, layout
from shared.store.directory import Indexes

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
NOW = "2026-01-02T03:04:05.000Z"


def emails(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"type": t, "value": v} for t, v in pairs]


# --------------------------------------------------------------------------------------------
# What is indexed
# --------------------------------------------------------------------------------------------


def test_a_users_username_external_id_and_work_emails_are_indexed() -> None:
    doc = {"userName": "Ada@Example.COM", "externalId": "Ext-1", "displayName": "Ada",
           "emails": emails(("work", "Ada@Work.example"), ("home", "ada@home.example"),
                            ("Work", "second@work.example"))}
    assert USERS.indexes(doc) == Indexes(
        unique={"UN": keys.fold("Ada@Example.COM")},
        multi={"UX": ("Ext-1",),  # externalId is caseExact: as sent
               "UE": (keys.fold("Ada@Work.example"), keys.fold("second@work.example"))})
    assert keys.fold("Ada@Example.COM") == keys.fold("ada@example.com")


def test_a_groups_display_name_and_external_id_are_indexed_and_nothing_else() -> None:
    doc = {"displayName": "Staff", "externalId": "g-1", "emails": emails(("work", "a@b.c"))}
    assert GROUPS.indexes(doc) == Indexes(unique={"GN": keys.fold("Staff")},
                                          multi={"GX": ("g-1",)})


@pytest.mark.parametrize("doc", [
    {}, {"userName": None, "externalId": ""}, {"userName": 7, "externalId": 7},
    {"emails": "a@b.c"}, {"emails": [{"type": "work"}, "x", {"value": "a@b.c"}]},
])
def test_absent_empty_or_non_text_values_have_no_index_row(doc: dict[str, Any]) -> None:
    assert USERS.indexes(doc) == Indexes()


def test_work_emails_in_order_without_repeats() -> None:
    doc = {"emails": emails(("WORK", "b@x"), ("home", "h@x"), ("work", "a@x"), ("work", "b@x"))}
    assert work_emails(doc) == ["b@x", "a@x"]
    assert work_emails({"emails": None}) == []


def test_more_work_emails_than_a_transaction_can_index_is_invalid_value() -> None:
    at_limit = {"emails": emails(*(("work", f"{n}@x") for n in range(MAX_WORK_EMAILS)))}
    assert len(USERS.indexes(at_limit).multi["UE"]) == MAX_WORK_EMAILS
    over = {"emails": emails(*(("work", f"{n}@x") for n in range(MAX_WORK_EMAILS + 1)))}
    with pytest.raises(ScimError) as caught:
        USERS.indexes(over)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidValue")
    assert f"at most {MAX_WORK_EMAILS} work email" in caught.value.detail


@given(doc=st.fixed_dictionaries({}, optional={
    "userName": st.text(max_size=30), "displayName": st.text(max_size=30),
    "externalId": st.text(max_size=30),
    "emails": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["work", "home", "Work"]),
                                              "value": st.text(max_size=20)}), max_size=5)}))
def test_stored_indexes_is_each_kinds_indexer(doc: dict[str, Any]) -> None:
    assert stored_indexes(layout.USER, doc) == USERS.indexes(doc)
    assert stored_indexes(layout.GROUP, doc) == GROUPS.indexes(doc)


def test_the_kinds_by_endpoint() -> None:
    assert KINDS == {"users": USERS, "groups": GROUPS}
    assert (USERS.endpoint, GROUPS.endpoint) == ("/Users", "/Groups")
    assert (USERS.rows, GROUPS.rows) == (layout.USER, layout.GROUP)


def _index_rows(service: ScimService, tenant: str) -> set[str]:
    """Every row of the tenant's partition that is an index row (UN:, UX:, …, XU:, XG:)."""
    return {str(row["RowKey"]) for name in layout.INDEXES
            for row in service.directory.rows(tenant, name + layout.SEPARATOR,
                                              select=["RowKey"])}


def test_a_write_leaves_exactly_the_rows_stored_indexes_names(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    tenant_id, token = tenant
    headers = {"authorization": f"Bearer {token}", "content-type": "application/scim+json"}
    body = (b'{"schemas":["%s"],"userName":"Kim@Example.com","externalId":"K-1",'
            b'"emails":[{"type":"work","value":"kim@work.example"},'
            b'{"type":"home","value":"kim@home.example"}]}' % USER.encode())
    created = scim_service.handle(ScimRequest("POST", tenant_id, "Users", headers=headers,
                                              body=body))
    assert created.status == 201, created.body
    assert created.body is not None
    uid = created.body["id"]
    stored = scim_service.directory.get(tenant_id, layout.USER, uid)
    assert stored is not None
    expected = set(stored_indexes(layout.USER, stored.doc).rows(uid))
    assert len(expected) == 3  # userName, externalId, one work email
    assert _index_rows(scim_service, tenant_id) == expected


# --------------------------------------------------------------------------------------------
# Columns, member values, `members` in a body
# --------------------------------------------------------------------------------------------


def test_columns_copy_the_filterable_scalars() -> None:
    doc = {"userName": "ada", "externalId": "e", "active": True, "title": "t",
           "emails": emails(("work", "a@x"))}
    assert USERS.columns(doc, now=NOW) == {"userName": "ada", "externalId": "e",
                                           "active": True}
    assert GROUPS.columns({"displayName": "G", "externalId": 5}) == {"displayName": "G"}


def test_deactivated_at_is_kept_from_the_stored_row_or_starts_now() -> None:
    off = {"userName": "ada", "active": False}
    assert USERS.columns(off, now=NOW)["deactivatedAt"] == NOW
    earlier = "2025-01-01T00:00:00.000Z"
    assert USERS.columns(off, deactivated_at=earlier, now=NOW)["deactivatedAt"] == earlier
    assert "deactivatedAt" not in USERS.columns({"active": True}, deactivated_at=earlier,
                                                now=NOW)
    assert "deactivatedAt" not in USERS.columns({"userName": "ada"}, now=NOW)


def test_member_values_up_to_a_key_component_are_accepted() -> None:
    check_member_values(["m" * keys.MAX_COMPONENT_BYTES, "\u00e9" * 200, "plain-id"])


@pytest.mark.parametrize("value", ["m" * (keys.MAX_COMPONENT_BYTES + 1), "\u00e9" * 201,
                                   "/" * 134])
def test_a_member_value_too_long_for_a_key_is_invalid_value(value: str) -> None:
    with pytest.raises(ScimError) as caught:
        check_member_values(["ok", value])
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidValue")
    assert "Send the member's id" in caught.value.detail
    assert len(caught.value.detail) < 400  # the value is quoted cut short


@pytest.mark.parametrize(("body", "named"), [
    ({"members": []}, True), ({"MEMBERS": None}, True), ({f"{GROUP_URN}:members": []}, True),
    ({f"{GROUP_URN.upper()}:Members": [{"value": "x"}]}, True),
    ({"displayName": "G"}, False), ({"member": []}, False), ({}, False),
])
def test_names_members(body: dict[str, Any], named: bool) -> None:
    assert names_members(body) is named


# --------------------------------------------------------------------------------------------
# Per-tenant kinds and declared unique attributes
# --------------------------------------------------------------------------------------------

BADGE_URN = "urn:ietf:params:scim:schemas:extension:Badges:2.0:User"
BADGES = Schema(BADGE_URN, "Badges", "", (
    Attribute("badge", uniqueness="server"),
    Attribute("serial", type=INTEGER, uniqueness="server"),
    Attribute("token", case_exact=True, uniqueness="server"),
    Attribute("aliases", multi_valued=True, uniqueness="server"),  # one row holds one value
    Attribute("note"),
))
BADGE_USER = USER_TYPE.extended([BADGES])
TENANT_KINDS = TenantKinds.of(BADGE_USER, GROUP_TYPE)
BADGE_USERS = TENANT_KINDS.users


def xu(attr: str, value: str) -> str:
    return layout.declared_index(layout.USER_DECLARED, f"{BADGE_URN}:{attr}") + ":" + value


def test_a_tenant_without_declarations_shares_the_module_kinds() -> None:
    assert TenantKinds.of(USER_TYPE, GROUP_TYPE) is DEFAULT_KINDS
    assert (DEFAULT_KINDS.users, DEFAULT_KINDS.groups) == (USERS, GROUPS)
    assert (DEFAULT_KINDS.at("users"), DEFAULT_KINDS.at("groups"), DEFAULT_KINDS.at("me")) == (
        USERS, GROUPS, None)
    assert USERS.declared_unique == ()
    assert GROUPS.declared_unique == ()


def test_a_tenants_kinds_are_copies_with_its_resource_types() -> None:
    assert BADGE_USERS is not USERS
    assert BADGE_USERS.rtype is BADGE_USER
    assert (BADGE_USERS.rows, BADGE_USERS.unique_index) == (USERS.rows, USERS.unique_index)
    assert TENANT_KINDS.groups.rtype is GROUP_TYPE
    # Told apart by what they store, not by identity with the module's objects.
    assert not BADGE_USERS.is_group
    assert TENANT_KINDS.groups.is_group
    assert TENANT_KINDS.rtypes == (BADGE_USER, GROUP_TYPE)


def test_a_tenants_kinds_are_made_once_per_resource_types() -> None:
    assert TenantKinds.of(BADGE_USER, GROUP_TYPE) is TENANT_KINDS
    # Equal but other objects (a tenant record saved again): new copies.
    again = USER_TYPE.extended([BADGES])
    assert TenantKinds.of(again, GROUP_TYPE) is not TENANT_KINDS
    assert TenantKinds.of(again, GROUP_TYPE).users.rtype is again


def test_declared_unique_attributes_are_the_simple_ones_with_server_uniqueness() -> None:
    assert [d.path for d in BADGE_USERS.declared_unique] == [
        f"{BADGE_URN}:badge", f"{BADGE_URN}:serial", f"{BADGE_URN}:token"]


def test_a_declared_unique_value_is_indexed_folded_unless_case_exact() -> None:
    doc = {"userName": "kim", BADGE_URN: {"badge": "B-7", "serial": 7, "token": "AbC",
                                          "aliases": ["a"], "note": "n"}}
    got = BADGE_USERS.indexes(doc)
    assert got.unique == {"UN": "kim", xu("badge", "b-7").rpartition(":")[0]: keys.fold("B-7"),
                          xu("serial", "").rpartition(":")[0]: "7",
                          xu("token", "").rpartition(":")[0]: "AbC"}
    assert set(got.rows("u1")) == {"UN:kim", xu("badge", "b-7"), xu("serial", "7"),
                                   xu("token", "AbC")}
    # The same document under the module's kinds: no declared rows (repair would remove them).
    assert USERS.indexes(doc).unique == {"UN": "kim"}


@pytest.mark.parametrize(("value", "key"), [
    ("Ünïcode", keys.fold("Ünïcode")), (True, "true"), (False, "false"), (12, "12"),
    (12.0, "12"), (1.5, "1.5"), (None, None), ({"a": 1}, None), ([1], None),
    (float("nan"), None),
])
def test_the_key_of_a_declared_value(value: Any, key: str | None) -> None:
    badge = BADGE_USERS.declared_unique[0]
    assert badge.key(value) == key


def test_a_value_spelled_differently_is_still_indexed() -> None:
    """A value captured before its attribute was declared keeps the spelling it was sent in."""
    doc = {BADGE_URN.upper(): {"BADGE": "x"}}
    assert BADGE_USERS.indexes(doc).rows("u1") == [xu("badge", "x")]
    assert BADGE_USERS.indexes({BADGE_URN: "not an object"}).unique == {}


def _create(service: ScimService, tenant: str, name: str, badge: Any, kind: Kind = BADGE_USERS
            ) -> str:
    body = {"schemas": [USER], "userName": name, BADGE_URN: {"badge": badge}}
    return service.resources.create(kind, tenant, body)[0].id


def test_a_second_user_with_a_declared_unique_value_is_a_409_naming_it(
        scim_service: ScimService, tenant_id: str) -> None:
    first = _create(scim_service, tenant_id, "a", "B-1")
    with pytest.raises(ScimError) as caught:
        _create(scim_service, tenant_id, "b", "b-1")  # folded: the same value
    err = caught.value
    assert (err.status, err.scim_type) == (409, "uniqueness")
    assert f"{BADGE_URN}:badge" in err.detail
    assert '"b-1"' in err.detail
    assert "case-insensitively" in err.detail
    # Another tenant is another partition: its own values.
    _create(scim_service, "o" + tenant_id, "b", "B-1")
    # A PUT moves the row: the old value is free again, the new one taken.
    second = _create(scim_service, tenant_id, "b", "B-2")
    scim_service.resources.replace(BADGE_USERS, tenant_id, first,
                                   {"schemas": [USER], "userName": "a",
                                    BADGE_URN: {"badge": "B-3"}}, None)
    _create(scim_service, tenant_id, "c", "B-1")
    with pytest.raises(ScimError):
        scim_service.resources.replace(BADGE_USERS, tenant_id, second,
                                       {"schemas": [USER], "userName": "b",
                                        BADGE_URN: {"badge": "b-3"}}, None)
    assert _index_rows(scim_service, tenant_id) >= {xu("badge", "b-3"), xu("badge", "b-2"),
                                                    xu("badge", "b-1")}


def test_repair_keeps_declared_rows_with_the_tenants_indexer_only(
        scim_service: ScimService, tenant_id: str) -> None:
    uid = _create(scim_service, tenant_id, "a", "B-1")
    directory = scim_service.directory
    assert invariants.check(directory, tenant_id, indexer=TENANT_KINDS.stored_indexes) == []
    # The deployment's indexer does not know the declaration: the row looks stale to it.
    assert [(v.kind, v.row) for v in invariants.check(directory, tenant_id,
                                                     indexer=stored_indexes)] == [
        (invariants.STALE_INDEX, xu("badge", "b-1"))]
    # A lost row comes back, and the tenant's indexer then finds the tenant healthy.
    directory.table.delete_entity(tenant_id, xu("badge", "b-1"))
    report = invariants.repair(directory, tenant_id, indexer=TENANT_KINDS.stored_indexes)
    assert report.index_rows_restored == 1
    assert report.unrepaired == []
    assert directory.lookup_unique(tenant_id, BADGE_USERS.declared_unique[0].index,
                                   "b-1") == uid
    assert invariants.check(directory, tenant_id, indexer=TENANT_KINDS.stored_indexes) == []


def test_deleting_a_user_frees_its_declared_values(
        scim_service: ScimService, tenant_id: str) -> None:
    uid = _create(scim_service, tenant_id, "a", "B-1")
    scim_service.resources.delete(BADGE_USERS, tenant_id, uid, None)
    assert _index_rows(scim_service, tenant_id) == set()
    _create(scim_service, tenant_id, "b", "B-1")
