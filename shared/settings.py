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
    entra_jwks_url: str = Field(
        "https://login.microsoftonline.com/{tid}/discovery/keys",
        description="SCIM_ENTRA_JWKS_URL: where Entra's token signing keys are fetched for "
        "tenants that accept Entra-issued JWTs ({tid} = their Entra tenant id).",
    )
    storage_deadline_seconds: float = Field(
        10.0, gt=0, le=50, description="SCIM_STORAGE_DEADLINE_SECONDS: the storage calls of one "
        "SCIM request end by this long after it arrived; then it answers 503 with Retry-After. "
        "Entra waits about a minute; a storage call that answers usually takes milliseconds, "
        "and the retries of a throttled one sleep 2.4 s in all.")
    reconcile_schedule: str = Field(
        "0 */15 * * * *", description="RECONCILE_SCHEDULE: NCRONTAB (UTC) of the reconciler."
    )
    # Change feed, reconciler and audit log (README: "Change feed, reconciler and audit").
    reconcile_budget_seconds: float = Field(
        240.0, description="SCIM_RECONCILE_BUDGET_SECONDS: a run stops starting work after this "
        "long and the next tick resumes (keep it well below the schedule interval).")
    webhook_max_attempts: int = Field(
        12, ge=1, description="SCIM_WEBHOOK_MAX_ATTEMPTS: delivery attempts before an event is "
        "dead-lettered.")
    webhook_backoff_seconds: float = Field(
        60.0, gt=0, description="SCIM_WEBHOOK_BACKOFF_SECONDS: delay after the first failed "
        "attempt; doubles per attempt, with jitter.")
    webhook_backoff_max_seconds: float = Field(
        21_600.0, gt=0, description="SCIM_WEBHOOK_BACKOFF_MAX_SECONDS: longest delay between "
        "attempts.")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="SCIM_WEBHOOK_TIMEOUT_SECONDS: timeout of one webhook request.")
    feed_hold_days: float = Field(
        7.0, ge=0, description="SCIM_FEED_HOLD_DAYS: events of a tenant without a webhook are "
        "kept this long, then discarded.")
    repair_interval_hours: float = Field(
        24.0, ge=0, description="SCIM_REPAIR_INTERVAL_HOURS: how often each tenant's store "
        "invariants are checked and repaired (a full read of its partition); 0 = every run.")
    retention_days: float = Field(
        0.0, ge=0, description="SCIM_RETENTION_DAYS: hard-delete users deactivated longer than "
        "this; 0 = off.")
    audit_retention_days: float = Field(
        90.0, ge=0, description="SCIM_AUDIT_RETENTION_DAYS: audit entries older than this are "
        "purged; 0 = kept forever.")

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
    "storage_deadline_seconds": "SCIM_STORAGE_DEADLINE_SECONDS",
    "reconcile_schedule": "RECONCILE_SCHEDULE",
    "entra_jwks_url": "SCIM_ENTRA_JWKS_URL",
    "reconcile_budget_seconds": "SCIM_RECONCILE_BUDGET_SECONDS",
    "webhook_max_attempts": "SCIM_WEBHOOK_MAX_ATTEMPTS",
    "webhook_backoff_seconds": "SCIM_WEBHOOK_BACKOFF_SECONDS",
    "webhook_backoff_max_seconds": "SCIM_WEBHOOK_BACKOFF_MAX_SECONDS",
    "webhook_timeout_seconds": "SCIM_WEBHOOK_TIMEOUT_SECONDS",
    "feed_hold_days": "SCIM_FEED_HOLD_DAYS",
    "repair_interval_hours": "SCIM_REPAIR_INTERVAL_HOURS",
    "retention_days": "SCIM_RETENTION_DAYS",
    "audit_retention_days": "SCIM_AUDIT_RETENTION_DAYS",
}


def from_environ(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for field, name in _ENV.items() if env.get(name)}
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def current() -> Settings:
    """Settings of this process, read once (the Functions host restarts on setting changes)."""
    return from_environ()
