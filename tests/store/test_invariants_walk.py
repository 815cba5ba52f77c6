"""The invariants pass as a walk (`invariants.walk`, `repair_step`): cut into steps anywhere it
finds exactly what one `check` finds, a repair cut off resumes where it stopped and finishes,
a step whose checkpoint is refused (another worker took the pass over) stops, a fix that
displaces a stale or orphan row ahead of the walk counts and fixes it once, and memory does
not grow with the tenant (Azurite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.service.kinds import stored_indexes
from shared.store import invariants, layout
from shared.store.backend import upsert
from shared.store.directory import Directory
from shared.store.errors import PreconditionFailed
from shared.store.layout import USER, new_id
from tests.store.test_invariants import NOW, _drop, _group, _put, _user

ROOT = Path(__file__).resolve().parents[2]


def _damaged(directory: Directory, tenant: str) -> None:
    """A tenant of some 150 rows with every kind of violation, spread through the partition."""
    users = [_user(directory, tenant, f"user{n:02d}", externalId=f"e{n}") for n in range(30)]
    staff = _group(directory, tenant, "Staff")
    other = _group(directory, tenant, "Other")
    directory.change_members(tenant, staff, add=[*users[:20], other, "entra-unknown"], now=NOW)
    for n in (1, 9, 17):
        _drop(directory, tenant, layout.unique_key("UN", f"user{n:02d}"))       # missing
    for n in (3, 12):
        _put(directory, tenant, layout.unique_key("UN", f"zz{n}"), ref=new_id())  # orphan
    for n in (5, 25):
        _put(directory, tenant, layout.multi_key("UX", "old", users[n]), ref=users[n])  # stale
    for n in (2, 14):
        _drop(directory, tenant, layout.reverse_member_key(users[n], staff))    # lone M
    _drop(directory, tenant, layout.member_key(staff, users[7]))                # lone R
    gone_group, gone_user = new_id(), new_id()
    _put(directory, tenant, layout.member_key(gone_group, users[4]))            # group gone
    _put(directory, tenant, layout.reverse_member_key(users[4], gone_group))
    _put(directory, tenant, layout.member_key(staff, gone_user))                # member gone
    _put(directory, tenant, layout.reverse_member_key(gone_user, staff))
    _put(directory, tenant, layout.journal_key("j1"))                           # pending
    _put(directory, tenant, layout.event_key("0001"), subject="x")              # not checked


def _every(k: int) -> Callable[[], bool]:
    """An `over` that ends a step after every k rows."""
    calls = {"n": 0}

    def over() -> bool:
        calls["n"] += 1
        return calls["n"] % k == 0

    return over


def _sorted(found: list[invariants.Violation]) -> list[tuple[str, str, str]]:
    return sorted((v.kind, v.row, v.detail) for v in found)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_a_check_cut_after_every_k_rows_finds_what_one_check_finds(
        directory: Directory, tenant_id: str, k: int) -> None:
    _damaged(directory, tenant_id)
    whole = invariants.check(directory, tenant_id, indexer=stored_indexes)
    assert {v.kind for v in whole} == {
        invariants.PENDING_CHANGE, invariants.MISSING_INDEX, invariants.ORPHAN_INDEX,
        invariants.STALE_INDEX, invariants.MISSING_TWIN, invariants.ORPHAN_MEMBERSHIP,
        invariants.MEMBER_GONE}
    found: list[invariants.Violation] = []
    after: str | None = ""
    steps = 0
    while after is not None:
        steps += 1
        _, after = invariants.walk(directory, tenant_id, indexer=stored_indexes, fix=False,
                                   after=after, over=_every(k), found=found.append)
    assert _sorted(found) == _sorted(whole)
    assert steps > 100 // k  # it really was cut


def test_a_repair_cut_after_50_rows_resumes_where_it_stopped_and_finishes(
        directory: Directory, tenant_id: str) -> None:
    _damaged(directory, tenant_id)
    before = invariants.check(directory, tenant_id, indexer=stored_indexes)
    progress: invariants.Progress | None = invariants.Progress(started=NOW)
    positions: list[str] = []
    unrepaired: list[invariants.Violation] = []
    found = repaired = 0
    while progress is not None:
        report, progress = invariants.repair_step(
            directory, tenant_id, indexer=stored_indexes, progress=progress,
            over=_every(50))
        unrepaired += report.unrepaired
        found, repaired = found + report.found, repaired + report.repaired
        if progress is not None:  # the pass's totals so far travel with its position
            assert (progress.started, progress.found, progress.repaired) == (
                NOW, found, repaired)
            positions.append(progress.after)
    assert len(positions) == 2  # some 145 rows: cut twice, then to the end
    assert positions == sorted(positions)  # each step went on after the one before
    assert (found, repaired) == (len(before), len(before) - 1)
    # What is left: only the journal, which the pass leaves to `complete_pending`.
    assert [v.kind for v in unrepaired] == [invariants.PENDING_CHANGE]
    assert [v.kind for v in invariants.check(directory, tenant_id, indexer=stored_indexes)
            ] == [invariants.PENDING_CHANGE]


def test_a_step_whose_checkpoint_is_refused_stops_and_its_pass_goes_on_elsewhere(
        directory: Directory, tenant_id: str) -> None:
    """The checkpoint is the lease (runs.py): refused, another worker holds the pass, and
    this step must stop instead of walking on beside it."""
    _damaged(directory, tenant_id)
    saved: list[invariants.Progress] = []

    def taken_over(progress: invariants.Progress) -> None:
        saved.append(progress)
        if len(saved) == 2:
            raise PreconditionFailed("another worker saved the pass")

    with pytest.raises(PreconditionFailed):
        invariants.repair_step(directory, tenant_id, indexer=stored_indexes,
                               progress=invariants.Progress(), over=lambda: False,
                               page=40, checkpoint=taken_over)
    assert [p.after for p in saved] == sorted(p.after for p in saved)
    # Rows after the refused checkpoint were not walked: their damage is still there...
    assert any(v.row > saved[1].after for v in invariants.check(
        directory, tenant_id, indexer=stored_indexes)
        if v.kind != invariants.PENDING_CHANGE)
    # ...until the worker holding the pass goes on from the last saved position.
    _, left = invariants.repair_step(directory, tenant_id, indexer=stored_indexes,
                                     progress=saved[0], over=lambda: False)
    assert left is None
    assert [v.kind for v in invariants.check(directory, tenant_id, indexer=stored_indexes)
            ] == [invariants.PENDING_CHANGE]


@pytest.mark.parametrize("holder", ["stale", "orphan"])
def test_a_row_held_by_a_resource_that_does_not_own_it_is_freed_and_restored_once(
        directory: Directory, tenant_id: str, holder: str) -> None:
    """The walk meets the resource before its index row: the restore removes the holder's row
    first, and the walk, reaching that row later, neither reports nor removes it again."""
    alice = _user(directory, tenant_id, "Alice")
    bob = _user(directory, tenant_id, "Bob")
    ref = bob if holder == "stale" else new_id()
    _put(directory, tenant_id, layout.unique_key("UN", "alice"), ref=ref)
    kind = invariants.STALE_INDEX if holder == "stale" else invariants.ORPHAN_INDEX
    assert sorted(v.kind for v in invariants.check(directory, tenant_id,
                                                   indexer=stored_indexes)) == sorted(
        [invariants.MISSING_INDEX, kind])
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert (report.found, report.index_rows_removed, report.index_rows_restored,
            report.unrepaired) == (2, 1, 1, [])
    assert directory.lookup_unique(tenant_id, "UN", "alice") == alice
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []


def test_a_row_its_owner_holds_is_a_conflict_left_alone(directory: Directory,
                                                        tenant_id: str) -> None:
    alice = _user(directory, tenant_id, "Alice")
    twin = new_id()  # a second "alice" whose row could not be written: the name is taken
    _put(directory, tenant_id, layout.resource_key(USER, twin), doc='{"userName":"ALICE"}')
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert [(v.kind, v.row) for v in report.unrepaired] == [
        (invariants.MISSING_INDEX, layout.unique_key("UN", "alice"))]
    assert report.repaired == 0
    assert directory.lookup_unique(tenant_id, "UN", "alice") == alice


def test_membership_fixes_leave_nothing_unrepaired(directory: Directory,
                                                   tenant_id: str) -> None:
    """A removed M row's R twin, later in the same batch, is not taken for a lone R row."""
    staff = _group(directory, tenant_id, "Staff")
    alice = _user(directory, tenant_id, "Alice")
    gone_group, gone_user = new_id(), new_id()
    _put(directory, tenant_id, layout.member_key(gone_group, alice))
    _put(directory, tenant_id, layout.reverse_member_key(alice, gone_group))
    _put(directory, tenant_id, layout.member_key(staff, gone_user))
    _put(directory, tenant_id, layout.reverse_member_key(gone_user, staff))
    report = invariants.repair(directory, tenant_id, indexer=stored_indexes)
    assert (report.found, report.memberships_removed, report.unrepaired) == (2, 2, [])
    assert invariants.check(directory, tenant_id, indexer=stored_indexes) == []


@pytest.mark.parametrize("concurrency", [1, 8])
def test_concurrency_changes_nothing_found_or_fixed(directory: Directory, tenant_id: str,
                                                     concurrency: int) -> None:
    _damaged(directory, tenant_id)
    found = _sorted(invariants.check(directory, tenant_id, indexer=stored_indexes))
    seen: list[invariants.Violation] = []
    report, end = invariants.walk(directory, tenant_id, indexer=stored_indexes, fix=True,
                                  concurrency=concurrency, found=seen.append)
    assert end is None
    assert _sorted(seen) == found
    assert report.repaired == len(found) - 1  # all but the journal


def _memberships(directory: Directory, tenant: str, count: int) -> None:
    """A group with `count` members of another system (M and R rows, written in bulk)."""
    gid = _group(directory, tenant, "Everyone")
    rows = [key for n in range(count) for key in (
        layout.member_key(gid, f"ext-{n:06d}"), layout.reverse_member_key(f"ext-{n:06d}", gid))]
    for start in range(0, len(rows), 100):
        directory.table.submit_transaction([upsert({"PartitionKey": tenant, "RowKey": rk})
                                            for rk in rows[start:start + 100]])


# Measured in a process of its own: tracemalloc counts every thread's allocations, and the test
# session's other threads (the served app, its audit writer, queue consumers) allocate at any
# time, enough to blur a bound of 1.5x between two runs of half a megabyte.
_PEAKS_OF_CHECK = """
import gc, json, sys, tracemalloc
from shared.service.kinds import stored_indexes
from shared.settings import Settings
from shared.store import invariants
from shared.store.connection import tables_for
from shared.store.directory import Directory
settings, backend, tenants = json.loads(sys.argv[1])
directory = Directory(tables_for(Settings(**settings, storage_client=backend)).data)
peaks = []
for tenant in tenants:
    gc.collect()
    tracemalloc.start()
    assert invariants.check(directory, tenant, indexer=stored_indexes) == [], tenant
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
print(json.dumps(peaks))
"""


def _peaks_of_check(storage_settings: dict[str, str], tenants: list[str]) -> list[int]:
    """Each tenant's peak of traced memory during a `check`, in that order, in one new process
    on the session's storage and backend."""
    backend = os.environ.get("SCIM_STORAGE_CLIENT") or "direct"
    done = subprocess.run(
        [sys.executable, "-c", _PEAKS_OF_CHECK, json.dumps([storage_settings, backend, tenants])],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    peaks: list[int] = json.loads(done.stdout)
    return peaks


def test_memory_does_not_grow_with_the_partition(directory: Directory,
                                                 storage_settings: dict[str, str]) -> None:
    """4x the rows, about the same peak: the walk holds a page and a batch, not the tenant.
    (Holding every row, as a snapshot of the partition did, grows the peak about 4x.)"""
    warm, small, large = ("tmem" + new_id()[-10:] for _ in range(3))
    _memberships(directory, warm, 50)
    _memberships(directory, small, 1_000)
    _memberships(directory, large, 4_000)
    # The first check pays the code paths' first-use allocations; it is not counted.
    _, small_peak, large_peak = _peaks_of_check(storage_settings, [warm, small, large])
    assert large_peak <= 1.5 * small_peak, {"small": small_peak, "large": large_peak}
