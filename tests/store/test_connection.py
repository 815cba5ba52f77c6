"""Opening the tables on the chosen backend (SCIM_STORAGE_CLIENT), and the transport hook, which
sees every storage attempt: what benchmarks count and reliability tests inject faults
through."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings, SettingsError, from_environ
from shared.store import connection
from shared.store.directory import Directory, Indexes
from shared.store.errors import StoreError, TransportFailed, Unavailable
from shared.store.layout import USER
from shared.store.sdk_table import SdkTable
from shared.store.table import Table
from tests.support.storage_faults import own_thread_hooks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hooks() -> Iterator[list[Any]]:
    """The test's hooks, for its own thread's requests (the session's app writes its audit log
    from a thread of its own, through the same process-wide hooks)."""
    with own_thread_hooks() as mine:
        yield mine


def test_hook_counts_each_round_trip(storage_settings: dict[str, str], tenant_id: str,
                                     hooks: list[Any]) -> None:
    tables = connection.open_tables(Settings(**storage_settings))
    tables.ensure()
    seen: list[str] = []
    hooks.append(lambda req, send: (seen.append(req.method), send(req))[1])
    directory = Directory(tables.data)
    directory.create(tenant_id, USER, "u1", {"userName": "a"}, Indexes(unique={"UN": "a"}),
                     columns={}, now="2026-01-01T00:00:00Z")
    assert seen == ["POST"]  # one entity-group transaction
    directory.get(tenant_id, USER, "u1")
    assert seen == ["POST", "GET"]


def test_injected_connection_failures_are_retried_then_reported(
        storage_settings: dict[str, str], tenant_id: str, hooks: list[Any]) -> None:
    tables = connection.open_tables(Settings(**storage_settings))
    attempts: list[int] = []

    def refuse(req: Any, send: Any) -> Any:
        attempts.append(1)
        raise TransportFailed("injected: connection refused")

    hooks.append(refuse)
    with pytest.raises(Unavailable):
        Directory(tables.data).get(tenant_id, USER, "u1")
    assert len(attempts) > 1  # the SDK's own retry policy ran before we gave up


# -- choosing the backend (SCIM_STORAGE_CLIENT) ------------------------------------------------

def test_the_direct_backend_is_the_default(storage_connection_string: str) -> None:
    settings = from_environ({"SCIM_STORAGE_CONNECTION_STRING": storage_connection_string})
    tables = connection.open_tables(settings)
    assert settings.storage_client == "direct"
    assert all(type(t) is Table for t in (tables.data, tables.tenants, tables.audit,
                                          tables.runs))
    assert type(tables.open_table("scimextra")) is Table


def test_scim_storage_client_sdk_gives_the_sdk_backend(storage_connection_string: str) -> None:
    tables = connection.open_tables(from_environ({
        "SCIM_STORAGE_CONNECTION_STRING": storage_connection_string,
        "SCIM_STORAGE_CLIENT": "sdk"}))
    assert all(type(t) is SdkTable for t in (tables.data, tables.tenants, tables.audit,
                                             tables.runs))
    assert [t.table_name for t in (tables.data, tables.tenants, tables.audit, tables.runs)] == [
        "scimdata", "scimtenants", "scimaudit", "scimruns"]
    tables.ensure()
    extra = tables.open_table("sdk" + uuid.uuid4().hex[:12])
    assert type(extra) is SdkTable
    extra.create_table()
    extra.create_entity({"PartitionKey": "p", "RowKey": "r", "n": 2**40})
    assert extra.get_entity("p", "r")["n"] == 2**40


def test_the_sdk_backend_reads_development_storage_connection_strings() -> None:
    tables = connection.open_tables(Settings(
        storage_connection_string="UseDevelopmentStorage=true", storage_client="sdk"))
    assert isinstance(tables.data, SdkTable)


def test_the_sdk_backend_refuses_what_the_direct_one_refuses() -> None:
    with pytest.raises(StoreError, match="AccountName and AccountKey"):
        connection.open_tables(Settings(storage_connection_string="AccountName=a",
                                        storage_client="sdk"))
    with pytest.raises(StoreError, match="No storage configured"):
        connection.open_tables(Settings(storage_client="sdk"))
    with pytest.raises(StoreError, match="not a table endpoint"):
        connection.open_tables(Settings(storage_table_endpoint="ACCOUNT.table.core.windows.net",
                                        storage_client="sdk"))


def test_an_unknown_storage_client_is_a_settings_error_naming_the_choices() -> None:
    with pytest.raises(SettingsError) as info:
        from_environ({"SCIM_STORAGE_CLIENT": "azure"})
    assert "SCIM_STORAGE_CLIENT='azure'" in str(info.value)
    assert "'direct' or 'sdk'" in str(info.value)


def test_the_sdk_backend_loads_only_when_chosen() -> None:
    # The direct backend is the default; the SDK backend's imports cost time at cold start.
    code = ("import sys; from shared.settings import Settings; "
            "from shared.store import connection; "
            "connection.open_tables(Settings(storage_connection_string="
            "'UseDevelopmentStorage=true')); "
            "print([m for m in ('shared.store.sdk_table',) if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "[]", out


@pytest.mark.parametrize(("operator", "environ", "managed"), [
    (False, {}, True),  # the app: its managed identity, wherever it runs
    (True, {}, False),  # an operator's machine: az login & co, no metadata endpoint probe
    (True, {"AZURE_CLIENT_ID": "c0ffee00-0000-0000-0000-000000000001"}, True),  # named
    (True, {"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token"}, True),  # hosted (Functions)
    (True, {"MSI_ENDPOINT": "http://127.0.0.1:1/msi/token"}, True),  # hosted (Cloud Shell)
])
def test_the_operators_credential_tries_a_managed_identity_only_where_there_is_one(
        monkeypatch: pytest.MonkeyPatch, operator: bool, environ: dict[str, str],
        managed: bool) -> None:
    from azure.identity import ManagedIdentityCredential

    for name in ("AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = from_environ({"SCIM_STORAGE_TABLE_ENDPOINT": "https://a.table.core.windows.net",
                             **environ})
    credential = connection._managed_identity(settings, operator)
    kinds = [type(c) for c in credential.credentials]
    assert (ManagedIdentityCredential in kinds) is managed
