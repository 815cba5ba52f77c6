"""The outbox: change events as rows of the tenant's partition in the data table, so that a
write and its events are one entity-group transaction (design.md §4).

  E:{event id}    pending event: its JSON body (split over 30,000-character properties),
                  subject (ordering key), type, attempts, next attempt time, last error
  DL:{event id}   dead letter: the same row after the last allowed attempt failed

Event ids sort by creation, so a range read of `E:` yields events in commit order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from . import keys
from .directory import MAX_BATCH, Directory, Indexes, Op
from .errors import NotFound, StoreError
from .long_text import join_text, split_text
from .table import Table

PENDING = "E:"
DEAD = "DL:"
_BODY = "body"


@dataclass(frozen=True)
class OutboxRow:
    id: str
    subject: str
    type: str
    body: str
    created: str
    attempts: int
    next_attempt: str  # ISO time; "" = due now
    last_error: str
    etag: str
    dead_at: str = ""


def insert_op(tenant: str, event_id: str, subject: str, etype: str, body: str,
              created: str) -> Op:
    """The transaction operation adding one event; the service passes these as `extra` to
    the Directory write that the event describes. An upsert, not a create: the event id is
    unique, and a write whose first attempt committed unseen (lost response) is retried by
    the store; the retry must not fail on its own event."""
    return ("upsert", {"PartitionKey": tenant, "RowKey": PENDING + event_id,
                       "subject": subject, "type": etype, "created": created, "attempts": 0,
                       "next": "", **split_text(body, _BODY)}, {"mode": UpdateMode.REPLACE})


def _row(entity: Any) -> OutboxRow:
    rk: str = entity["RowKey"]
    return OutboxRow(
        id=rk.split(":", 1)[1], subject=str(entity.get("subject", "")),
        type=str(entity.get("type", "")), body=join_text(entity, _BODY),
        created=str(entity.get("created", "")), attempts=int(entity.get("attempts", 0)),
        next_attempt=str(entity.get("next", "")), last_error=str(entity.get("lastError", "")),
        etag=str(entity.metadata.get("etag", "")), dead_at=str(entity.get("deadAt", "")))


class Outbox:
    def __init__(self, directory: Directory) -> None:
        # The data table, through the directory: outbox rows share its transactions.
        self.directory = directory
        self.table: Table = directory.table

    def _range(self, tenant: str, prefix: str, select: list[str] | None = None,
               page: int = 100) -> Iterator[Any]:
        low, high = keys.prefix_range(prefix)
        yield from self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant, "lo": low, "hi": high}, select=select,
            results_per_page=page)

    def pending(self, tenant: str) -> Iterator[OutboxRow]:
        """Pending events in commit order, read page by page as the caller consumes them."""
        for entity in self._range(tenant, PENDING):
            yield _row(entity)

    def count(self, tenant: str, prefix: str = PENDING) -> int:
        return sum(1 for _ in self._range(tenant, prefix, ["RowKey"], page=1000))

    def remove(self, tenant: str, event_ids: Sequence[str]) -> None:
        """Drop delivered events, up to 100 per transaction (rows already gone are fine)."""
        ops: list[Op] = [("delete", {"PartitionKey": tenant, "RowKey": PENDING + e})
                         for e in event_ids]
        for i in range(0, len(ops), MAX_BATCH):
            self.directory._submit(ops[i : i + MAX_BATCH], Indexes())

    def record_failure(self, tenant: str, row: OutboxRow, *, attempts: int,
                       next_attempt: str, error: str) -> None:
        self.table.update_entity(
            {"PartitionKey": tenant, "RowKey": PENDING + row.id, "attempts": attempts,
             "next": next_attempt, "lastError": error[:500]},
            mode=UpdateMode.MERGE)

    def dead_letter(self, tenant: str, row: OutboxRow, *, attempts: int, error: str,
                    now: str) -> None:
        """Move an event to `DL:` in one transaction; it no longer blocks its subject."""
        self.directory._submit([
            ("delete", {"PartitionKey": tenant, "RowKey": PENDING + row.id}),
            ("upsert", {"PartitionKey": tenant, "RowKey": DEAD + row.id,
                        "subject": row.subject, "type": row.type, "created": row.created,
                        "attempts": attempts, "next": "", "lastError": error[:500],
                        "deadAt": now, **split_text(row.body, _BODY)}),
        ], Indexes())

    def dead_letters(self, tenant: str) -> list[OutboxRow]:
        return [_row(e) for e in self._range(tenant, DEAD)]

    def dead_letter_row(self, tenant: str, event_id: str) -> OutboxRow:
        try:
            return _row(self.table.get_entity(tenant, DEAD + event_id))
        except ResourceNotFoundError as exc:
            raise NotFound(event_id) from exc

    def replay(self, tenant: str, event_id: str) -> None:
        """Put a dead letter back in the outbox, due now, attempts reset, same id (so the
        receiver can recognise a redelivery by webhook-id). Raises NotFound."""
        row = self.dead_letter_row(tenant, event_id)
        try:
            self.directory._submit([
                ("delete", {"PartitionKey": tenant, "RowKey": DEAD + event_id},
                 {"etag": row.etag, "match_condition": MatchConditions.IfNotModified}),
                insert_op(tenant, row.id, row.subject, row.type, row.body, row.created),
            ], Indexes())
        except StoreError as exc:  # replayed concurrently: the other replay won
            raise NotFound(event_id) from exc
