"""Users and groups in one table: one partition per tenant, rows as layout.py lays them out
(resources, their index rows, memberships and their reverse twins, journals). A resource row
holds its document (JSON, across properties `doc`, `doc1`, …: long_text.py) and scalar
columns for filter pushdown.

Every change of a resource and its index rows is one entity-group transaction (EGT), so a
duplicate index row fails the whole write (409) and nothing is half-written. Every write is
conditional on the ETag its caller read, so a write based on a stale read fails (412) instead
of leaving index or membership rows behind. Changes larger than one EGT are journalled in their
first transaction and applied in chunks (journal.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import keys, layout
from .backend import Backend, Entity, Metadata, Operation, create, delete, update, upsert
from .errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    TransportFailed,
)
from .journal import ROW_TEXT, Journal, chunked, member_guard
from .layout import GROUP, USER
from .long_text import join_text, split_text, text_size

MAX_BATCH = 100
# A batch POST that failed in transport is not retried by `wire` (its outcome is unknown);
# we retry it, and `landed` checks tell a retry that fails on our own committed write.
_WRITE_ATTEMPTS = 3
_MAX_DOC = 400_000  # characters; an entity holds at most 1 MiB
# Characters of string properties in one transaction: a batch holds at most 4 MiB, and JSON
# escaping may grow text (UTF-8, quoted); the journal's head row takes up to ROW_TEXT of them.
_TX_TEXT = 1_500_000
# Built once: json.dumps with options builds a new encoder per call.
_doc_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="store")


@dataclass(frozen=True)
class Indexes:
    """The index rows a resource owns: unique ones (index name -> key value, already folded
    where the attribute is case-insensitive) and non-unique ones (index name -> key values)."""

    unique: dict[str, str] = field(default_factory=dict)
    multi: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rows(self, rid: str) -> list[str]:
        out = [layout.unique_key(i, v) for i, v in self.unique.items()]
        out += [layout.multi_key(i, v, rid) for i, values in self.multi.items()
                for v in dict.fromkeys(values)]
        return out


@dataclass(frozen=True)
class Stored:
    id: str
    doc: dict[str, Any]
    etag: str
    created: str
    last_modified: str
    # When `active` last became false (the `deactivatedAt` column; retention reads it).
    deactivated_at: str | None = None


def _split_doc(doc: dict[str, Any]) -> dict[str, str]:
    text = _doc_json(doc)
    if len(text) > _MAX_DOC:
        raise TooLarge(f"document is {len(text)} characters; at most {_MAX_DOC} can be stored")
    return split_text(text, "doc")


def document_of(entity: dict[str, Any]) -> dict[str, Any]:
    """The document a resource row holds."""
    text = join_text(entity, "doc")
    doc: dict[str, Any] = json.loads(text) if text else {}
    return doc


def _etag(meta: Metadata) -> str:
    return str(meta.get("etag") or "")


def _stored(rid: str, entity: Entity) -> Stored:
    return Stored(
        id=rid,
        doc=document_of(entity),
        etag=_etag(entity.metadata),
        created=str(entity.get("created", "")),
        last_modified=str(entity.get("lastModified", "")),
        deactivated_at=entity.get("deactivatedAt") or None,
    )


class Directory:
    """Users, groups, their indexes and memberships for every tenant in one table."""

    def __init__(self, table: Backend, *,
                 on_events: Callable[[str], None] | None = None) -> None:
        self.table = table
        # Called with the tenant after each committed transaction that adds outbox events
        # (the delivery signal); it must not block, and whatever it raises is ignored.
        self.on_events = on_events
        self.journal = Journal(lambda ops: self.submit(ops, Indexes()), self.rows,
                               self.memberships)

    # -- reads -------------------------------------------------------------------------

    def get(self, tenant: str, kind: str, rid: str) -> Stored | None:
        try:
            entity = self.table.get_entity(tenant, layout.resource_key(kind, rid))
        except NotFound:
            return None
        return _stored(rid, entity)

    def get_many(self, tenant: str, kind: str, rids: Sequence[str]) -> list[Stored]:
        """Point reads run concurrently; missing ids are left out, order kept."""
        if len(rids) == 1:
            found = self.get(tenant, kind, rids[0])
            return [found] if found else []
        # Each read runs in a copy of the caller's context: its storage deadline applies.
        futures = [_pool.submit(contextvars.copy_context().run, self.get, tenant, kind, r)
                   for r in rids]
        results = [f.result() for f in futures]
        return [r for r in results if r is not None]

    def lookup_unique(self, tenant: str, index: str, value: str) -> str | None:
        try:
            entity = self.table.get_entity(tenant, layout.unique_key(index, value),
                                           select=["ref"])
        except NotFound:
            return None
        return str(entity["ref"])

    def lookup_multi(self, tenant: str, index: str, value: str) -> list[str]:
        return [e["ref"] for e in self.rows(tenant, layout.multi_prefix(index, value), ["ref"])]

    def rows(
        self, tenant: str, prefix: str, select: list[str] | None = None, page: int = 1000
    ) -> Iterator[Entity]:
        """A tenant's rows whose RowKey starts with `prefix` (layout.py), in RowKey order."""
        low, high = keys.prefix_range(prefix)
        yield from self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant, "lo": low, "hi": high},
            select=select,
            results_per_page=page,
        )

    def scan(
        self, tenant: str, kind: str, *, page: int = 1000, after: str | None = None
    ) -> Iterator[Stored]:
        """Every resource of a kind in stable RowKey order (ids are time-ordered, so
        resources created during a walk append at the end instead of shifting pages)."""
        low, high = keys.prefix_range(layout.resource_prefix(kind))
        if after is not None:
            low = layout.resource_key(kind, after) + "\x00"
        for entity in self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant, "lo": low, "hi": high},
            results_per_page=page,
        ):
            yield _stored(layout.parse_resource_key(entity["RowKey"])[1], entity)

    def deactivated_users(self, tenant: str, before: str) -> Iterator[Stored]:
        """Users whose `active` is false since before `before` (ISO time): the deactivatedAt
        column, or lastModified for rows written before that column existed (never earlier
        than the real deactivation). `active` is filtered by the service, the time here."""
        low, high = keys.prefix_range(layout.resource_prefix(USER))
        for entity in self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and active eq @off",
            parameters={"pk": tenant, "lo": low, "hi": high, "off": False},
        ):
            since = str(entity.get("deactivatedAt") or entity.get("lastModified") or "")
            if since and since < before:
                yield _stored(layout.parse_resource_key(entity["RowKey"])[1], entity)

    def count(self, tenant: str, kind: str) -> int:
        return sum(1 for _ in self.rows(tenant, layout.resource_prefix(kind), ["RowKey"]))

    def ids(self, tenant: str, kind: str) -> Iterator[str]:
        for e in self.rows(tenant, layout.resource_prefix(kind), ["RowKey"]):
            yield layout.parse_resource_key(e["RowKey"])[1]

    # -- writes ------------------------------------------------------------------------

    def _resource_entity(
        self,
        tenant: str,
        kind: str,
        rid: str,
        doc: dict[str, Any],
        columns: dict[str, Any],
        created: str,
        modified: str,
    ) -> dict[str, Any]:
        return {
            "PartitionKey": tenant,
            "RowKey": layout.resource_key(kind, rid),
            **_split_doc(doc),
            **columns,
            "created": created,
            "lastModified": modified,
        }

    def _index_ops(self, tenant: str, rid: str, idx: Indexes, op: str) -> list[Operation]:
        if op == "create":
            return [create({"PartitionKey": tenant, "RowKey": rk, "ref": rid})
                    for rk in idx.rows(rid)]
        return [delete(tenant, rk) for rk in idx.rows(rid)]

    def create(
        self,
        tenant: str,
        kind: str,
        rid: str,
        doc: dict[str, Any],
        idx: Indexes,
        *,
        columns: dict[str, Any],
        now: str,
        extra: Sequence[Operation] = (),
        members: Sequence[str] = (),
        types: dict[str, str] | None = None,
    ) -> Stored:
        """Create a resource with its index rows and events (and a group's `members`) in one
        transaction, or journalled when the members don't fit one."""
        entity = self._resource_entity(tenant, kind, rid, doc, columns, now, now)
        ops = [create(entity), *self._index_ops(tenant, rid, idx, "create"), *extra]

        def landed() -> list[Metadata] | None:
            # Ids are generated per request: if our row exists, our transaction committed
            # (its response was lost and the retry collided with our own rows).
            mine = self._entity(tenant, layout.resource_key(kind, rid))
            return [mine.metadata] if mine is not None else None

        units = self._member_units(tenant, rid, add=members, remove=(), types=types)
        results = self._submit_chunked(tenant, ops, units, idx, guard=(
            layout.resource_key(GROUP, rid) if kind == GROUP else None), landed=landed)
        return Stored(rid, doc, _etag(results[0]), now, now)

    def replace(
        self,
        tenant: str,
        kind: str,
        rid: str,
        doc: dict[str, Any],
        *,
        old: Indexes,
        new: Indexes,
        columns: dict[str, Any],
        created: str,
        now: str,
        etag: str,
        extra: Sequence[Operation] = (),
    ) -> Stored:
        """Replace a document if it still has `etag`, moving changed index rows in the same
        transaction. Raises PreconditionFailed, NotFound or Conflict."""
        entity = self._resource_entity(tenant, kind, rid, doc, columns, created, now)
        old_rows, new_rows = set(old.rows(rid)), set(new.rows(rid))
        ops = [update(entity, "replace", etag=etag)]
        ops += [delete(tenant, rk) for rk in old_rows - new_rows]
        ops += [create({"PartitionKey": tenant, "RowKey": rk, "ref": rid})
                for rk in sorted(new_rows - old_rows)]
        ops += list(extra)

        def landed() -> list[Metadata] | None:
            # A retry of our own committed write fails its ETag condition: it landed if the
            # row holds exactly our document and our timestamp.
            row = self._entity(tenant, layout.resource_key(kind, rid))
            if row is None or row.get("lastModified") != now or document_of(row) != doc:
                return None
            return [row.metadata]

        results = self.submit(ops, new, landed)
        return Stored(rid, doc, _etag(results[0]), created, now)

    def touch(self, tenant: str, kind: str, rid: str, now: str) -> str:
        """Bump lastModified (and so the ETag) without reading: used by member changes."""
        try:
            meta = self.table.update_entity(
                {"PartitionKey": tenant, "RowKey": layout.resource_key(kind, rid),
                 "lastModified": now},
                mode="merge",
            )
        except NotFound as exc:
            raise NotFound(rid) from exc
        return _etag(meta)

    def delete(
        self,
        tenant: str,
        kind: str,
        rid: str,
        idx: Indexes,
        *,
        etag: str | None = None,
        extra: Sequence[Operation] = (),
    ) -> None:
        """Delete a resource, its index rows and its membership rows (both directions), if it
        still has `etag`: the index rows and memberships were derived from that version, and
        a member added since moved the ETag (the group's touch, the member's guard)."""
        pairs = self.memberships(tenant, kind, rid)
        head = [
            delete(tenant, layout.resource_key(kind, rid), etag=etag or None),
            *self._index_ops(tenant, rid, idx, "delete"),
            *extra,
        ]
        tail = [op for row, twin in pairs for op in (delete(tenant, row), delete(tenant, twin))]
        if len(head) + len(tail) <= MAX_BATCH:
            self.submit(head + tail, idx)
            return
        journal = self.journal.purge_head(tenant, layout.resource_key(kind, rid))

        def head_landed() -> list[Metadata] | None:
            mine = self._entity(tenant, journal["RowKey"])
            return [mine.metadata] if mine is not None else None

        results = self.submit([*head, create(journal)], idx, head_landed)
        self.journal.run_purge(tenant, journal["RowKey"], _etag(results[-1]), pairs)

    def memberships(self, tenant: str, kind: str, rid: str) -> list[tuple[str, str]]:
        """(row, twin) pairs of every membership row that names this resource: a group's own
        members, and (users and nested groups alike) its memberships in other groups."""
        prefixes = [layout.members_prefix(rid)] if kind == GROUP else []
        prefixes.append(layout.groups_prefix(rid))
        pairs = [(e["RowKey"], layout.membership_twin(e["RowKey"]))
                 for prefix in prefixes for e in self.rows(tenant, prefix, ["RowKey"])]
        # A group that is its own member is listed from both sides; a row may appear only once
        # in a transaction.
        return list({frozenset(pair): pair for pair in pairs}.values())

    # -- membership ----------------------------------------------------------------------

    def members(self, tenant: str, gid: str) -> list[str]:
        return [layout.membership_pair(e["RowKey"])[1]
                for e in self.rows(tenant, layout.members_prefix(gid), ["RowKey"])]

    def member_rows(self, tenant: str, gid: str) -> list[tuple[str, str | None]]:
        """(member id, type) pairs; the type is what the client stated, if anything."""
        return [(layout.membership_pair(e["RowKey"])[1], e.get("type") or None)
                for e in self.rows(tenant, layout.members_prefix(gid), ["RowKey", "type"])]

    def groups_of(self, tenant: str, uid: str) -> list[str]:
        return [layout.membership_pair(e["RowKey"])[1]
                for e in self.rows(tenant, layout.groups_prefix(uid), ["RowKey"])]

    def has_member(self, tenant: str, gid: str, uid: str) -> bool:
        try:
            self.table.get_entity(tenant, layout.member_key(gid, uid), select=["RowKey"])
        except NotFound:
            return False
        return True

    def change_members(
        self,
        tenant: str,
        gid: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        types: dict[str, str] | None = None,
        now: str,
        etag: str | None = None,
        extra: Sequence[Operation] = (),
    ) -> None:
        """Add and remove members. Adding a present member and removing an absent one are
        no-ops; adding a member id this service issued whose resource is gone is dropped. The
        group's lastModified is bumped in the first transaction (conditional on `etag` when
        given), which also proves the group exists (a MERGE of a missing entity fails)."""
        touch = update({"PartitionKey": tenant, "RowKey": layout.resource_key(GROUP, gid),
                        "lastModified": now}, etag=etag or None)
        units = self._member_units(tenant, gid, add=add, remove=remove, types=types)
        self._submit_chunked(tenant, [touch, *extra], units, Indexes(),
                             guard=layout.resource_key(GROUP, gid))

    @staticmethod
    def _member_units(tenant: str, gid: str, *, add: Iterable[str], remove: Iterable[str],
                      types: dict[str, str] | None) -> list[list[Operation]]:
        """The operations of each member change, as units no chunk boundary may split: an
        M row with its R twin, and for an id this service issued, the guard proving that the
        member exists (ids of other systems are stored as given; nothing can be known of
        them)."""
        units: list[list[Operation]] = []
        for uid in dict.fromkeys(add):
            row = {"PartitionKey": tenant, "RowKey": layout.member_key(gid, uid)}
            if types and uid in types:
                row["type"] = types[uid]
            unit = [upsert(row), upsert({"PartitionKey": tenant,
                                         "RowKey": layout.reverse_member_key(uid, gid)})]
            if uid != gid and layout.is_generated_id(uid):
                first, other = ((GROUP, USER) if types and types.get(uid) == "Group"
                                else (USER, GROUP))
                unit.insert(0, member_guard(tenant, layout.resource_key(first, uid),
                                            layout.resource_key(other, uid), 3))
            units.append(unit)
        for uid in dict.fromkeys(remove):
            units.append([delete(tenant, layout.member_key(gid, uid)),
                          delete(tenant, layout.reverse_member_key(uid, gid))])
        return units

    # -- transactions --------------------------------------------------------------------

    def _entity(self, tenant: str, row_key: str) -> Entity | None:
        try:
            return self.table.get_entity(tenant, row_key)
        except NotFound:
            return None

    def submit(self, ops: list[Operation], idx: Indexes,
               landed: Callable[[], list[Metadata] | None] | None = None) -> list[Metadata]:
        """One EGT (the outbox and the repair pass write through it too). Deletes of rows that
        are already gone are dropped and the batch retried, so removal stays idempotent; any
        other failure maps to a store error.

        A transport failure (timeout, reset) leaves the outcome unknown, so the batch is
        retried up to _WRITE_ATTEMPTS times. A retry - ours or the backend's after a 5xx -
        may then fail on rows our own first attempt wrote (409/412/404): `landed` tells
        whether that attempt committed, and if so its results are returned instead of the
        error."""
        results = self._submit(ops, landed)
        if self.on_events is not None:
            tenant = _event_tenant(ops)
            if tenant is not None:
                # The write committed whatever the hook does: a lost signal is the timer's.
                with contextlib.suppress(Exception):
                    self.on_events(tenant)
        return results

    def _submit(self, ops: list[Operation],
                landed: Callable[[], list[Metadata] | None] | None) -> list[Metadata]:
        pending = list(ops)
        attempts = 0
        while True:
            try:
                return list(self.table.submit_transaction(pending))
            except TransactionFailed as exc:
                failed = pending[exc.index] if 0 <= exc.index < len(pending) else None
                if isinstance(exc.error, NotFound) and failed is not None and _skip_missing(
                        pending, exc.index):
                    if not pending:
                        return []
                    continue
                error = _translate(exc.error, failed)
                if landed is not None and isinstance(error, Conflict | NotFound |
                                                     PreconditionFailed):
                    done = landed()
                    if done is not None:
                        return done
                raise error from exc
            except TransportFailed:
                attempts += 1
                if attempts >= _WRITE_ATTEMPTS:
                    raise

    def _submit_chunked(self, tenant: str, head: list[Operation],
                        units: list[list[Operation]], idx: Indexes, *, guard: str | None,
                        landed: Callable[[], list[Metadata] | None] | None = None
                        ) -> list[Metadata]:
        """Run `head` and the `units` in one EGT when they fit; otherwise journal the units
        in the head's transaction and apply them in chunks (journal.py). Returns the head's
        results."""
        tail = [op for unit in units for op in unit]
        if len(head) + len(tail) <= MAX_BATCH and _text(head + tail) <= _TX_TEXT:
            return self.submit(head + tail, idx, landed)
        # The events of a change of very many members may not fit its head transaction with
        # the journal row: those that don't are journalled too, one to a chunk, and so are
        # still written exactly when the change commits.
        overflow: list[Operation] = []
        while len(head) > MAX_BATCH - 1 or _text(head) > _TX_TEXT - ROW_TEXT:
            if not _is_event(head[-1]):
                raise TooLarge(f"a change of {len(head)} operations in one transaction")
            overflow.insert(0, head.pop())
        # Each chunk also holds the group guard and the journal's progress marker.
        chunks = [[event] for event in overflow] + chunked(units, MAX_BATCH - 2)
        journal, parts = self.journal.stage(tenant, chunks, guard)

        def head_landed() -> list[Metadata] | None:
            # The journal id is ours alone: its row exists iff our head transaction committed.
            mine = self._entity(tenant, journal["RowKey"])
            if mine is None:
                return None
            return [*((landed and landed()) or []), mine.metadata]

        try:
            results = self.submit([*head, create(journal)], idx, head_landed)
        except StoreError:
            self.journal.drop(tenant, parts)
            raise
        self.journal.run(tenant, journal["RowKey"], _etag(results[-1]), chunks, guard=guard,
                         parts=parts)
        return results

    def complete_pending(self, tenant: str) -> int:
        """Finish every journalled change of a tenant (the reconciler calls this). Returns the
        number of journals completed. A journal being finished concurrently by its own request
        is harmless: chunks are conditional on the journal's progress."""
        return self.journal.complete(tenant)


def _translate(error: StoreError, failed: Operation | None) -> StoreError:
    """What a refused operation means to the store's callers: a create refused because its
    row exists is a unique index row taken by another resource (Conflict names the index,
    with the attribute's path for a declared one)."""
    if isinstance(error, AlreadyExists) and failed is not None:
        return Conflict(layout.unique_index_name(failed.row_key))
    return error


def _text(ops: Sequence[Operation]) -> int:
    return sum(text_size(op.entity) for op in ops)


def _is_event(op: Operation) -> bool:
    return layout.is_event_key(op.row_key)


def _event_tenant(ops: Sequence[Operation]) -> str | None:
    """The tenant of a transaction that adds (not removes) outbox events, else None."""
    for op in ops:
        if op.verb != "delete" and _is_event(op):
            return str(op.entity["PartitionKey"])
    return None


def _skip_missing(pending: list[Operation], index: int) -> bool:
    """A transaction failed on a row that does not exist (404): change `pending` so that it
    can be retried, or return False when the 404 is the outcome. A delete of a row other than
    a resource is dropped (removal is idempotent); a member guard tries the member's other
    kind, then drops its unit (the member is gone, so it is not added)."""
    op = pending[index]
    if op.verb == "delete" and op.etag is None and not _is_resource(op):
        pending.pop(index)
        return True
    if op.guard is not None:
        if op.guard.alt:
            pending[index] = member_guard(op.entity["PartitionKey"], op.guard.alt, None,
                                          op.guard.unit)
        else:
            del pending[index : index + op.guard.unit]
        return True
    return False


def _is_resource(op: Operation) -> bool:
    return layout.is_resource_key(op.row_key)
