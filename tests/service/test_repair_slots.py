"""When a tenant's repair pass is due (repair_slots.py), on the timer's ticks: passes that
first ran together spread over the interval, a tenant's passes stay between half an interval
and one and a half apart, and settle one interval apart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.service.repair_slots import latest_slot, repair_due, slot_offset

TICK = timedelta(minutes=15)  # the default RECONCILE_SCHEDULE
DAY = timedelta(hours=24)
T0 = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)  # a tick

tenants = st.text(min_size=1, max_size=40)
intervals = st.integers(min_value=1, max_value=24 * 14).map(lambda h: timedelta(hours=h))
instants = st.integers(min_value=0, max_value=10 * 365 * 24 * 3600).map(
    lambda s: datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


def _next_due(tenant: str, last: datetime, every: timedelta, tick: datetime) -> datetime:
    """The first tick at or after `tick` at which the pass is due."""
    while not repair_due(tenant, last, tick, every):
        tick += TICK
    return tick


def _ticks_after(at: datetime) -> datetime:
    """The first tick at or after `at` (ticks are T0 plus whole TICKs)."""
    return T0 - ((T0 - at) // TICK) * TICK


def test_a_tenant_never_repaired_or_an_interval_of_zero_is_due_at_once() -> None:
    assert repair_due("t1", None, T0, DAY)
    assert repair_due("t1", T0, T0, timedelta(0))


@given(tenants, intervals, instants)
def test_the_latest_slot_is_the_tenants_own_time_of_the_interval(
        tenant: str, every: timedelta, now: datetime) -> None:
    slot = latest_slot(tenant, every, now)
    assert now - every < slot <= now
    assert timedelta(0) <= slot_offset(tenant, every) < every
    assert latest_slot(tenant, every, slot + every) == slot + every


@settings(max_examples=200, deadline=None)
@given(tenants, intervals, instants)
def test_passes_are_between_half_and_one_and_a_half_intervals_apart(
        tenant: str, every: timedelta, finished: datetime) -> None:
    first = _ticks_after(finished)
    due = _next_due(tenant, finished, every, first)
    assert every / 2 <= due - finished <= every * 3 / 2 + TICK


@settings(max_examples=100, deadline=None)
@given(tenants, st.integers(min_value=1, max_value=48))
def test_passes_settle_one_interval_apart(tenant: str, hours: int) -> None:
    every = timedelta(hours=hours)  # a whole number of ticks
    finished = [T0]
    for _ in range(4):
        finished.append(_next_due(tenant, finished[-1], every, finished[-1] + TICK))
    gaps = [b - a for a, b in pairwise(finished[1:])]  # after the first, which varies
    assert gaps == [every] * 3


def test_tenants_repaired_together_come_due_spread_over_the_interval() -> None:
    """1,000 tenants whose passes finished at one tick (a deployment's first run): the next
    day, no tick holds more than a few of their passes, where one interval after the mark
    would put all 1,000 on one tick."""
    per_tick = Counter(_next_due(f"tenant-{n}", T0, DAY, T0 + TICK) for n in range(1_000))
    ticks = DAY // TICK  # 96
    assert min(per_tick) >= T0 + DAY / 2
    assert max(per_tick) <= T0 + DAY * 3 / 2
    assert len(per_tick) >= ticks * 0.9  # nearly every tick of the interval has some
    assert max(per_tick.values()) <= 4 * 1_000 / ticks
