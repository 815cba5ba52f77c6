"""The runs table: what the reconciler last did (for /health and operators), when each
tenant's store was last checked in full, and the repair passes under way. Rows as layout.py
lays them out: the last run's summary (JSON) and time, a mark per kind of periodic work with
when it last ran, and per tenant the position of an unfinished repair pass.

A pass's row is also its lease: whoever saves it holds the pass until `leaseUntil`, and every
save is conditional on the ETag the saver last read or wrote, so of two workers on one pass
the second to save fails (AlreadyExists or PreconditionFailed) and stops.
"""

from __future__ import annotations

import json
from typing import Any

from . import layout
from .backend import Backend, Entity
from .errors import NotFound
from .invariants import Progress


class RunLog:
    def __init__(self, table: Backend) -> None:
        self.table = table

    def record(self, summary: dict[str, Any]) -> None:
        self.table.upsert_entity({"PartitionKey": layout.LAST_RUN[0],
                                  "RowKey": layout.LAST_RUN[1],
                                  "time": str(summary.get("time", "")),
                                  "summary": json.dumps(summary, separators=(",", ":"))},
                                 mode="replace")

    def last(self) -> dict[str, Any] | None:
        try:
            entity = self.table.get_entity(*layout.LAST_RUN)
        except NotFound:
            return None
        summary: dict[str, Any] = json.loads(entity["summary"])
        return summary

    def marks(self) -> dict[str, str]:
        """Name -> time of every mark (one query per run, however many tenants)."""
        return {e["RowKey"]: str(e.get("time", "")) for e in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": layout.MARKS_PARTITION},
            select=["RowKey", "time"])}

    def mark(self, name: str, at: str) -> None:
        self.table.upsert_entity({"PartitionKey": layout.MARKS_PARTITION, "RowKey": name,
                                  "time": at}, mode="replace")

    def repair_progress(self, tenant: str) -> tuple[Progress, str, str] | None:
        """The tenant's repair pass under way, if any: its progress, the row's ETag (to save
        it again) and until when its last saver holds it (ISO time)."""
        try:
            return _pass(self.table.get_entity(layout.REPAIR_PARTITION, tenant))
        except NotFound:
            return None

    def repair_passes(self) -> dict[str, tuple[Progress, str, str]]:
        """Tenant id -> `repair_progress` of every pass under way (one query per run)."""
        return {row["RowKey"]: _pass(row) for row in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": layout.REPAIR_PARTITION})}

    def save_repair_progress(self, tenant: str, progress: Progress, *, etag: str | None,
                             owner: str, lease_until: str) -> str:
        """Save a pass's progress, held by `owner` until `lease_until`: a new pass when `etag`
        is None (AlreadyExists: another worker started one), else only if the row still has
        `etag` (PreconditionFailed: another worker took the pass over). Returns the new ETag,
        the one the next save must give."""
        row = {"PartitionKey": layout.REPAIR_PARTITION, "RowKey": tenant,
               "after": progress.after, "started": progress.started, "found": progress.found,
               "repaired": progress.repaired, "unrepaired": progress.unrepaired,
               "leaseUntil": lease_until, "owner": owner}
        saved = (self.table.create_entity(row) if etag is None
                 else self.table.update_entity(row, mode="replace", etag=etag))
        return str(saved.get("etag", ""))

    def finish_repair(self, tenant: str, etag: str) -> None:
        """Remove a finished pass's row, if it still has `etag` (PreconditionFailed if not)."""
        self.table.delete_entity(layout.REPAIR_PARTITION, tenant, etag=etag)


    def forget_tenant(self, tenant: str) -> int:
        """Remove the rows a tenant left here (its repair pass and repair mark): its
        offboarding. The number of rows that were there."""
        removed = 0
        for partition, row_key in ((layout.REPAIR_PARTITION, tenant),
                                   (layout.MARKS_PARTITION, layout.repair_mark(tenant))):
            try:
                self.table.get_entity(partition, row_key, select=["RowKey"])
            except NotFound:
                continue
            self.table.delete_entity(partition, row_key)
            removed += 1
        return removed


def _pass(row: Entity) -> tuple[Progress, str, str]:
    progress = Progress(after=str(row.get("after", "")), started=str(row.get("started", "")),
                        found=int(row.get("found", 0)), repaired=int(row.get("repaired", 0)),
                        unrepaired=int(row.get("unrepaired", 0)))
    return progress, str(row.metadata.get("etag", "")), str(row.get("leaseUntil", ""))
