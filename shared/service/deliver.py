"""The deliver queue's messages ("tenant has due events"): one leased delivery pass of the
tenant per message (feed/worker.py), within SCIM_DELIVERY_BUDGET_SECONDS.

A message that cannot be a signal (not JSON, unknown version, no tenant) or names no tenant is
logged and acknowledged: retrying it cannot help. A storage outage raises, so the host makes
the message visible again and, after its maxDequeueCount attempts, moves it to the poison
queue. A message that finds another pass holding the lease is sent again for when that lease
ends: if the holder died, nothing else would run the tenant before the timer."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..feed import routing
from ..feed.delivery import Deliverer, Sender
from ..feed.worker import PassOutcome, deliver_tenant
from ..store.feed_log import PUBLISH_LIMIT, FeedLog, Route
from ..store.outbox import DEPLOYMENT_LANE, Outbox
from ..store.signals import VERSION, WHY, DeliverySignals
from ..store.tenants import Tenant

if TYPE_CHECKING:  # the service builds its pull API with `route_for`: no import cycle
    from .app import ScimService

log = logging.getLogger("scim.feed")
# Beyond the budget, the lease covers the request that may start just before it ends.
_LEASE_MARGIN_S = 30.0


def parse(body: bytes | str) -> dict[str, Any] | None:
    """The message's fields, or None when it is no deliver message of this version."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        return None
    tenant, why = payload.get("tenant"), payload.get("why")
    if not isinstance(tenant, str) or not tenant or len(tenant) > 128 or why not in WHY:
        return None
    return payload


def on_message(service: ScimService, body: bytes | str, *, dequeue_count: int = 1,
               sender: Sender | None = None) -> PassOutcome | None:
    """Run the pass a message asks for; None when the message was only acknowledged."""
    payload = parse(body)
    if payload is None:
        log.warning("deliver message not understood (acknowledged, dropped): %r",
                    (body if isinstance(body, str) else body.decode("utf-8", "replace"))[:200])
        return None
    signals = service.delivery_signals
    if signals is None:
        log.warning("deliver message while queues are off (SCIM_QUEUE_STORAGE unset): "
                    "acknowledged; the timer delivers")
        return None
    tenant = service.tenants.get(payload["tenant"])
    if tenant is None:
        log.warning("deliver message for unknown tenant=%s: acknowledged",
                    str(payload["tenant"])[:64])
        return None
    if tenant.deleting:  # its rows are being purged: a pass would write some back
        log.info("deliver message for tenant=%s being deleted: acknowledged", tenant.id)
        return None
    outcome = run_pass(service, signals, tenant, sender=sender, sweep_held=False)
    if outcome.skipped:
        _retry_after_holder(signals, tenant.id)
    stats = outcome.stats
    # The totals cover both lanes; the deployment lane's share is named apart, so a failing
    # deployment-wide endpoint is told from a failing tenant webhook.
    shared = stats.lane(DEPLOYMENT_LANE.name)
    log.info("deliver tenant=%s why=%s dequeue=%d published=%d delivered=%d failed=%d "
             "dead_lettered=%d backlog=%d deployment_delivered=%d deployment_failed=%d "
             "skipped=%s continued=%s wake_at=%s", tenant.id, payload["why"], dequeue_count,
             outcome.published, stats.delivered, stats.failed, stats.dead_lettered,
             stats.backlog, shared.delivered, shared.failed, outcome.skipped, outcome.continued,
             outcome.wake_at)
    return outcome


def run_pass(service: ScimService, signals: DeliverySignals, tenant: Tenant, *,
             sender: Sender | None = None, deadline: float | None = None,
             owner: str | None = None, sweep_held: bool = True) -> PassOutcome:
    """One leased pass of `tenant` (the queue trigger's; the timer's inline run too).
    `sweep_held`: Deliverer.sweep_held (the queue trigger's passes leave it to the timer)."""
    settings = service.settings
    own_sender = sender is None
    sender = sender or Sender(settings.webhook_timeout_seconds)
    outbox = Outbox(service.directory)
    deadline = deadline or time.monotonic() + settings.delivery_budget_seconds
    try:
        return deliver_tenant(
            tenant, deliverer=deliverer(service, outbox, sender, sweep_held=sweep_held),
            signals=signals,
            outbox=outbox, owner=owner or uuid.uuid4().hex, deadline=deadline,
            feed_log=FeedLog(service.directory), route=route_for(service, tenant),
            # The lease outlasts the pass, whoever set its deadline (the reconciler's is
            # longer than a queue-triggered pass's budget).
            lease_s=(max(0.0, deadline - time.monotonic()) + settings.webhook_timeout_seconds
                     + _LEASE_MARGIN_S),
            retry_after_s=settings.webhook_backoff_seconds)
    finally:
        if own_sender:
            sender.close()


def deliverer(service: ScimService, outbox: Outbox, sender: Sender, *,
              sweep_held: bool = True) -> Deliverer:
    """The service's deliverer: both lanes, the deployment one to the cached subscription."""
    return Deliverer(outbox, service.settings, sender,
                     subscription=service.subscriptions.current, sweep_held=sweep_held)


def route_for(service: ScimService, tenant: Tenant) -> Callable[[str], Route]:
    """The lanes the tenant's events are published to (every publisher asks here): the
    tenant's webhook filter, and the deployment-wide subscription's (read through its
    per-instance cache) - feed/routing.py."""
    return routing.route_for(tenant, service.subscriptions.current(),
                             service.settings.event_type_prefix)


def publish(service: ScimService, tenant: Tenant, now: datetime,
            over: Callable[[], bool] = lambda: False) -> int:
    """Publish the tenant's new events outside a queued pass (the timer's inline run, which
    holds no lease: a concurrent publisher's transaction fails whole, so nothing is published
    twice), batch after batch until none is left or `over()`."""
    feed, route = FeedLog(service.directory), route_for(service, tenant)
    total = 0
    while True:
        published = feed.publish(tenant.id, route, now=now, limit=PUBLISH_LIMIT)
        total += published
        # Fewer than a full batch: nothing was left, or another publisher took the rest.
        if published < PUBLISH_LIMIT or over():
            return total


def _retry_after_holder(signals: DeliverySignals, tenant: str) -> None:
    until = signals.holder_until(tenant)
    if until is not None:
        signals.delayed(tenant, until + timedelta(seconds=1), datetime.now(UTC))
