"""The tenants table: one row per tenant (PartitionKey = tenant id, RowKey = "tenant")."""

from __future__ import annotations

import json
from collections.abc import Iterator

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from ..auth.tenants import Tenant
from .errors import Conflict, NotFound
from .faults import unavailable_on_failure
from .table import Table

_ROW = "tenant"


class TenantTable:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Tenant | None:
        try:
            with unavailable_on_failure():  # auth reads this: an outage is a 503, not a 500
                entity = self.table.get_entity(tenant_id, _ROW)
        except ResourceNotFoundError:
            return None
        return Tenant.model_validate(json.loads(entity["record"]))

    def create(self, tenant: Tenant) -> None:
        try:
            self.table.create_entity(self._entity(tenant))
        except ResourceExistsError as exc:
            raise Conflict("tenant") from exc

    def save(self, tenant: Tenant) -> None:
        try:
            self.table.update_entity(self._entity(tenant), mode=UpdateMode.REPLACE,
                                     match_condition=MatchConditions.Unconditionally)
        except ResourceNotFoundError as exc:
            raise NotFound(tenant.id) from exc

    def delete(self, tenant_id: str) -> None:
        self.table.delete_entity(tenant_id, _ROW)

    # Last use of each token: a row of its own (RowKey "use:{token id}"), so recording it never
    # races with an operator's change of the tenant record (a revoke must not be undone).
    def record_use(self, tenant_id: str, token_id: str, when: str) -> None:
        with unavailable_on_failure():
            self.table.upsert_entity({"PartitionKey": tenant_id, "RowKey": f"use:{token_id}",
                                      "lastUsed": when}, mode=UpdateMode.MERGE)

    def last_uses(self, tenant_id: str) -> dict[str, str]:
        with unavailable_on_failure():
            rows = self.table.query_entities(
                "PartitionKey eq @pk and RowKey ge 'use:' and RowKey lt 'use;'",
                parameters={"pk": tenant_id})
            return {str(r["RowKey"])[4:]: str(r["lastUsed"]) for r in rows}

    def all(self) -> Iterator[Tenant]:
        for entity in self.table.query_entities("RowKey eq @rk", parameters={"rk": _ROW}):
            yield Tenant.model_validate(json.loads(entity["record"]))

    @staticmethod
    def _entity(tenant: Tenant) -> dict[str, str]:
        return {"PartitionKey": tenant.id, "RowKey": _ROW, "name": tenant.name,
                "record": tenant.model_dump_json()}
