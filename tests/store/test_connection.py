"""The transport hook sees every storage attempt of the real SDK pipeline: what benchmarks
count and reliability tests inject faults through."""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import Settings
from shared.store import connection
from shared.store.directory import Directory, Indexes
from shared.store.errors import TransportFailed, Unavailable
from shared.store.layout import USER


@pytest.fixture
def hooks() -> Any:
    yield connection.TRANSPORT_HOOKS
    connection.TRANSPORT_HOOKS.clear()


def test_hook_counts_each_round_trip(storage_connection_string: str, tenant_id: str,
                                     hooks: list[Any]) -> None:
    tables = connection.open_tables(Settings(storage_connection_string=storage_connection_string))
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
        storage_connection_string: str, tenant_id: str, hooks: list[Any]) -> None:
    tables = connection.open_tables(Settings(storage_connection_string=storage_connection_string))
    attempts: list[int] = []

    def refuse(req: Any, send: Any) -> Any:
        attempts.append(1)
        raise TransportFailed("injected: connection refused")

    hooks.append(refuse)
    with pytest.raises(Unavailable):
        Directory(tables.data).get(tenant_id, USER, "u1")
    assert len(attempts) > 1  # the SDK's own retry policy ran before we gave up
