"""The audit log of SCIM requests: what is recorded, and writing it off the request path.

Recorded: every request that may change state (POST, PUT, PATCH, DELETE; `.search` queries
excepted) whatever its outcome, and every authentication failure. An entry holds the time,
tenant, method, path (resource and id, never the query string: filters quote attribute
values), resource id, status, scimType, latency and request id: no token, no body, no
attribute value.

Entries are queued and written by one background thread, several per batch transaction, so a
SCIM request pays for a queue append instead of a storage round trip (README: "Change feed,
reconciler and audit" has the measurement). A batch not full at once waits 50 ms for more
entries, so that back-to-back requests share a transaction instead of costing one each. The
price: entries still queued when the process dies are lost, and a full queue or a batch still
failing after the store's retries (storage down for long) drops entries; both are logged as
warnings. An audit failure never fails or delays the SCIM request.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..store import audit as audit_store
from ..timestamps import iso
from .messages import ScimRequest, ScimResponse

log = logging.getLogger("scim.audit")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_PATH = 300
_BATCH = 100  # entries per transaction (Table Storage's limit)


def audited(request: ScimRequest, status: int) -> bool:
    if status == 401:
        return True
    return request.method in _WRITES and request.id != ".search"


def entry(request: ScimRequest, response: ScimResponse, *, latency_ms: float,
          request_id: str, at: datetime | None = None) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    resource_id = request.id or ""
    body = response.body if isinstance(response.body, dict) else {}
    if request.method == "POST" and response.status == 201:
        resource_id = str(body.get("id", ""))
    path = f"/{request.resource}" + (f"/{request.id}" if request.id else "")
    return {
        "PartitionKey": audit_store.partition(request.tenant),
        "RowKey": audit_store.row_key(at),
        "time": iso(at),
        "tenant": request.tenant[:200],
        "method": request.method,
        "path": path[:_MAX_PATH],
        "resourceId": resource_id[:200],
        "status": response.status,
        "scimType": str(body.get("scimType", "")) if response.status >= 400 else "",
        "latencyMs": round(latency_ms, 1),
        "requestId": request_id[:100],
    }


class AuditWriter:
    """A bounded queue drained by one daemon thread, started on first use."""

    def __init__(self, write: Callable[[Sequence[dict[str, Any]]], None],
                 max_queue: int = 10_000, linger: float = 0.05) -> None:
        self._write = write
        # How long a batch that is not full at once waits for more entries: sequential requests
        # would otherwise cost a storage transaction each, instead of one per batch.
        self._linger = linger
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def record(self, item: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            log.warning("audit queue full: entry dropped (dropped=%d)", self.dropped)
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                    daemon=True)
                    self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued entry was written (or failed); tests and the CLI."""
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

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
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
