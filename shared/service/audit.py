"""The audit log of SCIM requests: what is recorded, and writing it off the request path.

Recorded: every authenticated request that may change state (POST, PUT, PATCH, DELETE;
`.search` queries excepted) whatever its outcome, and every access token the token endpoint
issues (path /oauth2/token, the client id as the resource id). An entry holds the time,
tenant, method, path (resource and id, never the query string: filters quote attribute
values), resource id, status, scimType, latency and request id, and `change` when the write
deactivated or reactivated a user (entries before it existed have none): no token, no body,
no attribute value; the client-supplied ones made one printable line of bounded length
(shared/sanitize.py).

Authentication failures (of SCIM requests, and of token requests whose client id names an
existing tenant) are counted, not recorded one by one: anyone can send them, as fast as they
like, under any tenant id. Failures for an existing tenant add to one row per tenant,
status and minute (`count`, `firstTime`, `lastTime`, `reasons`), held in memory and written
once the minute is over; failures for a tenant id that names no tenant write nothing (their
number is logged at most once a minute), so no partition is ever created for them. The
counters are bounded: past `max_failure_keys` distinct (tenant, status, minute) keys further
failures are only counted in the log line.

Every SCIM request of an existing tenant (reads too) is also counted per tenant and hour
(request_stats.py); the same thread writes those counters about once a minute.

Entries are queued and written by one background thread, several per batch transaction, so a
SCIM request pays for a queue append instead of a storage round trip (docs/performance.md has
the measurement). A batch not full at once waits 50 ms for more
entries, so that back-to-back requests share a transaction instead of costing one each. The
price: entries still queued (or failures still counted) when the process dies are lost, and a
full queue or a batch still failing after the store's retries (storage down for long) drops
entries; both are logged as warnings. An audit failure never fails or delays the SCIM request.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..sanitize import clean
from ..store import layout
from ..timestamps import iso
from .messages import ScimRequest, ScimResponse
from .request_stats import RequestStats

log = logging.getLogger("scim.audit")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_PATH = 300
_BATCH = 100  # entries per transaction (Table Storage's limit)
_MAX_REASONS = 8  # distinct reasons kept per failure row; the rest count as "other"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret


def audited(request: ScimRequest, status: int) -> bool:
    """Whether an authenticated request gets an entry (refusals are counted instead)."""
    return request.method in _WRITES and request.id != ".search"


def entry(request: ScimRequest, response: ScimResponse, *, latency_ms: float,
          request_id: str, at: datetime | None = None) -> dict[str, Any]:
    resource_id = request.id or ""
    body = response.body if isinstance(response.body, dict) else {}
    if request.method == "POST" and response.status == 201:
        resource_id = str(body.get("id", ""))
    path = f"/{request.resource}" + (f"/{request.id}" if request.id else "")
    row = _row(request.tenant, request.method, path, resource_id, response.status,
               str(body.get("scimType", "")) if response.status >= 400 else "",
               latency_ms=latency_ms, request_id=request_id, at=at)
    if response.change:  # the write (de)activated a user: activity tells it from an update
        row["change"] = clean(response.change, 20)
    return row


def token_entry(tenant: str, client_id: str, *, latency_ms: float, request_id: str,
                at: datetime | None = None) -> dict[str, Any]:
    """A token the token endpoint issued: the client it was issued to is the resource."""
    return _row(tenant, "POST", TOKEN_PATH, client_id, 200, "", latency_ms=latency_ms,
                request_id=request_id, at=at)


def _row(tenant: str, method: str, path: str, resource_id: str, status: int, scim_type: str,
         *, latency_ms: float, request_id: str, at: datetime | None) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    return {
        "PartitionKey": layout.audit_partition(tenant),
        "RowKey": layout.audit_row_key(at),
        "time": iso(at),
        "tenant": clean(tenant, 200),
        "method": clean(method, 16),
        "path": clean(path, _MAX_PATH),
        "resourceId": clean(resource_id, 200),
        "status": status,
        "scimType": clean(scim_type, 40),
        "latencyMs": round(latency_ms, 1),
        "requestId": clean(request_id, 100),
    }


@dataclass
class _Count:
    first: datetime
    last: datetime
    count: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class FailureCounts:
    """Authentication failures per (tenant, status, minute), bounded in keys and reasons."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int, int], _Count] = {}
        self.unknown = 0  # failures for tenant ids that name no tenant, since last reported
        self.uncounted = 0  # failures past max_keys, since last reported

    def add(self, tenant: str, status: int, reason: str, at: datetime, *, known: bool) -> None:
        with self._lock:
            if not known:
                self.unknown += 1
                return
            key = (tenant, status, int(at.timestamp()) // 60)
            count = self._counts.get(key)
            if count is None:
                if len(self._counts) >= self._max_keys:
                    self.uncounted += 1
                    return
                count = self._counts[key] = _Count(at, at)
            count.count += 1
            count.last = max(count.last, at)
            if reason not in count.reasons and len(count.reasons) >= _MAX_REASONS:
                reason = "other"
            count.reasons[reason] = count.reasons.get(reason, 0) + 1

    def take(self, before: datetime | None = None) -> list[dict[str, Any]]:
        """Rows of the minutes ended before `before` (of every minute with None), removed."""
        limit = None if before is None else int(before.timestamp()) // 60
        with self._lock:
            done = [k for k in self._counts if limit is None or k[2] < limit]
            taken = [(k, self._counts.pop(k)) for k in done]
        return [_failure_row(tenant, status, count) for (tenant, status, _), count in taken]

    def report(self) -> tuple[int, int]:
        """(unknown, uncounted) since the last report, reset."""
        with self._lock:
            out = (self.unknown, self.uncounted)
            self.unknown = self.uncounted = 0
        return out


def _failure_row(tenant: str, status: int, count: _Count) -> dict[str, Any]:
    # A RowKey unique to this row: another instance (or a flush within the minute) writes its
    # own row for the same minute instead of overwriting this one.
    return {
        "PartitionKey": layout.audit_partition(tenant),
        "RowKey": layout.audit_row_key(count.last),
        "time": iso(count.last),
        "tenant": clean(tenant, 200),
        "method": "",
        "path": "",
        "resourceId": "",
        "status": status,
        "scimType": "",
        "requestId": "",
        "count": count.count,
        "firstTime": iso(count.first),
        "lastTime": iso(count.last),
        "reasons": json.dumps(count.reasons, sort_keys=True),
    }


class AuditWriter:
    """A bounded queue drained by one daemon thread, started on first use."""

    def __init__(self, write: Callable[[Sequence[dict[str, Any]]], None],
                 max_queue: int = 10_000, linger: float = 0.05, *,
                 max_failure_keys: int = 10_000, tick: float = 1.0,
                 stats_every: float = 60.0) -> None:
        self._write = write
        # How long a batch that is not full at once waits for more entries: sequential requests
        # would otherwise cost a storage transaction each, instead of one per batch.
        self._linger = linger
        # How often an idle writer looks for ended minutes of failure counts to write.
        self._tick = tick
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures = FailureCounts(max_failure_keys)
        self.requests = RequestStats()
        # How often the request counters are written (each write replaces this instance's
        # row of the hour: a minute's delay in health, one transaction per busy tenant).
        self._stats_every = stats_every
        self._stats_written = time.monotonic()
        self._reported = time.monotonic()
        self.dropped = 0

    def record(self, item: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            log.warning("audit queue full: entry dropped (dropped=%d)", self.dropped)
            return
        self._start()

    def failure(self, tenant: str, status: int, reason: str, *, known: bool,
                at: datetime | None = None) -> None:
        """Count an authentication failure; `known`: the tenant id names a tenant."""
        self.failures.add(tenant, status, reason, at or datetime.now(UTC), known=known)
        self._start()

    def request(self, tenant: str, status: int, *, authenticated: bool,
                at: datetime | None = None) -> None:
        """Count a SCIM request of an existing tenant (request_stats.py)."""
        self.requests.add(tenant, status, at or datetime.now(UTC), authenticated=authenticated)
        self._start()

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                    daemon=True)
                    self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write the failure counts so far and wait until every queued entry was written (or
        failed); tests and the CLI."""
        self._queue_failures(None)
        self._queue_stats(datetime.now(UTC), force=True)
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _take_queued(self, batch: list[dict[str, Any]]) -> None:
        while len(batch) < _BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _queue_failures(self, before: datetime | None) -> None:
        for row in self.failures.take(before):
            self.record(row)
        now = time.monotonic()
        if now - self._reported >= 60.0 or before is None:
            unknown, uncounted = self.failures.report()
            if unknown or uncounted:
                self._reported = now
                # No tenant id in it: they are the caller's text, and this line is the bound.
                log.warning("authentication failures not in the audit: %d for unknown tenant "
                            "ids, %d past the counters' bound", unknown, uncounted)

    def _queue_stats(self, now: datetime, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._stats_written < self._stats_every:
            return
        self._stats_written = time.monotonic()
        for row in self.requests.take(now):
            self.record(row)
        if self.requests.uncounted:
            log.warning("requests not counted past the counters' bound: %d",
                        self.requests.uncounted)
            self.requests.uncounted = 0

    def _run(self) -> None:
        while True:
            self._queue_failures(datetime.now(UTC))
            self._queue_stats(datetime.now(UTC))
            try:
                first = self._queue.get(timeout=self._tick)
            except queue.Empty:
                continue
            batch = [first]
            self._take_queued(batch)
            if len(batch) < _BATCH and self._linger:  # under load batches fill without it
                time.sleep(self._linger)
                self._take_queued(batch)
            try:
                self._write(batch)
            except Exception as exc:  # never let the writer die; the type is the detail
                self.dropped += len(batch)
                log.warning("audit write failed (%s): %d entries lost", type(exc).__name__,
                            len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
