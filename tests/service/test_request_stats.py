"""Request counters per tenant, hour and instance: what one instance counted is handed over as
its rows with running totals, every counted request is in exactly one row, instances' rows
sum to the whole, ended hours are forgotten once taken, and the keys are bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.service.request_stats import RequestStats
from shared.store import layout

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_an_hours_row_carries_its_running_totals_and_is_replaced_by_its_owner() -> None:
    stats = RequestStats(instance="inst1")
    stats.add("t1", 200, BASE + timedelta(minutes=1), authenticated=True)
    stats.add("t1", 401, BASE + timedelta(minutes=2), authenticated=False)
    [row] = stats.take(BASE + timedelta(minutes=3))
    assert row == {"PartitionKey": layout.stats_partition("t1"),
                   "RowKey": layout.stats_row_key(BASE + timedelta(hours=1), "inst1"),
                   "hour": "2026-03-01T12:00:00.000Z", "requests": 2, "errors": 1,
                   "unauthorized": 1, "lastTime": "2026-03-01T12:01:00.000Z"}
    assert stats.take(BASE + timedelta(minutes=4)) == []  # nothing new: nothing to write
    stats.add("t1", 404, BASE + timedelta(minutes=5), authenticated=True)
    [again] = stats.take(BASE + timedelta(minutes=6))
    assert again["RowKey"] == row["RowKey"]  # the same row, replaced with the totals
    assert (again["requests"], again["errors"], again["lastTime"]) == (
        3, 2, "2026-03-01T12:05:00.000Z")


def test_an_ended_hour_is_written_once_more_then_forgotten() -> None:
    stats = RequestStats(instance="i")
    stats.add("t1", 200, BASE + timedelta(minutes=59), authenticated=True)
    assert len(stats.take(BASE + timedelta(hours=1, minutes=1))) == 1
    stats.add("t1", 200, BASE + timedelta(hours=1, minutes=2), authenticated=True)
    [row] = stats.take(BASE + timedelta(hours=1, minutes=3))
    assert row["hour"] == "2026-03-01T13:00:00.000Z"
    assert row["requests"] == 1


def test_keys_past_the_bound_are_only_counted_as_uncounted() -> None:
    stats = RequestStats(instance="i", max_keys=2)
    for tenant in ("a", "b", "c", "c"):
        stats.add(tenant, 200, BASE, authenticated=True)
    stats.add("a", 200, BASE, authenticated=True)  # a known key still counts
    assert stats.uncounted == 2
    assert sorted((r["PartitionKey"], r["requests"]) for r in stats.take(BASE)) == [
        (layout.stats_partition("a"), 2), (layout.stats_partition("b"), 1)]


def test_two_processes_never_share_a_row() -> None:
    assert RequestStats().instance != RequestStats().instance


requests = st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.sampled_from([0, 1]),
                              st.integers(0, 3 * 3600 - 1),
                              st.sampled_from([200, 201, 204, 400, 401, 404, 409, 500]),
                              st.booleans()), max_size=60)


@settings(max_examples=150, deadline=None)
@given(requests=requests, take_every=st.integers(1, 20))
def test_instances_rows_sum_to_every_request_counted(
        requests: list[tuple[str, int, int, int, bool]], take_every: int) -> None:
    """Each instance replaces its own rows (a dict by key stands for the table); the
    readers' sum over instances equals what was counted, whenever the takes happened."""
    instances = [RequestStats(instance="a"), RequestStats(instance="b")]
    table: dict[tuple[str, str], dict[str, Any]] = {}
    ordered = sorted(requests, key=lambda r: r[2])
    for n, (tenant, which, offset, status, authenticated) in enumerate(ordered):
        at = BASE + timedelta(seconds=offset)
        instances[which].add(tenant, status, at, authenticated=authenticated)
        if n % take_every == 0:
            for stats in instances:
                table.update({(r["PartitionKey"], r["RowKey"]): r for r in stats.take(at)})
    end = BASE + timedelta(hours=4)
    for stats in instances:
        table.update({(r["PartitionKey"], r["RowKey"]): r for r in stats.take(end)})
    for tenant in ("t1", "t2"):
        mine = [r for (pk, _), r in table.items() if pk == layout.stats_partition(tenant)]
        counted = [r for r in requests if r[0] == tenant]
        assert sum(int(r["requests"]) for r in mine) == len(counted)
        assert sum(int(r["errors"]) for r in mine) == sum(
            1 for r in counted if r[3] >= 400)
        assert sum(int(r["unauthorized"]) for r in mine) == sum(
            1 for r in counted if r[3] == 401)
        last = max((BASE + timedelta(seconds=r[2]) for r in counted if r[4]), default=None)
        seen = max((str(r["lastTime"]) for r in mine if r["lastTime"]), default=None)
        assert seen == (last.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                        if last else None)
