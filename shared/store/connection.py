"""Opening the tables: a connection string locally (Azurite), the account endpoint with
DefaultAzureCredential (managed identity) in Azure; on the backend `SCIM_STORAGE_CLIENT` names
(`direct`, the default, or `sdk`: backend.py). One set per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from .backend import Backend
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
    data: Backend
    tenants: Backend
    audit: Backend
    runs: Backend
    # Opens another table of the same account on the same backend (tests' tables of their own).
    open_table: Callable[[str], Backend] = field(repr=False, compare=False)

    def ensure(self) -> None:
        """Create the tables that do not exist (an outage raises Unavailable, as any call)."""
        for table in (self.data, self.tenants, self.audit, self.runs):
            table.create_table()


def from_connection_string(text: str) -> tuple[str, Signer]:
    """The table endpoint and the signer a storage connection string names."""
    endpoint, account, key = _account(text)
    return endpoint, SharedKeyLite(account, key)


def _account(text: str) -> tuple[str, str, str]:
    """The table endpoint, account name and key a storage connection string names."""
    fields = {k.strip().lower(): v.strip() for k, _, v in
              (part.partition("=") for part in text.split(";")) if k.strip()}
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return DEV_ENDPOINT, DEV_ACCOUNT, DEV_ACCOUNT_KEY
    account, key = fields.get("accountname"), fields.get("accountkey")
    if not account or not key:
        raise StoreError(
            "SCIM_STORAGE_CONNECTION_STRING needs AccountName and AccountKey (or "
            "UseDevelopmentStorage=true); in Azure, set SCIM_STORAGE_TABLE_ENDPOINT and use "
            "the managed identity instead.")
    endpoint = fields.get("tableendpoint") or (
        f"{fields.get('defaultendpointsprotocol', 'https')}://{account}.table."
        f"{fields.get('endpointsuffix', 'core.windows.net')}")
    return endpoint, account, key


def open_tables(settings: Settings, *, operator: bool = False) -> Tables:
    """Clients for the deployment's tables (no request made). `operator`: for a person's
    command line, not the app (the credential tries no metadata endpoint it was not told of:
    see `_managed_identity`)."""
    opener = _sdk_opener(settings, operator) if settings.storage_client == "sdk" else (
        _direct_opener(settings, operator))
    return Tables(
        data=opener(settings.data_table),
        tenants=opener(settings.tenants_table),
        audit=opener(settings.audit_table),
        runs=opener(settings.runs_table),
        open_table=opener,
    )


def _direct_opener(settings: Settings, operator: bool = False) -> Callable[[str], Backend]:
    if settings.storage_connection_string:
        endpoint, signer = from_connection_string(settings.storage_connection_string)
    else:
        endpoint = _endpoint(settings)
        signer = BearerToken(_managed_identity(settings, operator))
    try:
        wire = Wire(endpoint, signer)
    except ValueError as exc:
        raise StoreError(str(exc)) from exc

    def open_table(name: str) -> Backend:
        # table.Table still has TableClient's signatures until it implements Backend.
        return Table(wire, name)

    return open_table


def _sdk_opener(settings: Settings, operator: bool = False) -> Callable[[str], Backend]:
    # Imported here: the SDK and azure-core's pipeline load only when this backend is chosen.
    from .sdk_table import SdkAccount

    credential: Any
    if settings.storage_connection_string:
        from azure.core.credentials import AzureNamedKeyCredential

        endpoint, account, key = _account(settings.storage_connection_string)
        credential = AzureNamedKeyCredential(account, key)
    else:
        endpoint = _endpoint(settings)
        credential = _managed_identity(settings, operator)
    if not endpoint.startswith(("http://", "https://")):
        raise StoreError(f"not a table endpoint URL: {endpoint!r}; expected e.g. "
                         "https://ACCOUNT.table.core.windows.net")
    return SdkAccount(endpoint, credential).table


def _endpoint(settings: Settings) -> str:
    if not settings.storage_table_endpoint:
        raise StoreError(
            "No storage configured: set SCIM_STORAGE_CONNECTION_STRING (local, e.g. "
            "UseDevelopmentStorage=true) or SCIM_STORAGE_TABLE_ENDPOINT "
            "(https://ACCOUNT.table.core.windows.net, with a managed identity) in app settings."
        )
    return settings.storage_table_endpoint


# Where a managed identity is hosted without the instance metadata endpoint (App Service and
# Functions, Cloud Shell, Azure Arc): the credential finds it through these variables.
_HOSTED_IDENTITY = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")


def _managed_identity(settings: Settings, operator: bool = False) -> Any:
    from azure.identity import DefaultAzureCredential  # only needed in Azure

    # An operator's machine signs in with `az login` (or azd, PowerShell, environment
    # variables). Outside Azure, the managed identity's probe of the instance metadata address
    # can cost up to half a minute (a proxy that answers it with 404s, which are retried) before
    # the credential gives up; so the operator's credential tries a managed identity only where
    # one is named (AZURE_CLIENT_ID) or hosted. On an Azure VM: `az login --identity`.
    hosted = settings.azure_client_id or any(os.environ.get(v) for v in _HOSTED_IDENTITY)
    return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id,
                                  exclude_managed_identity_credential=operator and not hosted)


_lock = threading.Lock()
_cached: dict[tuple[str | None, str | None, str, str], Tables] = {}


def tables_for(settings: Settings) -> Tables:
    """The process-wide client set for these settings (clients are thread-safe; reuse them)."""
    key = (settings.storage_connection_string, settings.storage_table_endpoint,
           settings.table_prefix, settings.storage_client)
    with _lock:
        if key not in _cached:
            _cached[key] = open_tables(settings)
        return _cached[key]
