"""The dev host: routes requests to the app's HTTP functions, runs its timers and queue
listeners, serves HTTP.

``DevHost.handle()`` dispatches one request without any socket; ``start()``/``stop()`` run the
HTTP server, the timer threads and the queue pollers; ``running()`` and ``serve()`` wrap them
for tests and for ``make run``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .functions import FunctionSource, HttpFunction, StartupError, discover
from .queues import QueueFunction, QueueOptions, QueuePoller
from .routes import route_path
from .server import HostResponse, Server, ServerLimits, json_error
from .timer import TimerFunction, TimerThread
from .worker import http_request, http_response

__all__ = ["DevHost", "running", "serve"]

_log = logging.getLogger("devhost")

DEFAULT_ROUTE_PREFIX = "api"


class DevHost:
    """Serves the functions of a ``func.FunctionApp`` like the Functions host (see
    ``devhost``); StartupError when the app uses what the dev host does not emulate."""

    def __init__(
        self,
        app: FunctionSource,
        host_json: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.route_prefix = _route_prefix(host_json)
        self.routes: list[HttpFunction]
        self.timers: list[TimerFunction]
        self.queues: list[QueueFunction]
        self.routes, self.timers, self.queues = discover(
            app, self.route_prefix, os.environ if environ is None else environ
        )
        self.queue_options = _queue_options(host_json, self.queues)
        self._server: Server | None = None
        self._stop = threading.Event()
        self._timer_threads: list[TimerThread] = []
        self._queue_pollers: list[QueuePoller] = []

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        host: str = "localhost",
        scheme: str = "http",
    ) -> HostResponse:
        """Route and invoke one request; ``target`` is the origin-form path with its query.
        A path that matches a route but not its methods falls through to the next route."""
        raw_path, _, query = target.partition("?")
        path = route_path(raw_path)
        method = method.upper()
        allowed: set[str] = set()
        for route in self.routes:
            values = route.route.match(path)
            if values is None:
                continue
            if route.methods is not None and method not in route.methods:
                allowed |= route.methods
                continue
            request = http_request(method, f"{scheme}://{host}{target}", headers, query, values,
                                   body)
            try:
                return http_response(route.fn(**{route.arg_name: request}))
            except Exception:
                _log.exception("function %r raised; answering 500 (the app must not rely on "
                               "this)", route.name)
                return json_error(500)
        if allowed:
            return json_error(405, [("Allow", ", ".join(sorted(allowed)))])
        return json_error(404)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the dev host is not started")
        host, port = self._server.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timers: bool = True,
        start_queues: bool = True,
        limits: ServerLimits | None = None,
    ) -> str:
        """Bind, serve in the background, start the timers and the queue listeners (a function
        whose connection setting is missing is logged and left out); returns the base URL."""
        if self._server is not None:
            raise RuntimeError("the dev host is already started")
        _ensure_log_output()
        self._stop.clear()

        def dispatch(method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                     host_field: str) -> HostResponse:
            # Looked up per request: a wrapped DevHost.handle (benchmarks) still applies.
            return self.handle(method, target, headers, body, host=host_field)

        self._server = Server((host, port), dispatch, limits or ServerLimits())
        self._server.start()
        if start_timers:
            for timer in self.timers:
                thread = TimerThread(timer, self._stop)
                self._timer_threads.append(thread)
                thread.start()
        if start_queues:
            for function in self.queues:
                if function.connection_string is None:
                    # The Functions host reports this function in error and runs the others.
                    _log.error("queue function %r not started: its connection setting %r "
                               "(or 'AzureWebJobs%s') is not set", function.name,
                               function.connection, function.connection)
                    continue
                poller = QueuePoller(function, self.queue_options, self._stop)
                self._queue_pollers.append(poller)
                poller.start()
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting and fetching; let in-flight requests, timer runs and queue invocations
        finish (up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.stop(deadline)
        for thread in self._timer_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                _log.warning("timer %r still running at shutdown", thread.timer.name)
        self._timer_threads = []
        for poller in self._queue_pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
            if poller.is_alive():
                _log.warning("queue function %r still running at shutdown",
                             poller.function.name)
        self._queue_pollers = []


def _route_prefix(host_json: Mapping[str, Any] | None) -> str:
    if host_json is None:
        return DEFAULT_ROUTE_PREFIX
    http = (host_json.get("extensions") or {}).get("http") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ValueError(f"host.json extensions.http.routePrefix must be a string: {prefix!r}")
    return prefix.strip().strip("/")


def _queue_options(
    host_json: Mapping[str, Any] | None, queues: Sequence[QueueFunction]
) -> QueueOptions:
    try:
        options = QueueOptions.from_host_json(host_json)
    except ValueError as exc:
        raise StartupError([f"host.json {exc}"]) from None
    concurrency = ((host_json or {}).get("concurrency") or {})
    if queues and concurrency.get("dynamicConcurrencyEnabled"):
        raise StartupError([f"function {queues[0].name!r}: host.json concurrency."
                            "dynamicConcurrencyEnabled is not emulated by the dev host (it "
                            "runs batchSize + newBatchThreshold messages at a time)"])
    return options


def _load_host_json(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: host.json must hold a JSON object")
    return data


def _ensure_log_output() -> None:
    """Make sure request lines reach stderr even if nobody configured logging."""
    if _log.level == logging.NOTSET:
        _log.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s devhost %(levelname)s %(message)s"))
        _log.addHandler(handler)


@contextlib.contextmanager
def running(
    app: FunctionSource,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    host_json: Mapping[str, Any] | None = None,
    host_json_path: str | os.PathLike[str] | None = None,
    start_timers: bool = True,
    start_queues: bool = True,
    limits: ServerLimits | None = None,
) -> Iterator[str]:
    """Serve ``app`` in background threads; yields the base URL (port 0: a free port)."""
    if host_json is None:
        host_json = _load_host_json(host_json_path)
    devhost = DevHost(app, host_json)
    url = devhost.start(host, port, start_timers=start_timers, start_queues=start_queues,
                        limits=limits)
    try:
        yield url
    finally:
        devhost.stop()


def serve(
    app: FunctionSource,
    host: str = "127.0.0.1",
    port: int = 7071,
    host_json_path: str | os.PathLike[str] | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM, then shut down cleanly.

    ``host_json_path`` None means ``./host.json`` if it exists (like ``func start``), else the
    host defaults (route prefix ``api``).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        azure_logger = logging.getLogger("azure")
        if azure_logger.level == logging.NOTSET:  # azure-core logs every storage call at INFO
            azure_logger.setLevel(logging.WARNING)
    if host_json_path is None and Path("host.json").is_file():
        host_json_path = "host.json"
    devhost = DevHost(app, _load_host_json(host_json_path))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        url = devhost.start(host, port, limits=limits)
        for route in devhost.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "all"
            _log.info("route /%s [%s] -> %s", route.route.template, methods, route.name)
        for timer in devhost.timers:
            _log.info("timer %r -> %s", timer.schedule.expression, timer.name)
        for queue in devhost.queues:
            if queue.connection_string is not None:
                _log.info("queue %r -> %s", queue.queue_name, queue.name)
        _log.info("listening on %s (host.json: %s)", url, host_json_path or "none")
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _log.info("shutting down")
        devhost.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _log.info("stopped")
