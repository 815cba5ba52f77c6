"""The published feed: a tenant's events in the order they were published, pullable by sequence
number for the hold period whether or not a webhook delivered them.

Event ids are minted before their write commits, so a write that commits late (a journalled
change's overflow events) can land an id lower than ids already delivered: a cursor over `E:`
rows by id would skip it. Publishing gives each committed event a sequence number in the order
it is *seen*, so a reader that resumes after the last number it saw misses nothing.

`publish` (run by the tenant's delivery pass, under its lease) takes the `E:` rows without a
`pub` property, in id order, and in one entity-group transaction per batch:
- creates `P:{seq}` (the event, with the time it was published) and `PX:{event id}` (its seq);
- marks `E:{id}` with `pub = seq` (the tenant webhook lane then delivers it) or deletes it,
  and creates `D:{id}` for the deployment-wide lane, as the `route` callable says;
- moves `C:pub` (the next seq) on, conditional on the ETag read (created when absent).
A concurrent publisher's transaction therefore fails as a whole: an event is never published
twice, and the seq never has a gap.

`purge` drops `P:`/`PX:` rows published before the hold period (the reconciler's retention).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from ..timestamps import iso
from . import keys, layout
from .backend import Backend, Entity, Operation, create, delete, update
from .directory import MAX_BATCH, Directory, Indexes
from .errors import AlreadyExists, NotFound, PreconditionFailed, TransactionFailed
from .long_text import join_text, split_text

log = logging.getLogger("scim.feed")
_escaped = json.encoder.encode_basestring_ascii  # what the wire makes of a string (C)

PUB = "pub"  # the property marking an `E:`/`D:` row as published (its seq)
_BODY = "body"
_FIRST_SEQ = 1  # so that "after 0" reads from the start
# Characters of string properties per transaction. A batch holds at most 4 MiB, and the wire
# form of text is longer than the text (quotes escaped, non-ASCII characters as \uXXXX), so
# the JSON-escaped size is bounded too.
MAX_TX_CHARS = 1_000_000
MAX_TX_BYTES = 3_500_000
# Events one `publish` call takes on: bounds its memory; a caller that wants more calls again.
PUBLISH_LIMIT = 2000
_READ_PAGE = 100
# The properties of an `E:` row that a `D:` copy carries (outbox.insert_op's shape); delivery
# state (attempts, next, lastError) starts afresh in the new lane.
_EVENT_FIELDS = ("subject", "type", "created")


@dataclass(frozen=True)
class Route:
    """Where a published event goes besides the pull feed."""

    tenant: bool = True  # keep the E: row for the tenant's webhook (or its hold)
    deployment: bool = False  # copy to D: for the deployment-wide subscription


@dataclass(frozen=True)
class PublishedEvent:
    seq: int
    id: str
    subject: str
    type: str
    created: str
    published: str
    body: str  # the CloudEvent JSON as the webhook receives it


@dataclass
class _Counter:
    next_seq: int
    etag: str | None  # None: `C:pub` does not exist yet

    def operation(self, tenant: str, next_seq: int) -> Operation:
        row = {"PartitionKey": tenant, "RowKey": layout.PUBLISH_COUNTER, "next": next_seq}
        if self.etag is None:
            return create(row)
        return update(row, "replace", etag=self.etag)


class _Contended(Exception):
    """Another publisher moved the counter (or an `E:` row) since it was read."""


def _published(entity: Mapping[str, Any]) -> PublishedEvent:
    return PublishedEvent(
        seq=layout.published_seq(str(entity["RowKey"])), id=str(entity.get("id", "")),
        subject=str(entity.get("subject", "")), type=str(entity.get("type", "")),
        created=str(entity.get("created", "")), published=str(entity.get("published", "")),
        body=join_text(dict(entity), _BODY))


class FeedLog:
    def __init__(self, directory: Directory) -> None:
        # The data table: the feed's rows share the tenant's partition with its `E:` rows, so
        # publishing one is a single transaction.
        self.directory = directory
        self.table: Backend = directory.table

    # -- reads ---------------------------------------------------------------------------

    def _range(self, tenant: str, low: str, high: str, select: list[str] | None = None,
               page: int = 1000) -> Iterator[Entity]:
        yield from self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant, "lo": low, "hi": high}, select=select,
            results_per_page=page)

    def read(self, tenant: str, after_seq: int, limit: int,
             max_chars: int | None = None) -> list[PublishedEvent]:
        """Up to `limit` events published after `after_seq`, in seq order (one range read).
        With `max_chars`, the read stops early once the bodies read hold more than that and at
        least two events were read: the last one read is then the first that did not fit, so
        a caller that pages by size knows there is more."""
        if limit <= 0:
            return []
        _, high = keys.prefix_range(layout.PUBLISHED_PREFIX)
        low = layout.published_key(max(after_seq + 1, 0))
        # Pages of at most 100: a page of large events is already megabytes.
        rows = self._range(tenant, low, high, page=min(limit, _READ_PAGE))
        out: list[PublishedEvent] = []
        chars = 0
        for entity in islice(rows, limit):
            out.append(_published(entity))
            chars += len(out[-1].body)
            if max_chars is not None and chars > max_chars and len(out) >= 2:
                break
        return out

    def seq_of(self, tenant: str, event_id: str) -> int | None:
        """The seq an event was published under; None when it never was or was purged."""
        try:
            entity = self.table.get_entity(tenant, layout.published_index_key(event_id),
                                           select=["seq"])
        except NotFound:
            return None
        return int(entity["seq"])

    def unpublished(self, tenant: str) -> bool:
        """Whether any `E:` row waits to be published (keys and `pub` only)."""
        return next(self._unpublished_keys(tenant, 1), None) is not None

    def _unpublished_keys(self, tenant: str, limit: int) -> Iterator[str]:
        low, high = keys.prefix_range(layout.EVENT_PREFIX)
        found = 0
        for entity in self._range(tenant, low, high, ["RowKey", PUB]):
            if entity.get(PUB) is None:
                yield str(entity["RowKey"])
                found += 1
                if found >= limit:
                    return

    def _unpublished_rows(self, tenant: str, limit: int) -> list[Entity]:
        """Up to `limit` unpublished `E:` rows, in id order: their keys first (a tenant whose
        webhook is down may hold many published rows, whose bodies are not read), then one
        range read of the span they cover."""
        wanted = list(self._unpublished_keys(tenant, limit))
        if not wanted:
            return []
        chosen = set(wanted)
        rows = self._range(tenant, wanted[0], wanted[-1] + "\x00", page=100)
        return [e for e in rows if e["RowKey"] in chosen and e.get(PUB) is None]

    def _counter(self, tenant: str) -> _Counter:
        try:
            entity = self.table.get_entity(tenant, layout.PUBLISH_COUNTER)
        except NotFound:
            return _Counter(_FIRST_SEQ, None)
        return _Counter(int(entity.get("next", _FIRST_SEQ)),
                        str(entity.metadata.get("etag") or ""))

    # -- publishing --------------------------------------------------------------------------

    def publish(self, tenant: str, route: Callable[[str], Route], *, now: datetime,
                limit: int = PUBLISH_LIMIT) -> int:
        """Publish up to `limit` unpublished events of `tenant` in id order; the number
        published. Stops (without error) when a concurrent publisher moved the counter: what
        it publishes is then published once, by it."""
        rows = self._unpublished_rows(tenant, limit)
        if not rows:
            return 0
        counter = self._counter(tenant)
        published_at = iso(now)
        done = 0
        batch: list[tuple[Entity, Route]] = []
        size = wire_size = 0
        try:
            for entity in rows:
                lane = route(str(entity.get("type", "")))
                ops = _op_count(lane)
                chars, wire = _event_size(entity, lane)
                # One operation of every transaction is the counter's. An event over the
                # budgets by itself still goes alone: its rows fit a transaction's 4 MiB.
                if batch and (_ops(batch) + ops + 1 > MAX_BATCH or size + chars > MAX_TX_CHARS
                              or wire_size + wire > MAX_TX_BYTES):
                    done += self._commit(tenant, batch, counter, published_at)
                    batch, size, wire_size = [], 0, 0
                batch.append((entity, lane))
                size += chars
                wire_size += wire
            if batch:
                done += self._commit(tenant, batch, counter, published_at)
        except _Contended:
            log.info("publish tenant=%s stopped: another publisher is running", tenant)
        return done

    def _commit(self, tenant: str, batch: list[tuple[Entity, Route]], counter: _Counter,
                published_at: str) -> int:
        """One transaction publishing `batch` from `counter.next_seq` on; moves `counter`.
        An event found published already (its `PX:` row exists: a dead letter replayed, or
        a write retried after its first attempt was published) gets its `E:` row marked with
        that seq instead, and the rest is tried again."""
        pending = list(batch)
        while pending:
            ops: list[Operation] = []
            for n, (entity, lane) in enumerate(pending):
                ops += _event_ops(tenant, entity, lane, counter.next_seq + n, published_at)
            next_seq = counter.next_seq + len(pending)
            ops.append(counter.operation(tenant, next_seq))
            try:
                results = self.table.submit_transaction(ops)
            except TransactionFailed as exc:
                failed = ops[exc.index] if 0 <= exc.index < len(ops) else None
                if (isinstance(exc.error, AlreadyExists) and failed is not None
                        and failed.row_key.startswith(layout.PUBLISHED_INDEX_PREFIX)):
                    event_id = failed.row_key[len(layout.PUBLISHED_INDEX_PREFIX):]
                    pending = [(e, r) for e, r in pending
                               if layout.event_id(e["RowKey"]) != event_id]
                    self._settle_republished(tenant, batch, event_id)
                    continue
                if isinstance(exc.error, AlreadyExists | PreconditionFailed | NotFound):
                    raise _Contended from exc
                raise exc.error from exc
            counter.next_seq, counter.etag = next_seq, str(results[-1].get("etag") or "")
            return len(pending)
        return 0

    def _settle_republished(self, tenant: str, batch: list[tuple[Entity, Route]],
                            event_id: str) -> None:
        """Mark an `E:` row whose event was published before with that seq (or drop it when
        its route keeps no tenant lane), conditional on the row as read."""
        seq = self.seq_of(tenant, event_id)
        if seq is None:  # purged since: the next pass publishes the event anew
            raise _Contended
        entity, lane = next((e, r) for e, r in batch
                            if layout.event_id(e["RowKey"]) == event_id)
        etag = str(entity.metadata.get("etag") or "")
        try:
            if lane.tenant:
                self.table.update_entity({"PartitionKey": tenant, "RowKey": entity["RowKey"],
                                          PUB: seq}, "merge", etag=etag)
            else:
                self.table.delete_entity(tenant, str(entity["RowKey"]), etag=etag)
        except (PreconditionFailed, NotFound) as exc:
            raise _Contended from exc

    # -- retention -----------------------------------------------------------------------

    def purge(self, tenant: str, before: datetime,
              over: Callable[[], bool] | None = None) -> int:
        """Delete events published before `before` (and their `PX:` rows), oldest first, in
        transactions of up to 50 events; each `P:` row only as read. Stops at the first event
        published later, or when `over()` says the caller's time is up. Returns how many."""
        cutoff = iso(before)
        low, high = keys.prefix_range(layout.PUBLISHED_PREFIX)
        purged = 0
        ops: list[Operation] = []
        for entity in self._range(tenant, low, high, ["RowKey", "id", "published"]):
            if str(entity.get("published", "")) >= cutoff or (over is not None and over()):
                break
            ops.append(delete(tenant, str(entity["RowKey"]),
                              etag=str(entity.metadata.get("etag") or "") or None))
            # A `PX:` row is written once with its `P:` row and never changed: deleting it
            # along with that row needs no condition of its own.
            ops.append(delete(tenant, layout.published_index_key(str(entity.get("id", "")))))
            if len(ops) >= MAX_BATCH:
                purged += self._delete(ops)
                ops = []
        if ops:
            purged += self._delete(ops)
        return purged

    def _delete(self, ops: list[Operation]) -> int:
        """Submit a purge batch; a `P:` row changed or gone since read leaves the batch to
        whoever changed it (or to the next run)."""
        try:
            self.directory.submit(ops, Indexes())
        except (PreconditionFailed, NotFound):  # an overlapping purge took them
            return 0
        return len(ops) // 2


def _lane_copy(tenant: str, entity: Entity, row_key: str, seq: int) -> dict[str, Any]:
    """A `D:` row: the `E:` row's event (outbox.insert_op's shape) with its seq."""
    return {"PartitionKey": tenant, "RowKey": row_key,
            **{name: str(entity.get(name, "")) for name in _EVENT_FIELDS},
            "attempts": 0, "next": "", **split_text(join_text(dict(entity), _BODY), _BODY),
            PUB: seq}


def _event_ops(tenant: str, entity: Entity, lane: Route, seq: int,
               published_at: str) -> list[Operation]:
    event_key = str(entity["RowKey"])
    event_id = layout.event_id(event_key)
    etag = str(entity.metadata.get("etag") or "") or None
    body = join_text(dict(entity), _BODY)
    ops = [
        create({"PartitionKey": tenant, "RowKey": layout.published_key(seq), "id": event_id,
                **{name: str(entity.get(name, "")) for name in _EVENT_FIELDS},
                "published": published_at, **split_text(body, _BODY)}),
        create({"PartitionKey": tenant, "RowKey": layout.published_index_key(event_id),
                "seq": seq}),
    ]
    if lane.tenant:
        ops.append(update({"PartitionKey": tenant, "RowKey": event_key, PUB: seq}, "merge",
                          etag=etag))
    else:
        ops.append(delete(tenant, event_key, etag=etag))
    if lane.deployment:
        ops.append(create(_lane_copy(tenant, entity, layout.deployment_event_key(event_id),
                                     seq)))
    return ops


def _event_size(entity: Entity, lane: Route) -> tuple[int, int]:
    """(characters, JSON-escaped bytes) an event adds to a transaction: its `P:` row, and its
    `D:` copy."""
    text = [v for v in entity.values() if isinstance(v, str)]
    chars = sum(len(v) for v in text) + 100
    wire = sum(len(_escaped(v)) for v in text) + 300
    copies = 2 if lane.deployment else 1
    return chars * copies, wire * copies


def _op_count(lane: Route) -> int:
    """Operations per event in `_event_ops`: P:, PX:, the E: mark or delete, and D:."""
    return 4 if lane.deployment else 3


def _ops(batch: list[tuple[Entity, Route]]) -> int:
    return sum(_op_count(lane) for _, lane in batch)
