"""The audit table: one row per authenticated state-changing SCIM request, rows counting
authentication failures per existing tenant and minute, and per tenant, hour and instance
counters of every SCIM request (a partition of their own: layout.stats_partition).

Keys as layout.py lays them out (PartitionKey = escaped tenant id, RowKey = inverted time), so
a tenant's partition reads newest first; entries hold ids, never tokens or attribute values
(shared/service/audit.py decides what goes in).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from . import layout
from .backend import Backend, Operation, delete, upsert
from .errors import Unavailable

log = logging.getLogger(__name__)
_BATCH = 100
# A batch whose response was lost may have committed; rows are written with insert-or-replace
# (every RowKey is unique to its entry), so sending it again cannot fail on itself or duplicate.
_ATTEMPTS = 4
_RETRY_DELAY = 0.5


class AuditTable:
    def __init__(self, table: Backend) -> None:
        self.table = table

    def insert_many(self, entries: Sequence[dict[str, Any]]) -> None:
        """Entries (with PartitionKey and RowKey) as batch transactions of one partition."""
        by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            by_tenant[entry["PartitionKey"]].append(entry)
        for rows in by_tenant.values():
            for i in range(0, len(rows), _BATCH):
                self._submit([upsert(r) for r in rows[i : i + _BATCH]])

    def _submit(self, ops: list[Operation]) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self.table.submit_transaction(ops)
                return
            except Exception as exc:
                if attempt == _ATTEMPTS or not isinstance(exc, Unavailable):
                    raise
                log.warning("audit batch failed (%s); retry %d", type(exc).__name__, attempt)
                time.sleep(_RETRY_DELAY * attempt)

    def query(self, tenant: str, *, since: datetime | None = None,
              limit: int | None = None) -> Iterator[dict[str, Any]]:
        """A tenant's entries, newest first, optionally only those at or after `since`."""
        flt, params = "PartitionKey eq @pk", {"pk": layout.audit_partition(tenant)}
        if since is not None:
            flt += " and RowKey le @hi"
            params["hi"] = layout.audit_boundary(since)
        for n, entity in enumerate(self.table.query_entities(flt, parameters=params)):
            if limit is not None and n >= limit:
                return
            yield dict(entity)

    def request_counts(self, tenant: str, *,
                       since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """The tenant's request counter rows (layout.stats_partition), newest hour first, of
        the hours ending at or after `since` (all with None): one per hour and instance that
        served the tenant in it (sum them). Read page by page as the caller consumes them."""
        flt, params = "PartitionKey eq @pk", {"pk": layout.stats_partition(tenant)}
        if since is not None:
            flt += " and RowKey le @hi"
            params["hi"] = layout.audit_boundary(since)
        yield from (dict(e) for e in self.table.query_entities(
            flt, parameters=params,
            select=["RowKey", "hour", "requests", "errors", "unauthorized", "lastTime"]))

    def purge(self, before: datetime, *, tenant: str | None = None,
              deadline_check: Callable[[], bool] | None = None) -> int:
        """Delete entries (and request counters) older than `before`: of one tenant (range
        reads at the end of its two partitions), or with no tenant of every partition (a table
        scan, also reaching the partitions of deleted tenants, and those that earlier versions
        wrote for any tenant id a failed authentication named)."""
        if tenant is None:
            return self._purge(before, None, deadline_check)[0]
        removed = 0
        for partition in (layout.audit_partition(tenant), layout.stats_partition(tenant)):
            count, stopped = self._purge(before, partition, deadline_check)
            removed += count
            if stopped:
                break
        return removed

    def _purge(self, before: datetime, partition: str | None,
               deadline_check: Callable[[], bool] | None) -> tuple[int, bool]:
        """(rows deleted, whether the deadline check stopped it)."""
        removed = 0
        batch: dict[str, list[str]] = defaultdict(list)
        flt, params = "RowKey gt @lo", {"lo": layout.audit_boundary(before)}
        if partition is not None:
            flt, params["pk"] = "PartitionKey eq @pk and " + flt, partition
        for entity in self.table.query_entities(flt, parameters=params,
                                                select=["PartitionKey", "RowKey"]):
            rows = batch[entity["PartitionKey"]]
            rows.append(entity["RowKey"])
            if len(rows) == _BATCH:
                removed += self._delete(entity["PartitionKey"], rows)
                batch[entity["PartitionKey"]] = []
                if deadline_check is not None and deadline_check():
                    return removed, True
        for pk, rows in batch.items():
            if rows:
                removed += self._delete(pk, rows)
        return removed, False

    def _delete(self, pk: str, rows: list[str]) -> int:
        self.table.submit_transaction(
            [delete(pk, rk) for rk in rows])
        return len(rows)
