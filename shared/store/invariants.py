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

`repair` first finishes pending journals, then fixes what `check` reports. It runs while SCIM
requests write, so every fix is re-verified and conditional: a row is removed only if it has
not changed since it was read (ETag), and a row is added only in a transaction that also
proves the resource it belongs to is unchanged. A fix that loses such a race is reported as
unrepaired and tried again by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .backend import Operation, create, delete, update, upsert
from .directory import Directory, Indexes, document_of
from .errors import StoreError
from .layout import GROUP, USER

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
class _Snapshot:
    resources: dict[tuple[str, str], tuple[dict[str, Any], str]] = field(default_factory=dict)
    index: dict[str, tuple[str, str]] = field(default_factory=dict)  # rk -> (ref, etag)
    members: dict[tuple[str, str], str] = field(default_factory=dict)  # (gid, mid) -> etag
    reverse: dict[tuple[str, str], str] = field(default_factory=dict)  # (mid, gid) -> etag
    journals: list[str] = field(default_factory=list)


def _snapshot(directory: Directory, tenant: str) -> _Snapshot:
    snap = _Snapshot()
    for entity in directory.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": tenant}, results_per_page=1000):
        rk: str = entity["RowKey"]
        etag = str(entity.metadata.get("etag", ""))
        tag = layout.tag(rk)
        if tag in layout.RESOURCE_KINDS:
            snap.resources[layout.parse_resource_key(rk)] = (document_of(entity), etag)
        elif tag == layout.JOURNAL:
            snap.journals.append(rk)
        elif tag in (layout.MEMBER, layout.MEMBER_OF):
            pair = layout.membership_pair(rk)
            (snap.members if tag == layout.MEMBER else snap.reverse)[pair] = etag
        elif _is_index_row(rk, entity):
            snap.index[rk] = (str(entity["ref"]), etag)
    return snap


def _is_index_row(rk: str, entity: Any) -> bool:
    # Rows of a tag layout does not know are taken for index rows too (of an index an earlier
    # version kept, say): checked, and removed by repair, as their resource owns none.
    return "ref" in entity and layout.tag(rk) not in _NOT_INDEX


def _owner(rk: str, ref: str) -> tuple[str, str]:
    """The resource an index row points to: its index's kind (for an unknown index, the kind
    its name starts with, as every index name does), and its `ref`."""
    index = layout.index_of(rk)
    return (index.owner if index else rk[0]), ref


def _expected(snap: _Snapshot, indexer: Indexer) -> dict[tuple[str, str], set[str]]:
    return {(kind, rid): set(indexer(kind, doc).rows(rid))
            for (kind, rid), (doc, _) in snap.resources.items()}


def _violations(snap: _Snapshot, expected: dict[tuple[str, str], set[str]]) -> list[Violation]:
    out = [Violation(PENDING_CHANGE, rk) for rk in snap.journals]
    for (kind, rid), rows in expected.items():
        for rk in sorted(rows):
            held = snap.index.get(rk)
            if held is None:
                out.append(Violation(MISSING_INDEX, rk, f"{kind}:{rid}"))
            elif held[0] != rid:
                out.append(Violation(MISSING_INDEX, rk, f"{kind}:{rid}, held by {held[0]}"))
    for rk, (ref, _) in snap.index.items():
        owner = _owner(rk, ref)
        if owner not in expected:
            out.append(Violation(ORPHAN_INDEX, rk, f"{owner[0]}:{ref} does not exist"))
        elif rk not in expected[owner]:
            out.append(Violation(STALE_INDEX, rk, f"{owner[0]}:{ref} does not own it"))
    for gid, mid in snap.members:
        rk = layout.member_key(gid, mid)
        if (GROUP, gid) not in snap.resources:
            out.append(Violation(ORPHAN_MEMBERSHIP, rk, f"group {gid} does not exist"))
        elif (mid, gid) not in snap.reverse:
            out.append(Violation(MISSING_TWIN, rk, "no R row"))
        elif (layout.is_generated_id(mid) and (USER, mid) not in snap.resources
              and (GROUP, mid) not in snap.resources):
            out.append(Violation(MEMBER_GONE, rk, f"member {mid} does not exist"))
    for mid, gid in snap.reverse:
        if (gid, mid) not in snap.members:
            out.append(Violation(MISSING_TWIN, layout.reverse_member_key(mid, gid), "no M row"))
    return out


def check(directory: Directory, tenant: str, *, indexer: Indexer) -> list[Violation]:
    """Every broken invariant of a tenant's partition, from one read of it (empty: healthy).
    A snapshot, not a transaction: a write in flight can show up as a violation."""
    snap = _snapshot(directory, tenant)
    return _violations(snap, _expected(snap, indexer))


# -- repair ------------------------------------------------------------------------------------

def _guard(tenant: str, rk: str, etag: str) -> Operation:
    """An empty MERGE conditional on the ETag: makes a transaction commit only if this row is
    unchanged since the snapshot (it bumps the row's ETag, nothing else)."""
    return update({"PartitionKey": tenant, "RowKey": rk}, etag=etag)


def _delete(tenant: str, rk: str, etag: str | None = None) -> Operation:
    return delete(tenant, rk, etag=etag or None)


def _exists(directory: Directory, tenant: str, kinds: Iterable[str], rid: str) -> bool:
    return any(directory.get(tenant, kind, rid) is not None for kind in kinds)


def repair(directory: Directory, tenant: str, *, indexer: Indexer) -> RepairReport:
    """Finish interrupted changes, then fix every violation `check` reports (see the module
    docstring for what is removed, what is restored and why each fix is race-safe)."""
    report = RepairReport(tenant, journals_completed=directory.complete_pending(tenant))
    snap = _snapshot(directory, tenant)
    expected = _expected(snap, indexer)
    found = _violations(snap, expected)
    report.found = len(found)
    # Each resource's ETag as this run last saw it: a fix guarded by it bumps it, and the
    # resource's next fix (a second stale row, the rows to restore) must guard the new one.
    # With the snapshot's, a resource with rows in an old key form (every caseExact=false
    # index row, when `keys.fold` changed) got one fix per run.
    owners = {key: etag for key, (_, etag) in snap.resources.items()}

    def attempt(violation: Violation, ops: list[Operation]) -> list[Any] | None:
        try:
            return directory.submit(ops, Indexes())  # deletes of rows already gone: dropped
        except StoreError:  # changed meanwhile (412), taken (409), gone (404): next run
            report.unrepaired.append(violation)
            return None

    # Removals first, so that a missing index row held by a stale one can be restored after.
    for v in found:
        if v.kind == ORPHAN_INDEX:
            ref, etag = snap.index[v.row]
            owner = _owner(v.row, ref)
            if _exists(directory, tenant, [owner[0]], ref):  # created since the snapshot
                report.unrepaired.append(v)
            elif attempt(v, [_delete(tenant, v.row, etag)]):
                report.index_rows_removed += 1
        elif v.kind == STALE_INDEX:
            ref, etag = snap.index[v.row]
            owner = _owner(v.row, ref)
            done = attempt(v, [_guard(tenant, layout.resource_key(*owner), owners[owner]),
                               _delete(tenant, v.row, etag)])
            if done:
                report.index_rows_removed += 1
                owners[owner] = _etag_of(done[0]) or owners[owner]  # the guard bumped it
        elif v.kind in (ORPHAN_MEMBERSHIP, MEMBER_GONE):
            gid, mid = layout.membership_pair(v.row)
            gone = (not _exists(directory, tenant, [GROUP], gid) if v.kind == ORPHAN_MEMBERSHIP
                    else not _exists(directory, tenant, [USER, GROUP], mid))
            if not gone:
                report.unrepaired.append(v)
            elif attempt(v, [_delete(tenant, v.row, snap.members[(gid, mid)]),
                             _delete(tenant, layout.reverse_member_key(mid, gid))]):
                report.memberships_removed += 1
        elif v.kind == MISSING_TWIN and layout.tag(v.row) == layout.MEMBER_OF:
            mid, gid = layout.membership_pair(v.row)
            if attempt(v, [_delete(tenant, v.row, snap.reverse[(mid, gid)])]):
                report.memberships_removed += 1
        elif v.kind == MISSING_TWIN:
            # M is what the group lists (what Entra was told); R is only its reverse index.
            gid, mid = layout.membership_pair(v.row)
            if attempt(v, [_guard(tenant, v.row, snap.members[(gid, mid)]),
                           upsert({"PartitionKey": tenant,
                                   "RowKey": layout.reverse_member_key(mid, gid)})]):
                report.twins_restored += 1
    for (kind, rid), rows in expected.items():
        etag = owners[(kind, rid)]
        for rk in sorted(rows):
            if snap.index.get(rk, ("", ""))[0] == rid:
                continue
            # One row per transaction: a create fails (409) while another resource still
            # holds the row, and that must not keep this resource's other rows from coming back.
            done = attempt(Violation(MISSING_INDEX, rk, f"{kind}:{rid}"),
                           [_guard(tenant, layout.resource_key(kind, rid), etag),
                            create({"PartitionKey": tenant, "RowKey": rk, "ref": rid})])
            if done:
                report.index_rows_restored += 1
                etag = _etag_of(done[0]) or etag  # the guard bumped it
    # A journal found now was started after complete_pending by a request that is running it.
    report.unrepaired += [v for v in found if v.kind == PENDING_CHANGE]
    return report


def _etag_of(result: Any) -> str:
    return str(result.get("etag", "")) if isinstance(result, dict) else ""

