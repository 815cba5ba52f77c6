"""Delivering a tenant's outbox to its subscriptions: signed POSTs, in order per subject,
several subjects at once, with exponential backoff and jitter, dead letters after the last attempt.

A tenant's events wait in two lanes (store/outbox.py): the tenant's webhook (`E:`) and the
deployment-wide subscription (`D:`). A pass delivers each lane as below, with its own order
per subject, blocking, backoff, dead letters and `_DOWN_AFTER` count, and runs the two side by
side (the deployment lane in a thread of its own, started only when it has a row), so an
endpoint that is down or slow never holds the other lane's events back. Requests in flight to
one URL origin are bounded process-wide (origins.py): the deployment endpoint receives every
tenant's events.

One pass reads a lane's pending events oldest first, in rounds of a bounded page, and sends
only published ones (store/feed_log.py; the pass publishes before it delivers). Up to
SCIM_WEBHOOK_CONCURRENCY workers share a round: each takes the oldest event whose subject (the
resource) no other worker is sending, so one subject has at most one request in flight and its
events go out in id order, while other subjects go on beside it. A round ends before the next
one starts, which keeps that order across rounds. A failure schedules the event's next attempt
and blocks the rest of its subject for this pass; a dead-lettered event stops blocking its
subject. With one worker the events go out exactly in id order, as they always did. Delivered
events are removed after each round: a crash in between redelivers them (at least once;
receivers deduplicate on `webhook-id`, which stays the same across attempts)."""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, islice

import httpx

from ..settings import MAX_WEBHOOK_CONCURRENCY, Settings
from ..store.outbox import DEPLOYMENT_LANE, TENANT_LANE, Lane, Outbox, OutboxRow
from ..store.subscriptions import Subscription
from ..store.tenants import Tenant
from ..timestamps import iso, parse_iso
from . import signing
from .origins import SLOTS, OriginSlots

log = logging.getLogger("scim.feed")
# Pending rows read per round: bounds a pass's memory however long the outbox is, and is large
# enough that a round keeps every worker busy unless a few subjects own most of it.
_ROUND = 200
# An endpoint that fails this many attempts in a row (across all workers, in the order they
# end) is treated as down for the rest of the pass: the remaining events are not attempted
# (and not charged an attempt).
_DOWN_AFTER = 10
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0  # failed attempts (each retried later or dead-lettered)
    dead_lettered: int = 0
    discarded: int = 0  # held longer than SCIM_FEED_HOLD_DAYS without a webhook
    backlog: int = 0  # pending after the pass (waiting for backoff, blocked, or not reached)
    incomplete: bool = False  # the pass stopped at its deadline
    # The same counts per lane (Lane.name) a pass went through; the fields above sum them.
    by_lane: dict[str, DeliveryStats] = field(default_factory=dict)

    def add(self, other: DeliveryStats) -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.discarded += other.discarded
        self.backlog += other.backlog
        self.incomplete = self.incomplete or other.incomplete
        for name, lane in other.by_lane.items():
            self.by_lane.setdefault(name, DeliveryStats()).add(lane)

    def lane(self, name: str) -> DeliveryStats:
        """The counts of one lane (all zero when the pass did not go through it)."""
        return self.by_lane.get(name) or DeliveryStats()


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Target:
    """A lane and where its events go now; None: nowhere (they are held, and discarded after
    SCIM_FEED_HOLD_DAYS, as a tenant's events without a webhook always were)."""

    lane: Lane
    endpoint: Endpoint | None


@dataclass(frozen=True)
class Attempt:
    ok: bool
    error: str = ""  # "HTTP 500", "timeout", "ConnectError": no bodies, no URLs
    status: int = 0  # the receiver's HTTP status; 0 when no answer arrived


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, with "equal
    jitter" (half fixed, half random) so that retries of many events spread out."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not security


class Sender:
    """Signs and POSTs one event body. One httpx client (connection pool) per run, shared by
    the delivery workers (an httpx client may be used from several threads)."""

    def __init__(self, timeout: float, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        # Keep-alive for as many connections as one tenant's workers may hold at once.
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=100,
                                max_keepalive_connections=MAX_WEBHOOK_CONCURRENCY),
            follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def send(self, url: str, secret: str, event_id: str, body: str) -> Attempt:
        data = body.encode("utf-8")
        headers = {"content-type": CONTENT_TYPE, "user-agent": "entra-scim-connector",
                   **signing.headers(secret, event_id, int(time.time()), data)}
        try:
            response = self.client.post(url, content=data, headers=headers)
        except httpx.TimeoutException:
            return Attempt(False, "timeout")
        except httpx.HTTPError as exc:
            return Attempt(False, type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Attempt(True, status=response.status_code)
        return Attempt(False, f"HTTP {response.status_code}", response.status_code)


@dataclass
class _Pass:
    """What one lane's pass shares between its workers. While workers run, the fields
    below `hold_until` are read and written under `lock` only."""

    tenant: str
    target: Target
    deadline: float
    hold_until: datetime
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    waiting: list[OutboxRow] = field(default_factory=list)  # this round's rows not yet taken
    busy: set[str] = field(default_factory=set)  # subjects with a request in flight
    blocked: set[str] = field(default_factory=set)  # subjects held back for the whole pass
    delivered: list[str] = field(default_factory=list)  # ids not yet removed
    failures_in_a_row: int = 0
    stopped: bool = False  # the budget is spent, or a worker failed
    lock: threading.Lock = field(default_factory=threading.Lock)


def _no_subscription() -> Subscription | None:
    return None


@dataclass
class Deliverer:
    outbox: Outbox
    settings: Settings
    sender: Sender
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The deployment-wide subscription (a cached read: SubscriptionTable.current).
    subscription: Callable[[], Subscription | None] = _no_subscription
    slots: OriginSlots = SLOTS
    # Whether a pass reads a lane that has no endpoint, to discard its rows held past
    # SCIM_FEED_HOLD_DAYS. The tenant lane is read anyway; for the deployment lane, which has
    # no rows in most deployments, the reconciler's passes do it and queue-triggered passes
    # save the read.
    sweep_held: bool = True

    def targets(self, tenant: Tenant) -> list[Target]:
        """Both lanes of a tenant, each with where its events go now."""
        own = (Endpoint(tenant.webhook_url, tenant.webhook_secret)
               if tenant.webhook_url is not None and tenant.webhook_secret is not None
               else None)
        subscription = self.subscription()
        deployment = (Endpoint(subscription.url, subscription.secret)
                      if subscription is not None else None)
        return [Target(TENANT_LANE, own), Target(DEPLOYMENT_LANE, deployment)]

    def deliver(self, tenant: Tenant, deadline: float, *,
                skip: Collection[str] = ()) -> DeliveryStats:
        """One pass over each lane of a tenant's outbox (but those named in `skip`), starting
        no request that could outlast the monotonic `deadline`."""
        own, deployment = self.targets(tenant)
        stats = DeliveryStats()
        first: OutboxRow | None = None
        deployment_rows: Iterator[OutboxRow] = iter(())
        if deployment.lane.name not in skip and (deployment.endpoint is not None
                                                 or self.sweep_held):
            # One read tells whether the deployment lane has work: most passes need no thread.
            deployment_rows = self.outbox.pending(tenant.id, lane=DEPLOYMENT_LANE)
            first = next(deployment_rows, None)
        beside: Future[DeliveryStats] | None = None
        lanes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lane")
        results: list[DeliveryStats] = []
        try:
            if first is not None:
                # In a copy of this context: a storage deadline set around the pass applies.
                beside = lanes.submit(contextvars.copy_context().run, self._lane, tenant.id,
                                      deployment, chain([first], deployment_rows), deadline)
            if own.lane.name not in skip:
                results.append(self._lane(tenant.id, own, self.outbox.pending(tenant.id),
                                          deadline))
        finally:
            # The other lane ends by itself (its own deadline) even when this one raised.
            lanes.shutdown(wait=True)
        if beside is not None:
            results.append(beside.result())
        for result in results:
            stats.add(result)
        return stats

    def _lane(self, tenant: str, target: Target, rows: Iterator[OutboxRow],
              deadline: float) -> DeliveryStats:
        state = _Pass(tenant, target, deadline,
                      self.clock() - timedelta(days=self.settings.feed_hold_days))
        workers = self.settings.webhook_concurrency
        lane = target.lane
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
            while not state.stopped and (page := list(islice(rows, _ROUND))):
                try:
                    self._round(state, page, pool, workers)
                finally:
                    if state.delivered:
                        self.outbox.remove(tenant, state.delivered, lane=lane)
                        state.delivered = []
        result = DeliveryStats()
        result.add(state.stats)
        result.by_lane[lane.name] = state.stats
        return result

    def _round(self, state: _Pass, page: list[OutboxRow], pool: ThreadPoolExecutor,
               workers: int) -> None:
        """Deliver one page with up to `workers` workers; returns when all of them ended."""
        state.waiting = page
        workers = min(workers, len({row.subject for row in page}))
        if workers == 1:
            self._work(state)  # in this thread: one worker needs no other
        else:
            # Each worker runs in a copy of this context, so a storage deadline set around the
            # pass applies to the workers' outbox writes too.
            futures = [pool.submit(contextvars.copy_context().run, self._work, state)
                       for _ in range(workers)]
            errors = [e for e in (f.exception() for f in futures) if e is not None]
            if errors:
                raise errors[0]
        # Rows the round did not reach (budget spent): the next pass starts from them, and the
        # backlog counts the rows this pass read, so it is then a lower bound.
        state.stats.backlog += len(state.waiting)
        state.waiting = []

    def _work(self, state: _Pass) -> None:
        """One worker: send the rows `_next` hands out until it has none for this worker."""
        endpoint = state.target.endpoint or Endpoint("", "")  # `_next` checked it is set
        try:
            while (row := self._next(state)) is not None:
                wait = state.deadline - time.monotonic() - self.sender.timeout
                with self.slots.slot(endpoint.url, self.settings.webhook_concurrency,
                                     wait) as got:
                    attempt = (self.sender.send(endpoint.url, endpoint.secret, row.id, row.body)
                               if got else None)
                if attempt is None:
                    # The origin stayed busy until the budget ran out: not attempted, not
                    # charged; the next pass goes on from here.
                    with state.lock:
                        state.stopped = True
                        state.stats.incomplete = True
                        state.stats.backlog += 1
                        state.busy.discard(row.subject)
                    return
                if attempt.ok:
                    with state.lock:
                        state.failures_in_a_row = 0
                        state.stats.delivered += 1
                        state.delivered.append(row.id)
                        state.busy.discard(row.subject)
                    continue
                with state.lock:
                    state.failures_in_a_row += 1
                    state.stats.failed += 1
                # The outbox write is slow; the subject stays busy (no other worker takes its
                # next event) until it is recorded whether the subject is blocked.
                dead = self._failed(state, row, attempt.error)
                with state.lock:
                    if dead:
                        state.stats.dead_lettered += 1
                    else:
                        state.blocked.add(row.subject)
                        state.stats.backlog += 1
                    state.busy.discard(row.subject)
        except BaseException:
            with state.lock:
                state.stopped = True  # the other workers start nothing more
            raise

    def _next(self, state: _Pass) -> OutboxRow | None:
        """The oldest waiting row whose subject has no request in flight, marked busy; rows
        that are not to be sent in this pass are settled on the way. None when nothing is
        left that this worker may take: every row still waiting then belongs to a subject
        another worker is sending, and that worker goes on with it."""
        with state.lock:
            index = 0
            while index < len(state.waiting) and not state.stopped:
                if time.monotonic() + self.sender.timeout >= state.deadline:
                    # A request could outlast the budget: the next pass goes on from here.
                    state.stopped = True
                    state.stats.incomplete = True
                    break
                row = state.waiting[index]
                if row.subject in state.busy:
                    index += 1
                    continue
                del state.waiting[index]
                if not row.published:
                    # Committed after this pass published: its seq (and so its place in the
                    # pull feed) comes first, and its subject's later events wait behind it.
                    state.blocked.add(row.subject)
                    state.stats.backlog += 1
                elif state.failures_in_a_row >= _DOWN_AFTER:
                    state.stats.backlog += 1
                elif state.target.endpoint is None:
                    if row.created and parse_iso(row.created) < state.hold_until:
                        state.delivered.append(row.id)  # nobody to tell; removed likewise
                        state.stats.discarded += 1
                    else:
                        state.stats.backlog += 1
                elif row.subject in state.blocked or (
                        row.next_attempt and parse_iso(row.next_attempt) > self.clock()):
                    state.blocked.add(row.subject)
                    state.stats.backlog += 1
                else:
                    state.busy.add(row.subject)
                    return row
            return None

    def _failed(self, state: _Pass, row: OutboxRow, error: str) -> bool:
        """Record a failed attempt: the next one after a backoff, or a dead letter after the
        last (True)."""
        tenant, lane = state.tenant, state.target.lane
        now = self.clock()
        attempts = row.attempts + 1
        log.warning("webhook delivery failed tenant=%s lane=%s event=%s attempt=%d error=%s",
                    tenant, lane.name, row.id, attempts, error)
        if attempts >= self.settings.webhook_max_attempts:
            self.outbox.dead_letter(tenant, row, attempts=attempts, error=error, now=iso(now),
                                    lane=lane)
            return True
        delay = backoff_seconds(attempts, self.settings.webhook_backoff_seconds,
                                self.settings.webhook_backoff_max_seconds)
        self.outbox.record_failure(tenant, row, attempts=attempts, error=error,
                                   next_attempt=iso(now + timedelta(seconds=delay)), lane=lane)
        return False
