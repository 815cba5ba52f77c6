"""The runs table: what the reconciler last did (for /health and operators) and when each
tenant's store was last checked in full.

  PartitionKey "reconcile", RowKey "last"     the last run's summary (JSON) and time
  PartitionKey "marks",     RowKey {name}     when periodic work last ran ("repair:{tenant}",
                                              "audit-sweep")
"""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from .table import Table

_RUN = ("reconcile", "last")
_MARKS = "marks"


class RunLog:
    def __init__(self, table: Table) -> None:
        self.table = table

    def record(self, summary: dict[str, Any]) -> None:
        self.table.upsert_entity({"PartitionKey": _RUN[0], "RowKey": _RUN[1],
                                  "time": str(summary.get("time", "")),
                                  "summary": json.dumps(summary, separators=(",", ":"))},
                                 mode=UpdateMode.REPLACE)

    def last(self) -> dict[str, Any] | None:
        try:
            entity = self.table.get_entity(*_RUN)
        except ResourceNotFoundError:
            return None
        summary: dict[str, Any] = json.loads(entity["summary"])
        return summary

    def marks(self) -> dict[str, str]:
        """Name -> time of every mark (one query per run, however many tenants)."""
        return {e["RowKey"]: str(e.get("time", "")) for e in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": _MARKS}, select=["RowKey", "time"])}

    def mark(self, name: str, at: str) -> None:
        self.table.upsert_entity({"PartitionKey": _MARKS, "RowKey": name, "time": at},
                                 mode=UpdateMode.REPLACE)
