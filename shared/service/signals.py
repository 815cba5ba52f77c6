"""Delivery signals off the request path: the directory's `on_events` hook (called after each
commit that adds outbox events) only notes the tenant; one daemon thread, started on first
use, signals each noted tenant (store/signals.py: a marker row, and a deliver message unless
one is on its way). Tenants noted while a signal is being sent are coalesced into one.

A failed signal is logged and dropped: the events are committed, and the reconciler's timer
delivers what no signal announced."""

from __future__ import annotations

import logging
import threading
import time

from ..store.signals import DeliverySignals

log = logging.getLogger("scim.feed")


class Signaller:
    def __init__(self, signals: DeliverySignals | None) -> None:
        # None: queues are off, the timer alone delivers, and notify does nothing.
        self.signals = signals
        self._noted: set[str] = set()
        self._busy = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def notify(self, tenant: str) -> None:
        """Note that `tenant` committed events (no I/O; never raises)."""
        if self.signals is None:
            return
        with self._cond:
            self._noted.add(tenant)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="delivery-signals",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every noted tenant was signalled (tests, CLI); False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._noted or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        assert self.signals is not None
        while True:
            with self._cond:
                while not self._noted:
                    self._cond.wait()
                tenants = list(self._noted)
                self._noted.clear()
                self._busy = len(tenants)
            for tenant in tenants:
                try:
                    self.signals.signal(tenant)
                except Exception as exc:
                    log.warning("delivery signal of tenant=%s failed (%s): the reconciler's "
                                "timer delivers its events", tenant, type(exc).__name__)
                finally:
                    with self._cond:
                        self._busy -= 1
                        self._cond.notify_all()
