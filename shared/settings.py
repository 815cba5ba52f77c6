"""Configuration from app settings (environment variables). One place lists every setting."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:7071"


class Settings(BaseModel):
    """Every app setting the connector reads; README's configuration reference mirrors this."""

    storage_connection_string: str | None = Field(
        None, description="SCIM_STORAGE_CONNECTION_STRING: local/Azurite connection string."
    )
    storage_table_endpoint: str | None = Field(
        None, description="SCIM_STORAGE_TABLE_ENDPOINT: https://ACCOUNT.table.core.windows.net "
        "(used with managed identity when no connection string is set)."
    )
    azure_client_id: str | None = Field(
        None, description="AZURE_CLIENT_ID: client id of the user-assigned managed identity."
    )
    table_prefix: str = Field("scim", description="SCIM_TABLE_PREFIX: prefix of table names.")
    public_base_url: str = Field(
        DEFAULT_PUBLIC_BASE_URL,
        description="SCIM_PUBLIC_BASE_URL: scheme://host[:port] that Entra uses to reach us.",
    )
    max_results: int = Field(200, description="SCIM_MAX_RESULTS: page size cap for list/filter.")
    max_payload_bytes: int = Field(
        1_048_576, description="SCIM_MAX_PAYLOAD_BYTES: largest accepted request body."
    )
    reconcile_schedule: str = Field(
        "0 */15 * * * *", description="RECONCILE_SCHEDULE: NCRONTAB (UTC) of the reconciler."
    )

    @property
    def data_table(self) -> str:
        return f"{self.table_prefix}data"

    @property
    def tenants_table(self) -> str:
        return f"{self.table_prefix}tenants"

    @property
    def audit_table(self) -> str:
        return f"{self.table_prefix}audit"

    @property
    def runs_table(self) -> str:
        return f"{self.table_prefix}runs"

    def tenant_url(self, tenant_id: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/scim/v2/{tenant_id}"


_ENV = {
    "storage_connection_string": "SCIM_STORAGE_CONNECTION_STRING",
    "storage_table_endpoint": "SCIM_STORAGE_TABLE_ENDPOINT",
    "azure_client_id": "AZURE_CLIENT_ID",
    "table_prefix": "SCIM_TABLE_PREFIX",
    "public_base_url": "SCIM_PUBLIC_BASE_URL",
    "max_results": "SCIM_MAX_RESULTS",
    "max_payload_bytes": "SCIM_MAX_PAYLOAD_BYTES",
    "reconcile_schedule": "RECONCILE_SCHEDULE",
}


def from_environ(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for field, name in _ENV.items() if env.get(name)}
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def current() -> Settings:
    """Settings of this process, read once (the Functions host restarts on setting changes)."""
    return from_environ()
