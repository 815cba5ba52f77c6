"""Fixtures of tests/devhost: the toy app (tests/devhost/toy.py) served by the dev host."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from devhost import running
from tests.devhost.toy import NO_PREFIX, TIMER_RUNS, TIMER_STATE, Served, build_app


@pytest.fixture(scope="module")
def toy() -> Iterator[Served]:
    """The toy app served (no route prefix) with its timer firing every second."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOY_SCHEDULE", "*/1 * * * * *")
        app = build_app()
        TIMER_RUNS.clear()  # each module serves the toy app anew
        TIMER_STATE["max_active"] = 0
        started = time.monotonic()
        with running(app, host_json=NO_PREFIX) as url:
            yield Served(url, started)


@pytest.fixture
def client(toy: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toy.url, timeout=10) as c:
        yield c


