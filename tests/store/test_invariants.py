"""Store invariants: `check` finds each kind of damage, `repair` fixes it (and nothing else)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.service.kinds import GROUPS, USERS, stored_indexes
from shared.store import invariants, keys, layout
from shared.store.directory import Directory, Indexes
from shared.store.errors import NotFound
from shared.store.layout import GROUP, USER, new_id
from tests.support.storage_faults import hooked, own_thread

NOW = "2026-01-01T00:00:00.000Z"


def _user(directory: Directory, tenant: str, name: str, **attrs: Any) -> str:
    rid = new_id()
    doc = {"userName": name, **attrs}
    directory.create(tenant, USER, rid, doc, USERS.indexes(doc), columns={}, now=NOW)
    return rid


def _group(directory: Directory, tenant: str, name: str) -> str:
    rid = new_id()
    doc = {"displayName": name}
    directory.create(tenant, GROUP, rid, doc, GROUPS.indexes(doc), columns={}, now=NOW)
    return rid


def _put(directory: Directory, tenant: str, rk: str, **props: Any) -> None:
    directory.table.upsert_entity({"PartitionKey": tenant, "RowKey": rk, **props})


def _drop(directory: Directory, tenant: str, rk: str) -> None:
    directory.table.delete_entity(tenant, rk)


def _kinds(found: list[invariants.Violation]) -> list[tuple[str, str]]:
    return sorted((v.kind, v.row) for v in found)


def test_healthy_tenant_has_no_violations(directory: Directory, tenant_id: str) -> None:
    alice = _user(directory, tenant_id, "Alice", externalId="e1",
                  emails=[{"value": "a@x.test", "type": "work"}])
    group = _group(directory, tenant_id, "Staff")
    nested = _group(directory, tenant_id, "Nested")
    directory.change_members(tenant_id, group, add=[alice, nested, "foreign-id"], now=NOW)
    _put(directory, tenant_id, "E:0001", subject="x")  # outbox rows are not index rows
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []


def test_index_damage_is_found_and_repaired(directory: Directory, tenant_id: str) -> None:
    alice = _user(directory, tenant_id, "Alice", externalId="e1")
    bob = _user(directory, tenant_id, "Bob")
    ghost = new_id()
    _drop(directory, tenant_id, layout.unique_key("UN", "alice"))          # missing
    _put(directory, tenant_id, layout.unique_key("UN", "zed"), ref=ghost)  # orphan
    _put(directory, tenant_id, layout.multi_key("UX", "old", bob), ref=bob)  # stale
    assert _kinds(invariants.check(directory, tenant_id, indexer=stored_indexes)) == [
        ("missing_index", "UN:alice"),
        ("orphan_index", "UN:zed"),
        ("stale_index", f"UX:old:{bob}"),
    ]
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert (report.index_rows_removed, report.index_rows_restored) == (2, 1)
    assert report.unrepaired == []
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []
    assert directory.lookup_unique(tenant_id, "UN", "alice") == alice
    assert directory.get(tenant_id, USER, alice) is not None


def test_membership_damage_is_found_and_repaired(directory: Directory, tenant_id: str) -> None:
    alice = _user(directory, tenant_id, "Alice")
    bob = _user(directory, tenant_id, "Bob")
    staff = _group(directory, tenant_id, "Staff")
    nested = _group(directory, tenant_id, "Nested")
    gone_group, gone_user = new_id(), new_id()
    directory.change_members(tenant_id, staff, add=[alice, bob, nested, "entra-unknown"],
                             now=NOW)
    _drop(directory, tenant_id, layout.reverse_member_key(alice, staff))  # lone M: restore R
    _drop(directory, tenant_id, layout.member_key(staff, bob))            # lone R: remove it
    _put(directory, tenant_id, layout.member_key(gone_group, alice))      # group gone
    _put(directory, tenant_id, layout.reverse_member_key(alice, gone_group))
    _put(directory, tenant_id, layout.member_key(staff, gone_user))       # member gone
    _put(directory, tenant_id, layout.reverse_member_key(gone_user, staff))
    assert _kinds(invariants.check(directory, tenant_id, indexer=stored_indexes)) == sorted([
        ("missing_twin", layout.member_key(staff, alice)),
        ("missing_twin", layout.reverse_member_key(bob, staff)),
        ("orphan_membership", layout.member_key(gone_group, alice)),
        ("member_gone", layout.member_key(staff, gone_user)),
    ])
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert (report.memberships_removed, report.twins_restored) == (3, 1)
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []
    # Kept: a nested group and a member id Entra sent that we never issued.
    assert sorted(directory.members(tenant_id, staff)) == sorted([alice, nested, "entra-unknown"])
    assert directory.groups_of(tenant_id, alice) == [staff]


def test_interrupted_chunked_change_is_pending_then_repaired(
        directory: Directory, tenant_id: str) -> None:
    group = _group(directory, tenant_id, "Big")
    members = [f"m{n:03d}" for n in range(250)]
    posts = {"n": 0}

    def die_after_first_chunk(request: Any, send: Any) -> Any:
        if request.method == "POST" and "$batch" in request.url:
            posts["n"] += 1
            if posts["n"] == 3:  # journal + head, first chunk, then the process "dies"
                raise RuntimeError("injected crash between chunks")
        return send(request)

    # The test's transactions only: the audit writer's would be counted, and "crash".
    with hooked(own_thread(die_after_first_chunk)), pytest.raises(RuntimeError):
        directory.change_members(tenant_id, group, add=members, now=NOW)
    found = {v.kind for v in invariants.check(directory, tenant_id, indexer=stored_indexes)}
    assert invariants.PENDING_CHANGE in found
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert report.journals_completed == 1
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []
    assert sorted(directory.members(tenant_id, group)) == members


def test_repair_does_not_remove_an_index_row_whose_resource_appears(
        directory: Directory, tenant_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resource created after the pass read it as missing is not an orphan: re-verified
    first."""
    late = new_id()
    _put(directory, tenant_id, layout.unique_key("UN", "late"), ref=late)
    real = directory.table.get_entity
    late_key = layout.resource_key(USER, late)
    created: list[str] = []

    def missing_then_create(partition_key: str, row_key: str, **kwargs: Any) -> Any:
        try:
            return real(partition_key, row_key, **kwargs)
        except NotFound:
            if row_key == late_key and not created:  # the pass's read of the owner
                created.append(row_key)
                directory.table.upsert_entity({"PartitionKey": tenant_id, "RowKey": late_key,
                                               "doc": '{"userName":"late"}'})
            raise

    monkeypatch.setattr(directory.table, "get_entity", missing_then_create)
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert report.index_rows_removed == 0
    assert [v.kind for v in report.unrepaired] == ["orphan_index"]
    assert directory.lookup_unique(tenant_id, "UN", "late") == late


def test_deleting_a_nested_group_removes_its_membership_in_the_parent(
        directory: Directory, tenant_id: str) -> None:
    parent = _group(directory, tenant_id, "Parent")
    child = _group(directory, tenant_id, "Child")
    alice = _user(directory, tenant_id, "Alice")
    directory.change_members(tenant_id, parent, add=[child, alice], now=NOW)
    directory.change_members(tenant_id, child, add=[alice], now=NOW)
    directory.delete(tenant_id, GROUP, child, GROUPS.indexes({"displayName": "Child"}))
    assert directory.members(tenant_id, parent) == [alice]
    assert directory.groups_of(tenant_id, alice) == [parent]
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []


def _legacy(indexes: Indexes) -> Indexes:
    """The index rows as written before `keys.fold`: values under full case folding."""
    return Indexes(unique={i: keys.legacy_fold(v) for i, v in indexes.unique.items()},
                   multi={i: tuple(keys.legacy_fold(v) if i == "UE" else v for v in values)
                          for i, values in indexes.multi.items()})


def test_repair_migrates_index_rows_written_with_full_case_folding(
        directory: Directory, tenant_id: str) -> None:
    """Rows of the old key form (`Straße` under `UN:strasse`) are stale to the new indexer:
    repair moves each to the key lookups now use, and leaves ASCII names (same key) alone."""
    docs = {USER: [{"userName": "Stra\u00dfe@x.test",
                    "emails": [{"type": "work", "value": "Stra\u00dfe@x.test"}]},
                   {"userName": "Plain@x.test"}],
            GROUP: [{"displayName": "\ufb01nance"}]}
    ids: dict[str, str] = {}
    for kind, batch in docs.items():
        for doc in batch:
            rid = new_id()
            new = (USERS if kind == USER else GROUPS).indexes(doc)
            directory.create(tenant_id, kind, rid, doc, _legacy(new), columns={}, now=NOW)
            ids[str(doc.get("userName") or doc.get("displayName"))] = rid
    sharp_s, finance = ids["Stra\u00dfe@x.test"], ids["\ufb01nance"]
    assert directory.lookup_unique(tenant_id, "UN", keys.fold("Stra\u00dfe@x.test")) is None
    assert directory.lookup_unique(tenant_id, "UN", "strasse@x.test") == sharp_s  # old form
    assert _kinds(invariants.check(directory, tenant_id, indexer=stored_indexes)) == sorted([
        ("missing_index", layout.unique_key("UN", "stra\u00dfe@x.test")),
        ("missing_index", layout.multi_key("UE", "stra\u00dfe@x.test", sharp_s)),
        ("missing_index", layout.unique_key("GN", "\ufb01nance")),
        ("stale_index", layout.unique_key("UN", "strasse@x.test")),
        ("stale_index", layout.multi_key("UE", "strasse@x.test", sharp_s)),
        ("stale_index", layout.unique_key("GN", "finance")),
    ])
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert (report.index_rows_removed, report.index_rows_restored) == (3, 3)
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []
    assert directory.lookup_unique(tenant_id, "UN", keys.fold("STRA\u00dfE@x.test")) == sharp_s
    assert directory.lookup_multi(tenant_id, "UE", keys.fold("stra\u00dfe@X.test")) == [sharp_s]
    assert directory.lookup_unique(tenant_id, "GN", keys.fold("\ufb01NANCE")) == finance
    assert directory.lookup_unique(tenant_id, "UN", "strasse@x.test") is None
    assert directory.lookup_unique(tenant_id, "GN", "finance") is None
    assert directory.lookup_unique(tenant_id, "UN", "plain@x.test") == ids["Plain@x.test"]
