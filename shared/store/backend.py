"""What the store asks of Table Storage, whichever client carries it: the `Backend` protocol,
the entities it returns and the typed write operations it applies.

Two backends implement it (setting `SCIM_STORAGE_CLIENT`): `direct` (table.py over wire.py, the
default: a fraction of the SDK's CPU per call) and `sdk` (sdk_table.py over azure-data-tables'
`TableClient`). Both raise only store errors (errors.py), so the store above them cannot tell
them apart; tests/store runs on both to keep it that way.

Entity values are str, bool, int (Edm.Int32, or Edm.Int64 beyond 32 bits) and float
(Edm.Double), as the store writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Mode = Literal["merge", "replace"]  # MERGE keeps properties not named; REPLACE drops them
Verb = Literal["create", "update", "upsert", "delete"]


class Entity(dict[str, Any]):
    """A row as read: its properties (PartitionKey and RowKey included), and `metadata` with
    its `etag` and `timestamp`."""

    metadata: dict[str, Any]

    def __init__(self, properties: Mapping[str, Any] = (), /,  # type: ignore[assignment]
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.metadata = metadata if metadata is not None else {}


Metadata = dict[str, Any]  # a write's outcome: {"etag": the row's new ETag, "date": ...}


@dataclass(frozen=True, slots=True)
class MemberGuard:
    """Marks an empty MERGE of a member's own row that guards the `unit` operations from it on
    (journal.member_guard): when the member is gone, `alt` (its other kind) is tried, then the
    unit is dropped."""

    unit: int
    alt: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """One write of an entity-group transaction. `etag` makes an update or delete conditional
    on that version (412 otherwise); without it they apply to whatever exists (404 if
    nothing). Upserts are never conditional; `mode` applies to updates and upserts."""

    verb: Verb
    entity: Mapping[str, Any]
    mode: Mode = "merge"
    etag: str | None = None
    guard: MemberGuard | None = None

    @property
    def row_key(self) -> str:
        return str(self.entity.get("RowKey", ""))


def create(entity: Mapping[str, Any]) -> Operation:
    return Operation("create", entity)


def update(entity: Mapping[str, Any], mode: Mode = "merge", *,
           etag: str | None = None) -> Operation:
    return Operation("update", entity, mode, etag)


def upsert(entity: Mapping[str, Any], mode: Mode = "merge") -> Operation:
    return Operation("upsert", entity, mode)


def delete(partition_key: str, row_key: str, *, etag: str | None = None) -> Operation:
    return Operation("delete", {"PartitionKey": partition_key, "RowKey": row_key}, etag=etag)


class Backend(Protocol):
    """Entity operations on one table (thread-safe; share one per process)."""

    table_name: str

    def get_entity(self, partition_key: str, row_key: str, *,
                   select: Sequence[str] | None = None) -> Entity:
        """NotFound when there is no such row."""
        ...

    def query_entities(self, query_filter: str, *, parameters: Mapping[str, Any] | None = None,
                       select: Sequence[str] | None = None,
                       results_per_page: int | None = None) -> Iterator[Entity]:
        """Rows matching an OData filter, following continuations. `@name` in the filter is
        replaced by the typed literal of `parameters[name]`: values never reach the filter
        text any other way."""
        ...

    def create_entity(self, entity: Mapping[str, Any]) -> Metadata:
        """AlreadyExists when the row exists."""
        ...

    def update_entity(self, entity: Mapping[str, Any], mode: Mode = "merge", *,
                      etag: str | None = None) -> Metadata:
        """NotFound when the row is gone; PreconditionFailed when `etag` is given and the row
        has another."""
        ...

    def upsert_entity(self, entity: Mapping[str, Any], mode: Mode = "merge") -> Metadata: ...

    def delete_entity(self, partition_key: str, row_key: str, *,
                      etag: str | None = None) -> None:
        """A row already gone is not an error; PreconditionFailed when `etag` no longer
        matches."""
        ...

    def submit_transaction(self, operations: Sequence[Operation]) -> list[Metadata]:
        """Apply operations on one partition atomically; each one's metadata, in order.
        TransactionFailed names a refused operation (and nothing was written)."""
        ...

    def create_table(self) -> None:
        """Create this table unless it exists."""
        ...
