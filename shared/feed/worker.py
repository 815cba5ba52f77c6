"""One leased delivery pass over a tenant's outbox (store/signals.py has the protocol).

Under the tenant's lease the pass publishes the events committed since the last pass
(store/feed_log.py: their order in the pull feed, and which lanes each goes to), then delivers
(delivery.py) until nothing is due or its deadline comes; it then releases the lease and reads
the outbox once more. Events committed before the release are seen by that read (their
writer's signal found the lease and sent nothing), so the pass takes the lease again and goes
on - for a tenant without a webhook too, whose late events must still be published for the
pull API; out of time, it hands over to a `continue` message. What waits for a retry gets one
delayed `retry` message, so retries come due without the timer.

Both lanes of the tenant (delivery.py) are read again, each with an endpoint; a lane whose round
failed everything it attempted rests until `retry_after_s` (a delayed `retry` message) while
the other goes on, so an endpoint that is down is not hammered by the other lane's traffic."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..store.errors import NotFound, PreconditionFailed
from ..store.feed_log import FeedLog, Route
from ..store.outbox import Outbox
from ..store.signals import DeliverySignals, Lease
from ..store.tenants import Tenant
from .delivery import Deliverer, DeliveryStats

log = logging.getLogger("scim.feed")


@dataclass
class PassOutcome:
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    skipped: bool = False  # another pass held the lease
    continued: bool = False  # out of time: a `continue` message carries on
    wake_at: datetime | None = None  # when the delayed `retry` message comes due
    published: int = 0  # events the pass published to the tenant's feed


def tenant_lane_only(_type: str) -> Route:
    """Every event stays in the tenant's lane (its webhook, or its hold without one)."""
    return Route()


# Re-reads after the release that found unpublished events but published none: the rows are
# then another publisher's (or stuck), and the next pass or the timer takes them.
_IDLE_REPUBLISH = 2


def deliver_tenant(tenant: Tenant, *, deliverer: Deliverer, signals: DeliverySignals,
                   outbox: Outbox, owner: str, deadline: float, lease_s: float,
                   retry_after_s: float, feed_log: FeedLog | None = None,
                   route: Callable[[str], Route] = tenant_lane_only) -> PassOutcome:
    """Publish and deliver the tenant's events under its lease, until the monotonic
    `deadline`. `retry_after_s`: how long to wait before trying again when a round failed
    everything it attempted (an endpoint that is down is not hammered in a loop). `route`
    says which lanes each published event goes to (feed_log.Route)."""
    outcome = PassOutcome()
    feed = feed_log or FeedLog(outbox.directory)
    lease = signals.acquire(tenant.id, owner, lease_s, deliverer.clock())
    if lease is None:
        outcome.skipped = True
        return outcome
    idle = 0
    resting: set[str] = set()  # lanes waiting for `retry_after_s` (their endpoint failed)
    while True:
        published = _publish(feed, signals, lease, tenant, route, deliverer.clock())
        outcome.published += published
        round_ = _deliver(deliverer, signals, lease, tenant, deadline, resting)
        outcome.stats.add(round_)
        now = deliverer.clock()
        if round_.incomplete:
            try:
                signals.hand_over(lease, now=now)
            except (PreconditionFailed, NotFound):
                return outcome  # taken over past its lease: the new holder goes on
            outcome.continued = True
            return outcome
        if not signals.release(lease):
            return outcome  # taken over past its lease: the new holder reads on
        # Committed before the release and not yet published: this pass is the one to
        # publish them (their writers' signals found the lease), webhook or not.
        late = feed.unpublished(tenant.id)
        idle = idle + 1 if late and not published else 0
        if late and idle > _IDLE_REPUBLISH:
            late = False
        due, earliest = late, None
        # Held events wait for an endpoint (or their discard, by the timer).
        for target in deliverer.targets(tenant):
            if target.endpoint is None:
                continue
            name = target.lane.name
            lane_due, at = outbox.lane_due(tenant.id, now, target.lane)
            stats = round_.lane(name)
            if name in resting or (lane_due and stats.failed and not stats.delivered):
                resting.add(name)
                lane_due, at = False, now + timedelta(seconds=retry_after_s)
            due = due or lane_due
            if at is not None:
                earliest = at if earliest is None else min(earliest, at)
        if due:
            if time.monotonic() + deliverer.sender.timeout >= deadline:
                if signals.signal(tenant.id, "continue", now=now):
                    outcome.continued = True
                return outcome
            lease = signals.acquire(tenant.id, owner, lease_s, now)
            if lease is None:
                return outcome  # a writer's message (or another pass) runs it
            continue
        if earliest is not None:
            signals.delayed(tenant.id, earliest, now)
            outcome.wake_at = earliest
        return outcome


def _publish(feed: FeedLog, signals: DeliverySignals, lease: Lease, tenant: Tenant,
             route: Callable[[str], Route], now: datetime) -> int:
    try:
        return feed.publish(tenant.id, route, now=now)
    except Exception:
        _release(signals, lease, tenant)
        raise


def _deliver(deliverer: Deliverer, signals: DeliverySignals, lease: Lease, tenant: Tenant,
             deadline: float, resting: set[str]) -> DeliveryStats:
    try:
        return deliverer.deliver(tenant, deadline, skip=frozenset(resting))
    except Exception:
        _release(signals, lease, tenant)
        raise


def _release(signals: DeliverySignals, lease: Lease, tenant: Tenant) -> None:
    """Free the tenant for the host's retry of this message (best effort: the lease also
    ends by itself)."""
    try:
        signals.release(lease)
    except Exception as exc:
        log.warning("delivery lease of tenant=%s not released (%s)", tenant.id,
                    type(exc).__name__)
