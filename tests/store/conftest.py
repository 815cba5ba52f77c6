from __future__ import annotations

import os
import uuid

import pytest

from shared.settings import Settings
from shared.store.backend import Backend
from shared.store.connection import Tables, tables_for
from shared.store.directory import Directory


@pytest.fixture(scope="session")
def tables(storage_settings: dict[str, str]) -> Tables:
    """The test storage on the backend SCIM_STORAGE_CLIENT names (`direct` unless set), so
    `SCIM_STORAGE_CLIENT=sdk pytest tests/store` runs the store's tests on the SDK."""
    t = tables_for(Settings(**storage_settings,
                            storage_client=os.environ.get("SCIM_STORAGE_CLIENT") or "direct"))
    t.ensure()
    return t


@pytest.fixture
def directory(tables: Tables) -> Directory:
    return Directory(tables.data)


@pytest.fixture
def empty_table(tables: Tables) -> Backend:
    """A table of its own for one test, on the configured backend: for what reads a whole table
    (every tenant, every partition, the runs table's single rows), which other tests write to
    as well."""
    table = tables.open_table("t" + uuid.uuid4().hex[:16])
    table.create_table()
    return table
