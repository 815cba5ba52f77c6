"""Timer triggers: NCRONTAB schedules and the thread that runs one timer function on its own.

Schedules are evaluated by ``cronsim``, which reads the same six fields in the same order as
NCRONTAB, ``{second} {minute} {hour} {day} {month} {day-of-week}`` (five fields mean second
0, as in the Functions host), in UTC. Forms whose meaning differs between the two are refused
at startup with ``UnsupportedSchedule``:

* syntax NCRONTAB does not have (``L``, ``W``, ``#``, ``?``), which cronsim would accept;
* a day-of-month AND a day-of-week that are both restricted: NCRONTAB fires only on days
  matching both, cron (and cronsim) on days matching either;
* TimeSpan schedules (``hh:mm:ss``).

Like the WebJobs ``TimerListener``: one invocation at a time; the next occurrence is computed
from the start of the previous invocation, so an overrun leads to one immediate invocation and
never to a queue of catch-up runs; ``runOnStartup`` invokes once at start; an exception is
logged and the schedule continues. There is no schedule monitor: ``past_due`` is always False
and ``schedule_status`` is empty.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest
from cronsim import CronSim, CronSimError

__all__ = ["Schedule", "TimerFunction", "TimerThread", "UnsupportedSchedule"]

_log = logging.getLogger("devhost")

_FORMAT = (
    "NCRONTAB is '{second} {minute} {hour} {day} {month} {day-of-week}' in UTC, "
    "e.g. '0 */15 * * * *' = every 15 minutes; fields take *, numbers, 3-letter names, "
    "ranges a-b, steps */n or a-b/n, and lists a,b"
)
_TERM = r"(?:\*|[0-9]+|[A-Za-z]{3})"
_ITEM = rf"{_TERM}(?:-{_TERM})?(?:/[0-9]+)?"
_FIELD = re.compile(rf"{_ITEM}(?:,{_ITEM})*")


class UnsupportedSchedule(ValueError):
    """A schedule that is invalid NCRONTAB or that the dev host would not run as the host does."""


@dataclass(frozen=True)
class Schedule:
    expression: str

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        fields = expression.split()
        if len(fields) not in (5, 6):
            raise UnsupportedSchedule(
                f"schedule {expression!r} has {len(fields)} fields, not 6 (TimeSpan "
                f"schedules are not emulated). {_FORMAT}"
            )
        odd = [f for f in fields if not _FIELD.fullmatch(f)]
        if odd:
            raise UnsupportedSchedule(
                f"schedule {expression!r}: {odd[0]!r} is not NCRONTAB syntax. {_FORMAT}"
            )
        day, day_of_week = fields[-3], fields[-1]
        if not day.startswith("*") and not day_of_week.startswith("*"):
            raise UnsupportedSchedule(
                f"schedule {expression!r} restricts both the day and the day of the week; "
                "NCRONTAB then fires on days matching both, which the dev host does not emulate"
            )
        try:
            CronSim(expression, datetime.now(UTC))
        except CronSimError as exc:
            raise UnsupportedSchedule(f"schedule {expression!r}: {exc}. {_FORMAT}") from None
        return cls(expression)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment`` (an aware datetime)."""
        return next(CronSim(self.expression, moment.astimezone(UTC)))


@dataclass(frozen=True)
class TimerFunction:
    """A timer-triggered function with its schedule."""

    name: str
    schedule: Schedule
    run_on_startup: bool
    arg_name: str
    fn: Callable[..., object] = field(repr=False)


class TimerThread(threading.Thread):
    """Runs one timer function on its schedule until ``stop`` is set, never overlapping."""

    def __init__(self, timer: TimerFunction, stop: threading.Event) -> None:
        super().__init__(name=f"devhost-timer-{timer.name}", daemon=True)
        self.timer, self._stop_event = timer, stop

    def run(self) -> None:
        schedule = self.timer.schedule
        next_due = schedule.next_after(datetime.now(UTC))
        if self.timer.run_on_startup and not self._stop_event.is_set():
            started = datetime.now(UTC)
            self._invoke()
            next_due = schedule.next_after(started)
        while not self._stop_event.is_set():
            delay = (next_due - datetime.now(UTC)).total_seconds()
            if delay > 0:
                self._stop_event.wait(min(delay, 3600.0))
                continue
            started = datetime.now(UTC)
            self._invoke()
            # The next occurrence follows the START of this run (max: the clock may lag).
            next_due = schedule.next_after(max(started, next_due))

    def _invoke(self) -> None:
        request = TimerRequest(past_due=False, schedule_status={}, schedule={"AdjustForDST": True})
        started = time.perf_counter()
        try:
            self.timer.fn(**{self.timer.arg_name: request})
        except Exception:
            _log.exception("timer function %r raised", self.timer.name)
            outcome = "failed"
        else:
            outcome = "ok"
        _log.info("timer %s %s %.1fms", self.timer.name, outcome,
                  (time.perf_counter() - started) * 1000)
