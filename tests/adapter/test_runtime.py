"""shared/adapter/runtime.py: the process-wide ScimService (and the management API over it)
is built on first use (importing function_app reads no setting and touches no storage),
exactly once however many requests arrive together, survives storage that cannot be reached
at that moment, and is forgotten by `reset`."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import settings
from shared.adapter import runtime
from shared.service.app import ScimService

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(scim_service: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    """No instance before the test; afterwards the session's instance is back, as the served
    app and the other tests share it (`scim_service` is the one the dev host serves)."""
    monkeypatch.setattr(runtime, "_service", None)
    monkeypatch.setattr(runtime, "_manage", None)


def test_the_instance_is_built_once_and_reused(fresh: None) -> None:
    first = runtime.service()
    assert isinstance(first, ScimService)
    assert runtime.service() is first
    assert first.settings == settings.current()


def test_reset_forgets_the_instance(fresh: None) -> None:
    first = runtime.service()
    runtime.reset()
    second = runtime.service()
    assert second is not first
    assert runtime.service() is second


def test_the_management_api_is_built_once_over_the_service(fresh: None) -> None:
    api = runtime.manage_api()
    assert runtime.manage_api() is api
    assert api.deployment.service is runtime.service()
    # The API's Entra tokens are checked with the service's key cache, not a second one.
    assert api.admins._jwt is runtime.service().entra_jwt
    runtime.reset()
    assert runtime.manage_api() is not api


def test_requests_arriving_together_share_one_instance(fresh: None) -> None:
    barrier = threading.Barrier(8)
    got: list[ScimService] = []

    def first_request() -> None:
        barrier.wait()
        got.append(runtime.service())

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 8
    assert len({id(s) for s in got}) == 1


def test_importing_the_app_reads_no_setting(app_env: dict[str, str]) -> None:
    """An unusable setting fails the first request, not the import the host indexes with."""
    env = {**os.environ, "SCIM_MAX_RESULTS": "lots"}
    code = ("import function_app\n"
            "from shared.adapter import runtime\n"
            "from shared.settings import SettingsError\n"
            "try:\n"
            "    runtime.service()\n"
            "except SettingsError as exc:\n"
            "    print('refused:', exc)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "refused:" in run.stdout
    assert "SCIM_MAX_RESULTS='lots'" in run.stdout


@pytest.fixture
def hung_storage(app_env: dict[str, str], fresh: None,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings naming a storage endpoint that takes connections and never answers (the
    kernel completes the handshake for the listening socket), with a short storage deadline."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    conn = app_env["SCIM_STORAGE_CONNECTION_STRING"]
    dead = ";".join(
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
        if part.startswith("TableEndpoint=") else part for part in conn.split(";"))
    assert dead != conn
    monkeypatch.setenv("SCIM_STORAGE_CONNECTION_STRING", dead)
    monkeypatch.setenv("SCIM_STORAGE_DEADLINE_SECONDS", "1")
    settings.current.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()  # before the cache is cleared, so the next read sees the real values
        settings.current.cache_clear()
        listener.close()


@pytest.mark.app_connection_string
def test_hung_storage_at_first_use_still_gives_a_service_by_the_deadline(
        hung_storage: None, caplog: pytest.LogCaptureFixture) -> None:
    """The tables cannot be created: that is logged, the first request waits at most the
    storage deadline for it, and requests then report the outage themselves."""
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        service = runtime.service()
    assert time.monotonic() - started < 1 + 3  # the deadline, plus slack for a busy machine
    assert any("could not create tables" in r.getMessage() for r in caplog.records)
    status, body = service.health()
    assert status == 503
    assert body["status"] == "degraded"
