"""The timer-triggered reconciler (schedule from the RECONCILE_SCHEDULE app setting, UTC)."""

from __future__ import annotations

import logging

import azure.functions as func

from .. import runtime

bp = func.Blueprint()
log = logging.getLogger("scim.reconcile")


@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False,
                  use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    from ...service.reconcile import run

    if timer.past_due:
        log.warning("reconcile run is late (past due)")
    run(runtime.service())  # logs its own structured summary record
