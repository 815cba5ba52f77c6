"""The outbox: change events as rows of the tenant's partition in the data table, so that a
write and its events are one entity-group transaction.

A pending event's row (layout.event_key) holds its JSON body (long_text.py), subject (the
ordering key), type, attempts, next attempt time and last error, and once published
(feed_log.py) its `pub` seq: only published rows are delivered. A dead letter
(layout.dead_letter_key) is the same row after the last allowed attempt failed.

Rows wait in a lane per subscription: the tenant's webhook (`E:` pending, `DL:` dead) and the
deployment-wide subscription (`D:`, `DLD:`), same row shape, so that each lane keeps its own
order, retries and dead letters and one endpoint's failures never hold back the other's.

Event ids sort by creation, so a range read of the pending rows yields events in commit order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..timestamps import parse_iso
from . import keys, layout
from .backend import Backend, Operation, delete, upsert
from .directory import MAX_BATCH, Directory, Indexes
from .errors import NotFound, StoreError
from .feed_log import PUB
from .long_text import join_text, split_text

_BODY = "body"


@dataclass(frozen=True)
class Lane:
    """Where one subscription's events wait: the RowKey prefixes of its pending rows and of its
    dead letters (each a range of its own, layout.py)."""

    name: str
    pending_prefix: str
    dead_prefix: str

    def pending_key(self, event_id: str) -> str:
        return self.pending_prefix + event_id

    def dead_key(self, event_id: str) -> str:
        return self.dead_prefix + event_id


TENANT_LANE = Lane("tenant", layout.EVENT_PREFIX, layout.DEAD_LETTER_PREFIX)
DEPLOYMENT_LANE = Lane("deployment", layout.DEPLOYMENT_EVENT_PREFIX,
                       layout.DEPLOYMENT_DEAD_LETTER_PREFIX)
LANES = (TENANT_LANE, DEPLOYMENT_LANE)


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
    published: bool = False  # feed_log.publish marked it: the webhook may have it
    seq: int | None = None  # its seq in the published feed


def insert_op(tenant: str, event_id: str, subject: str, etype: str, body: str,
              created: str, *, seq: int | None = None,
              lane: Lane = TENANT_LANE) -> Operation:
    """The transaction operation adding one event; the service passes these as `extra` to
    the Directory write that the event describes. An upsert, not a create: the event id is
    unique, and a write whose first attempt committed unseen (lost response) is retried by
    the store; the retry must not fail on its own event. `seq`: the event was published
    already (a replayed dead letter; every `D:` row was)."""
    row: dict[str, Any] = {"PartitionKey": tenant, "RowKey": lane.pending_key(event_id),
                           "subject": subject, "type": etype, "created": created,
                           "attempts": 0, "next": "", **split_text(body, _BODY)}
    if seq is not None:
        row[PUB] = seq
    return upsert(row, "replace")


def _row(entity: Any) -> OutboxRow:
    return OutboxRow(
        id=layout.event_id(entity["RowKey"]), subject=str(entity.get("subject", "")),
        type=str(entity.get("type", "")), body=join_text(entity, _BODY),
        created=str(entity.get("created", "")), attempts=int(entity.get("attempts", 0)),
        next_attempt=str(entity.get("next", "")), last_error=str(entity.get("lastError", "")),
        etag=str(entity.metadata.get("etag", "")), dead_at=str(entity.get("deadAt", "")),
        published=entity.get(PUB) is not None,
        seq=int(entity[PUB]) if entity.get(PUB) is not None else None)


class Outbox:
    def __init__(self, directory: Directory) -> None:
        # The data table, through the directory: outbox rows share its transactions.
        self.directory = directory
        self.table: Backend = directory.table

    def _range(self, tenant: str, prefix: str, select: list[str] | None = None,
               page: int = 100) -> Iterator[Any]:
        low, high = keys.prefix_range(prefix)
        yield from self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant, "lo": low, "hi": high}, select=select,
            results_per_page=page)

    def pending(self, tenant: str, *, lane: Lane = TENANT_LANE) -> Iterator[OutboxRow]:
        """Pending events in commit order, read page by page as the caller consumes them."""
        for entity in self._range(tenant, lane.pending_prefix):
            yield _row(entity)

    def due(self, tenant: str, now: datetime, *,
            lanes: Sequence[Lane] = (TENANT_LANE,)) -> tuple[bool, datetime | None]:
        """`lane_due` over several lanes: whether any can send now, else the earliest retry."""
        earliest: datetime | None = None
        for lane in lanes:
            due, at = self.lane_due(tenant, now, lane)
            if due:
                return True, None
            if at is not None:
                earliest = at if earliest is None else min(earliest, at)
        return False, earliest

    def lane_due(self, tenant: str, now: datetime,
                 lane: Lane = TENANT_LANE) -> tuple[bool, datetime | None]:
        """(whether an event can be sent now, when the earliest retry that waits comes due):
        one ordered read of the pending rows' subject and next attempt, stopping at the first
        event due. An event behind a waiting one of its subject is not due: order per subject
        holds. An unpublished event is not due (the pass publishes it first, and looks for
        those with feed_log.unpublished) and holds back its subject likewise."""
        waiting: set[str] = set()
        earliest: datetime | None = None
        for entity in self._range(tenant, lane.pending_prefix, ["subject", "next", PUB],
                                  page=1000):
            subject, next_attempt = str(entity.get("subject", "")), str(entity.get("next", ""))
            if subject in waiting:
                continue
            if entity.get(PUB) is None:
                waiting.add(subject)
                continue
            at = parse_iso(next_attempt) if next_attempt else None
            if at is None or at <= now:
                return True, None
            waiting.add(subject)
            earliest = at if earliest is None else min(earliest, at)
        return False, earliest

    def count(self, tenant: str, *, lane: Lane = TENANT_LANE) -> int:
        """Pending events."""
        return sum(1 for _ in self._range(tenant, lane.pending_prefix, ["RowKey"], page=1000))

    def oldest_pending(self, tenant: str, *, lane: Lane = TENANT_LANE) -> str | None:
        """When the lane's oldest pending event was created (ISO time), None when none waits:
        one row read (event ids sort by creation)."""
        for entity in self._range(tenant, lane.pending_prefix, ["created"], page=1):
            return str(entity.get("created", "")) or None
        return None

    def dead_count(self, tenant: str, *, lane: Lane = TENANT_LANE) -> int:
        """The lane's dead letters, counted from their keys (no body read)."""
        return sum(1 for _ in self._range(tenant, lane.dead_prefix, ["RowKey"], page=1000))

    def remove(self, tenant: str, event_ids: Sequence[str], *,
               lane: Lane = TENANT_LANE) -> None:
        """Drop delivered events, up to 100 per transaction (rows already gone are fine)."""
        ops = [delete(tenant, lane.pending_key(e)) for e in event_ids]
        for i in range(0, len(ops), MAX_BATCH):
            self.directory.submit(ops[i : i + MAX_BATCH], Indexes())

    def record_failure(self, tenant: str, row: OutboxRow, *, attempts: int,
                       next_attempt: str, error: str, lane: Lane = TENANT_LANE) -> None:
        self.table.update_entity(
            {"PartitionKey": tenant, "RowKey": lane.pending_key(row.id), "attempts": attempts,
             "next": next_attempt, "lastError": error[:500]},
            mode="merge")

    def dead_letter(self, tenant: str, row: OutboxRow, *, attempts: int, error: str,
                    now: str, lane: Lane = TENANT_LANE) -> None:
        """Make an event a dead letter in one transaction; it no longer blocks its subject."""
        self.directory.submit([
            delete(tenant, lane.pending_key(row.id)),
            upsert({"PartitionKey": tenant, "RowKey": lane.dead_key(row.id),
                    "subject": row.subject, "type": row.type, "created": row.created,
                    "attempts": attempts, "next": "", "lastError": error[:500],
                    "deadAt": now, **split_text(row.body, _BODY),
                    **({PUB: row.seq} if row.seq is not None else {})}),
        ], Indexes())

    def dead_letters(self, tenant: str, *, lane: Lane = TENANT_LANE) -> list[OutboxRow]:
        return [_row(e) for e in self._range(tenant, lane.dead_prefix)]

    def dead_letter_row(self, tenant: str, event_id: str, *,
                        lane: Lane = TENANT_LANE) -> OutboxRow:
        try:
            return _row(self.table.get_entity(tenant, lane.dead_key(event_id)))
        except NotFound as exc:
            raise NotFound(event_id) from exc

    def replay(self, tenant: str, event_id: str, *, lane: Lane = TENANT_LANE) -> None:
        """Put a dead letter back in its lane, due now, attempts reset, same id (so the
        receiver can recognise a redelivery by webhook-id). Raises NotFound."""
        row = self.dead_letter_row(tenant, event_id, lane=lane)
        try:
            self.directory.submit([
                delete(tenant, lane.dead_key(event_id), etag=row.etag),
                # Its seq kept: publishing it again would give the pull feed a duplicate.
                insert_op(tenant, row.id, row.subject, row.type, row.body, row.created,
                          seq=row.seq, lane=lane),
            ], Indexes())
        except StoreError as exc:  # replayed concurrently: the other replay won
            raise NotFound(event_id) from exc
