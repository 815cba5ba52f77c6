"""The deployment an operation works on: its settings and tables, and, when the operation runs
inside the served app, the app's service (its caches, delivery signals and queues), so that an
API call sees and updates what SCIM requests see."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..auth.signing_keys import KeyRing
from ..service.app import ScimService
from ..settings import Settings
from ..store.audit import AuditTable
from ..store.connection import Tables, open_tables
from ..store.directory import Directory
from ..store.feed_tokens import DeploymentFeedTokens
from ..store.outbox import Outbox
from ..store.runs import RunLog
from ..store.signing_keys import SigningKeyTable
from ..store.subscriptions import SubscriptionTable
from ..store.tenants import Tenant, TenantTable
from .errors import not_found


@dataclass
class Deployment:
    settings: Settings
    tables: Tables
    service: ScimService | None = None

    @classmethod
    def open(cls, settings: Settings) -> Deployment:
        """For the CLI: clients for the tables, no request made (and no table created: a
        read-only role cannot, and a read needs none)."""
        return cls(settings, open_tables(settings, operator=True))

    @classmethod
    def served(cls, service: ScimService) -> Deployment:
        return cls(service.settings, service.tables, service)

    @cached_property
    def audit(self) -> AuditTable:
        return AuditTable(self.tables.audit)

    @cached_property
    def deployment_feed_tokens(self) -> DeploymentFeedTokens:
        return DeploymentFeedTokens(self.tables.tenants)

    @cached_property
    def directory(self) -> Directory:
        # Served: the service's, whose writes signal delivery as SCIM requests' do.
        return self.service.directory if self.service is not None else Directory(
            self.tables.data)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.directory)

    @cached_property
    def runs(self) -> RunLog:
        return self.service.runs if self.service is not None else RunLog(self.tables.runs)

    @cached_property
    def signing_keys(self) -> KeyRing:
        # Served: the service's ring, so a rotation is seen by its token endpoint at once.
        return self.service.keys if self.service is not None else KeyRing(
            SigningKeyTable(self.tables.tenants))

    @cached_property
    def subscriptions(self) -> SubscriptionTable:
        return self.service.subscriptions if self.service is not None else SubscriptionTable(
            self.tables.tenants)

    @cached_property
    def tenants(self) -> TenantTable:
        return self.service.tenants if self.service is not None else TenantTable(
            self.tables.tenants)

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant's record, or a 404 that says where to find the ids."""
        record = self.tenants.get(tenant_id)
        if record is None:
            raise not_found(f"no tenant {tenant_id!r}; list the tenants (GET /manage/v1/tenants "
                            "or `python -m shared.admin tenant list`) for their ids")
        return record

    def tenant_url(self, tenant_id: str) -> str:
        return self.settings.tenant_url(tenant_id)
