from __future__ import annotations

import pytest

from shared.settings import Settings
from shared.store.connection import Tables, tables_for
from shared.store.directory import Directory


@pytest.fixture(scope="session")
def tables(storage_connection_string: str) -> Tables:
    t = tables_for(Settings(storage_connection_string=storage_connection_string))
    t.ensure()
    return t


@pytest.fixture
def directory(tables: Tables) -> Directory:
    return Directory(tables.data)
