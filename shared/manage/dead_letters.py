"""Dead letters: change events that exhausted their delivery attempts, per tenant and lane
(`tenant`: the tenant's webhook; `deployment`: the deployment-wide subscription's copy of the
tenant's events). A replay puts them back in the outbox, due now, and signals the deliver queue
as a commit does, so they go out within seconds instead of at the next reconciler run."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..store.errors import NotFound, StoreError
from ..store.outbox import LANES, Lane, OutboxRow
from ..store.queues import queues_for
from ..store.signals import DeliverySignals
from .context import Deployment
from .errors import invalid, not_found

log = logging.getLogger("scim.manage")
LANE_NAMES = tuple(lane.name for lane in LANES)


def lane_named(name: str) -> Lane:
    for lane in LANES:
        if lane.name == name:
            return lane
    raise invalid(f"lane must be one of {', '.join(LANE_NAMES)}, not {name!r}")


def _listed(row: OutboxRow, lane: Lane) -> dict[str, Any]:
    # The subject is "Users/{id}" or "Groups/{id}": the resource the event is about.
    return {"event_id": row.id, "type": row.type, "subject": row.subject,
            "resource_id": row.subject.rsplit("/", 1)[-1], "attempts": row.attempts,
            "error": row.last_error, "dead_at": row.dead_at, "lane": lane.name}


def list_dead_letters(d: Deployment, tenant_id: str, *, lane: str = "tenant"
                      ) -> list[dict[str, Any]]:
    chosen = lane_named(lane)
    tenant = d.tenant(tenant_id)
    return [_listed(row, chosen) for row in d.outbox.dead_letters(tenant.id, lane=chosen)]


def show_dead_letter(d: Deployment, tenant_id: str, event_id: str, *, lane: str = "tenant"
                     ) -> dict[str, Any]:
    """One dead letter with the event as it would be delivered."""
    chosen = lane_named(lane)
    tenant = d.tenant(tenant_id)
    row = _row(d, tenant.id, event_id, chosen)
    return {**_listed(row, chosen), "created": row.created, "event": json.loads(row.body)}


def _row(d: Deployment, tenant_id: str, event_id: str, lane: Lane) -> OutboxRow:
    try:
        return d.outbox.dead_letter_row(tenant_id, event_id, lane=lane)
    except NotFound:
        raise not_found(f"no dead letter {event_id!r} in tenant {tenant_id} ({lane.name} "
                        "lane); list them for their ids") from None


def replay_dead_letters(d: Deployment, tenant_id: str, event_ids: list[str] | None, *,
                        lane: str = "tenant") -> dict[str, Any]:
    """Put the named dead letters (None: every one) back in the outbox. Each named one is
    looked up first, so an unknown id replays nothing."""
    chosen = lane_named(lane)
    tenant = d.tenant(tenant_id)
    if event_ids is None:
        ids = [row.id for row in d.outbox.dead_letters(tenant.id, lane=chosen)]
    elif not event_ids:
        raise invalid("name the dead letters to replay (event ids), or replay them all")
    else:
        ids = list(dict.fromkeys(event_ids))
        for event_id in ids:
            _row(d, tenant.id, event_id, chosen)
    for event_id in ids:
        try:
            d.outbox.replay(tenant.id, event_id, lane=chosen)
        except NotFound:
            raise not_found(f"dead letter {event_id!r} of tenant {tenant.id} went away while "
                            "replaying (replayed by someone else?); list them again") from None
    return {"tenant_id": tenant.id, "lane": chosen.name, "replayed": len(ids),
            "signalled": bool(ids) and _signal(d, tenant.id)}


def _signal(d: Deployment, tenant_id: str) -> bool:
    """Signal the tenant as a commit does; False when queues are off or the signal failed
    (then the next reconciler run delivers them)."""
    try:
        if d.service is not None:
            signals = d.service.delivery_signals
        else:
            queues = queues_for(d.settings)
            signals = None if queues is None else DeliverySignals(d.tables.data,
                                                                  queues.deliver)
        if signals is None:
            return False
        # Signalled now, or a signal or a pass was already on its way (it reads the outbox
        # after these rows landed): either way, a queued pass delivers them.
        signals.signal(tenant_id, "commit")
    except StoreError as exc:
        log.warning("replay: the deliver queue could not be signalled (%s)", type(exc).__name__)
        return False
    return True
