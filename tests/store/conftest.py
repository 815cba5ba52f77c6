from __future__ import annotations

import uuid

import pytest

from shared.settings import Settings
from shared.store.connection import Tables, tables_for
from shared.store.directory import Directory
from shared.store.table import Table


@pytest.fixture(scope="session")
def tables(storage_settings: dict[str, str]) -> Tables:
    t = tables_for(Settings(**storage_settings))
    t.ensure()
    return t


@pytest.fixture
def directory(tables: Tables) -> Directory:
    return Directory(tables.data)


@pytest.fixture
def empty_table(tables: Tables) -> Table:
    """A table of its own for one test: for what reads a whole table (every tenant, every
    partition, the runs table's single rows), which other tests write to as well."""
    table = Table(tables.data.wire, "t" + uuid.uuid4().hex[:16])
    table.create_table()
    return table
