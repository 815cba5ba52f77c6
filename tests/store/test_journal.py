"""`shared.store.journal`: changes too large for one transaction, journalled and applied in
chunks, against Azurite through the directory's transaction (`directory.journal`).

A change is staged (part rows when its operations are long), armed by creating its head row
(the directory does so in the change's first transaction; `_arm` here), then applied chunk by
chunk, each conditional on the head's progress: finished exactly once by whichever worker gets
there (the request, the background finisher, the reconciler's `complete`), never re-applying a
chunk, stopped when its group is gone, and removed at the end. Part rows of a head that never
committed expire."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.store import deadline, layout
from shared.store.backend import Operation, upsert
from shared.store.directory import Directory, Indexes
from shared.store.errors import TransportFailed
from shared.store.journal import (
    MAX_BATCH,
    ROW_TEXT,
    STAGED_PARTS_EXPIRE,
    Journal,
    chunked,
    member_guard,
)
from shared.store.layout import GROUP, USER
from shared.store.wire import Request, Response
from shared.timestamps import parse_iso
from tests.support.storage_faults import Injector, hooked, own_thread

NOW = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-02T00:00:00.000Z"


# -- chunking --------------------------------------------------------------------------------

units_strategy = st.lists(st.integers(1, 6), max_size=60).map(
    lambda sizes: [[Operation("upsert", {"RowKey": f"{u}.{i}"}) for i in range(n)]
                   for u, n in enumerate(sizes)])


@given(units_strategy, st.integers(6, 20))
def test_chunks_hold_whole_units_in_order_and_are_packed(units: list[list[Operation]],
                                                         room: int) -> None:
    chunks = chunked(units, room)
    assert [op for chunk in chunks for op in chunk] == [op for unit in units for op in unit]
    assert all(0 < len(chunk) <= room for chunk in chunks)
    unit_of = {op.entity["RowKey"]: n for n, unit in enumerate(units) for op in unit}
    for chunk in chunks:  # no unit is split across chunks
        for n in {unit_of[op.entity["RowKey"]] for op in chunk}:
            assert all(op in chunk for op in units[n])
    for chunk, following in itertools.pairwise(chunks):  # the next unit did not fit
        assert len(chunk) + len(units[unit_of[following[0].entity["RowKey"]]]) > room


def test_a_unit_larger_than_a_chunk_is_a_chunk_of_its_own() -> None:
    big = [Operation("delete", {"RowKey": str(n)}) for n in range(5)]
    small = [Operation("delete", {"RowKey": "s"})]
    assert chunked([small, big, small], 3) == [small, big, small]
    assert chunked([], 3) == []


# -- applying --------------------------------------------------------------------------------

def _row(tenant: str, key: str, **props: Any) -> dict[str, Any]:
    return {"PartitionKey": tenant, "RowKey": key, **props}


def _member_units(tenant: str, gid: str, uids: Sequence[str]) -> list[list[Operation]]:
    return [[upsert(_row(tenant, layout.member_key(gid, uid))),
             upsert(_row(tenant, layout.reverse_member_key(uid, gid)))] for uid in uids]


def _arm(directory: Directory, tenant: str, chunks: list[list[Operation]],
         guard: str | None = None) -> tuple[str, str, list[str]]:
    """Stage a change and commit its head, as the change's first transaction does: (head key,
    head ETag, part keys)."""
    head, parts = directory.journal.stage(tenant, chunks, guard)
    etag = directory.submit([Operation("create", head)], Indexes())[0]["etag"]
    return head["RowKey"], etag, parts


def _journal_rows(directory: Directory, tenant: str) -> list[Any]:
    return list(directory.rows(tenant, layout.JOURNAL_PREFIX))


def _exists(directory: Directory, tenant: str, key: str) -> bool:
    return any(True for _ in directory.rows(tenant, key))


def _group(directory: Directory, tenant: str, gid: str) -> str:
    directory.create(tenant, GROUP, gid, {"displayName": gid}, Indexes(unique={"GN": gid}),
                     columns={}, now=NOW)
    return layout.resource_key(GROUP, gid)


@pytest.fixture
def journal(directory: Directory) -> Journal:
    return directory.journal


@pytest.fixture
def faults() -> Iterator[Injector]:
    """Storage failures of this thread's calls, armed by the test."""
    injector = Injector()
    with hooked(injector):
        yield injector


def test_a_change_is_applied_in_chunks_and_its_journal_removed(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    guard = _group(directory, tenant_id, "g1")
    uids = [f"user{n:03d}" for n in range(250)]
    chunks = chunked(_member_units(tenant_id, "g1", uids), MAX_BATCH - 2)
    assert len(chunks) > 2
    head, etag, parts = _arm(directory, tenant_id, chunks, guard)
    assert parts == []  # short enough for its head row
    assert journal.run(tenant_id, head, etag, chunks, guard=guard, parts=parts)
    assert sorted(directory.members(tenant_id, "g1")) == uids
    assert sorted(g for u in uids for g in directory.groups_of(tenant_id, u)) == ["g1"] * 250
    assert _journal_rows(directory, tenant_id) == []
    assert journal.complete(tenant_id) == 0


def _flip_flop(tenant: str) -> list[list[Operation]]:
    """Chunks whose late re-application shows: X appears, goes, appears, goes; then Y."""
    x, y = _row(tenant, "M:x:x"), _row(tenant, "M:y:y")
    return [[upsert(x)], [Operation("delete", x)], [upsert(x)], [Operation("delete", x)],
            [upsert(y)]]


def test_a_finished_journal_is_not_applied_again(directory: Directory, journal: Journal,
                                                 tenant_id: str) -> None:
    chunks = _flip_flop(tenant_id)
    head, etag, parts = _arm(directory, tenant_id, chunks)
    assert journal.complete(tenant_id) == 1  # the reconciler got there first
    assert journal.run(tenant_id, head, etag, chunks, guard=None, parts=parts)  # the request
    assert not _exists(directory, tenant_id, "M:x:x")
    assert _exists(directory, tenant_id, "M:y:y")
    assert journal.complete(tenant_id) == 0
    assert _journal_rows(directory, tenant_id) == []


def test_racing_workers_apply_each_chunk_once_in_order(directory: Directory, journal: Journal,
                                                       tenant_id: str) -> None:
    chunks = _flip_flop(tenant_id)
    head, etag, parts = _arm(directory, tenant_id, chunks)
    start = threading.Barrier(6)
    outcomes: list[bool] = []

    def worker() -> None:
        start.wait()
        outcomes.append(journal.run(tenant_id, head, etag, chunks, guard=None, parts=parts))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [True] * 6
    assert not _exists(directory, tenant_id, "M:x:x")
    assert _exists(directory, tenant_id, "M:y:y")
    assert _journal_rows(directory, tenant_id) == []


def test_a_worker_that_is_behind_applies_nothing(
        directory: Directory, journal: Journal, tenant_id: str, faults: Injector) -> None:
    """Another worker applied every chunk (only the journal's removal failed), then a later
    request removed the member: a worker still at the first chunk must not add it again."""
    x = _row(tenant_id, "M:g:x")
    chunks = [[Operation("upsert", x)]]
    head, etag, parts = _arm(directory, tenant_id, chunks)
    faults.arm("reset", at=2, outage=True)  # the chunk commits, the removal fails
    assert not journal.run(tenant_id, head, etag, chunks, guard=None, parts=parts)
    faults.arm(None)
    directory.submit([Operation("delete", x)], Indexes())
    assert journal.run(tenant_id, head, etag, chunks, guard=None, parts=parts)  # behind
    assert not _exists(directory, tenant_id, "M:g:x")
    assert journal.complete(tenant_id) == 1  # removes the journal, applies nothing
    assert not _exists(directory, tenant_id, "M:g:x")
    assert _journal_rows(directory, tenant_id) == []


def test_resumption_starts_after_the_last_applied_chunk(
        directory: Directory, journal: Journal, tenant_id: str, faults: Injector) -> None:
    """A member the change added, then a later request removed, stays removed."""
    x, y = _row(tenant_id, "M:g:x"), _row(tenant_id, "M:g:y")
    chunks = [[Operation("upsert", x)], [Operation("upsert", y)]]
    head, etag, parts = _arm(directory, tenant_id, chunks)
    faults.arm("reset", at=2, outage=True)  # the first chunk commits, then storage is gone
    assert not journal.run(tenant_id, head, etag, chunks, guard=None, parts=parts)
    faults.arm(None)
    assert [r["RowKey"] for r in _journal_rows(directory, tenant_id)] == [head]  # left
    directory.submit([Operation("delete", x)], Indexes())  # a later request removes X
    assert journal.wait_idle(timeout=5)  # nothing was handed to the background
    assert journal.complete(tenant_id) == 1
    assert not _exists(directory, tenant_id, "M:g:x")
    assert _exists(directory, tenant_id, "M:g:y")
    assert _journal_rows(directory, tenant_id) == []


def test_past_the_requests_deadline_the_change_is_finished_in_the_background(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    guard = _group(directory, tenant_id, "g1")
    uids = [f"u{n:03d}" for n in range(150)]
    chunks = chunked(_member_units(tenant_id, "g1", uids), MAX_BATCH - 2)
    head, etag, parts = _arm(directory, tenant_id, chunks, guard)
    with deadline.within(0):
        assert not journal.run(tenant_id, head, etag, chunks, guard=guard, parts=parts)
    assert journal.wait_idle(timeout=30)
    assert sorted(directory.members(tenant_id, "g1")) == uids
    assert _journal_rows(directory, tenant_id) == []


def test_a_change_of_a_group_that_is_gone_stops_and_is_removed(
        directory: Directory, journal: Journal, tenant_id: str, faults: Injector) -> None:
    guard = _group(directory, tenant_id, "g1")
    chunks = chunked(_member_units(tenant_id, "g1", ["a", "b", "c"]), 2)
    head, etag, parts = _arm(directory, tenant_id, chunks, guard)
    faults.arm("reset", at=2, outage=True)  # the first chunk (member a) commits
    assert not journal.run(tenant_id, head, etag, chunks, guard=guard, parts=parts)
    faults.arm(None)
    directory.delete(tenant_id, GROUP, "g1", Indexes(unique={"GN": "g1"}))  # reads a's rows
    assert journal.complete(tenant_id) == 1
    assert directory.members(tenant_id, "g1") == []
    assert [directory.groups_of(tenant_id, u) for u in "abc"] == [[], [], []]
    assert _journal_rows(directory, tenant_id) == []


def test_a_change_whose_group_never_existed_writes_nothing(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    guard = layout.resource_key(GROUP, "nope")
    chunks = chunked(_member_units(tenant_id, "nope", ["a", "b"]), 2)
    head, etag, parts = _arm(directory, tenant_id, chunks, guard)
    assert journal.run(tenant_id, head, etag, chunks, guard=guard, parts=parts)
    assert directory.members(tenant_id, "nope") == []
    assert _journal_rows(directory, tenant_id) == []


# -- long changes: part rows -----------------------------------------------------------------

def _long_chunks(tenant: str, n: int, size: int) -> list[list[Operation]]:
    return [[Operation("upsert", _row(tenant, f"M:g:{i:03d}", v=f"{i:03d}" + "v" * size))]
            for i in range(n)]


def test_a_change_longer_than_its_head_row_is_staged_in_part_rows(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    chunks = _long_chunks(tenant_id, 45, 29_000)  # 1.3 million characters
    head, parts = journal.stage(tenant_id, chunks, None)
    assert len(parts) >= (45 * 29_000) // ROW_TEXT
    staged = [r["RowKey"] for r in _journal_rows(directory, tenant_id)]
    assert staged == sorted(parts)  # staged before the head commits
    directory.submit([Operation("create", head)], Indexes())
    assert journal.complete(tenant_id) == 1  # read back from the rows, joined, applied
    rows = list(directory.rows(tenant_id, "M:g:"))
    assert [r["v"] for r in rows] == [f"{i:03d}" + "v" * 29_000 for i in range(45)]
    assert _journal_rows(directory, tenant_id) == []


def test_staged_parts_whose_head_never_committed_expire(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    _, parts = journal.stage(tenant_id, _long_chunks(tenant_id, 12, 29_000), None)
    assert parts
    created = parse_iso(_journal_rows(directory, tenant_id)[0]["created"])
    assert journal.complete(tenant_id, now=created + STAGED_PARTS_EXPIRE) == 0
    assert len(_journal_rows(directory, tenant_id)) == len(parts)  # not yet: maybe in flight
    assert journal.complete(tenant_id, now=created + STAGED_PARTS_EXPIRE
                            + timedelta(milliseconds=1)) == 0
    assert _journal_rows(directory, tenant_id) == []
    assert list(directory.rows(tenant_id, "M:")) == []


def _refuse_chunks(request: Request, send: Callable[[Request], Response]) -> Response:
    """Storage refuses every chunk's transaction (each moves its head with a MERGE, sent as
    PATCH); other calls go through."""
    if request.method == "POST" and b"\r\nPATCH " in request.body:
        raise TransportFailed("injected: connection reset by peer")
    return send(request)


def test_parts_of_a_committed_head_never_expire(directory: Directory, journal: Journal,
                                                tenant_id: str) -> None:
    """However old, they are the change's operations: it is finished, not dropped."""
    _, _, parts = _arm(directory, tenant_id, _long_chunks(tenant_id, 12, 29_000))
    assert parts
    created = parse_iso(_journal_rows(directory, tenant_id)[0]["created"])
    much_later = created + 10 * STAGED_PARTS_EXPIRE
    with hooked(own_thread(_refuse_chunks)):
        assert journal.complete(tenant_id, now=much_later) == 1  # seen, not finished
    assert len(_journal_rows(directory, tenant_id)) == 1 + len(parts)
    assert journal.complete(tenant_id, now=much_later) == 1
    assert len(list(directory.rows(tenant_id, "M:g:"))) == 12
    assert _journal_rows(directory, tenant_id) == []


def test_dropping_staged_parts_removes_them_whether_or_not_they_exist(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    _, parts = journal.stage(tenant_id, _long_chunks(tenant_id, 12, 29_000), None)
    journal.drop(tenant_id, [*parts, "J:never:0001"])
    assert _journal_rows(directory, tenant_id) == []
    journal.drop(tenant_id, parts)


def test_dropping_is_best_effort(directory: Directory, journal: Journal, tenant_id: str,
                                 faults: Injector) -> None:
    _, parts = journal.stage(tenant_id, _long_chunks(tenant_id, 12, 29_000), None)
    faults.arm("reset", at=1, outage=True)
    journal.drop(tenant_id, parts)  # no error: expiry removes them later
    faults.arm(None)
    assert len(_journal_rows(directory, tenant_id)) == len(parts)


# -- what a journal can hold -----------------------------------------------------------------

def test_every_kind_of_journalled_operation_is_applied_as_it_was_given(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    """Read back from the journal's rows (`complete`), each operation keeps its meaning: an
    event replaces its row, a member row upsert merges, a delete deletes, a member guard
    admits its unit only while the member exists (as a user, or else as a group)."""
    t = tenant_id
    directory.submit([Operation("upsert", _row(t, "E:1", a=1, b=2)),
                      Operation("upsert", _row(t, "M:g:old", type="User", note="kept")),
                      Operation("upsert", _row(t, "M:g:gone")),
                      Operation("upsert", _row(t, layout.resource_key(GROUP, "ng")))], Indexes())
    chunks: list[list[Operation]] = [
        [Operation("upsert", _row(t, "E:1", a=3), "replace")],
        [Operation("upsert", _row(t, "M:g:old", type="Group"))],
        [Operation("delete", _row(t, "M:g:gone"))],
        [member_guard(t, layout.resource_key(USER, "ng"), layout.resource_key(GROUP, "ng"), 2),
         Operation("upsert", _row(t, "M:g:ng")), Operation("upsert", _row(t, "R:ng:g"))],
        [member_guard(t, layout.resource_key(USER, "nobody"), None, 3),
         Operation("upsert", _row(t, "M:g:nobody")), Operation("upsert", _row(t, "R:nobody:g"))],
    ]
    _arm(directory, t, chunks)
    assert journal.complete(t) == 1

    def props(key: str) -> dict[str, Any]:
        entity = directory.table.get_entity(t, key)
        return {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")}

    assert props("E:1") == {"a": 3}
    assert props("M:g:old") == {"type": "Group", "note": "kept"}
    assert not _exists(directory, t, "M:g:gone")
    assert [_exists(directory, t, k) for k in ("M:g:ng", "R:ng:g")] == [True, True]
    assert [_exists(directory, t, k) for k in ("M:g:nobody", "R:nobody:g")] == [False, False]


@pytest.mark.parametrize("op", [
    Operation("create", {"PartitionKey": "t", "RowKey": "M:g:u"}),
    Operation("update", {"PartitionKey": "t", "RowKey": "U:u"}, "replace"),
    Operation("delete", {"PartitionKey": "t", "RowKey": "U:u"}, etag="W/\"1\""),
], ids=["create", "replace", "conditional-delete"])
def test_operations_a_journal_cannot_hold_are_refused_before_anything_is_written(
        directory: Directory, journal: Journal, tenant_id: str, op: Operation) -> None:
    with pytest.raises(ValueError, match="not journalled"):
        journal.stage(tenant_id, [[Operation("upsert", _row(tenant_id, "M:g:a"))], [op]], None)
    assert _journal_rows(directory, tenant_id) == []


# -- purges ----------------------------------------------------------------------------------

def _memberships(directory: Directory, tenant: str, gid: str, n: int) -> None:
    units = _member_units(tenant, gid, [f"u{i:03d}" for i in range(n)])
    for chunk in chunked(units, MAX_BATCH):
        directory.submit(chunk, Indexes())


def test_a_purge_removes_every_membership_pair(directory: Directory, journal: Journal,
                                               tenant_id: str) -> None:
    _memberships(directory, tenant_id, "g1", 130)
    pairs = directory.memberships(tenant_id, GROUP, "g1")
    head = journal.purge_head(tenant_id, layout.resource_key(GROUP, "g1"))
    etag = directory.submit([Operation("create", head)], Indexes())[0]["etag"]
    assert journal.run_purge(tenant_id, head["RowKey"], etag, pairs)
    assert directory.members(tenant_id, "g1") == []
    assert list(directory.rows(tenant_id, "R:")) == []
    assert _journal_rows(directory, tenant_id) == []


def test_a_left_purge_reads_the_memberships_again_when_resumed(
        directory: Directory, journal: Journal, tenant_id: str) -> None:
    """Its journal names the resource only: the same size for a group of any size."""
    _memberships(directory, tenant_id, "g1", 130)
    head = journal.purge_head(tenant_id, layout.resource_key(GROUP, "g1"))
    directory.submit([Operation("create", head)], Indexes())
    _memberships(directory, tenant_id, "g1", 140)  # 10 more joined before the purge ran
    assert journal.complete(tenant_id) == 1
    assert directory.members(tenant_id, "g1") == []
    assert list(directory.rows(tenant_id, "R:")) == []
    assert _journal_rows(directory, tenant_id) == []


# -- through the directory ------------------------------------------------------------------

def test_interrupted_chunked_change_is_completed(directory: Directory, tenant_id: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    directory.create(tenant_id, GROUP, "g1", {"displayName": "Big"},
                     Indexes(unique={"GN": "big"}), columns={}, now=NOW)
    uids = [f"user{n:04d}" for n in range(300)]
    real = Directory.submit
    calls = {"n": 0}

    def crash_on_third_transaction(self, ops, idx, *rest):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:  # journal+touch, first chunk, then the process "dies"
            raise RuntimeError("simulated crash")
        return real(self, ops, idx, *rest)

    monkeypatch.setattr(Directory, "submit", crash_on_third_transaction)
    with pytest.raises(RuntimeError):
        directory.change_members(tenant_id, "g1", add=uids, now=LATER)
    monkeypatch.setattr(Directory, "submit", real)
    partial = directory.members(tenant_id, "g1")
    assert 0 < len(partial) < len(uids)
    assert directory.complete_pending(tenant_id) == 1
    assert sorted(directory.members(tenant_id, "g1")) == uids
    assert sorted(g for u in uids for g in directory.groups_of(tenant_id, u)) == ["g1"] * 300
    assert directory.complete_pending(tenant_id) == 0


def test_journal_rows_of_any_number(directory: Directory, tenant_id: str) -> None:
    """Member ids of 400 bytes: 3,000 of them journal about 2.5 million characters, which
    takes part rows besides the journal's head row."""
    directory.create(tenant_id, GROUP, "g1", {"displayName": "G"},
                     Indexes(unique={"GN": "g"}), columns={}, now=NOW)
    uids = [f"{n:06d}" + "x" * 394 for n in range(3_000)]
    staged: list[int] = []
    real = Journal.stage

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        head, parts = real(self, *args, **kwargs)
        staged.append(len(parts))
        return head, parts

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Journal, "stage", counting)
        directory.change_members(tenant_id, "g1", add=uids, now=LATER)
    assert staged
    assert staged[0] >= 2
    assert sorted(directory.members(tenant_id, "g1")) == uids
    assert list(directory.rows(tenant_id, layout.JOURNAL_PREFIX)) == []
