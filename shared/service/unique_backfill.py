"""Values stored before an attribute was declared unique (`uniqueness: "server"`): found,
checked and indexed when the declaration is made, so the attribute is unique from then on
rather than from the reconciler's next repair pass.

`schema add` (tenant_schemas.add_schema) first looks for values the new declaration would
make duplicates, and refuses the declaration when there are any (nothing is saved). After it
is saved, the repair pass writes the missing index rows with the tenant's new indexer: each
row is created conditionally on its resource's ETag, so a write racing the declaration is
never overruled, and anything left over is reported (and retried by the reconciler).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..store import invariants
from ..store.directory import Directory
from .kinds import Kind, TenantKinds


@dataclass(frozen=True)
class Duplicate:
    """Resources holding one value of an attribute declared unique."""

    path: str  # the attribute's full path
    resource_ids: tuple[str, ...]


def duplicates(directory: Directory, tenant_id: str, kinds: TenantKinds) -> list[Duplicate]:
    """Every value of a declared unique attribute that more than one stored resource holds
    (one read of each kind that declares such an attribute; none otherwise)."""
    out: list[Duplicate] = []
    for kind in _declaring(kinds):
        holders: dict[tuple[str, str], list[str]] = {}
        wanted = {d.index: d.path for d in kind.declared_unique}
        for stored in directory.scan(tenant_id, kind.rows):
            for index, key in kind.indexes(stored.doc).unique.items():
                if index in wanted:
                    holders.setdefault((index, key), []).append(stored.id)
        out += [Duplicate(wanted[index], tuple(ids))
                for (index, _), ids in holders.items() if len(ids) > 1]
    return out


def index(directory: Directory, tenant_id: str, kinds: TenantKinds) -> invariants.RepairReport:
    """Write the index rows the tenant's declared unique attributes call for."""
    return invariants.repair(directory, tenant_id, indexer=kinds.stored_indexes)


def declares_unique(kinds: TenantKinds) -> bool:
    return any(True for _ in _declaring(kinds))


def _declaring(kinds: TenantKinds) -> Iterable[Kind]:
    return (kind for kind in (kinds.users, kinds.groups) if kind.declared_unique)
