"""Users and groups in one table: one partition per tenant (design.md §4).

Row layout (RowKey):
  U:{id} / G:{id}            the resource document (JSON) + scalar columns for filter pushdown
  UN:{value} / GN:{value}    unique index (folded userName / group displayName) -> id
  UX:{value}:{id} / GX:…     non-unique index (externalId) -> id
  M:{gid}:{uid}, R:{uid}:{gid}   membership row and its reverse
  J:{id}                     journal of a change too large for one entity-group transaction

Every change of a resource and its index rows is one entity-group transaction (EGT), so a
duplicate index row fails the whole write (409) and nothing is half-written. Changes larger
than one EGT are journalled first and then applied in idempotent chunks; the journal row
records progress in the same transaction as each chunk, so `complete_pending` can finish a
change that a crash cut in half.
"""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableTransactionError, UpdateMode

from . import faults, keys
from .errors import Conflict, NotFound, PreconditionFailed, TooLarge, Unavailable
from .faults import unavailable_on_failure
from .table import Table

USER = "U"
GROUP = "G"
MAX_BATCH = 100
# Journalled chunks hold whole membership pairs (M + R), so a change cut between two chunks
# never leaves a membership row without its twin.
_CHUNK = MAX_BATCH - 2
# A batch POST that failed in transport is not retried by `wire` (its outcome is unknown);
# we retry it, and `landed` checks tell a retry that fails on our own committed write.
_WRITE_ATTEMPTS = 3
_DOC_CHUNK = 30_000  # characters per string property (Table limit: 64 KiB of UTF-16)
_MAX_DOC = 400_000  # characters; an entity holds at most 1 MiB
_JOURNAL_CHUNK = 30_000
# Built once: json.dumps with options builds a new encoder per call.
_doc_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_journal_json = json.JSONEncoder(separators=(",", ":")).encode
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="store")

Op = tuple[Any, ...]


@dataclass(frozen=True)
class Indexes:
    """The index rows a resource owns: unique ones (index name -> key value, already folded
    where the attribute is case-insensitive) and non-unique ones (index name -> key values)."""

    unique: dict[str, str] = field(default_factory=dict)
    multi: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rows(self, rid: str) -> list[str]:
        out = [keys.unique_key(i, v) for i, v in self.unique.items()]
        out += [keys.multi_key(i, v, rid) for i, values in self.multi.items()
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
    parts = [text[i : i + _DOC_CHUNK] for i in range(0, len(text), _DOC_CHUNK)] or [""]
    return {("doc" if n == 0 else f"doc{n}"): p for n, p in enumerate(parts)}


def _join_doc(entity: dict[str, Any]) -> dict[str, Any]:
    text = entity.get("doc", "")
    n = 1
    while f"doc{n}" in entity:
        text += entity[f"doc{n}"]
        n += 1
    doc: dict[str, Any] = json.loads(text) if text else {}
    return doc


def _etag(meta: Any) -> str:
    return str(meta.get("etag", "")) if isinstance(meta, dict) else ""


def _stored(rid: str, entity: Any) -> Stored:
    return Stored(
        id=rid,
        doc=_join_doc(entity),
        etag=_etag(entity.metadata),
        created=str(entity.get("created", "")),
        last_modified=str(entity.get("lastModified", "")),
        deactivated_at=entity.get("deactivatedAt") or None,
    )


def _unavailable(exc: Exception) -> Unavailable:
    return faults.unavailable(exc)


def _is_unavailable(exc: HttpResponseError) -> bool:
    return faults.is_transient(exc)


class Directory:
    """Users, groups, their indexes and memberships for every tenant in one table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # -- reads -------------------------------------------------------------------------

    def get(self, tenant: str, kind: str, rid: str) -> Stored | None:
        try:
            with unavailable_on_failure():
                entity = self.table.get_entity(tenant, keys.resource_key(kind, rid))
        except ResourceNotFoundError:
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
            with unavailable_on_failure():
                entity = self.table.get_entity(
                    tenant, keys.unique_key(index, value), select=["ref"]
                )
        except ResourceNotFoundError:
            return None
        return str(entity["ref"])

    def lookup_multi(self, tenant: str, index: str, value: str) -> list[str]:
        return [e["ref"] for e in self._range(tenant, keys.multi_prefix(index, value), ["ref"])]

    def _range(
        self, tenant: str, prefix: str, select: list[str] | None = None, page: int = 1000
    ) -> Iterator[Any]:
        low, high = keys.prefix_range(prefix)
        with unavailable_on_failure():
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
        low, high = keys.prefix_range(f"{kind}:")
        if after is not None:
            low = keys.resource_key(kind, after) + "\x00"
        with unavailable_on_failure():
            for entity in self.table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                parameters={"pk": tenant, "lo": low, "hi": high},
                results_per_page=page,
            ):
                yield _stored(keys.unescape(entity["RowKey"][2:]), entity)

    def deactivated_users(self, tenant: str, before: str) -> Iterator[Stored]:
        """Users whose `active` is false since before `before` (ISO time): the deactivatedAt
        column, or lastModified for rows written before that column existed (never earlier
        than the real deactivation). `active` is filtered by the service, the time here."""
        low, high = keys.prefix_range(f"{USER}:")
        with unavailable_on_failure():
            for entity in self.table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and active eq @off",
                parameters={"pk": tenant, "lo": low, "hi": high, "off": False},
            ):
                since = str(entity.get("deactivatedAt") or entity.get("lastModified") or "")
                if since and since < before:
                    yield _stored(keys.unescape(entity["RowKey"][2:]), entity)

    def count(self, tenant: str, kind: str) -> int:
        return sum(1 for _ in self._range(tenant, f"{kind}:", ["RowKey"]))

    def ids(self, tenant: str, kind: str) -> Iterator[str]:
        for e in self._range(tenant, f"{kind}:", ["RowKey"]):
            yield keys.unescape(e["RowKey"][2:])

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
            "RowKey": keys.resource_key(kind, rid),
            **_split_doc(doc),
            **columns,
            "created": created,
            "lastModified": modified,
        }

    def _index_ops(self, tenant: str, rid: str, idx: Indexes, op: str) -> list[Op]:
        return [("create" if op == "create" else "delete",
                 {"PartitionKey": tenant, "RowKey": rk, "ref": rid}) for rk in idx.rows(rid)]

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
        extra: Sequence[Op] = (),
    ) -> Stored:
        entity = self._resource_entity(tenant, kind, rid, doc, columns, now, now)
        ops: list[Op] = [("create", entity), *self._index_ops(tenant, rid, idx, "create"), *extra]

        def landed() -> list[Any] | None:
            # Ids are generated per request: if our row exists, our transaction committed
            # (its response was lost and the retry collided with our own rows).
            mine = self._entity(tenant, keys.resource_key(kind, rid))
            return [mine.metadata] if mine is not None else None

        results = self._submit(ops, idx, landed)
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
        extra: Sequence[Op] = (),
    ) -> Stored:
        """Replace a document if it still has `etag`, moving changed index rows in the same
        transaction. Raises PreconditionFailed, NotFound or Conflict."""
        entity = self._resource_entity(tenant, kind, rid, doc, columns, created, now)
        old_rows, new_rows = set(old.rows(rid)), set(new.rows(rid))
        ops: list[Op] = [
            ("update", entity,
             {"mode": UpdateMode.REPLACE, "etag": etag,
              "match_condition": MatchConditions.IfNotModified}),
        ]
        ops += [("delete", {"PartitionKey": tenant, "RowKey": rk}) for rk in old_rows - new_rows]
        ops += [("create", {"PartitionKey": tenant, "RowKey": rk, "ref": rid})
                for rk in sorted(new_rows - old_rows)]
        ops += list(extra)

        def landed() -> list[Any] | None:
            # A retry of our own committed write fails its ETag condition: it landed if the
            # row holds exactly our document and our timestamp.
            row = self._entity(tenant, keys.resource_key(kind, rid))
            if row is None or row.get("lastModified") != now or _join_doc(row) != doc:
                return None
            return [row.metadata]

        results = self._submit(ops, new, landed)
        return Stored(rid, doc, _etag(results[0]), created, now)

    def touch(self, tenant: str, kind: str, rid: str, now: str) -> str:
        """Bump lastModified (and so the ETag) without reading: used by member changes."""
        try:
            with unavailable_on_failure():
                meta = self.table.update_entity(
                    {"PartitionKey": tenant, "RowKey": keys.resource_key(kind, rid),
                     "lastModified": now},
                    mode=UpdateMode.MERGE,
                )
        except ResourceNotFoundError as exc:
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
        extra: Sequence[Op] = (),
    ) -> None:
        """Delete a resource, its index rows and its membership rows (both directions)."""
        pairs = self._memberships(tenant, kind, rid)
        head: list[Op] = [
            ("delete", {"PartitionKey": tenant, "RowKey": keys.resource_key(kind, rid)},
             {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}),
            *self._index_ops(tenant, rid, idx, "delete"),
            *extra,
        ]
        tail: list[Op] = []
        for row, twin in pairs:
            tail.append(("delete", {"PartitionKey": tenant, "RowKey": row}))
            tail.append(("delete", {"PartitionKey": tenant, "RowKey": twin}))
        self._submit_chunked(tenant, head, tail, idx)

    def _memberships(self, tenant: str, kind: str, rid: str) -> list[tuple[str, str]]:
        """(row, twin) pairs of every membership row that names this resource: a group's own
        members, and (users and nested groups alike) its memberships in other groups."""
        pairs: list[tuple[str, str]] = []
        if kind == GROUP:
            prefix = f"M:{keys.escape(rid)}:"
            pairs += [(e["RowKey"], "R:" + e["RowKey"][len(prefix):] + ":" + keys.escape(rid))
                      for e in self._range(tenant, prefix, ["RowKey"])]
        prefix = f"R:{keys.escape(rid)}:"
        pairs += [(e["RowKey"], "M:" + e["RowKey"][len(prefix):] + ":" + keys.escape(rid))
                  for e in self._range(tenant, prefix, ["RowKey"])]
        return pairs

    # -- membership ----------------------------------------------------------------------

    def members(self, tenant: str, gid: str) -> list[str]:
        prefix = f"M:{keys.escape(gid)}:"
        return [keys.unescape(e["RowKey"][len(prefix):])
                for e in self._range(tenant, prefix, ["RowKey"])]

    def member_rows(self, tenant: str, gid: str) -> list[tuple[str, str | None]]:
        """(member id, type) pairs; the type is what the client stated, if anything."""
        prefix = f"M:{keys.escape(gid)}:"
        return [(keys.unescape(e["RowKey"][len(prefix):]), e.get("type") or None)
                for e in self._range(tenant, prefix, ["RowKey", "type"])]

    def groups_of(self, tenant: str, uid: str) -> list[str]:
        prefix = f"R:{keys.escape(uid)}:"
        return [keys.unescape(e["RowKey"][len(prefix):])
                for e in self._range(tenant, prefix, ["RowKey"])]

    def has_member(self, tenant: str, gid: str, uid: str) -> bool:
        try:
            with unavailable_on_failure():
                self.table.get_entity(tenant, keys.member_key(gid, uid), select=["RowKey"])
        except ResourceNotFoundError:
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
        extra: Sequence[Op] = (),
    ) -> None:
        """Add and remove members. Adding a present member and removing an absent one are
        no-ops. The group's lastModified is bumped in the first transaction, which also
        proves the group exists (a MERGE of a missing entity fails the whole batch)."""
        add_set, remove_set = list(dict.fromkeys(add)), list(dict.fromkeys(remove))
        touch: Op = (
            "update",
            {"PartitionKey": tenant, "RowKey": keys.resource_key(GROUP, gid),
             "lastModified": now},
            {"mode": UpdateMode.MERGE, "etag": etag,
             "match_condition": MatchConditions.IfNotModified} if etag
            else {"mode": UpdateMode.MERGE},
        )
        member_ops: list[Op] = []
        for uid in add_set:
            row = {"PartitionKey": tenant, "RowKey": keys.member_key(gid, uid)}
            if types and uid in types:
                row["type"] = types[uid]
            member_ops.append(("upsert", row))
            member_ops.append(("upsert", {"PartitionKey": tenant,
                                          "RowKey": keys.reverse_member_key(uid, gid)}))
        for uid in remove_set:
            member_ops.append(("delete", {"PartitionKey": tenant,
                                          "RowKey": keys.member_key(gid, uid)}))
            member_ops.append(("delete", {"PartitionKey": tenant,
                                          "RowKey": keys.reverse_member_key(uid, gid)}))
        self._submit_chunked(tenant, [touch, *extra], member_ops, Indexes())

    # -- transactions --------------------------------------------------------------------

    def _entity(self, tenant: str, row_key: str) -> Any:
        try:
            with unavailable_on_failure():
                return self.table.get_entity(tenant, row_key)
        except ResourceNotFoundError:
            return None

    def _submit(self, ops: list[Op], idx: Indexes,
                landed: Callable[[], list[Any] | None] | None = None) -> list[Any]:
        """One EGT. Deletes of rows that are already gone are dropped and the batch retried,
        so removal stays idempotent; any other failure maps to a store error.

        A transport failure (timeout, reset) leaves the outcome unknown, so the batch is
        retried up to _WRITE_ATTEMPTS times. A retry - ours or `wire`'s after a 5xx - may
        then fail on rows our own first attempt wrote (409/412/404): `landed` tells whether
        that attempt committed, and if so its results are returned instead of the error."""
        pending = list(ops)
        attempts = 0
        while True:
            try:
                return list(self.table.submit_transaction(pending))
            except TableTransactionError as exc:
                failed = pending[exc.index] if 0 <= exc.index < len(pending) else None
                code = exc.status_code
                if (code == 404 and failed is not None and failed[0] == "delete"
                        and not _is_resource(failed)):
                    pending.pop(exc.index)
                    if not pending:
                        return []
                    continue
                error = self._translate(exc, failed, idx)
                if landed is not None and isinstance(error, Conflict | NotFound |
                                                     PreconditionFailed):
                    done = landed()
                    if done is not None:
                        return done
                raise error from exc
            except (ServiceRequestError, ServiceResponseError) as exc:
                attempts += 1
                if attempts >= _WRITE_ATTEMPTS:
                    raise _unavailable(exc) from exc
            except HttpResponseError as exc:  # the batch itself refused (throttled, 5xx)
                if _is_unavailable(exc):
                    raise _unavailable(exc) from exc
                raise

    def _translate(self, exc: TableTransactionError, failed: Op | None,
                   idx: Indexes) -> Exception:
        code = exc.status_code
        if code == 412:
            return PreconditionFailed(str(getattr(exc, "error_code", "")))
        if code == 404:
            return NotFound(str(getattr(exc, "error_code", "")))
        if code == 409 and failed is not None:
            rk = str(failed[1].get("RowKey", ""))
            index = rk.split(":", 1)[0]
            return Conflict(index)
        error_code = str(getattr(exc, "error_code", ""))
        if code == 413 or error_code in ("EntityTooLarge", "PropertyValueTooLarge"):
            return TooLarge(error_code)
        if _is_unavailable(exc):
            return _unavailable(exc)
        return exc

    def _submit_chunked(self, tenant: str, head: list[Op], tail: list[Op],
                        idx: Indexes) -> list[Any]:
        """Run `head` and `tail` atomically when they fit one EGT; otherwise journal `tail`,
        commit `head` with the journal row, then apply `tail` in chunks that each advance
        the journal, and drop the journal with the last chunk."""
        if len(head) + len(tail) <= MAX_BATCH:
            return self._submit(head + tail, idx)
        journal_id = uuid.uuid4().hex
        chunks = [tail[i : i + _CHUNK] for i in range(0, len(tail), _CHUNK)]
        journal = {"PartitionKey": tenant, "RowKey": f"J:{journal_id}", "done": 0,
                   **_encode_journal(tail)}

        def head_landed() -> list[Any] | None:
            # The journal id is ours alone: its row exists iff our head transaction committed.
            mine = self._entity(tenant, f"J:{journal_id}")
            return [] if mine is not None else None

        results = self._submit([*head, ("create", journal)], idx, head_landed)
        self._apply_journal(tenant, journal_id, chunks, start=0)
        return results

    def _apply_journal(self, tenant: str, journal_id: str, chunks: list[list[Op]],
                       start: int) -> None:
        for n in range(start, len(chunks)):
            last = n == len(chunks) - 1
            marker: Op = (
                ("delete", {"PartitionKey": tenant, "RowKey": f"J:{journal_id}"}) if last else
                ("update", {"PartitionKey": tenant, "RowKey": f"J:{journal_id}", "done": n + 1},
                 {"mode": UpdateMode.MERGE})
            )
            self._submit([*chunks[n], marker], Indexes())

    def complete_pending(self, tenant: str) -> int:
        """Finish every journalled change of a tenant (the reconciler calls this). Returns the
        number of journals completed. Chunks are idempotent, so a journal being finished
        concurrently by its own request is harmless."""
        done = 0
        for entity in list(self._range(tenant, "J:")):
            ops = _decode_journal(entity)
            chunks = [ops[i : i + _CHUNK] for i in range(0, len(ops), _CHUNK)]
            self._apply_journal(tenant, entity["RowKey"][2:], chunks, int(entity["done"]))
            done += 1
        return done


def _is_resource(op: Op) -> bool:
    rk = str(op[1].get("RowKey", ""))
    return rk.startswith(("U:", "G:"))


def _encode_journal(ops: list[Op]) -> dict[str, str]:
    text = _journal_json([[op[0], op[1]["RowKey"]] for op in ops])
    if len(text) > _JOURNAL_CHUNK * 30:
        raise TooLarge(f"change of {len(ops)} row operations is too large for one request")
    return {f"ops{n}": text[i : i + _JOURNAL_CHUNK]
            for n, i in enumerate(range(0, len(text), _JOURNAL_CHUNK))}


def _decode_journal(entity: dict[str, Any]) -> list[Op]:
    text, n = "", 0
    while f"ops{n}" in entity:
        text += entity[f"ops{n}"]
        n += 1
    pk = entity["PartitionKey"]
    return [(verb, {"PartitionKey": pk, "RowKey": rk}) for verb, rk in json.loads(text)]


