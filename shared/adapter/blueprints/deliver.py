"""The deliver queue trigger: a "tenant has due events" message (a commit's signal, a
retry coming due, a continuation) runs one leased delivery pass of the tenant
(service/deliver.py). The host's queue settings (host.json extensions.queues) decide retries
and the poison queue; a storage outage raises so the message is retried."""

from __future__ import annotations

import azure.functions as func

from .. import runtime

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%SCIM_DELIVER_QUEUE%",
                  connection="SCIM_QUEUE_STORAGE")
def deliver(msg: func.QueueMessage) -> None:
    from ...service.deliver import on_message

    on_message(runtime.service(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)
