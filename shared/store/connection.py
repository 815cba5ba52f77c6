"""Opening the tables: a connection string locally (Azurite), the account endpoint with
DefaultAzureCredential (managed identity) in Azure. One set per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..settings import Settings
from .errors import StoreError
from .table import Table
from .wire import TRANSPORT_HOOKS, BearerToken, SharedKeyLite, Signer, TransportHook, Wire

__all__ = ["DEV_ACCOUNT", "DEV_ACCOUNT_KEY", "DEV_ENDPOINT", "TRANSPORT_HOOKS", "Tables",
           "TransportHook", "from_connection_string", "open_tables", "tables_for"]

# Azurite's well-known development account (UseDevelopmentStorage=true).
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                   "KBHBeksoGMGw==")
DEV_ENDPOINT = "http://127.0.0.1:10002/devstoreaccount1"


@dataclass(frozen=True)
class Tables:
    data: Table
    tenants: Table
    audit: Table
    runs: Table

    def ensure(self) -> None:
        for table in (self.data, self.tenants, self.audit, self.runs):
            table.create_table()


def from_connection_string(text: str) -> tuple[str, Signer]:
    """The table endpoint and the signer a storage connection string names."""
    fields = {k.strip().lower(): v.strip() for k, _, v in
              (part.partition("=") for part in text.split(";")) if k.strip()}
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return DEV_ENDPOINT, SharedKeyLite(DEV_ACCOUNT, DEV_ACCOUNT_KEY)
    account, key = fields.get("accountname"), fields.get("accountkey")
    if not account or not key:
        raise StoreError(
            "SCIM_STORAGE_CONNECTION_STRING needs AccountName and AccountKey (or "
            "UseDevelopmentStorage=true); in Azure, set SCIM_STORAGE_TABLE_ENDPOINT and use "
            "the managed identity instead.")
    endpoint = fields.get("tableendpoint") or (
        f"{fields.get('defaultendpointsprotocol', 'https')}://{account}.table."
        f"{fields.get('endpointsuffix', 'core.windows.net')}")
    return endpoint, SharedKeyLite(account, key)


def open_tables(settings: Settings) -> Tables:
    if settings.storage_connection_string:
        endpoint, signer = from_connection_string(settings.storage_connection_string)
    elif settings.storage_table_endpoint:
        from azure.identity import DefaultAzureCredential  # only needed in Azure

        endpoint = settings.storage_table_endpoint
        signer = BearerToken(DefaultAzureCredential(
            managed_identity_client_id=settings.azure_client_id))
    else:
        raise StoreError(
            "No storage configured: set SCIM_STORAGE_CONNECTION_STRING (local, e.g. "
            "UseDevelopmentStorage=true) or SCIM_STORAGE_TABLE_ENDPOINT "
            "(https://ACCOUNT.table.core.windows.net, with a managed identity) in app settings."
        )
    try:
        wire = Wire(endpoint, signer)
    except ValueError as exc:
        raise StoreError(f"{exc}; expected e.g. https://ACCOUNT.table.core.windows.net") from exc
    return Tables(
        data=Table(wire, settings.data_table),
        tenants=Table(wire, settings.tenants_table),
        audit=Table(wire, settings.audit_table),
        runs=Table(wire, settings.runs_table),
    )


_lock = threading.Lock()
_cached: dict[tuple[str | None, str | None, str], Tables] = {}


def tables_for(settings: Settings) -> Tables:
    """The process-wide client set for these settings (clients are thread-safe; reuse them)."""
    key = (settings.storage_connection_string, settings.storage_table_endpoint,
           settings.table_prefix)
    with _lock:
        if key not in _cached:
            _cached[key] = open_tables(settings)
        return _cached[key]
