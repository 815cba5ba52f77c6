"""Session fixtures: one Azurite Table service on loopback for the whole run.

SCIM_TEST_STORAGE chooses how the app reaches it (tests/support/storage_modes.py): plain HTTP
with the development Shared Key (the default), or `https-oauth`, the production path (HTTPS,
DefaultAzureCredential with a managed identity). If SCIM_TEST_STORAGE_CONNECTION_STRING is set,
that endpoint is used instead (e.g. a running `make run`); otherwise Azurite is started from
node_modules and stopped at the end. Azurite's Queue service runs as a separate process, only
for the tests that take `queue_connection_string`.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402

from tests.support import figures, storage_modes  # noqa: E402
from tests.support.storage_modes import TestStorage  # noqa: E402

# The change-feed fixtures (webhook receiver, feed service) serve tests/feed and tests/service.
pytest_plugins = ["tests.support.webhooks"]


def pytest_configure(config: pytest.Config) -> None:
    try:
        storage_modes.selected_mode()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this worker's figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = dict(figures.FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the pytest-xdist controller: add up the figures of a worker that finished. A test
    file runs in one worker (`--dist loadfile`), so no figure is counted twice."""
    figures.merge(getattr(node, "workeroutput", {}).get("figures", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.FIGURES:
        return
    figures.write()
    terminalreporter.section("reliability and security figures")
    for name, value in sorted(figures.FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if storage_modes.selected_mode() != storage_modes.HTTPS_OAUTH:
        return
    skip = pytest.mark.skip(reason="reads the app's SCIM_STORAGE_CONNECTION_STRING, which "
                            f"{storage_modes.MODE_VARIABLE}={storage_modes.HTTPS_OAUTH} "
                            "replaces with SCIM_STORAGE_TABLE_ENDPOINT")
    for item in items:
        if item.get_closest_marker("app_connection_string"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestStorage]:
    """The session's storage, in the mode SCIM_TEST_STORAGE chooses."""
    with storage_modes.provide(storage_modes.selected_mode(),
                               tmp_path_factory.mktemp("storage-tls"),
                               log=ROOT / ".pytest_cache" / "azurite.log") as given:
        yield given


@pytest.fixture(scope="session")
def storage_settings(storage: TestStorage) -> dict[str, str]:
    """The Settings fields naming the session's storage: `Settings(**storage_settings)` reaches
    it as the app does in this mode (a connection string, or endpoint and managed identity)."""
    return dict(storage.settings)


@pytest.fixture(scope="session")
def storage_connection_string(storage: TestStorage) -> str:
    """A Shared Key connection string to the session's storage, for tests about Shared Key or
    connection strings (https in https-oauth mode); others take `storage_settings`."""
    return storage.connection_string


@pytest.fixture(scope="session")
def queue_connection_string() -> Iterator[str]:
    """Azurite's Queue service, a process of its own started by the first test that asks for
    it (plain HTTP, development Shared Key); tests use queue names of their own."""
    with azurite.running_queue(log=ROOT / ".pytest_cache" / "azurite-queue.log") as conn:
        yield conn


@pytest.fixture
def tenant_id() -> str:
    """A fresh tenant (= partition) per test keeps tests independent on one shared table."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def entra_keys() -> Iterator[Any]:
    """Entra's v2.0 signing keys as the app sees them for the session (tests/support/
    entra_keys.py): key "k1" published; the app verifies client assertions against them."""
    from tests.support import entra_keys

    with entra_keys.serving() as jwks:
        jwks.add_key("k1")
        yield jwks


# The management API's Entra sign-in as the session's app sees it: tokens of this Entra tenant
# for this app registration, verified against the loopback keys (`entra_keys`, v2.0 issuer).
MANAGE_ENTRA_TENANT_ID = "5d7c1f5e-2b1a-4c8e-9f0a-7e6d5c4b3a21"
MANAGE_AUDIENCE = "0f3e2d1c-4b5a-4968-8776-a5b4c3d2e1f0"


@pytest.fixture(scope="session")
def admin_credential() -> str:
    """The development credential of the management API that the session's app accepts (its
    digest is SCIM_MANAGE_DEV_CREDENTIAL_SHA256 in `app_env`), as `make run` makes one."""
    from shared.auth.admin import new_dev_credential

    return new_dev_credential()


@pytest.fixture(scope="session")
def app_env(storage: TestStorage, entra_keys: Any,
            admin_credential: str) -> Iterator[dict[str, str]]:
    """Point the app (settings, runtime singleton) at the test storage and the loopback Entra
    keys for the session; yields the variables set (the storage ones of this mode:
    SCIM_STORAGE_CONNECTION_STRING, or SCIM_STORAGE_TABLE_ENDPOINT and AZURE_CLIENT_ID)."""
    from shared import settings
    from shared.adapter import runtime
    from shared.auth.admin import dev_digest

    port = azurite.free_port()  # the served app's port, known up front for SCIM_PUBLIC_BASE_URL
    values: dict[str, str | None] = {
        **storage.app_settings,
        "SCIM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCIM_TEST_APP_PORT": str(port),
        "RECONCILE_SCHEDULE": "0 0 0 1 1 *",
        "SCIM_TABLE_PREFIX": "scim",
        "SCIM_ENTRA_ASSERTION_JWKS_URL": entra_keys.assertion_url,
        # The deliver and work triggers' bindings name them; SCIM_QUEUE_STORAGE stays unset, so the
        # session's app delivers on the timer alone (the feed tests run it themselves) and
        # the host leaves the queue listener out.
        "SCIM_DELIVER_QUEUE": "scim-deliver",
        "SCIM_WORK_QUEUE": "scim-work",
        "SCIM_MANAGE_DEV_CREDENTIAL_SHA256": dev_digest(admin_credential),
        "SCIM_MANAGE_ENTRA_TENANT_ID": MANAGE_ENTRA_TENANT_ID,
        "SCIM_MANAGE_AUDIENCE": MANAGE_AUDIENCE,
    }
    with storage_modes.environment(values):
        settings.current.cache_clear()
        runtime.reset()
        yield {k: v for k, v in values.items() if v is not None}
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
