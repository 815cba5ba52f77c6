"""Timer triggers: NCRONTAB schedules, refused forms, and how a timer function is run."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from datetime import UTC, datetime

import azure.functions as func
import pytest

from devhost import running
from devhost.timer import Schedule, TimerFunction, TimerThread, UnsupportedSchedule
from tests.devhost.toy import TIMER_RUNS, TIMER_STATE, Served


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 */15 * * * *", "2024-01-01T10:07:30", "2024-01-01T10:15:00"),
        ("0 */15 * * * *", "2024-01-01T10:45:00", "2024-01-01T11:00:00"),  # strictly after
        ("0 */15 * * * *", "2024-12-31T23:59:59", "2025-01-01T00:00:00"),
        ("0 0 0 1 1 *", "2024-01-01T00:00:00", "2025-01-01T00:00:00"),  # the tests' "never"
        ("*/30 * * * * *", "2024-01-01T10:00:00", "2024-01-01T10:00:30"),
        ("*/30 * * * * *", "2024-01-01T10:00:29.999", "2024-01-01T10:00:30"),
        ("*/30 * * * * *", "2024-01-01T10:00:30", "2024-01-01T10:01:00"),
        ("0 0 2 * * 1-5", "2024-01-05T03:00:00", "2024-01-08T02:00:00"),  # Fri -> Mon
        ("0 0 2 * * 1-5", "2024-01-08T01:59:59", "2024-01-08T02:00:00"),
        ("0 0,30 9-17/4 * * *", "2024-01-01T09:30:00", "2024-01-01T13:00:00"),
        ("0 0,30 9-17/4 * * *", "2024-01-01T17:30:00", "2024-01-02T09:00:00"),
        ("15,45 * * * * *", "2024-01-01T00:00:15", "2024-01-01T00:00:45"),
        ("0 0 12 * jul,DEC sun", "2024-01-01T00:00:00", "2024-07-07T12:00:00"),
        ("0 0 0 29 2 *", "2023-03-01T00:00:00", "2024-02-29T00:00:00"),
        ("0 0 0 31 * *", "2024-04-01T00:00:00", "2024-05-31T00:00:00"),
        ("10/20 * * * * *", "2024-01-01T00:00:31", "2024-01-01T00:00:50"),  # a/n = a-max/n
        ("*/5 * * * *", "2024-01-01T00:01:00", "2024-01-01T00:05:00"),  # 5 fields: second 0
    ],
)
def test_next_occurrence(expr: str, after: str, expected: str) -> None:
    assert Schedule.parse(expr).next_after(_dt(after)) == _dt(expected)


def test_next_occurrence_is_in_utc() -> None:
    after = datetime.fromisoformat("2024-01-01T10:07:30+02:00")  # 08:07:30 UTC
    assert Schedule.parse("0 0 * * * *").next_after(after) == datetime(2024, 1, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "has 0 fields, not 6"),
        ("* * * *", "has 4 fields, not 6"),
        ("* * * * * * *", "has 7 fields, not 6"),
        ("00:05:00", "TimeSpan schedules are not emulated"),
        ("0 0 0 L * *", "'L' is not NCRONTAB syntax"),
        ("0 0 0 15W * *", "'15W' is not NCRONTAB syntax"),
        ("0 0 0 * * 5L", "'5L' is not NCRONTAB syntax"),
        ("0 0 0 * * MON#2", "'MON#2' is not NCRONTAB syntax"),
        ("0 0 0 ? * *", "'?' is not NCRONTAB syntax"),
        ("1,,2 * * * * *", "'1,,2' is not NCRONTAB syntax"),
        ("0 0 0 13 * 5", "restricts both the day and the day of the week"),
        ("60 * * * * *", "Bad second"),
        ("0 0 24 * * *", "Bad hour"),
        ("0 0 0 0 * *", "Bad day-of-month"),
        ("*/0 * * * * *", "Bad second"),
        ("5-1 * * * * *", "Bad second"),
        ("* * * * FOO *", "Bad month"),
        ("0 0 0 31 2 *", "Bad day-of-month"),  # never happens
    ],
)
def test_invalid_or_unemulated_schedules_are_refused(expr: str, message: str) -> None:
    with pytest.raises(UnsupportedSchedule) as info:
        Schedule.parse(expr)
    assert message in str(info.value)
    assert repr(expr) in str(info.value)


def test_timer_fires_on_schedule_and_never_overlaps(toy: Served) -> None:
    deadline = toy.started + 8
    while len(TIMER_RUNS) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = list(TIMER_RUNS)
    assert len(runs) >= 2, runs
    assert runs[0][0] - toy.started < 2.5
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(runs):
        assert start >= end  # singleton: the next run starts after the previous one ended
        assert start - end < 0.5  # the overrun leads to one immediate run, like the host
    assert TIMER_STATE["max_active"] == 1
    assert all(not past_due for _, _, past_due, _ in runs)  # no schedule monitor here
    assert all(status == {} for _, _, _, status in runs)


def test_timer_exception_is_logged_and_schedule_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    calls: list[bool] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.timer_trigger(schedule="*/1 * * * * *", arg_name="t", run_on_startup=True)
    def failing(t: func.TimerRequest) -> None:
        calls.append(t.past_due)
        raise ValueError("timer boom")

    with running(app, start_timers=True):
        deadline = time.monotonic() + 3
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(calls) >= 2  # run on startup, then on schedule despite the exceptions
    assert any("timer boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert any(r.getMessage().startswith("timer failing failed ") for r in caplog.records)


def test_timer_thread_ends_when_stopped_even_mid_wait() -> None:
    runs: list[float] = []
    timer = TimerFunction("hourly", Schedule.parse("0 0 * * * *"), run_on_startup=True,
                          arg_name="t", fn=lambda t: runs.append(time.monotonic()))
    stop = threading.Event()
    thread = TimerThread(timer, stop)
    thread.start()
    deadline = time.monotonic() + 2
    while not runs and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    assert len(runs) == 1
    assert not thread.is_alive()
