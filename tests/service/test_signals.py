"""The signaller (service/signals.py): notes tenants without I/O, signals each from one
background thread, coalesces, survives failures."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from shared.service.signals import Signaller
from shared.store.errors import Unavailable


class RecordingSignals:
    """Stands in for DeliverySignals to observe calls (the store protocol itself is tested
    over Azurite in tests/store/test_signals.py)."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.gate, self.fail = gate, fail

    def signal(self, tenant: str, why: str = "commit", *, now: datetime | None = None) -> bool:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append(tenant)
        if self.fail:
            raise Unavailable("storage down")
        return True


def test_queues_off_notify_does_nothing() -> None:
    signaller = Signaller(None)
    signaller.notify("t1")
    assert signaller.flush(0.1)
    assert signaller._thread is None


def test_tenants_noted_while_a_signal_runs_are_coalesced() -> None:
    gate = threading.Event()
    signals = RecordingSignals(gate)
    signaller = Signaller(signals)  # type: ignore[arg-type]
    signaller.notify("t1")
    for _ in range(50):
        signaller.notify("t2")
        signaller.notify("t1")
    gate.set()
    assert signaller.flush()
    # 101 notes: at most the batch the thread took before the gate opened, then one of each
    # tenant for everything noted while it was held.
    assert len(signals.calls) <= 4
    assert set(signals.calls) == {"t1", "t2"}


def test_a_failed_signal_is_logged_and_the_next_one_still_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    signals: Any = RecordingSignals(fail=True)
    signaller = Signaller(signals)
    signaller.notify("t1")
    assert signaller.flush()
    signaller.notify("t2")
    assert signaller.flush()
    assert signals.calls == ["t1", "t2"]
    assert "delivery signal of tenant=t1 failed (Unavailable)" in caplog.text
