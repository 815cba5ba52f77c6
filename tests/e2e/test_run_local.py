"""`make run` (tools/run_local.py): the printed Tenant URL, `Location` and `meta.location` use the
port the app listens on (PORT), Azurite runs on AZURITE_PORT, Ctrl-C leaves nothing behind; and
the environment handed to `func start` points the Functions host at this run's Azurite."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402
import run_local  # noqa: E402

from shared.service.app import ScimService  # noqa: E402
from tests.support.webhooks import Receiver, use_webhook  # noqa: E402

EXAMPLE = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "SCIM_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    "SCIM_PUBLIC_BASE_URL": "http://127.0.0.1:7071",
    "SCIM_TABLE_PREFIX": "scim",
}
TABLE = azurite.connection_string(10192)
HOST = azurite.connection_string(10192, blob_port=10190, queue_port=10191)


# --- the environment the app (local host or func start) gets ---------------------------------


@given(port=st.integers(min_value=1, max_value=65535),
       configured=st.sampled_from(["http://127.0.0.1:7071", "http://localhost:7071",
                                   "http://[::1]:7071", ""]))
def test_a_loopback_base_url_follows_the_app_port(port: int, configured: str) -> None:
    settings = {**EXAMPLE, "SCIM_PUBLIC_BASE_URL": configured}
    env = run_local.app_environment(TABLE, app_port=port, base={}, settings=settings)
    assert env["SCIM_PUBLIC_BASE_URL"] == f"http://127.0.0.1:{port}"


def test_an_explicit_or_public_base_url_is_kept() -> None:
    tunnel = {**EXAMPLE, "SCIM_PUBLIC_BASE_URL": "https://scim-dev.example.net"}
    env = run_local.app_environment(TABLE, app_port=7191, base={}, settings=tunnel)
    assert env["SCIM_PUBLIC_BASE_URL"] == "https://scim-dev.example.net"
    base = {"SCIM_PUBLIC_BASE_URL": "http://127.0.0.1:9999"}
    env = run_local.app_environment(TABLE, app_port=7191, base=base, settings=EXAMPLE)
    assert env["SCIM_PUBLIC_BASE_URL"] == "http://127.0.0.1:9999"


def test_func_start_gets_this_runs_azurite_for_host_storage() -> None:
    env = run_local.app_environment(TABLE, app_port=7191, host_storage=HOST, base={},
                                    settings=EXAMPLE)
    assert env["AzureWebJobsStorage"] == HOST
    for endpoint in ("TableEndpoint=http://127.0.0.1:10192/", "BlobEndpoint=http://127.0.0.1:10190/",
                     "QueueEndpoint=http://127.0.0.1:10191/"):
        assert endpoint in env["AzureWebJobsStorage"]
    assert env["SCIM_STORAGE_CONNECTION_STRING"] == TABLE
    assert env["SCIM_PUBLIC_BASE_URL"] == "http://127.0.0.1:7191"
    assert env["FUNCTIONS_WORKER_RUNTIME"] == "python"
    # an operator's own host storage wins; the local host path (no func) leaves it alone
    mine = {"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=mine"}
    env = run_local.app_environment(TABLE, app_port=7191, host_storage=HOST, base=mine,
                                    settings=EXAMPLE)
    assert env["AzureWebJobsStorage"] == mine["AzureWebJobsStorage"]
    env = run_local.app_environment(TABLE, app_port=7191, base={}, settings=EXAMPLE)
    assert env["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_the_app_gets_this_runs_queue_service_and_the_deliver_queue() -> None:
    queue_only = "QueueEndpoint=http://127.0.0.1:10191/devstoreaccount1;"
    env = run_local.app_environment(TABLE, app_port=7191, queue_storage=queue_only, base={},
                                    settings=EXAMPLE)
    assert env["SCIM_QUEUE_STORAGE"] == queue_only
    # a local.settings.json from before the queue trigger still gets the queue's name
    old = {k: v for k, v in EXAMPLE.items() if k not in ("SCIM_DELIVER_QUEUE", "SCIM_WORK_QUEUE")}
    env = run_local.app_environment(TABLE, app_port=7191, base={}, settings=old)
    assert env["SCIM_DELIVER_QUEUE"] == "scim-deliver"
    assert env["SCIM_WORK_QUEUE"] == "scim-work"
    # an operator's own queue storage wins
    mine = {"SCIM_QUEUE_STORAGE": "DefaultEndpointsProtocol=https;AccountName=mine"}
    env = run_local.app_environment(TABLE, app_port=7191, queue_storage=queue_only, base=mine,
                                    settings=EXAMPLE)
    assert env["SCIM_QUEUE_STORAGE"] == mine["SCIM_QUEUE_STORAGE"]


def test_the_app_gets_this_runs_admin_credential_digest_whatever_else_is_set() -> None:
    digest = "ab" * 32
    stale = {"SCIM_MANAGE_DEV_CREDENTIAL_SHA256": "cd" * 32}
    env = run_local.app_environment(TABLE, app_port=7191, admin_digest=digest, base=stale,
                                    settings={**EXAMPLE, **stale})
    assert env["SCIM_MANAGE_DEV_CREDENTIAL_SHA256"] == digest
    env = run_local.app_environment(TABLE, app_port=7191, base={}, settings=EXAMPLE)
    assert "SCIM_MANAGE_DEV_CREDENTIAL_SHA256" not in env


def test_side_ports_sit_below_the_table_port() -> None:
    assert azurite.default_side_ports(10002) == (10000, 10001)  # Azurite's own defaults
    assert azurite.default_side_ports(10192) == (10190, 10191)


# --- Azurite with Blob and Queue (opt-in) -------------------------------------------------------


def _open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_azurite_runs_blob_and_queue_on_request() -> None:
    table, blob, q = azurite.free_port(), azurite.free_port(), azurite.free_port()
    with azurite.running(table, services=azurite.SERVICES, blob_port=blob,
                         queue_port=q) as conn:
        assert all(_open(p) for p in (table, blob, q))
        assert f"BlobEndpoint=http://127.0.0.1:{blob}/" in conn
        assert f"QueueEndpoint=http://127.0.0.1:{q}/" in conn
        assert f"TableEndpoint=http://127.0.0.1:{table}/" in conn
        # each port answers as the service it is meant to be
        for port, service in ((blob, "Blob"), (q, "Queue"), (table, "Table")):
            r = httpx.get(f"http://127.0.0.1:{port}/{azurite.ACCOUNT}?comp=list", timeout=10)
            assert r.headers.get("server", "").startswith(f"Azurite-{service}/"), r.headers
    assert not any(_open(p) for p in (table, blob, q))


def test_azurite_default_is_table_only() -> None:
    with azurite.running() as conn:
        assert "TableEndpoint=" in conn
        assert "BlobEndpoint=" not in conn
        assert "QueueEndpoint=" not in conn
    with pytest.raises(ValueError, match="all three"), azurite.running(services=("table", "blob")):
        pass


def test_azurite_runs_the_queue_service_alone() -> None:
    from azure.storage.queue import QueueClient

    port = azurite.free_port()
    with azurite.running_queue(port) as conn:
        assert conn == azurite.queue_connection_string(port)
        assert "TableEndpoint=" not in conn
        assert "BlobEndpoint=" not in conn
        r = httpx.get(f"http://127.0.0.1:{port}/{azurite.ACCOUNT}?comp=list", timeout=10)
        assert r.headers.get("server", "").startswith("Azurite-Queue/"), r.headers
        queue = QueueClient.from_connection_string(conn, "alone")
        queue.create_queue()
        queue.send_message("hello")
        (message,) = queue.receive_messages(max_messages=1)
        assert (message.content, message.dequeue_count) == ("hello", 1)
    assert not _open(port)


# --- make run, end to end -----------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """Descendants of `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int, queue.Queue[str]]]:
    app_port, table_port = azurite.free_port(), azurite.free_port()
    blob_port, queue_port = azurite.free_port(), azurite.free_port()
    # Core Tools must not be found, so the test runs the local host whatever is installed
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / "func").exists()
    )
    env = {**os.environ, "PATH": path, "PORT": str(app_port), "AZURITE_PORT": str(table_port),
           "AZURITE_BLOB_PORT": str(blob_port), "AZURITE_QUEUE_PORT": str(queue_port),
           "SCIM_RUN_DIR": str(tmp_path / "run"), "PYTHONUNBUFFERED": "1"}
    env.pop("SCIM_PUBLIC_BASE_URL", None)
    env.pop("SCIM_STORAGE_CONNECTION_STRING", None)
    env.pop("SCIM_QUEUE_STORAGE", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "run_local.py")], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield proc, app_port, table_port, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _service(table_port: int) -> ScimService:
    from shared.settings import Settings
    from shared.store.connection import open_tables

    settings = Settings(storage_connection_string=azurite.connection_string(table_port))
    return ScimService(settings, open_tables(settings))


def _wait_for(lines: queue.Queue[str], pattern: str, seen: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_make_run_advertises_the_port_it_listens_on(
    make_run: tuple[subprocess.Popen[str], int, int, queue.Queue[str]], receiver: Receiver,
) -> None:
    proc, app_port, table_port, lines = make_run
    seen: list[str] = []
    tenant_url = _wait_for(lines, r"Tenant URL\s*:\s*(\S+)", seen, 90)
    token = _wait_for(lines, r"Secret Token\s*:\s*(\S+)", seen, 10)
    console = _wait_for(lines, r"Console: (\S+)  Admin credential: ", seen, 10)
    admin = re.search(r"Admin credential: (adm_\S+)", seen[-1])
    assert admin is not None, seen[-1]
    admin_credential = admin.group(1)
    assert console == f"http://127.0.0.1:{app_port}/console"
    assert urlsplit(tenant_url).port == app_port, tenant_url
    assert _open(table_port)
    deadline = time.monotonic() + 60
    while not _open(app_port):
        assert proc.poll() is None, "".join(seen)
        assert time.monotonic() < deadline, "the app never listened"
        time.sleep(0.2)
    children = _children(proc.pid)
    assert children, "Azurite should run as a child of run_local.py"

    # The printed credential (and only it: not the tenant's token, not another adm_) calls the
    # management API; it was printed once.
    manage = f"http://127.0.0.1:{app_port}/manage/v1/whoami"
    r = httpx.get(manage, headers={"Authorization": f"Bearer {admin_credential}"}, timeout=30)
    assert (r.status_code, r.json()["method"]) == (200, "development"), r.text
    for other in (token, "adm_" + admin_credential[4:][::-1], admin_credential + "x"):
        r = httpx.get(manage, headers={"Authorization": f"Bearer {other}"}, timeout=30)
        assert r.status_code == 401, r.text
    assert "".join(seen).count(admin_credential) == 1

    # The tenant's webhook, set in this run's storage: the change events of the request below
    # arrive within seconds through the deliver queue (no reconciler run: it ticks every 15
    # minutes).
    use_webhook(_service(table_port), tenant_url.rsplit("/", 1)[1], receiver.url)
    started = time.monotonic()
    r = httpx.post(f"{tenant_url}/Users", headers={"Authorization": f"Bearer {token}"},
                   json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": "run.local@example.com", "active": True}, timeout=30)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith(f"{tenant_url}/Users/"), location
    assert urlsplit(location).port == app_port
    assert r.json()["meta"]["location"] == location
    while not receiver.accepted():
        assert time.monotonic() - started < 10, "no event reached the webhook"
        time.sleep(0.05)
    assert receiver.accepted()[0]["type"].endswith(".user.created")

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "processes left behind"
    assert not _open(app_port)
    assert not _open(table_port)


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "abc"), ("PORT", "99999"), ("AZURITE_PORT", "0"),
    ("PORT", "\uff17\uff10\uff17\uff11"),  # fullwidth digits: int() would take them
])
def test_a_bad_port_says_what_to_set(name: str, value: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_local.py")],
                          env={**os.environ, name: value}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert f"{name}=" in done.stderr
    assert "number from 1 to 65535" in done.stderr
    assert "Traceback" not in done.stderr
