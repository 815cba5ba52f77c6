"""Request counters per tenant and hour: how many SCIM requests of an existing tenant this
instance served (reads included), how many failed (status >= 400), how many were refused as
unauthenticated (401), and when its last authenticated request came: what tenant health reads
to tell whether Entra's provisioning still calls and succeeds (shared/manage/health.py).

Counted in memory on the request path (a lock and an increment) and written by the audit
writer's thread about once a minute: one row per tenant, hour and instance
(layout.stats_partition), replaced by its owner with its running totals, so instances never
contend and readers sum the rows. An hour is dropped from memory once it has ended and its
last totals were handed over. Bounded: past `max_keys` (tenant, hour) keys further requests
are only counted in `uncounted` (logged by the writer). Rows are purged with the audit entries
(retention) and with the tenant (offboarding)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..store import layout
from ..timestamps import iso

HOUR = 3600


@dataclass
class _Hour:
    requests: int = 0
    errors: int = 0
    unauthorized: int = 0
    last: datetime | None = None  # the last authenticated request
    changed: bool = True  # counted since its row was last handed over


def is_error(status: int) -> bool:
    """An error for the counters: any refusal or failure, 401 and 404 included."""
    return status >= 400


class RequestStats:
    def __init__(self, instance: str | None = None, max_keys: int = 10_000) -> None:
        # A new id per process: a restarted instance must not replace the rows its previous
        # life wrote for the same hour.
        self.instance = instance or secrets.token_hex(4)
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._hours: dict[tuple[str, int], _Hour] = {}
        self.uncounted = 0

    def add(self, tenant: str, status: int, at: datetime, *, authenticated: bool) -> None:
        """Count a request of an existing tenant (`authenticated`: it passed authentication;
        else it was refused with `status`)."""
        key = (tenant, int(at.timestamp()) // HOUR)
        with self._lock:
            hour = self._hours.get(key)
            if hour is None:
                if len(self._hours) >= self._max_keys:
                    self.uncounted += 1
                    return
                hour = self._hours[key] = _Hour()
            hour.requests += 1
            hour.errors += is_error(status)
            hour.unauthorized += status == 401
            if authenticated and (hour.last is None or at > hour.last):
                hour.last = at
            hour.changed = True

    def take(self, now: datetime) -> list[dict[str, Any]]:
        """Rows of every hour counted since the last take, with their totals so far; hours
        ended before `now` are forgotten once taken."""
        current = int(now.timestamp()) // HOUR
        rows = []
        with self._lock:
            for key, hour in list(self._hours.items()):
                if hour.changed:
                    rows.append(self._row(key[0], key[1], hour))
                    hour.changed = False
                if key[1] < current:
                    del self._hours[key]
        return rows

    def _row(self, tenant: str, hour_number: int, hour: _Hour) -> dict[str, Any]:
        start = datetime.fromtimestamp(hour_number * HOUR, UTC)
        return {
            "PartitionKey": layout.stats_partition(tenant),
            "RowKey": layout.stats_row_key(start + timedelta(seconds=HOUR), self.instance),
            "hour": iso(start),
            "requests": hour.requests,
            "errors": hour.errors,
            "unauthorized": hour.unauthorized,
            "lastTime": iso(hour.last) if hour.last is not None else "",
        }
