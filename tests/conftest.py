"""Session fixtures: one Azurite Table service on loopback for the whole run.

If SCIM_TEST_STORAGE_CONNECTION_STRING is set, that endpoint is used instead (e.g. a running
`make run`); otherwise Azurite is started from node_modules and stopped at the end.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402


@pytest.fixture(scope="session")
def storage_connection_string() -> Iterator[str]:
    given = os.environ.get("SCIM_TEST_STORAGE_CONNECTION_STRING")
    if given:
        yield given
        return
    with azurite.running(log=ROOT / ".pytest_cache" / "azurite.log") as conn:
        yield conn


@pytest.fixture
def tenant_id() -> str:
    """A fresh tenant (= partition) per test keeps tests independent on one shared table."""
    return "t" + uuid.uuid4().hex[:12]
