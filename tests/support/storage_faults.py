"""Storage faults injected through `shared.store.connection.TRANSPORT_HOOKS`, i.e. inside the
store's storage calls (after their retry rules, so they are retried like real ones).

Each fault is what Table Storage or the network really does:

- `throttle`: 503 ServerBusy, the request never reached storage;
- `error500`: the request reached storage (and may have committed), then a 500 came back;
- `timeout`: the request reached storage (and may have committed), the response was lost;
- `reset`: the connection was reset before the request reached storage.

The hooks are the process's, and in a full run the session's app writes its audit log from a
thread of its own at any moment (counted authentication failures once their minute ends). A
test's hook that counts or answers requests takes the test's thread only (`own_thread`,
`own_thread_hooks`, `Injector`): another thread's request would be counted as the test's, and
answering it would fail that thread's write. `Wire.request` runs the hooks on its caller's
thread, so the thread is the request's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shared.store import connection
from shared.store.errors import TransportFailed
from shared.store.wire import Request, Response, TransportHook

Send = Callable[[Any], Any]
KINDS = ("throttle", "error500", "timeout", "reset")


def synthesized(request: Any, status: int, code: str, message: str) -> Response:
    """A storage error response as Table Storage sends one."""
    return Response(status, message, {
        "content-type": "application/json;odata=minimalmetadata", "x-ms-error-code": code},
        json.dumps({"odata.error": {"code": code, "message": {
            "lang": "en-US", "value": message}}}).encode())


def busy(request: Any, send: Send) -> Response:
    """A hook: every attempt refused with 503 ServerBusy and `Retry-After: 0`, so the
    transport's retries run at once and the caller sees storage that keeps refusing."""
    answer = synthesized(request, 503, "ServerBusy", "The server is busy.")
    answer.headers["retry-after"] = "0"
    return answer


def inject(kind: str, request: Any, send: Send) -> Any:
    if kind == "throttle":
        return synthesized(request, 503, "ServerBusy", "The server is busy.")
    if kind == "error500":
        send(request)
        return synthesized(request, 500, "InternalError", "The server encountered an error.")
    if kind == "timeout":
        send(request)
        raise TransportFailed("injected: read timed out after the request was sent")
    if kind == "reset":
        raise TransportFailed("injected: connection reset by peer")
    raise ValueError(kind)


class Injector:
    """Counts the storage attempts of the thread that armed it (the request under test; the
    audit log's background writer is left alone); with `arm(kind, at)` fails attempt number
    `at` (1-based) and, when `outage` is set, every attempt after it too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.injected = 0
        self.kind: str | None = None
        self.at = 0
        self.outage = False
        self.thread = threading.get_ident()

    def arm(self, kind: str | None, at: int = 0, outage: bool = False) -> None:
        with self._lock:
            self.calls, self.kind, self.at, self.outage = 0, kind, at, outage
            self.thread = threading.get_ident()

    def __call__(self, request: Any, send: Send) -> Any:
        if threading.get_ident() != self.thread:
            return send(request)
        with self._lock:
            self.calls += 1
            hit = self.kind is not None and (
                self.calls == self.at or (self.outage and self.calls > self.at))
            if hit:
                self.injected += 1
            kind = self.kind
        if hit and kind is not None:
            return inject(kind, request, send)
        return send(request)


def own_thread(hook: TransportHook) -> TransportHook:
    """`hook` for the storage requests of the thread that calls this; other threads' requests
    go on to `send` untouched, as if the hook were not there."""
    mine = threading.get_ident()

    def gated(request: Request, send: Callable[[Request], Response]) -> Response:
        if threading.get_ident() != mine:
            return send(request)
        return hook(request, send)

    return gated


@contextmanager
def own_thread_hooks() -> Iterator[list[TransportHook]]:
    """A list the test fills with hooks, run in order (as `wire` runs TRANSPORT_HOOKS, each
    `send` leading to the next) for the calling thread's requests only. The list is read at
    each request, so the test may add or clear hooks as it goes."""
    hooks: list[TransportHook] = []

    def chain(request: Request, send: Callable[[Request], Response]) -> Response:
        current = list(hooks)

        def call(index: int, req: Request) -> Response:
            if index == len(current):
                return send(req)
            return current[index](req, lambda r: call(index + 1, r))

        return call(0, request)

    with hooked(own_thread(chain)):
        yield hooks


@contextmanager
def hooked(hook: Any) -> Iterator[Any]:
    connection.TRANSPORT_HOOKS.append(hook)
    try:
        yield hook
    finally:
        connection.TRANSPORT_HOOKS.remove(hook)


class Unexpected:
    """A fault no layer expects (ZeroDivisionError), raised by the creating thread's requests
    to one table: what must become a 500 quoting a request id, never a traceback."""

    def __init__(self, table: str) -> None:
        self.table, self.thread = table, threading.get_ident()

    def __call__(self, request: Request, send: Send) -> Response:
        if threading.get_ident() == self.thread and f"/{self.table}" in request.url:
            raise ZeroDivisionError("injected")
        return send(request)
