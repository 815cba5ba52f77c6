"""Changes too large for one entity-group transaction (EGT): journalled, then applied in chunks.

A journal is a row `J:{id}` written in the same transaction as the change's head (the resource
row, its index rows and its events), so the change exists exactly when its journal does. Two
kinds:

- **operations** (member changes): the chunks' operations, as JSON text in the head row and,
  when longer than one row holds, in part rows `J:{id}:{n}` staged *before* the head commits.
  Any request within the body limit fits, whatever the group's size. `guard` names the group:
  every chunk re-proves it exists, so a group deleted mid-change stops the journal instead of
  gaining member rows after its own purge read them.
- **purge** (deletes): `purge` names the deleted resource; its membership rows are found by a
  range read (again on resumption), so the journal is the same size for any group.

Each chunk moves the head's `done` counter in its own transaction, conditional on the head's
ETag: two workers (the request and the reconciler) never both apply one chunk, so a chunk
applied late can't resurrect a member that a later request removed. Every chunk holds whole
membership pairs (M + R) and whole member guards, so a chunk boundary never breaks a pair.

The request applies chunks until done or until storage fails or its deadline passes. Past the
deadline a background thread of the instance carries on at once (without the request's deadline:
the answer has gone); after a storage failure, or if the instance stops, `complete` (the
reconciler) finishes it. The change is committed from the head on.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any

from ..timestamps import now_iso, parse_iso
from . import deadline, layout
from .backend import MemberGuard, Metadata, Operation, create, delete, update, upsert
from .errors import NotFound, PreconditionFailed, StoreError, Unavailable
from .long_text import PROPERTY_CHARS, join_text, split_text

log = logging.getLogger(__name__)

Submit = Callable[[list[Operation]], list[Metadata]]

MAX_BATCH = 100
# Characters of journal text per row: 10 properties, 600 KB of UTF-16 (an entity holds 1 MiB).
ROW_TEXT = 10 * PROPERTY_CHARS
# Part rows whose head never committed (their request failed between staging and arming) are
# removed once older than this: far longer than any request, so never under a live one.
STAGED_PARTS_EXPIRE = timedelta(minutes=10)
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# One thread: journals left by requests' deadlines are finished one after another, so a burst
# of large changes does not compete with requests for the partition's throughput.
_finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")


def chunked(units: Sequence[Sequence[Operation]], room: int) -> list[list[Operation]]:
    """Consecutive units packed into chunks of at most `room` operations, no unit split."""
    chunks: list[list[Operation]] = []
    current: list[Operation] = []
    for unit in units:
        if current and len(current) + len(unit) > room:
            chunks.append(current)
            current = []
        current.extend(unit)
    if current:
        chunks.append(current)
    return chunks


# -- encoding of member operations ------------------------------------------------------------
# Only the operations member changes are made of can be journalled: upserts and deletes of rows
# (with their properties), member guards (an empty MERGE with an alternative row) and the
# change's events (REPLACE upserts) that did not fit its head transaction.

def _encode(chunks: list[list[Operation]]) -> str:
    out: list[list[list[Any]]] = []
    for chunk in chunks:
        encoded: list[list[Any]] = []
        for op in chunk:
            row_key = op.entity["RowKey"]
            props = {k: v for k, v in op.entity.items() if k not in ("PartitionKey", "RowKey")}
            if op.guard is not None:
                encoded.append(["g", row_key, op.guard.alt, op.guard.unit])
            elif op.etag is not None:
                raise ValueError(f"a conditional {op.verb} is not journalled")
            elif op.verb == "upsert" and op.mode == "replace":
                encoded.append(["r", row_key, props])  # an outbox event
            elif op.verb in ("upsert", "delete"):
                encoded.append([op.verb[0], row_key, props] if props else [op.verb[0], row_key])
            else:
                raise ValueError(f"operation {op.verb!r} is not journalled")
        out.append(encoded)
    return _json(out)


def _decode(tenant: str, text: str) -> list[list[Operation]]:
    chunks: list[list[Operation]] = []
    for encoded in json.loads(text):
        chunk: list[Operation] = []
        for item in encoded:
            code, row_key = item[0], item[1]
            if code == "g":
                chunk.append(member_guard(tenant, row_key, item[2], item[3]))
            elif code == "r":
                chunk.append(upsert({"PartitionKey": tenant, "RowKey": row_key, **item[2]},
                                    "replace"))
            elif code == "u":
                chunk.append(upsert({"PartitionKey": tenant, "RowKey": row_key,
                                     **(item[2] if len(item) > 2 else {})}))
            else:
                chunk.append(delete(tenant, row_key))
        chunks.append(chunk)
    return chunks


def member_guard(tenant: str, row_key: str, alt: str | None, unit: int) -> Operation:
    """An empty MERGE of a member's own row: the member-row upserts that follow it (`unit`
    operations with it) commit only while the member exists, and its ETag moves, so a delete
    of the member that read its memberships before is refused and reads again. A 404 makes the
    store try `alt` (the member may be a group), then drop the unit: the member is gone."""
    return Operation("update", {"PartitionKey": tenant, "RowKey": row_key},
                     guard=MemberGuard(unit, alt or None))


def _head_etag(result: Any) -> str:
    return str(result.get("etag", "")) if isinstance(result, dict) else ""


class Journal:
    """Writes, applies and resumes the journals of one table. `submit` is the store's EGT
    (Directory.submit: deletes of rows already gone are dropped, errors are store errors);
    `rows` range-reads a tenant's rows by RowKey prefix; `memberships` lists the (row, twin)
    membership pairs that name a resource."""

    def __init__(self, submit: Submit, rows: Callable[[str, str], Iterator[Any]],
                 memberships: Callable[[str, str, str], list[tuple[str, str]]]) -> None:
        self._submit = submit
        self._rows = rows
        self._memberships = memberships
        self._lock = threading.Lock()
        self._later: set[Future[int]] = set()

    # -- member changes -------------------------------------------------------------------

    def stage(self, tenant: str, chunks: list[list[Operation]], guard: str | None
              ) -> tuple[dict[str, Any], list[str]]:
        """Write the part rows of a change's operations; returns the head row to create in the
        change's head transaction, and the part RowKeys (to drop if that transaction fails)."""
        text = _encode(chunks)
        rows = [text[i : i + ROW_TEXT] for i in range(0, len(text), ROW_TEXT)] or [""]
        head_key = layout.journal_key(uuid.uuid4().hex)
        created = now_iso()
        parts = []
        for n, piece in enumerate(rows[1:], start=1):
            key = layout.journal_part_key(head_key, n)
            self._submit([create({"PartitionKey": tenant, "RowKey": key,
                                  "created": created, **split_text(piece, "ops")})])
            parts.append(key)
        head = {"PartitionKey": tenant, "RowKey": head_key, "done": 0, "created": created,
                "parts": len(parts), **split_text(rows[0], "ops")}
        if guard:
            head["guard"] = guard
        return head, parts

    def drop(self, tenant: str, keys: Sequence[str]) -> None:
        """Best effort: rows left behind are removed by `complete` once they expire."""
        try:
            for i in range(0, len(keys), MAX_BATCH):
                self._submit([delete(tenant, k) for k in keys[i : i + MAX_BATCH]])
        except StoreError:
            pass

    def purge_head(self, tenant: str, resource_key: str) -> dict[str, Any]:
        return {"PartitionKey": tenant, "RowKey": layout.journal_key(uuid.uuid4().hex), "done": 0,
                "created": now_iso(), "purge": resource_key}

    # -- applying -------------------------------------------------------------------------

    def run(self, tenant: str, head_key: str, etag: str, chunks: list[list[Operation]], *,
            guard: str | None, parts: Sequence[str], start: int = 0) -> bool:
        """Apply chunks[start:], then remove the journal. True when it is finished (or was
        finished by another worker); False when storage failed and it is left for `complete`.
        """
        guard_op = [update({"PartitionKey": tenant, "RowKey": guard})] if guard else []
        try:
            for n in range(start, len(chunks)):
                marker = update({"PartitionKey": tenant, "RowKey": head_key, "done": n + 1},
                                etag=etag)
                try:
                    results = self._submit([*guard_op, *chunks[n], marker])
                except NotFound:
                    # The guarded group is gone (its purge read the rows committed so far), or
                    # another worker finished and removed the journal: either way, no more.
                    self.drop(tenant, [head_key, *parts])
                    return True
                except PreconditionFailed:
                    return True  # another worker moved the journal on; it finishes it
                etag = _head_etag(results[-1])
            self._submit([delete(tenant, head_key, etag=etag),
                          *[delete(tenant, k) for k in parts]])
        except (PreconditionFailed, NotFound):
            return True
        except Unavailable as exc:
            left = deadline.remaining()
            if left is not None and left <= 0:
                self._finish_later(tenant)
                log.info("journal %s: the request's deadline passed; finishing it in the "
                         "background", head_key)
            else:
                log.warning("journal %s left for the reconciler (%s)", head_key, exc)
            return False
        return True

    def _finish_later(self, tenant: str) -> None:
        future = _finisher.submit(self.complete, tenant)  # a fresh context: no deadline
        with self._lock:
            self._later.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[int]) -> None:
        with self._lock:
            self._later.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning("background journal run failed (%s); the reconciler finishes it",
                        type(future.exception()).__name__)

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the journals being finished in the background (tests, shutdown)."""
        with self._lock:
            pending = set(self._later)
        return not wait(pending, timeout=timeout).not_done

    def run_purge(self, tenant: str, head_key: str, etag: str,
                  pairs: Sequence[tuple[str, str]]) -> bool:
        return self.run(tenant, head_key, etag, _pair_chunks(tenant, pairs), guard=None,
                        parts=[])

    def complete(self, tenant: str, now: datetime | None = None) -> int:
        """Finish every journal of a tenant a request left (crash, outage, deadline); remove
        part rows whose head never committed once they expire. Returns the journals seen."""
        heads: dict[str, Any] = {}
        parts: dict[str, list[Any]] = {}
        for entity in self._rows(tenant, layout.JOURNAL_PREFIX):
            key: str = entity["RowKey"]
            head_key, is_part = layout.journal_head(key)
            if is_part:
                parts.setdefault(head_key, []).append(entity)
            else:
                heads[key] = entity
        for key, head in heads.items():
            etag = _head_etag(head.metadata)
            own = sorted(parts.get(key, []), key=lambda e: str(e["RowKey"]))
            if "purge" in head:
                kind, rid = layout.parse_resource_key(str(head["purge"]))
                self.run_purge(tenant, key, etag, self._memberships(tenant, kind, rid))
                continue
            text = join_text(head, "ops") + "".join(join_text(p, "ops") for p in own)
            self.run(tenant, key, etag, _decode(tenant, text), guard=head.get("guard"),
                     parts=[p["RowKey"] for p in own], start=int(head.get("done", 0)))
        cutoff = (now or datetime.now(UTC)) - STAGED_PARTS_EXPIRE
        for key, own in parts.items():
            if key not in heads and all(_created(p) < cutoff for p in own):
                self.drop(tenant, [p["RowKey"] for p in own])
        return len(heads)


def _created(entity: Any) -> datetime:
    try:
        return parse_iso(str(entity.get("created", "")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _pair_chunks(tenant: str, pairs: Sequence[tuple[str, str]]) -> list[list[Operation]]:
    units = [[delete(tenant, row), delete(tenant, twin)] for row, twin in pairs]
    return chunked(units, MAX_BATCH - 1)
