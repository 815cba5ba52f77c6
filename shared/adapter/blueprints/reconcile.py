"""The timer-triggered reconciler (schedule from the RECONCILE_SCHEDULE app setting, UTC) and,
with queues on, the work queue trigger that runs the work items the timer sends: one per
tenant, so that one tenant's work never waits for or fails with another's."""

from __future__ import annotations

import logging

import azure.functions as func

from .. import runtime

bp = func.Blueprint()
log = logging.getLogger("scim.reconcile")


@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False,
                  use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    from ...service.reconcile import run, schedule

    if timer.past_due:
        log.warning("reconcile run is late (past due)")
    service = runtime.service()
    # Each logs its own structured summary record.
    if service.settings.queues_enabled:
        schedule(service)
    else:
        run(service)


@bp.queue_trigger(arg_name="msg", queue_name="%SCIM_WORK_QUEUE%",
                  connection="SCIM_QUEUE_STORAGE")
def reconcile_tenant(msg: func.QueueMessage) -> None:
    from ...service.reconcile import tenant_work

    tenant_work(runtime.service(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)
