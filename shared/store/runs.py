"""The runs table: what the reconciler last did (for /health and operators) and when each
tenant's store was last checked in full. Rows as layout.py lays them out: the last run's summary
(JSON) and time, and a mark per kind of periodic work with when it last ran.
"""

from __future__ import annotations

import json
from typing import Any

from . import layout
from .backend import Backend
from .errors import NotFound


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
