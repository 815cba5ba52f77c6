"""The directory store against Azurite: atomic uniqueness, ETags, memberships, chunking."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.store import keys, layout
from shared.store.directory import Directory, Indexes
from shared.store.errors import Conflict, NotFound, PreconditionFailed, TooLarge
from shared.store.layout import GROUP, USER

NOW = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-02T00:00:00.000Z"


def _user(directory: Directory, tenant: str, rid: str, name: str, ext: str | None = None):
    idx = Indexes(unique={"UN": keys.fold(name)}, multi={"UX": (ext,)} if ext else {})
    return directory.create(tenant, USER, rid, {"userName": name}, idx,
                            columns={"userName": name}, now=NOW), idx


def test_create_get_roundtrip(directory: Directory, tenant_id: str) -> None:
    stored, _ = _user(directory, tenant_id, "u1", "Alice", "ext-1")
    got = directory.get(tenant_id, USER, "u1")
    assert got is not None
    assert got.doc == {"userName": "Alice"}
    assert got.etag == stored.etag
    assert got.etag
    assert got.created == NOW
    assert directory.lookup_unique(tenant_id, "UN", "alice") == "u1"
    assert directory.lookup_multi(tenant_id, "UX", "ext-1") == ["u1"]
    assert directory.get(tenant_id, USER, "missing") is None


def test_duplicate_unique_index_fails_whole_transaction(directory: Directory,
                                                        tenant_id: str) -> None:
    _user(directory, tenant_id, "u1", "Alice")
    with pytest.raises(Conflict) as info:
        _user(directory, tenant_id, "u2", "ALICE")
    assert info.value.index == "UN"
    assert directory.get(tenant_id, USER, "u2") is None  # nothing half-written


def test_non_unique_index_allows_duplicates(directory: Directory, tenant_id: str) -> None:
    _user(directory, tenant_id, "u1", "a", "same")
    _user(directory, tenant_id, "u2", "b", "same")
    assert sorted(directory.lookup_multi(tenant_id, "UX", "same")) == ["u1", "u2"]


def test_racing_creates_exactly_one_wins(directory: Directory, tenant_id: str) -> None:
    def attempt(n: int) -> str:
        try:
            _user(directory, tenant_id, f"u{n}", "race")
            return "created"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(attempt, range(32)))
    assert outcomes.count("created") == 1
    assert outcomes.count("conflict") == 31


def test_replace_moves_index_and_checks_etag(directory: Directory, tenant_id: str) -> None:
    stored, old = _user(directory, tenant_id, "u1", "Alice", "e1")
    new = Indexes(unique={"UN": "bob"}, multi={"UX": ("e2",)})
    updated = directory.replace(tenant_id, USER, "u1", {"userName": "Bob"}, old=old, new=new,
                                columns={}, created=stored.created, now=LATER, etag=stored.etag)
    assert updated.etag != stored.etag
    assert directory.lookup_unique(tenant_id, "UN", "alice") is None
    assert directory.lookup_unique(tenant_id, "UN", "bob") == "u1"
    assert directory.lookup_multi(tenant_id, "UX", "e1") == []
    assert directory.lookup_multi(tenant_id, "UX", "e2") == ["u1"]
    with pytest.raises(PreconditionFailed):
        directory.replace(tenant_id, USER, "u1", {"userName": "Carol"}, old=new, new=new,
                          columns={}, created=NOW, now=LATER, etag=stored.etag)
    assert directory.get(tenant_id, USER, "u1").doc == {"userName": "Bob"}  # type: ignore[union-attr]


def test_rename_onto_taken_name_conflicts_and_changes_nothing(directory: Directory,
                                                              tenant_id: str) -> None:
    _user(directory, tenant_id, "u1", "alice")
    stored, old = _user(directory, tenant_id, "u2", "bob")
    with pytest.raises(Conflict):
        directory.replace(tenant_id, USER, "u2", {"userName": "alice"}, old=old,
                          new=Indexes(unique={"UN": "alice"}), columns={}, created=NOW,
                          now=LATER, etag=stored.etag)
    assert directory.lookup_unique(tenant_id, "UN", "bob") == "u2"
    assert directory.get(tenant_id, USER, "u2").doc == {"userName": "bob"}  # type: ignore[union-attr]


def test_members_add_remove_idempotent(directory: Directory, tenant_id: str) -> None:
    directory.create(tenant_id, GROUP, "g1", {"displayName": "G"},
                     Indexes(unique={"GN": "g"}), columns={}, now=NOW)
    directory.change_members(tenant_id, "g1", add=["u1", "u2"], now=LATER)
    directory.change_members(tenant_id, "g1", add=["u1"], now=LATER)  # re-add: no-op
    assert sorted(directory.members(tenant_id, "g1")) == ["u1", "u2"]
    assert directory.groups_of(tenant_id, "u1") == ["g1"]
    assert directory.has_member(tenant_id, "g1", "u2")
    directory.change_members(tenant_id, "g1", remove=["u2", "never-there"], now=LATER)
    assert directory.members(tenant_id, "g1") == ["u1"]
    assert not directory.has_member(tenant_id, "g1", "u2")
    assert directory.groups_of(tenant_id, "u2") == []


def test_member_change_on_missing_group_is_not_found(directory: Directory,
                                                     tenant_id: str) -> None:
    with pytest.raises(NotFound):
        directory.change_members(tenant_id, "nope", add=["u1"], now=LATER)
    assert directory.members(tenant_id, "nope") == []


def test_large_member_change_is_chunked_and_complete(directory: Directory,
                                                     tenant_id: str) -> None:
    directory.create(tenant_id, GROUP, "g1", {"displayName": "Big"},
                     Indexes(unique={"GN": "big"}), columns={}, now=NOW)
    uids = [f"user{n:04d}" for n in range(250)]
    directory.change_members(tenant_id, "g1", add=uids, now=LATER)
    assert sorted(directory.members(tenant_id, "g1")) == uids
    assert list(directory.rows(tenant_id, layout.JOURNAL_PREFIX)) == []  # journal dropped
    directory.change_members(tenant_id, "g1", remove=uids[:120], now=LATER)
    assert sorted(directory.members(tenant_id, "g1")) == uids[120:]


def test_delete_user_removes_indexes_and_memberships(directory: Directory,
                                                     tenant_id: str) -> None:
    _, idx = _user(directory, tenant_id, "u1", "alice", "e1")
    for g in ("g1", "g2"):
        directory.create(tenant_id, GROUP, g, {"displayName": g},
                         Indexes(unique={"GN": g}), columns={}, now=NOW)
        directory.change_members(tenant_id, g, add=["u1", "u9"], now=LATER)
    directory.delete(tenant_id, USER, "u1", idx)
    assert directory.get(tenant_id, USER, "u1") is None
    assert directory.lookup_unique(tenant_id, "UN", "alice") is None
    assert directory.lookup_multi(tenant_id, "UX", "e1") == []
    assert directory.members(tenant_id, "g1") == ["u9"]
    assert directory.groups_of(tenant_id, "u1") == []
    with pytest.raises(NotFound):
        directory.delete(tenant_id, USER, "u1", idx)


def test_delete_group_with_many_members(directory: Directory, tenant_id: str) -> None:
    directory.create(tenant_id, GROUP, "g1", {"displayName": "big"},
                     Indexes(unique={"GN": "big"}), columns={}, now=NOW)
    uids = [f"u{n}" for n in range(130)]
    directory.change_members(tenant_id, "g1", add=uids, now=LATER)
    directory.delete(tenant_id, GROUP, "g1", Indexes(unique={"GN": "big"}))
    assert directory.members(tenant_id, "g1") == []
    assert all(directory.groups_of(tenant_id, u) == [] for u in uids[:5])
    assert directory.lookup_unique(tenant_id, "GN", "big") is None


def test_delete_with_stale_etag_is_refused(directory: Directory, tenant_id: str) -> None:
    stored, idx = _user(directory, tenant_id, "u1", "alice")
    directory.replace(tenant_id, USER, "u1", {"userName": "alice", "x": 1}, old=idx, new=idx,
                      columns={}, created=NOW, now=LATER, etag=stored.etag)
    with pytest.raises(PreconditionFailed):
        directory.delete(tenant_id, USER, "u1", idx, etag=stored.etag)
    assert directory.get(tenant_id, USER, "u1") is not None


def test_large_documents_split_and_oversize_refused(directory: Directory,
                                                    tenant_id: str) -> None:
    doc = {"userName": "big", "title": "x" * 100_000}
    directory.create(tenant_id, USER, "u1", doc, Indexes(unique={"UN": "big"}), columns={},
                     now=NOW)
    assert directory.get(tenant_id, USER, "u1").doc == doc  # type: ignore[union-attr]
    with pytest.raises(TooLarge):
        directory.create(tenant_id, USER, "u2", {"title": "y" * 500_000},
                         Indexes(unique={"UN": "huge"}), columns={}, now=NOW)


def test_scan_in_stable_order_and_count(directory: Directory, tenant_id: str) -> None:
    for n in range(7):
        _user(directory, tenant_id, f"u{n}", f"name{n}")
    assert [s.id for s in directory.scan(tenant_id, USER, page=3)] == [f"u{n}" for n in range(7)]
    assert [s.id for s in directory.scan(tenant_id, USER, after="u3")] == ["u4", "u5", "u6"]
    assert directory.count(tenant_id, USER) == 7
    assert directory.count(tenant_id, GROUP) == 0


@pytest.mark.parametrize("value", ["a/b", "a\\b", "a#b", "a?b", "a:b", "it's", "tab\there",
                                   "ünï", "%41", "x" * 2000])
def test_awkward_key_values_are_indexable(directory: Directory, tenant_id: str,
                                          value: str) -> None:
    _user(directory, tenant_id, "u1", value, value)
    assert directory.lookup_unique(tenant_id, "UN", keys.fold(value)) == "u1"
    assert directory.lookup_multi(tenant_id, "UX", value) == ["u1"]


def test_tenants_are_isolated(directory: Directory, tenant_id: str) -> None:
    _user(directory, tenant_id, "u1", "alice")
    other = tenant_id + "x"
    assert directory.get(other, USER, "u1") is None
    assert directory.lookup_unique(other, "UN", "alice") is None
    assert list(directory.scan(other, USER)) == []


def test_events_too_large_for_the_head_transaction_are_journalled(
        directory: Directory, tenant_id: str) -> None:
    """A change of very many members lists them in its events: 45 rows of 100,000 characters
    don't fit one transaction (4 MiB) with the group's touch, so the ones that don't are
    journalled and written by the chunks; all of them exist once the change is done."""
    from shared.store.outbox import Outbox, insert_op

    directory.create(tenant_id, GROUP, "g1", {"displayName": "G"},
                     Indexes(unique={"GN": "g"}), columns={}, now=NOW)
    events = [insert_op(tenant_id, f"{n:032x}", "Groups/g1", "t", "x" * 100_000, LATER)
              for n in range(45)]
    directory.change_members(tenant_id, "g1", add=["m1", "m2"], now=LATER, extra=events)
    assert directory.members(tenant_id, "g1") == ["m1", "m2"]
    pending = list(Outbox(directory).pending(tenant_id))
    assert [row.id for row in pending] == [f"{n:032x}" for n in range(45)]
    assert all(len(row.body) == 100_000 for row in pending)
    assert list(directory.rows(tenant_id, layout.JOURNAL_PREFIX)) == []


# -- the delivery signal hook ------------------------------------------------------------------

def _event(tenant: str, n: int) -> Any:
    from shared.store.outbox import insert_op

    return insert_op(tenant, f"0000000000000000{n:04d}", f"Users/u{n}", "t", "{}", "now")


def test_the_events_hook_fires_once_per_committed_transaction_that_adds_events(
        tables: Any, tenant_id: str) -> None:
    from shared.store.outbox import Outbox

    noted: list[str] = []
    directory = Directory(tables.data, on_events=noted.append)
    directory.create(tenant_id, USER, "u1", {"userName": "a"}, Indexes(),
                     columns={}, now=NOW, extra=[_event(tenant_id, 1), _event(tenant_id, 2)])
    assert noted == [tenant_id]
    directory.create(tenant_id, USER, "u2", {"userName": "b"}, Indexes(), columns={},
                     now=NOW)  # no event
    assert noted == [tenant_id]
    outbox = Outbox(directory)
    row = next(outbox.pending(tenant_id))
    outbox.dead_letter(tenant_id, row, attempts=3, error="HTTP 500", now="now")
    outbox.remove(tenant_id, [r.id for r in outbox.pending(tenant_id)])
    assert noted == [tenant_id]  # removal and dead-lettering add no event
    outbox.replay(tenant_id, row.id)
    assert noted == [tenant_id, tenant_id]  # a replay does


def test_a_raising_events_hook_fails_no_write(tables: Any, tenant_id: str) -> None:
    def broken(tenant: str) -> None:
        raise RuntimeError("signal failed")

    directory = Directory(tables.data, on_events=broken)
    directory.create(tenant_id, USER, "u1", {"userName": "a"}, Indexes(),
                     columns={}, now=NOW, extra=[_event(tenant_id, 1)])
    assert directory.get(tenant_id, USER, "u1") is not None


def test_a_failed_transaction_fires_no_hook(tables: Any, tenant_id: str) -> None:
    noted: list[str] = []
    directory = Directory(tables.data, on_events=noted.append)
    taken = Indexes(unique={"UN": "a"})
    directory.create(tenant_id, USER, "u1", {"userName": "a"}, taken, columns={}, now=NOW)
    with pytest.raises(Conflict):  # userName taken: nothing of u2 commits, its event neither
        directory.create(tenant_id, USER, "u2", {"userName": "a"}, taken, columns={},
                         now=NOW, extra=[_event(tenant_id, 1)])
    assert noted == []
