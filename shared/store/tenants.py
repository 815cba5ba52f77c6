"""The tenants table: a tenant record per customer directory, each with up to two active
secret tokens (two, so a token can be rotated without downtime), and when each token was last
used. Rows as layout.py lays them out (PartitionKey = tenant id)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from pydantic import BaseModel, Field, PrivateAttr

from . import keys, layout
from .backend import Backend, Entity
from .errors import AlreadyExists, Conflict, NotFound, PreconditionFailed


class TokenRecord(BaseModel):
    """A secret token as stored: its digest and a display prefix, never the token."""

    id: str
    prefix: str
    digest: str
    created: str


class Tenant(BaseModel):
    id: str
    name: str
    created: str
    disabled: bool = False
    tokens: list[TokenRecord] = Field(default_factory=list)
    # Change feed endpoint (docs/change-feed.md). Defaults keep rows
    # written before these fields existed valid. The signing secret must be usable to sign, so
    # it is stored as is (the tenants table is as sensitive as the data); never in a repr.
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    # When set, Entra-issued JWTs for this Entra tenant are accepted besides the secret tokens
    # (shared/auth/entra_jwt.py). Off (None) by default.
    entra_tenant_id: str | None = None
    # The version of the row this record was read from: `TenantTable.save` writes only over
    # that version, so two operator commands at once cannot undo each other (a revoke is kept).
    _etag: str | None = PrivateAttr(default=None)

    def token_digests(self) -> list[str]:
        return [t.digest for t in self.tokens]


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
        (PreconditionFailed otherwise: read it again and redo the change)."""
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

    def all(self) -> Iterator[Tenant]:
        for entity in self.table.query_entities("RowKey eq @rk",
                                                parameters={"rk": layout.TENANT_ROW}):
            yield _record(entity)

    @staticmethod
    def _entity(tenant: Tenant) -> dict[str, str]:
        return {"PartitionKey": tenant.id, "RowKey": layout.TENANT_ROW, "name": tenant.name,
                "record": tenant.model_dump_json()}


def _record(entity: Entity) -> Tenant:
    tenant = Tenant.model_validate(json.loads(entity["record"]))
    tenant._etag = entity.metadata.get("etag")
    return tenant
