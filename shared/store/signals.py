"""A tenant's delivery signal and lease: one row (layout.DELIVERY_MARK) in its partition of
the data table, and "tenant has due events" messages on the deliver queue.

- A writer that committed events calls `signal`: creating the row (`state=pending`) sends one
  message; when the row exists (409), a message is on its way or a pass is running, and
  nothing is sent: however many commits, one message per tenant until it is consumed.
- A pass `acquire`s the row as its lease (`pending`, absent, or `running` past `leaseUntil`
  -> `running`, conditional on the ETag it read): never two passes of a tenant at once, so
  events of one resource keep their order across instances.
- A pass `release`s (deletes) the row and only then reads the outbox once more: a writer that
  got 409 committed before the release, so that read sees its events. No wake-up is lost.
- A pass out of budget `hand_over`s: the row back to `pending` and a `continue` message.
- `clear_stale` removes a `pending` row whose message never came (a crash between the row and
  the send) and a `running` row past its lease; the reconciler's timer calls it, then delivers.

Message body (JSON): {"v": 1, "tenant": "<id>", "why": "commit" | "retry" | "continue" |
"sweep"}."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..timestamps import iso, parse_iso
from . import layout
from .backend import Backend
from .errors import AlreadyExists, NotFound, PreconditionFailed
from .queues import WorkQueue

log = logging.getLogger("scim.feed")
VERSION = 1
PENDING, RUNNING = "pending", "running"
WHY = ("commit", "retry", "continue", "sweep")


@dataclass(frozen=True)
class Lease:
    tenant: str
    owner: str
    etag: str
    until: datetime


def message(tenant: str, why: str) -> dict[str, Any]:
    return {"v": VERSION, "tenant": tenant, "why": why}


class DeliverySignals:
    def __init__(self, table: Backend, queue: WorkQueue | None) -> None:
        self.table = table  # the data table: the row lives in the tenant's partition
        # None: queues are off, and the row serves as the tenant's lease alone (`acquire`,
        # `release`: the pull API publishing in timer mode); nothing may be sent.
        self._queue = queue

    @property
    def queue(self) -> WorkQueue:
        if self._queue is None:
            raise RuntimeError("delivery signals without a queue hold leases only")
        return self._queue

    def _row(self, tenant: str, **fields: Any) -> dict[str, Any]:
        return {"PartitionKey": tenant, "RowKey": layout.DELIVERY_MARK, **fields}

    def signal(self, tenant: str, why: str = "commit", *, now: datetime | None = None) -> bool:
        """Create the pending row and send a message (True), or nothing when the row exists
        (False). A failed send deletes the row again (so the next commit signals) and
        raises."""
        since = iso(now or datetime.now(UTC))
        try:
            meta = self.table.create_entity(self._row(tenant, state=PENDING, since=since))
        except AlreadyExists:
            return False
        try:
            self.queue.send(message(tenant, why))
        except Exception:
            self._delete(tenant, str(meta.get("etag") or ""))
            raise
        return True

    def delayed(self, tenant: str, at: datetime, now: datetime) -> None:
        """A `retry` message due at `at` (at most 7 days ahead: later ones are the timer's),
        without the row: commits meanwhile must still signal at once."""
        self.queue.send(message(tenant, "retry"), delay=(at - now).total_seconds())

    def acquire(self, tenant: str, owner: str, lease_s: float, now: datetime) -> Lease | None:
        """The tenant's lease for `lease_s` seconds, or None while another pass holds it."""
        until = now + timedelta(seconds=lease_s)
        row = self._row(tenant, state=RUNNING, since=iso(now), leaseUntil=iso(until),
                        owner=owner)
        try:
            current = self.table.get_entity(tenant, layout.DELIVERY_MARK)
        except NotFound:
            try:
                meta = self.table.create_entity(row)
            except AlreadyExists:
                return None  # a writer or another pass got there first: theirs to run
            return Lease(tenant, owner, str(meta.get("etag") or ""), until)
        if current.get("state") == RUNNING and not _expired(current, now):
            return None
        try:
            meta = self.table.update_entity(row, mode="replace",
                                            etag=str(current.metadata.get("etag") or ""))
        except (PreconditionFailed, NotFound):
            return None  # changed since read: another pass took it or released it
        return Lease(tenant, owner, str(meta.get("etag") or ""), until)

    def holder_until(self, tenant: str) -> datetime | None:
        """When the running pass's lease ends (None: no pass runs)."""
        try:
            current = self.table.get_entity(tenant, layout.DELIVERY_MARK)
        except NotFound:
            return None
        if current.get("state") != RUNNING:
            return None
        return parse_iso(str(current.get("leaseUntil") or ""))

    def release(self, lease: Lease) -> bool:
        """Delete the row by the lease's ETag; False when the lease was lost (taken over)."""
        return self._delete(lease.tenant, lease.etag)

    def hand_over(self, lease: Lease, *, now: datetime) -> None:
        """Back to pending with a `continue` message: the rest of the outbox is the next
        invocation's. Raises PreconditionFailed when the lease was lost."""
        meta = self.table.update_entity(self._row(lease.tenant, state=PENDING, since=iso(now)),
                                        mode="replace", etag=lease.etag)
        try:
            self.queue.send(message(lease.tenant, "continue"))
        except Exception:
            self._delete(lease.tenant, str(meta.get("etag") or ""))
            raise

    def clear_stale(self, tenant: str, now: datetime, *, pending_max_s: float = 300) -> bool:
        """Remove a pending row older than `pending_max_s` (its message was lost) or a running
        row past its lease (its pass died). True when one was removed."""
        try:
            current = self.table.get_entity(tenant, layout.DELIVERY_MARK)
        except NotFound:
            return False
        if current.get("state") == RUNNING:
            stale = _expired(current, now)
        else:
            since = str(current.get("since") or "")
            stale = not since or parse_iso(since) < now - timedelta(seconds=pending_max_s)
        if not stale:
            return False
        log.warning("delivery signal of tenant=%s was stale (%s since %s): cleared", tenant,
                    current.get("state"), current.get("since"))
        return self._delete(tenant, str(current.metadata.get("etag") or ""))

    def _delete(self, tenant: str, etag: str) -> bool:
        try:
            self.table.delete_entity(tenant, layout.DELIVERY_MARK, etag=etag or None)
        except PreconditionFailed:
            return False
        return True


def _expired(row: Any, now: datetime) -> bool:
    until = str(row.get("leaseUntil") or "")
    return not until or parse_iso(until) <= now
