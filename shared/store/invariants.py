"""The store's invariants, checked and repaired per tenant (rows as layout.py lays them out).

Invariants of one tenant partition:

- no journalled change is pending (journal rows: a change a crash cut in half);
- every resource has every index row its document calls for, pointing to it;
- every index row points to an existing resource that still owns it (its indexed value matches);
- every membership row `M:{gid}:{mid}` has its reverse `R:{mid}:{gid}` and vice versa;
- every M row belongs to an existing group, and a member id that this service generated
  still names a user or a group (a member that was deleted while being added, say).

Member ids that this service did not generate (Entra may add ids we do not know, and
members are not checked for existence: docs/architecture.md) are never reported or removed:
only ids in the format of `layout.new_id` whose resource is gone are known to be dangling,
because ids are never reused. Nested groups are members too, so a member id is looked up as a
user and as a group.

A pass walks the partition in RowKey order (walk.py), a page at a time, and checks each row
with point reads of what it must agree with: a resource reads the index rows its document
calls for, an index row the resource it points to, an M row its group, its R twin and (an id
this service issued) its member, an R row its M twin. Memory stays bounded by a page however
large the tenant, and a pass cut off by its budget goes on later from the last row it handled
(`repair_step`; the reconciler keeps that position in the runs table). Damage written behind
the walk's position waits for the next pass.

`repair` first finishes pending journals, then fixes what the walk finds as it goes. It runs
while SCIM requests write, so every fix is re-verified and conditional: a row is removed only
if it has not changed since it was read (ETag), and a row is added only in a transaction that
also proves the resource it belongs to is unchanged. A fix that loses such a race is reported
as unrepaired and tried again by the next pass.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import layout
from .backend import Entity, Metadata, Operation, create, delete, update, upsert
from .directory import Directory, Indexes, document_of
from .errors import NotFound, StoreError
from .layout import GROUP, USER
from .walk import walk_rows

# Which index rows a document calls for (kind, document -> Indexes) is the service's knowledge;
# its caller passes it in, so the store does not depend on the service.
Indexer = Callable[[str, dict[str, Any]], Indexes]

PENDING_CHANGE = "pending_change"
MISSING_INDEX = "missing_index"
ORPHAN_INDEX = "orphan_index"
STALE_INDEX = "stale_index"
MISSING_TWIN = "missing_twin"
ORPHAN_MEMBERSHIP = "orphan_membership"
MEMBER_GONE = "member_gone"

# Tags of rows that are not index rows (resources, memberships, journals, outbox events, …).
_NOT_INDEX = layout.DATA_TAGS - layout.INDEXES.keys()
# Tags of rows no invariant is about (the outbox's): the walk jumps over their ranges.
_UNCHECKED = _NOT_INDEX - {*layout.RESOURCE_KINDS, layout.MEMBER, layout.MEMBER_OF,
                           layout.JOURNAL}
# Resource keys whose existence a pass remembers: a group's M rows come together and ask about
# the group once, and members of many groups are asked about once per this many rows at most.
_KNOWN_IDS = 10_000


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which, the RowKey concerned, and ids only (never values)."""

    kind: str
    row: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.row}{' (' + self.detail + ')' if self.detail else ''}"


@dataclass
class RepairReport:
    tenant: str
    journals_completed: int = 0
    index_rows_removed: int = 0
    index_rows_restored: int = 0
    memberships_removed: int = 0
    twins_restored: int = 0
    found: int = 0
    unrepaired: list[Violation] = field(default_factory=list)

    @property
    def repaired(self) -> int:
        return (self.journals_completed + self.index_rows_removed + self.index_rows_restored
                + self.memberships_removed + self.twins_restored)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "journals_completed": self.journals_completed,
                "index_rows_removed": self.index_rows_removed,
                "index_rows_restored": self.index_rows_restored,
                "memberships_removed": self.memberships_removed,
                "twins_restored": self.twins_restored, "found": self.found,
                "repaired": self.repaired, "unrepaired": [str(v) for v in self.unrepaired]}


@dataclass
class Progress:
    """Where a repair pass spread over several steps stands: the last row it handled, when it
    started, and what it found, fixed and could not fix so far."""

    after: str = ""
    started: str = ""
    found: int = 0
    repaired: int = 0
    unrepaired: int = 0

    def advanced(self, after: str, step: RepairReport) -> Progress:
        return Progress(after, self.started, self.found + step.found,
                        self.repaired + step.repaired, self.unrepaired + len(step.unrepaired))


def _never() -> bool:
    return False


def walk(directory: Directory, tenant: str, *, indexer: Indexer, fix: bool, after: str = "",
         over: Callable[[], bool] = _never, concurrency: int = 4, page: int = 500,
         found: Callable[[Violation], None] | None = None,
         on_page: Callable[[str, RepairReport], None] | None = None,
         ) -> tuple[RepairReport, str | None]:
    """Check (and with `fix`, repair) the rows after RowKey `after`, until the end or until
    `over()` answers true after a row. Each violation is passed to `found` as it is found;
    `on_page` gets the last row handled and the report so far after every `page` rows.
    Returns the report and None when the walk reached the end, else the last row handled.
    Journals are not completed here (`repair` and the reconciler do that first)."""
    report = RepairReport(tenant)
    rules = _Rules(directory, tenant, indexer, fix=fix, report=report, found=found)
    end = walk_rows(directory.table, tenant, inspect=rules.inspect, act=rules.act, after=after,
                    over=over, skip=_UNCHECKED, concurrency=concurrency, page=page,
                    on_batch=rules.new_batch,
                    on_page=None if on_page is None else (lambda last: on_page(last, report)))
    return report, end


def check(directory: Directory, tenant: str, *, indexer: Indexer) -> list[Violation]:
    """Every broken invariant of a tenant's partition, from one walk of it (empty: healthy).
    Not a transaction: a write in flight can show up as a violation."""
    out: list[Violation] = []
    walk(directory, tenant, indexer=indexer, fix=False, found=out.append)
    return out


def repair(directory: Directory, tenant: str, *, indexer: Indexer) -> RepairReport:
    """Finish interrupted changes, then fix every violation `check` reports, in one pass (see
    the module docstring for what is removed, what is restored and why each fix is
    race-safe)."""
    journals = directory.complete_pending(tenant)
    report, _ = walk(directory, tenant, indexer=indexer, fix=True)
    report.journals_completed = journals
    return report


def repair_step(directory: Directory, tenant: str, *, indexer: Indexer, progress: Progress,
                over: Callable[[], bool], concurrency: int = 4, page: int = 500,
                checkpoint: Callable[[Progress], None] | None = None,
                ) -> tuple[RepairReport, Progress | None]:
    """Go on with a repair pass from `progress` until its end or until `over()`. Returns
    this step's report, and the pass's progress to go on from (None: the pass finished).
    `checkpoint` is given the progress after every `page` rows (it may raise to stop the
    step: the pass was taken over). Journals are the caller's to complete first."""
    report, after = walk(
        directory, tenant, indexer=indexer, fix=True, after=progress.after, over=over,
        concurrency=concurrency, page=page,
        on_page=None if checkpoint is None else (
            lambda last, step: checkpoint(progress.advanced(last, step))))
    return report, None if after is None else progress.advanced(after, report)


# -- the pass ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Finding:
    """A violation and its fix: a call that tells whether it succeeded (None: nothing the pass
    can do but report it), the RepairReport count a success adds to, and the row of another
    finding this one deals with ahead of the walk (reported now, skipped when reached)."""

    violation: Violation
    fix: Callable[[], bool] | None = None
    counts: str = ""
    ahead: str = ""
    after_previous: bool = False  # attempted only if the finding before it was fixed


class _Rules:
    """One pass's checks and fixes. `inspect` only reads and runs on several threads at once;
    `act` reports and fixes, on the walk's thread, in RowKey order."""

    def __init__(self, directory: Directory, tenant: str, indexer: Indexer, *, fix: bool,
                 report: RepairReport, found: Callable[[Violation], None] | None) -> None:
        self.directory = directory
        self.tenant = tenant
        self.indexer = indexer
        self.fix = fix
        self.report = report
        self.found = found
        self._known = _KnownRows(_KNOWN_IDS)
        # Rows this pass's guards bumped during the current batch: key -> (the ETag the
        # batch's reads saw, the one the guard left). A later fix in the batch guarding the
        # same row must use the new one: with the old, a resource with two stale rows (every
        # caseExact=false row when `keys.fold` changed) got one fix per pass.
        self._bumped: dict[str, tuple[str, str]] = {}
        # Rows ahead of the walk that a fix already dealt with (a stale row a restore had to
        # displace, the R twin of a removed M row): skipped when the walk reaches them, as
        # what was read of them may be stale.
        self._ahead: list[str] = []
        self._ahead_keys: set[str] = set()

    # -- reads -----------------------------------------------------------------------------

    def inspect(self, row: Entity) -> list[_Finding]:
        rk: str = row["RowKey"]
        tag = layout.tag(rk)
        if tag in layout.RESOURCE_KINDS:
            return self._resource(row)
        if tag == layout.JOURNAL:
            return [_Finding(Violation(PENDING_CHANGE, rk))]
        if tag == layout.MEMBER:
            return self._membership(row)
        if tag == layout.MEMBER_OF:
            return self._reverse(row)
        if _is_index_row(rk, row):
            return self._index_row(row)
        return []

    def _resource(self, row: Entity) -> list[_Finding]:
        kind, rid = layout.parse_resource_key(row["RowKey"])
        out: list[_Finding] = []
        for rk in sorted(set(self.indexer(kind, document_of(row)).rows(rid))):
            held = self._read(rk, ["ref"])
            ref = None if held is None else held.get("ref")
            restore = partial(self._restore, kind, rid, rk, _etag(row))
            if held is None or ref is None:
                out.append(_Finding(Violation(MISSING_INDEX, rk, f"{kind}:{rid}"), restore,
                                    "index_rows_restored"))
            elif ref != rid:
                out += self._held(kind, rid, rk, held, str(ref), restore)
        return out

    def _held(self, kind: str, rid: str, rk: str, held: Entity, ref: str,
              restore: Callable[[], bool]) -> list[_Finding]:
        """A row this resource calls for, held by another: restorable once the holder's row
        is removed, if the holder does not own it (an owner's row is a real conflict)."""
        missing = Violation(MISSING_INDEX, rk, f"{kind}:{rid}, held by {ref}")
        if not self.fix:  # the check reports the holder's row when the walk reaches it
            return [_Finding(missing)]
        owner = _owner(rk, ref)[0]
        holder = self._resource_row(owner, ref)
        if holder is None:
            first = _Finding(Violation(ORPHAN_INDEX, rk, f"{owner}:{ref} does not exist"),
                             partial(self._remove_orphan_index, rk, _etag(held), owner, ref),
                             "index_rows_removed", ahead=rk)
        elif rk in self.indexer(owner, document_of(holder)).rows(ref):
            return [_Finding(missing)]
        else:
            first = _Finding(Violation(STALE_INDEX, rk, f"{owner}:{ref} does not own it"),
                             partial(self._remove_stale_index, rk, _etag(held), owner, ref,
                                     _etag(holder)), "index_rows_removed", ahead=rk)
        return [first, _Finding(missing, restore, "index_rows_restored", after_previous=True)]

    def _index_row(self, row: Entity) -> list[_Finding]:
        rk: str = row["RowKey"]
        ref = str(row["ref"])
        kind = _owner(rk, ref)[0]
        owner = self._resource_row(kind, ref)
        if owner is None:
            return [_Finding(Violation(ORPHAN_INDEX, rk, f"{kind}:{ref} does not exist"),
                             partial(self._remove_orphan_index, rk, _etag(row), kind, ref),
                             "index_rows_removed")]
        if rk in self.indexer(kind, document_of(owner)).rows(ref):
            return []
        return [_Finding(Violation(STALE_INDEX, rk, f"{kind}:{ref} does not own it"),
                         partial(self._remove_stale_index, rk, _etag(row), kind, ref,
                                 _etag(owner)), "index_rows_removed")]

    def _membership(self, row: Entity) -> list[_Finding]:
        rk: str = row["RowKey"]
        gid, mid = layout.membership_pair(rk)
        twin = layout.membership_twin(rk)
        if not self._names((GROUP,), gid):
            return [_Finding(Violation(ORPHAN_MEMBERSHIP, rk, f"group {gid} does not exist"),
                             partial(self._remove_membership, rk, _etag(row), (GROUP,), gid),
                             "memberships_removed", ahead=twin)]
        if self._read(twin, ["RowKey"]) is None:
            # M is what the group lists (what Entra was told); R is only its reverse index.
            return [_Finding(Violation(MISSING_TWIN, rk, "no R row"),
                             partial(self._restore_twin, rk, _etag(row)), "twins_restored")]
        if layout.is_generated_id(mid) and not self._names((USER, GROUP), mid):
            return [_Finding(Violation(MEMBER_GONE, rk, f"member {mid} does not exist"),
                             partial(self._remove_membership, rk, _etag(row), (USER, GROUP),
                                     mid), "memberships_removed", ahead=twin)]
        return []

    def _reverse(self, row: Entity) -> list[_Finding]:
        rk: str = row["RowKey"]
        if self._read(layout.membership_twin(rk), ["RowKey"]) is not None:
            return []
        return [_Finding(Violation(MISSING_TWIN, rk, "no M row"),
                         partial(self._remove_lone_reverse, rk, _etag(row)),
                         "memberships_removed")]

    def _read(self, rk: str, select: list[str] | None = None) -> Entity | None:
        try:
            return self.directory.table.get_entity(self.tenant, rk, select=select)
        except NotFound:
            return None

    def _resource_row(self, kind: str, rid: str) -> Entity | None:
        """The resource an index row names; None also for a kind that names no resources (an
        index row of a tag layout does not know)."""
        if kind not in layout.RESOURCE_KINDS:
            return None
        return self._read(layout.resource_key(kind, rid))

    def _names(self, kinds: Sequence[str], rid: str) -> bool:
        """Whether `rid` is a resource of one of `kinds` (remembered for the pass)."""
        for kind in kinds:
            key = layout.resource_key(kind, rid)
            exists = self._known.get(key)
            if exists is None:
                exists = self._read(key, ["RowKey"]) is not None
                self._known.put(key, exists)
            if exists:
                return True
        return False

    def _exists_now(self, kinds: Sequence[str], rid: str) -> bool:
        """Re-verified before a removal: a fresh read, not what the pass remembers."""
        return any(self._read(layout.resource_key(kind, rid), ["RowKey"]) is not None
                   for kind in kinds if kind in layout.RESOURCE_KINDS)

    # -- reporting and fixing --------------------------------------------------------------

    def new_batch(self) -> None:
        self._bumped.clear()

    def act(self, row: Entity, findings: list[_Finding]) -> None:
        if self._dealt_with(row["RowKey"]):
            return
        fixed = True
        for finding in findings:
            self.report.found += 1
            if self.found is not None:
                self.found(finding.violation)
            if not self.fix:
                continue
            if finding.ahead and finding.ahead > row["RowKey"]:
                self._mark_ahead(finding.ahead)
            fixed = (finding.fix is not None and (fixed or not finding.after_previous)
                     and finding.fix())
            if fixed:
                setattr(self.report, finding.counts, getattr(self.report, finding.counts) + 1)
            else:
                self.report.unrepaired.append(finding.violation)

    def _mark_ahead(self, rk: str) -> None:
        if rk not in self._ahead_keys:
            self._ahead_keys.add(rk)
            heapq.heappush(self._ahead, rk)

    def _dealt_with(self, rk: str) -> bool:
        """Whether a fix dealt with this row before the walk reached it; forgets the rows the
        walk has passed (removed ones are never reached)."""
        while self._ahead and self._ahead[0] <= rk:
            passed = heapq.heappop(self._ahead)
            self._ahead_keys.discard(passed)
            if passed == rk:
                return True
        return False

    def _submit(self, ops: list[Operation]) -> list[Metadata] | None:
        try:
            return self.directory.submit(ops, Indexes())  # deletes of rows already gone: dropped
        except StoreError:  # changed meanwhile (412), taken (409), gone (404): next pass
            return None

    def _guarded(self, guarded: str, etag: str, ops: list[Operation]) -> bool:
        """`ops` in one transaction with a guard proving row `guarded` unchanged since it was
        read with `etag` (or since this batch's own guard bumped it)."""
        seen = self._bumped.get(guarded)
        current = seen[1] if seen is not None and seen[0] == etag else etag
        done = self._submit([_guard(self.tenant, guarded, current), *ops])
        if done is None:
            return False
        self._bumped[guarded] = (etag, _etag_of(done[0]) or current)
        return True

    def _restore(self, kind: str, rid: str, rk: str, etag: str) -> bool:
        # One row per transaction: a create fails (409) while another resource still holds
        # the row, and that must not keep this resource's other rows from coming back.
        return self._guarded(layout.resource_key(kind, rid), etag, [
            create({"PartitionKey": self.tenant, "RowKey": rk, "ref": rid})])

    def _remove_stale_index(self, rk: str, etag: str, kind: str, ref: str,
                            owner_etag: str) -> bool:
        return self._guarded(layout.resource_key(kind, ref), owner_etag,
                             [_delete(self.tenant, rk, etag)])

    def _remove_orphan_index(self, rk: str, etag: str, kind: str, ref: str) -> bool:
        if self._exists_now([kind], ref):  # created since it was read
            return False
        return self._submit([_delete(self.tenant, rk, etag)]) is not None

    def _remove_membership(self, rk: str, etag: str, kinds: Sequence[str], rid: str) -> bool:
        if self._exists_now(kinds, rid):
            return False
        return self._submit([_delete(self.tenant, rk, etag),
                             _delete(self.tenant, layout.membership_twin(rk))]) is not None

    def _restore_twin(self, rk: str, etag: str) -> bool:
        return self._guarded(rk, etag, [upsert({"PartitionKey": self.tenant,
                                                 "RowKey": layout.membership_twin(rk)})])

    def _remove_lone_reverse(self, rk: str, etag: str) -> bool:
        return self._submit([_delete(self.tenant, rk, etag)]) is not None


class _KnownRows:
    """Whether rows exist, for the last `size` keys asked about (thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bool | None:
        with self._lock:
            exists = self._seen.get(key)
            if exists is not None:
                self._seen.move_to_end(key)
            return exists

    def put(self, key: str, exists: bool) -> None:
        with self._lock:
            self._seen[key] = exists
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


def _is_index_row(rk: str, entity: Any) -> bool:
    # Rows of a tag layout does not know are taken for index rows too (of an index an earlier
    # version kept, say): checked, and removed by repair, as their resource owns none.
    return "ref" in entity and layout.tag(rk) not in _NOT_INDEX


def _owner(rk: str, ref: str) -> tuple[str, str]:
    """The resource an index row points to: its index's kind (for an unknown index, the kind
    its name starts with, as every index name does), and its `ref`."""
    index = layout.index_of(rk)
    return (index.owner if index else rk[0]), ref


def _guard(tenant: str, rk: str, etag: str) -> Operation:
    """An empty MERGE conditional on the ETag: makes a transaction commit only if this row is
    unchanged since it was read (it bumps the row's ETag, nothing else)."""
    return update({"PartitionKey": tenant, "RowKey": rk}, etag=etag)


def _delete(tenant: str, rk: str, etag: str | None = None) -> Operation:
    return delete(tenant, rk, etag=etag or None)


def _etag(entity: Entity) -> str:
    return str(entity.metadata.get("etag", ""))


def _etag_of(result: Any) -> str:
    return str(result.get("etag", "")) if isinstance(result, dict) else ""
