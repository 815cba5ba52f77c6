"""`shared.store.audit`: the audit *table* (what the service's audit writer, tested in
tests/service/test_audit.py, writes to). Entries are written in batches of one partition, read
newest first, and purged past a retention boundary; each test on an audit table of its own
(Azurite)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store.audit import AuditTable
from shared.store.errors import StoreError, TransportFailed
from shared.store.layout import audit_partition, audit_row_key, stats_partition, stats_row_key
from shared.store.table import Table
from shared.store.wire import Request, Response
from tests.support.storage_faults import hooked, own_thread, synthesized

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
Send = Callable[[Request], Response]


@pytest.fixture
def audit(empty_table: Table) -> AuditTable:
    return AuditTable(empty_table)


def _tenant() -> str:
    return "t" + uuid.uuid4().hex[:12]


def _entry(tenant: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"PartitionKey": audit_partition(tenant), "RowKey": audit_row_key(at),
            "time": at.isoformat(), **fields}


def _lose_answer(request: Request, send: Send) -> NoReturn:
    send(request)
    raise TransportFailed("injected: read timed out after the request was sent")


def _times(audit: AuditTable, tenant: str, **query: Any) -> list[str]:
    return [e["time"] for e in audit.query(tenant, **query)]


def test_entries_are_read_newest_first(audit: AuditTable) -> None:
    tenant = _tenant()
    times = [BASE + timedelta(seconds=s) for s in (5, -3600, 0, 86400, 1, -1)]
    audit.insert_many([_entry(tenant, at, method="POST", status=201) for at in times])
    assert _times(audit, tenant) == [at.isoformat() for at in sorted(times, reverse=True)]
    first = next(audit.query(tenant))
    assert (first["method"], first["status"]) == ("POST", 201)


def test_entries_of_one_microsecond_are_all_kept(audit: AuditTable) -> None:
    tenant = _tenant()
    audit.insert_many([_entry(tenant, BASE, n=n) for n in range(5)])
    assert sorted(e["n"] for e in audit.query(tenant)) == [0, 1, 2, 3, 4]


def test_since_includes_its_own_instant_and_nothing_older(audit: AuditTable) -> None:
    tenant = _tenant()
    audit.insert_many([_entry(tenant, BASE + d * MICRO) for d in (-1, 0, 1)])
    assert _times(audit, tenant, since=BASE) == [(BASE + MICRO).isoformat(), BASE.isoformat()]
    assert _times(audit, tenant, since=BASE + 2 * MICRO) == []


def test_limit_takes_the_newest(audit: AuditTable) -> None:
    tenant = _tenant()
    audit.insert_many([_entry(tenant, BASE + timedelta(seconds=s)) for s in range(5)])
    assert _times(audit, tenant, limit=2) == [(BASE + timedelta(seconds=s)).isoformat()
                                              for s in (4, 3)]
    assert _times(audit, tenant, limit=0) == []
    assert len(_times(audit, tenant, limit=50)) == 5


def test_each_tenant_reads_its_own_entries_whatever_its_id(audit: AuditTable) -> None:
    """A failed authentication names any tenant id it likes: every text is a partition."""
    ids = ["a/b#c?d", "it's", "ünï\U0001F600", "%41", "", _tenant()]
    audit.insert_many([_entry(tid, BASE, who=tid) for tid in ids])
    for tid in ids:
        assert [e["who"] for e in audit.query(tid)] == [tid]


def test_many_entries_of_many_tenants_in_one_call(audit: AuditTable) -> None:
    """A transaction holds at most 100 rows of one partition."""
    tenants = [_tenant() for _ in range(3)]
    entries = [_entry(t, BASE + n * MICRO, n=n) for n in range(250) for t in tenants]
    audit.insert_many(entries)
    for tenant in tenants:
        assert [e["n"] for e in audit.query(tenant)] == list(reversed(range(250)))


def test_sending_the_same_entries_again_neither_fails_nor_duplicates(
        audit: AuditTable) -> None:
    """What makes resending a batch whose answer was lost safe."""
    tenant = _tenant()
    entries = [_entry(tenant, BASE + n * MICRO, n=n) for n in range(3)]
    audit.insert_many(entries)
    audit.insert_many(entries)
    assert [e["n"] for e in audit.query(tenant)] == [2, 1, 0]


def test_a_batch_whose_answer_was_lost_is_sent_again_and_lands_once(
        audit: AuditTable) -> None:
    tenant = _tenant()
    posts: list[str] = []

    def lose_the_first_answer(request: Request, send: Send) -> Response:
        posts.append(request.method)
        if len(posts) == 1:
            _lose_answer(request, send)  # committed, then the answer was lost
        return send(request)

    with hooked(own_thread(lose_the_first_answer)):
        audit.insert_many([_entry(tenant, BASE + n * MICRO, n=n) for n in range(3)])
    assert posts == ["POST", "POST"]
    assert [e["n"] for e in audit.query(tenant)] == [2, 1, 0]


def test_a_refused_batch_is_not_sent_again(audit: AuditTable) -> None:
    attempts: list[str] = []

    def refuse(request: Request, send: Send) -> Response:
        attempts.append(request.method)
        return synthesized(request, 400, "InvalidInput", "One of the inputs is invalid.")

    with hooked(own_thread(refuse)), pytest.raises(StoreError) as info:
        audit.insert_many([_entry(_tenant(), BASE)])
    assert str(info.value) == "400 InvalidInput"
    assert attempts == ["POST"]


def test_storage_that_never_answers_is_given_up_on_with_growing_pauses(
        audit: AuditTable, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    mine, sleep = threading.get_ident(), time.sleep

    def pause(seconds: float) -> None:
        # The test's pauses only: the session's audit writer, on a thread of its own, sleeps
        # (it lingers for entries) through the same `time` module.
        if threading.get_ident() == mine:
            pauses.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr(time, "sleep", pause)
    attempts: list[str] = []

    def lose_every_answer(request: Request, send: Send) -> Response:
        attempts.append(request.method)
        _lose_answer(request, send)

    tenant = _tenant()
    with hooked(own_thread(lose_every_answer)), pytest.raises(TransportFailed):
        audit.insert_many([_entry(tenant, BASE)])
    assert 1 < len(attempts) <= 10
    assert len(pauses) == len(attempts) - 1
    assert pauses == sorted(pauses)
    assert pauses[0] > 0
    assert len(list(audit.query(tenant))) == 1  # every attempt landed, as one row


# -- retention -------------------------------------------------------------------------------

def test_purge_removes_exactly_a_tenants_entries_older_than_the_boundary(
        audit: AuditTable) -> None:
    tenant, other = _tenant(), _tenant()
    audit.insert_many([_entry(tenant, BASE + d * MICRO) for d in (-1_000_000, -1, 0, 1)]
                      + [_entry(other, BASE - timedelta(days=1))])
    assert audit.purge(BASE, tenant=tenant) == 2
    assert _times(audit, tenant) == [(BASE + MICRO).isoformat(), BASE.isoformat()]
    assert len(_times(audit, other)) == 1
    assert audit.purge(BASE, tenant=tenant) == 0


def test_purge_without_a_tenant_reaches_every_partition(audit: AuditTable) -> None:
    """Also those of deleted tenants, and any a failed authentication once named."""
    tenants = [_tenant(), _tenant(), "not a tenant at all"]
    audit.insert_many([_entry(t, BASE - timedelta(hours=h)) for t in tenants for h in (0, 2)])
    assert audit.purge(BASE - timedelta(hours=1)) == 3
    assert all(_times(audit, t) == [BASE.isoformat()] for t in tenants)


def test_purge_of_more_entries_than_one_transaction_holds(audit: AuditTable) -> None:
    tenant, old = _tenant(), BASE - timedelta(days=40)
    audit.insert_many([_entry(tenant, old + n * MICRO) for n in range(230)]
                      + [_entry(tenant, BASE)])
    assert audit.purge(BASE - timedelta(days=30), tenant=tenant) == 230
    assert _times(audit, tenant) == [BASE.isoformat()]


def test_purge_stops_when_its_deadline_check_says_so_and_resumes(audit: AuditTable) -> None:
    tenant, old = _tenant(), BASE - timedelta(days=40)
    audit.insert_many([_entry(tenant, old + n * MICRO) for n in range(230)])
    checks: list[int] = []

    def out_of_time() -> bool:
        checks.append(1)
        return True

    removed = audit.purge(BASE, tenant=tenant, deadline_check=out_of_time)
    assert checks == [1]
    assert 0 < removed < 230
    assert len(_times(audit, tenant)) == 230 - removed
    assert audit.purge(BASE, tenant=tenant, deadline_check=lambda: False) == 230 - removed
    assert _times(audit, tenant) == []


# One table for every example: each has a tenant of its own.
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(-3, 3) | st.integers(-10**8, 10**8), min_size=1, max_size=30))
def test_retention_keeps_exactly_what_since_reads(audit: AuditTable,
                                                  offsets: list[int]) -> None:
    """Around a boundary to the microsecond: `purge(before)` leaves exactly the entries that
    `query(since=before)` reads, those at or after it."""
    tenant = _tenant()
    audit.insert_many([_entry(tenant, BASE + d * MICRO, d=d) for d in offsets])
    kept = sorted((d for d in offsets if d >= 0), reverse=True)
    assert [e["d"] for e in audit.query(tenant, since=BASE)] == kept
    assert audit.purge(BASE, tenant=tenant) == len(offsets) - len(kept)
    assert [e["d"] for e in audit.query(tenant)] == kept


# -- request counters ----------------------------------------------------------------------------

def _counter(tenant: str, hour_end: datetime, instance: str, requests: int) -> dict[str, Any]:
    return {"PartitionKey": stats_partition(tenant), "RowKey": stats_row_key(hour_end, instance),
            "hour": (hour_end - timedelta(hours=1)).isoformat(), "requests": requests,
            "errors": 0, "unauthorized": 0, "lastTime": ""}


def test_request_counters_are_not_entries_and_read_newest_hour_first(
        audit: AuditTable) -> None:
    tenant = _tenant()
    audit.insert_many([_entry(tenant, BASE)] + [
        _counter(tenant, BASE - timedelta(hours=h), i, 1) for h in (0, 1, 5) for i in ("a", "b")])
    assert _times(audit, tenant) == [BASE.isoformat()]  # the log shows entries only
    rows = list(audit.request_counts(tenant, since=BASE - timedelta(hours=1)))
    assert [r["RowKey"][-1] for r in rows] == ["a", "b", "a", "b"]
    assert rows[0]["RowKey"] < rows[2]["RowKey"]  # newest hour first
    assert len(list(audit.request_counts(tenant))) == 6


def test_retention_purges_counters_of_hours_wholly_before_the_boundary(
        audit: AuditTable) -> None:
    tenant, other = _tenant(), _tenant()
    audit.insert_many([_counter(tenant, BASE + timedelta(hours=h), "a", 1) for h in (-2, 0, 1)]
                      + [_counter(other, BASE - timedelta(hours=2), "a", 1)])
    assert audit.purge(BASE, tenant=tenant) == 1  # the hour ending at BASE is kept
    assert len(list(audit.request_counts(tenant))) == 2
    assert len(list(audit.request_counts(other))) == 1
    assert audit.purge(BASE) >= 1  # the table-wide sweep reaches the counters' partitions
    assert list(audit.request_counts(other)) == []
