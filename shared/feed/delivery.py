"""Delivering a tenant's outbox to its webhook: signed POSTs, in order per subject, with
exponential backoff and jitter, dead letters after the last attempt.

One pass reads the tenant's pending events once, oldest first. An event is sent when its
subject (the resource) is not blocked; a failure schedules the event's next attempt and
blocks the rest of its subject for this pass, so events of one resource never overtake each
other while other resources go on. A dead-lettered event stops blocking its subject. Delivered
events are removed in batches: a crash in between redelivers them (at least once; receivers
deduplicate on `webhook-id`, which stays the same across attempts)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from ..settings import Settings
from ..store.outbox import Outbox, OutboxRow
from ..store.tenants import Tenant
from ..timestamps import iso, parse_iso
from . import signing

log = logging.getLogger("scim.feed")
_REMOVE_BATCH = 100
# An endpoint that fails this many different subjects in a row is treated as down for the
# rest of the pass: the remaining events are not attempted (and not charged an attempt).
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

    def add(self, other: DeliveryStats) -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.discarded += other.discarded
        self.backlog += other.backlog
        self.incomplete = self.incomplete or other.incomplete


@dataclass(frozen=True)
class Attempt:
    ok: bool
    error: str = ""  # "HTTP 500", "timeout", "ConnectError": no bodies, no URLs


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, with "equal
    jitter" (half fixed, half random) so that retries of many events spread out."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not security


class Sender:
    """Signs and POSTs one event body. One httpx client (connection pool) per run."""

    def __init__(self, timeout: float, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
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
            return Attempt(True)
        return Attempt(False, f"HTTP {response.status_code}")


@dataclass
class Deliverer:
    outbox: Outbox
    settings: Settings
    sender: Sender
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def deliver(self, tenant: Tenant, deadline: float) -> DeliveryStats:
        """One pass over a tenant's outbox, stopping before the monotonic `deadline`."""
        stats = DeliveryStats()
        blocked: set[str] = set()
        delivered: list[str] = []
        failures_in_a_row = 0
        url, secret = tenant.webhook_url, tenant.webhook_secret
        hold_until = self.clock() - timedelta(days=self.settings.feed_hold_days)
        for row in self.outbox.pending(tenant.id):
            now = self.clock()
            if time.monotonic() + self.sender.timeout >= deadline:
                # A request could outlast the budget: the next tick goes on from here (the
                # backlog counts what this pass saw, so it is then a lower bound).
                stats.incomplete = True
                stats.backlog += 1
                break
            if failures_in_a_row >= _DOWN_AFTER:
                stats.backlog += 1
                continue
            if url is None or secret is None:
                if row.created and parse_iso(row.created) < hold_until:
                    delivered.append(row.id)  # nobody to tell; removed like delivered ones
                    stats.discarded += 1
                else:
                    stats.backlog += 1
                continue
            if row.subject in blocked or (row.next_attempt and parse_iso(row.next_attempt) > now):
                blocked.add(row.subject)
                stats.backlog += 1
                continue
            attempt = self.sender.send(url, secret, row.id, row.body)
            if attempt.ok:
                failures_in_a_row = 0
                stats.delivered += 1
                delivered.append(row.id)
                if len(delivered) >= _REMOVE_BATCH:
                    self.outbox.remove(tenant.id, delivered)
                    delivered = []
                continue
            failures_in_a_row += 1
            stats.failed += 1
            self._failed(tenant.id, row, attempt.error, now, stats, blocked)
        if delivered:
            self.outbox.remove(tenant.id, delivered)
        return stats

    def _failed(self, tenant: str, row: OutboxRow, error: str, now: datetime,
                stats: DeliveryStats, blocked: set[str]) -> None:
        attempts = row.attempts + 1
        log.warning("webhook delivery failed tenant=%s event=%s attempt=%d error=%s",
                    tenant, row.id, attempts, error)
        if attempts >= self.settings.webhook_max_attempts:
            self.outbox.dead_letter(tenant, row, attempts=attempts, error=error, now=iso(now))
            stats.dead_lettered += 1
            return
        delay = backoff_seconds(attempts, self.settings.webhook_backoff_seconds,
                                self.settings.webhook_backoff_max_seconds)
        self.outbox.record_failure(tenant, row, attempts=attempts, error=error,
                                   next_attempt=iso(now + timedelta(seconds=delay)))
        blocked.add(row.subject)
        stats.backlog += 1
