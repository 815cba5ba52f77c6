from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from shared.settings import Settings
from shared.store import wire
from shared.store.backend import Backend
from shared.store.connection import Tables, tables_for
from shared.store.directory import Directory
from shared.store.wire import Request, Response
from tests.support.storage_faults import own_thread


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


@pytest.fixture
def sent() -> Iterator[list[Request]]:
    """Every storage request the test's thread attempted (recorded by a transport hook). Other
    threads' are left out: the session's app writes its audit log from a thread of its own, at
    any time, through the same process-wide hooks."""
    requests: list[Request] = []
    saved = list(wire.TRANSPORT_HOOKS)

    def record(request: Request, send: wire.Send) -> Response:
        requests.append(request)
        return send(request)

    wire.TRANSPORT_HOOKS[:] = [own_thread(record)]
    yield requests
    wire.TRANSPORT_HOOKS[:] = saved


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry delays `Wire.request` asked for on the test's thread (nothing is actually
    slept). Other threads (the session's audit writer) sleep their own delays, unrecorded."""
    slept: list[float] = []
    mine = threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == mine:
            slept.append(seconds)
        else:
            time.sleep(seconds)

    monkeypatch.setattr(wire, "time", SimpleNamespace(
        time=time.time, monotonic=time.monotonic, sleep=sleep))
    return slept
