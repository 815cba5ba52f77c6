"""`shared.store.runs`: the reconciler's last-run record, the marks of periodic work and the
repair passes under way (their rows are their leases), each test on a runs table of its own
(Azurite)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import layout
from shared.store.errors import AlreadyExists, PreconditionFailed
from shared.store.invariants import Progress
from shared.store.runs import RunLog
from shared.store.table import Table


@pytest.fixture
def runs(empty_table: Table) -> RunLog:
    return RunLog(empty_table)


def test_no_run_recorded_yet(runs: RunLog) -> None:
    assert runs.last() is None
    assert runs.marks() == {}


def test_the_last_run_is_read_back_as_recorded(runs: RunLog) -> None:
    summary = {"time": "2026-01-01T00:00:00.000Z", "tenants": 3, "ok": True,
               "errors": ["tenant t1: Unavailable"], "per_tenant": {"t1": {"purged": 2}},
               "note": "réconcilié \U0001F600"}
    runs.record(summary)
    assert runs.last() == summary


def test_a_new_record_replaces_the_last_one_whole(runs: RunLog) -> None:
    runs.record({"time": "2026-01-01T00:00:00.000Z", "errors": ["x"], "audit_purged": 5})
    runs.record({"time": "2026-01-01T00:05:00.000Z", "tenants": 1})
    assert runs.last() == {"time": "2026-01-01T00:05:00.000Z", "tenants": 1}


def test_the_time_of_the_last_run_is_a_column_of_its_own(runs: RunLog) -> None:
    """Operators read it in a table browser without parsing the summary."""
    runs.record({"time": "2026-01-01T00:05:00.000Z", "tenants": 1})
    assert runs.table.get_entity(*layout.LAST_RUN)["time"] == "2026-01-01T00:05:00.000Z"
    runs.record({"tenants": 0})
    assert runs.table.get_entity(*layout.LAST_RUN)["time"] == ""
    assert runs.last() == {"tenants": 0}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


# One table for every example: each record replaces the one before.
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_json_summary_round_trips(empty_table: Table, summary: dict[str, Any]) -> None:
    runs = RunLog(empty_table)
    runs.record(summary)
    assert runs.last() == summary


def test_marks_are_read_back_by_name(runs: RunLog) -> None:
    names = [layout.AUDIT_SWEEP_MARK, *(layout.repair_mark(f"t{n:02d}") for n in range(25))]
    for n, name in enumerate(names):
        runs.mark(name, f"2026-01-01T00:{n:02d}:00.000Z")
    assert runs.marks() == {name: f"2026-01-01T00:{n:02d}:00.000Z"
                            for n, name in enumerate(names)}


def test_marking_again_moves_the_mark(runs: RunLog) -> None:
    runs.mark(layout.AUDIT_SWEEP_MARK, "2026-01-01T00:00:00.000Z")
    runs.mark(layout.AUDIT_SWEEP_MARK, "2026-01-02T00:00:00.000Z")
    assert runs.marks() == {layout.AUDIT_SWEEP_MARK: "2026-01-02T00:00:00.000Z"}


def test_marks_and_the_last_run_do_not_overwrite_each_other(runs: RunLog) -> None:
    summary = {"time": "2026-01-01T00:00:00.000Z", "tenants": 2}
    runs.record(summary)
    runs.mark(layout.LAST_RUN[1], "2026-01-03T00:00:00.000Z")  # a mark of the same RowKey
    runs.mark(layout.LAST_RUN[0], "2026-01-04T00:00:00.000Z")
    assert runs.last() == summary
    assert runs.marks() == {layout.LAST_RUN[1]: "2026-01-03T00:00:00.000Z",
                            layout.LAST_RUN[0]: "2026-01-04T00:00:00.000Z"}


LATER = "2026-01-01T00:05:00.000Z"


def test_a_repair_pass_is_saved_and_read_back(runs: RunLog) -> None:
    assert runs.repair_progress("t1") is None
    progress = Progress(after="M:g:u", started="2026-01-01T00:00:00.000Z", found=7,
                        repaired=5, unrepaired=1)
    etag = runs.save_repair_progress("t1", progress, etag=None, owner="run-a",
                                     lease_until=LATER)
    assert runs.repair_progress("t1") == (progress, etag, LATER)
    assert runs.repair_passes() == {"t1": (progress, etag, LATER)}
    assert runs.table.get_entity(layout.REPAIR_PARTITION, "t1")["owner"] == "run-a"
    assert runs.marks() == {}  # a pass is not a mark, nor a mark a pass
    runs.mark(layout.repair_mark("t1"), LATER)
    assert set(runs.repair_passes()) == {"t1"}


def test_only_one_worker_starts_a_pass(runs: RunLog) -> None:
    runs.save_repair_progress("t1", Progress(), etag=None, owner="run-a", lease_until=LATER)
    with pytest.raises(AlreadyExists):
        runs.save_repair_progress("t1", Progress(), etag=None, owner="run-b",
                                  lease_until=LATER)


def test_a_second_workers_save_fails_once_the_first_saved(runs: RunLog) -> None:
    runs.save_repair_progress("t1", Progress(after="G:1"), etag=None, owner="run-a",
                              lease_until=LATER)
    read = runs.repair_progress("t1")
    assert read is not None
    etag = read[1]  # both workers read this version...
    mine = runs.save_repair_progress("t1", Progress(after="U:5"), etag=etag, owner="run-a",
                                     lease_until=LATER)
    with pytest.raises(PreconditionFailed):  # ...and only the first to save it holds it
        runs.save_repair_progress("t1", Progress(after="U:2"), etag=etag, owner="run-b",
                                  lease_until=LATER)
    assert runs.repair_progress("t1") == (Progress(after="U:5"), mine, LATER)
    with pytest.raises(PreconditionFailed):
        runs.finish_repair("t1", etag)
    runs.finish_repair("t1", mine)
    assert runs.repair_progress("t1") is None
    assert runs.repair_passes() == {}


def test_forgetting_a_tenant_removes_its_pass_and_mark_only(runs: RunLog) -> None:
    runs.save_repair_progress("gone", Progress(after="U:x"), etag=None, owner="a",
                              lease_until="2026-01-01T00:00:00.000Z")
    runs.save_repair_progress("kept", Progress(after="U:y"), etag=None, owner="a",
                              lease_until="2026-01-01T00:00:00.000Z")
    runs.mark(layout.repair_mark("gone"), "2026-01-01T00:00:00.000Z")
    runs.mark(layout.repair_mark("kept"), "2026-01-01T00:00:00.000Z")
    assert runs.forget_tenant("gone") == 2
    assert runs.repair_progress("gone") is None
    assert runs.repair_progress("kept") is not None
    assert set(runs.marks()) == {layout.repair_mark("kept")}
    assert runs.forget_tenant("gone") == 0  # again: nothing left, no error
