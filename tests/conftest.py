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
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402

# The change-feed fixtures (webhook receiver, feed service) serve tests/feed and tests/service.
pytest_plugins = ["tests.support.webhooks"]


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


@pytest.fixture(scope="session")
def app_env(storage_connection_string: str) -> Iterator[dict[str, str]]:
    """Point the app (settings, runtime singleton) at the test storage for the session."""
    from shared import settings
    from shared.adapter import runtime

    port = azurite.free_port()  # the served app's port, known up front for SCIM_PUBLIC_BASE_URL
    env = {
        "SCIM_STORAGE_CONNECTION_STRING": storage_connection_string,
        "SCIM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCIM_TEST_APP_PORT": str(port),
        "RECONCILE_SCHEDULE": "0 0 0 1 1 *",
        "SCIM_TABLE_PREFIX": "scim",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings.current.cache_clear()
    runtime.reset()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    settings.current.cache_clear()
    runtime.reset()


@pytest.fixture(scope="session")
def scim_service(app_env: dict[str, str]):  # type: ignore[no-untyped-def]
    from shared.adapter import runtime

    return runtime.service()


@pytest.fixture
def tenant(scim_service) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A fresh tenant: (tenant_id, secret token)."""
    from shared.auth.tenants import issue_token, new_tenant_id
    from shared.store.tenants import Tenant
    from shared.timestamps import now_iso

    record = Tenant(id=new_tenant_id(), name="test", created=now_iso())
    token = issue_token(record)
    scim_service.tenants.create(record)
    return record.id, token


@pytest.fixture(scope="session")
def served(app_env: dict[str, str]) -> Iterator[str]:
    """The real function_app.app served over HTTP by the local host; yields the base URL."""
    import function_app
    from devhost import running

    with running(function_app.app, host="127.0.0.1", port=int(app_env["SCIM_TEST_APP_PORT"]),
                 host_json_path=str(ROOT / "host.json")) as base_url:
        yield base_url.rstrip("/")


@pytest.fixture
def client(served: str, tenant: tuple[str, str]) -> Iterator[Any]:
    """httpx client bound to a fresh tenant's Tenant URL with its bearer token."""
    import httpx

    tenant_id, token = tenant
    with httpx.Client(base_url=f"{served}/scim/v2/{tenant_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        yield c
