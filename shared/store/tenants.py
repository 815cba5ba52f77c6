"""The tenants table: a tenant record per customer directory, each with up to two active
secret tokens (two, so a token can be rotated without downtime), the custom schemas it
declared, when each token was last used, and which undeclared attributes Entra has sent it.
Rows as layout.py lays them out (PartitionKey = tenant id)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from . import backend, keys, layout
from .backend import Backend, Entity, Operation
from .errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    TooLarge,
    TransactionFailed,
)
from .long_text import join_text, split_text

# The record's JSON, in UTF-16 code units (what Table Storage counts): split across properties
# of 30,000 units (long_text.py), it must leave room in the entity's 1 MiB for the rest. Half
# of it is far more than ten schemas of a hundred attributes take.
MAX_RECORD_UNITS = 256 * 1024
# Distinct undeclared names kept per tenant; sightings of further names are only counted (in
# one row), so a client sending ever new names cannot grow the partition without bound.
MAX_UNDECLARED_NAMES = 200
_TRANSACTION_OPERATIONS = 100  # Table Storage's limit per entity-group transaction
_UNDECLARED_ATTEMPTS = 4  # another instance merging the same rows at once: read again, redo


class TokenRecord(BaseModel):
    """A secret token as stored: its digest and a display prefix, never the token."""

    id: str
    prefix: str
    digest: str
    created: str


class FeedTokenRecord(BaseModel):
    """A feed credential of the pull API as stored: its digest, never the token."""

    id: str
    digest: str
    created: str


class ClientSecretRecord(BaseModel):
    """A client secret as stored: its digest, a display prefix and when it expires (ISO 8601
    UTC), never the secret."""

    id: str
    prefix: str
    digest: str
    created: str
    expires: str


class FederatedCredential(BaseModel):
    """Trust in assertions Entra signs for a workload identity (RFC 7523 client
    authentication): accepted when issued by `entra_tenant_id`'s v2.0 issuer for `audience`
    about `subject`."""

    id: str
    entra_tenant_id: str
    subject: str
    audience: str
    created: str


class OAuthClient(BaseModel):
    """An OAuth 2.0 client of the token endpoint: its id identifies the tenant; it holds up to
    two secrets (rotation) and optionally a federated credential."""

    id: str
    name: str = ""
    created: str
    secrets: list[ClientSecretRecord] = Field(default_factory=list)
    federation: FederatedCredential | None = None

    def credential_ids(self) -> set[str]:
        ids = {s.id for s in self.secrets}
        if self.federation is not None:
            ids.add(self.federation.id)
        return ids


# How a SCIM request may authenticate for a tenant: its Secret Tokens, access tokens from the
# token endpoint. (Entra-issued JWTs have their own switch: `entra_tenant_id`.)
AuthMethod = Literal["secret-token", "oauth"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("secret-token", "oauth")


class Tenant(BaseModel):
    id: str
    name: str
    created: str
    disabled: bool = False
    # When its offboarding began (ISO 8601 UTC; shared/manage/tenants.py delete_tenant): its
    # rows are being purged and the record goes last. Refused like a disabled tenant, skipped
    # by delivery and the reconciler, and never enabled again. None: not being deleted.
    deleting_since: str | None = None
    tokens: list[TokenRecord] = Field(default_factory=list)
    # Change feed endpoint (docs/change-feed.md). Defaults keep rows
    # written before these fields existed valid. The signing secret must be usable to sign, so
    # it is stored as is (the tenants table is as sensitive as the data); never in a repr.
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    # Event-type patterns the webhook receives (feed/filters.py); empty: every type.
    webhook_types: list[str] = Field(default_factory=list)
    # When set, Entra-issued JWTs for this Entra tenant are accepted besides the secret tokens
    # (shared/auth/entra_jwt.py). Off (None) by default.
    entra_tenant_id: str | None = None
    # Custom extension schemas the tenant declared: RFC 7643 §7 schema documents as given,
    # each with "resourceType" (User or Group) added (shared/service/tenant_schemas.py).
    schemas: list[dict[str, Any]] = Field(default_factory=list)
    # What a request carrying an attribute no schema declares gets: stored as sent, or a 400.
    undeclared: Literal["capture", "reject"] = "capture"
    # OAuth 2.0 clients of the token endpoint (shared/auth/clients.py) and which ways of
    # authenticating SCIM requests the tenant accepts: a gallery listing wants "oauth" only.
    clients: list[OAuthClient] = Field(default_factory=list)
    auth_methods: list[AuthMethod] = Field(default_factory=lambda: list(AUTH_METHODS))
    # Credentials of the pull API (shared/auth/feed_tokens.py), up to two (rotation): distinct
    # from the Secret Tokens, which never read the feed (nor these SCIM).
    feed_tokens: list[FeedTokenRecord] = Field(default_factory=list)
    # The version of the row this record was read from: `TenantTable.save` writes only over
    # that version, so two operator commands at once cannot undo each other (a revoke is kept).
    _etag: str | None = PrivateAttr(default=None)

    @property
    def deleting(self) -> bool:
        return self.deleting_since is not None

    @property
    def refused(self) -> bool:
        """True when no request may authenticate for the tenant (disabled or being deleted)."""
        return self.disabled or self.deleting

    def token_digests(self) -> list[str]:
        return [t.digest for t in self.tokens]

    def client(self, client_id: str) -> OAuthClient | None:
        return next((c for c in self.clients if c.id == client_id), None)


@dataclass(frozen=True)
class UndeclaredAttribute:
    """An attribute no schema of the tenant declared, as Entra sent it: the path as first sent
    (`urn:…:CustomExtensionName:2.0:User:CustomAttribute`, `fooBar`), the resource type, when
    it was first and last recorded, how many times, and the JSON types of its values
    (string, boolean, number, object, array)."""

    path: str
    resource_type: str
    first_seen: str
    last_seen: str
    count: int
    types: tuple[str, ...]


@dataclass(frozen=True)
class UndeclaredOverflow:
    """Sightings of undeclared names beyond MAX_UNDECLARED_NAMES, counted but not named."""

    first_seen: str
    last_seen: str
    count: int


@dataclass
class _Sightings:
    path: str
    resource_type: str
    count: int
    types: set[str]


class TenantTable:
    def __init__(self, table: Backend) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Tenant | None:
        try:
            entity = self.table.get_entity(tenant_id, layout.TENANT_ROW)
        except NotFound:
            return None
        return _record(entity)

    def create(self, tenant: Tenant) -> None:
        try:
            written = self.table.create_entity(self._entity(tenant))
        except AlreadyExists as exc:
            raise Conflict("tenant") from exc
        tenant._etag = written.get("etag")

    def save(self, tenant: Tenant) -> None:
        """Replace the record, only while the row is still the version it was read from
        (PreconditionFailed otherwise: read it again and redo the change). TooLarge when the
        record exceeds MAX_RECORD_UNITS (nothing is written)."""
        try:
            written = self.table.update_entity(self._entity(tenant), mode="replace",
                                               etag=tenant._etag)
        except NotFound as exc:
            raise NotFound(tenant.id) from exc
        except PreconditionFailed as exc:
            raise PreconditionFailed(tenant.id) from exc
        tenant._etag = written.get("etag")

    def delete(self, tenant_id: str) -> None:
        self.table.delete_entity(tenant_id, layout.TENANT_ROW)

    # Last use of each token: a row of its own, so recording it never races with an
    # operator's change of the tenant record (a revoke must not be undone).
    def record_use(self, tenant_id: str, token_id: str, when: str) -> None:
        self.table.upsert_entity({"PartitionKey": tenant_id,
                                  "RowKey": layout.token_use_key(token_id),
                                  "lastUsed": when}, mode="merge")

    def last_uses(self, tenant_id: str) -> dict[str, str]:
        low, high = keys.prefix_range(layout.TOKEN_USE_PREFIX)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant_id, "lo": low, "hi": high})
        return {layout.token_of_use(str(r["RowKey"])): str(r["lastUsed"]) for r in rows}

    # Undeclared attributes: rows of their own, merged after a SCIM write has committed (never
    # in its transaction), so bookkeeping neither slows nor fails what it records.
    def record_undeclared(self, tenant_id: str,
                          seen: Sequence[tuple[str, str, str]] | Mapping[tuple[str, str, str],
                                                                         int],
                          when: str) -> None:
        """Add sightings of undeclared attributes, (path, resource type, JSON value type)
        each: a sequence counts each item once, a mapping gives each item's count. Rows merge
        on their ETag (a concurrent merge is read again and redone); names beyond
        MAX_UNDECLARED_NAMES go to the overflow row. PreconditionFailed when other writers
        kept winning."""
        counts = seen if isinstance(seen, Mapping) else Counter(seen)
        wanted: dict[str, _Sightings] = {}
        for (path, resource_type, value_type), count in counts.items():
            if count <= 0:
                continue
            key = layout.undeclared_key(resource_type, path)
            entry = wanted.setdefault(key, _Sightings(path, resource_type, 0, set()))
            entry.count += count
            entry.types.add(value_type)
        for _ in range(_UNDECLARED_ATTEMPTS):
            if not wanted:
                return
            operations = self._undeclared_merges(tenant_id, wanted, when)
            for start in range(0, len(operations), _TRANSACTION_OPERATIONS):
                chunk = operations[start:start + _TRANSACTION_OPERATIONS]
                try:
                    self.table.submit_transaction(chunk)
                except TransactionFailed as exc:
                    if isinstance(exc.error, PreconditionFailed | AlreadyExists):
                        break  # what this chunk read is stale: read again, redo the rest
                    raise exc.error from exc
                for op in chunk:
                    wanted.pop(op.row_key, None)
            else:
                return
        raise PreconditionFailed(tenant_id)

    def _undeclared_merges(self, tenant_id: str, wanted: Mapping[str, _Sightings],
                           when: str) -> list[Operation]:
        low, high = keys.prefix_range(layout.UNDECLARED_PREFIX)
        rows = {str(r["RowKey"]): r for r in self.table.query_entities(
            "PartitionKey eq @pk and ((RowKey ge @lo and RowKey lt @hi) or RowKey eq @over)",
            parameters={"pk": tenant_id, "lo": low, "hi": high,
                        "over": layout.UNDECLARED_OVERFLOW_ROW})}
        overflow = rows.pop(layout.UNDECLARED_OVERFLOW_ROW, None)
        named = len(rows)
        operations: list[Operation] = []
        beyond = 0
        for key, sightings in wanted.items():
            row = rows.get(key)
            if row is None and named >= MAX_UNDECLARED_NAMES:
                beyond += sightings.count
                continue
            entity = _merged(row, tenant_id, key, when, sightings.count) | {
                "name": str(row["name"]) if row else sightings.path,
                "resourceType": sightings.resource_type,
                "types": ",".join(sorted(sightings.types | _types_of(row))),
            }
            if row is None:
                named += 1
                operations.append(backend.create(entity))
            else:
                operations.append(backend.update(entity, "replace",
                                                 etag=row.metadata.get("etag")))
        if beyond:
            entity = _merged(overflow, tenant_id, layout.UNDECLARED_OVERFLOW_ROW, when, beyond)
            operations.append(backend.create(entity) if overflow is None else backend.update(
                entity, "replace", etag=overflow.metadata.get("etag")))
        return operations

    def undeclared(self, tenant_id: str) -> list[UndeclaredAttribute]:
        """Every undeclared attribute recorded for the tenant, by resource type and path."""
        low, high = keys.prefix_range(layout.UNDECLARED_PREFIX)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": tenant_id, "lo": low, "hi": high})
        return [UndeclaredAttribute(
            path=str(r["name"]), resource_type=str(r["resourceType"]),
            first_seen=str(r["firstSeen"]), last_seen=str(r["lastSeen"]), count=int(r["count"]),
            types=tuple(sorted(_types_of(r)))) for r in rows]

    def undeclared_overflow(self, tenant_id: str) -> UndeclaredOverflow | None:
        """Sightings of names beyond MAX_UNDECLARED_NAMES; None when there were none."""
        try:
            row = self.table.get_entity(tenant_id, layout.UNDECLARED_OVERFLOW_ROW)
        except NotFound:
            return None
        return UndeclaredOverflow(first_seen=str(row["firstSeen"]),
                                  last_seen=str(row["lastSeen"]), count=int(row["count"]))

    def all(self) -> Iterator[Tenant]:
        for entity in self.table.query_entities("RowKey eq @rk",
                                                parameters={"rk": layout.TENANT_ROW}):
            yield _record(entity)

    @staticmethod
    def _entity(tenant: Tenant) -> dict[str, str]:
        record = tenant.model_dump_json()
        if (units := record_units(record)) > MAX_RECORD_UNITS:
            raise TooLarge(f"the record of tenant {tenant.id} is {units} UTF-16 code units of "
                           f"JSON; at most {MAX_RECORD_UNITS} are stored")
        # Split as long text: a record of many schemas outgrows one property's 64 KiB.
        return {"PartitionKey": tenant.id, "RowKey": layout.TENANT_ROW, "name": tenant.name,
                **split_text(record, "record")}


def record_units(record_json: str) -> int:
    """The size Table Storage counts a record's JSON by: UTF-16 code units."""
    if record_json.isascii():
        return len(record_json)
    return len(record_json.encode("utf-16-le", "surrogatepass")) // 2


def _record(entity: Entity) -> Tenant:
    # Records written before the split are a single `record` property: join_text reads both.
    tenant = Tenant.model_validate(json.loads(join_text(entity, "record")))
    tenant._etag = entity.metadata.get("etag")
    return tenant


def _merged(row: Entity | None, tenant_id: str, key: str, when: str,
            count: int) -> dict[str, Any]:
    """A registry row's counters after `count` more sightings at `when`."""
    first = str(row["firstSeen"]) if row else when
    last = max(str(row["lastSeen"]), when) if row else when
    return {"PartitionKey": tenant_id, "RowKey": key, "firstSeen": min(first, when),
            "lastSeen": last, "count": (int(row["count"]) if row else 0) + count}


def _types_of(row: Entity | None) -> set[str]:
    return {t for t in str(row["types"]).split(",") if t} if row else set()
