from __future__ import annotations

import os
import uuid

import pytest

from shared.settings import Settings
from shared.store.connection import tables_for
from shared.store.signing_keys import SigningKeyTable


@pytest.fixture
def key_table(storage_settings: dict[str, str]) -> SigningKeyTable:
    """Signing keys in a table of their own: a key ring reads every key of its partition, and
    other tests' keys would be in the shared tenants table's."""
    tables = tables_for(Settings(**storage_settings,
                                 storage_client=os.environ.get("SCIM_STORAGE_CLIENT") or "direct"))
    table = tables.open_table("k" + uuid.uuid4().hex[:16])
    table.create_table()
    return SigningKeyTable(table)
