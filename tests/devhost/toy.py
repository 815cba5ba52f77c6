"""Toy FunctionApps for the dev host tests, the state their functions record, socket helpers."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

import azure.functions as func

NO_PREFIX = {"extensions": {"http": {"routePrefix": ""}}}

# One entry per request that reached the `count` or `ping` function.
COUNTED: list[str] = []
# Timer runs: (start, end, past_due, schedule_status)
TIMER_RUNS: list[tuple[float, float, bool, dict[str, str]]] = []
TIMER_STATE = {"active": 0, "max_active": 0}
TIMER_LOCK = threading.Lock()


def _echo(name: str, req: func.HttpRequest) -> func.HttpResponse:
    payload = {
        "fn": name,
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "headers": dict(req.headers),
        "body": req.get_body().decode("latin-1"),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")


def build_app() -> func.FunctionApp:
    """Routes in the forms function_app.py uses, plus functions that misbehave on purpose."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    bp = func.Blueprint()  # type: ignore[no-untyped-call]

    @bp.route(route="items", methods=["GET", "POST"])
    def items(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("items", req)

    @bp.route(route="items/{id}", methods=["GET", "PUT", "PATCH", "DELETE"])
    def item(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("item", req)

    @bp.route(route="items/.search", methods=["POST"])
    def items_search(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("items_search", req)

    @bp.route(route="{resource}/{id}", methods=["GET"])
    def generic(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("generic", req)

    @bp.route(route="things/{*rest}")
    def things(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("things", req)

    @bp.route(route="versions/{n}/{label?}", methods=["GET"])
    def versions(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("versions", req)

    app.register_functions(bp)

    @app.route(route="boom", methods=["GET"])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("kaboom internal detail")

    @app.route(route="none", methods=["GET"])
    def returns_none(req: func.HttpRequest) -> func.HttpResponse:
        return None  # type: ignore[return-value]

    @app.route(route="respond", methods=["POST"])
    def respond(req: func.HttpRequest) -> func.HttpResponse:
        spec = req.get_json()
        return func.HttpResponse(
            spec.get("body"),
            status_code=spec.get("status", 200),
            headers=spec.get("headers"),
            mimetype=spec.get("mimetype"),
            charset=spec.get("charset"),
        )

    @app.route(route="multi", methods=["GET"])
    def multi(req: func.HttpRequest) -> func.HttpResponse:
        resp = func.HttpResponse("x")
        resp.headers.add("X-Dup", "first")
        resp.headers.add("X-Dup", "second")
        resp.headers.add("Set-Cookie", "a=1")
        resp.headers.add("Set-Cookie", "b=2")
        return resp

    @app.route(route="count", methods=["GET", "POST", "DELETE"])
    def count(req: func.HttpRequest) -> func.HttpResponse:
        COUNTED.append(req.method)
        return func.HttpResponse("counted")

    @app.route(route="slow", methods=["GET"])
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        time.sleep(0.3)
        return func.HttpResponse("done")

    @app.timer_trigger(schedule="%TOY_SCHEDULE%", arg_name="tick", run_on_startup=False)
    def toy_timer(tick: func.TimerRequest) -> None:
        with TIMER_LOCK:
            TIMER_STATE["active"] += 1
            TIMER_STATE["max_active"] = max(TIMER_STATE["max_active"], TIMER_STATE["active"])
        start = time.monotonic()
        time.sleep(1.3)  # longer than the 1 s interval: the host must not overlap runs
        with TIMER_LOCK:
            TIMER_STATE["active"] -= 1
            status = dict(getattr(tick, "schedule_status", {}))
            TIMER_RUNS.append((start, time.monotonic(), tick.past_due, status))

    return app


@dataclass(frozen=True)
class QueueCall:
    """What the queue function received."""

    body: bytes
    dequeue_count: int
    id: str
    insertion_time: object
    started: float


# One entry per invocation of the queue function; its concurrency.
QUEUE_CALLS: list[QueueCall] = []
QUEUE_STATE = {"active": 0, "max_active": 0}
QUEUE_LOCK = threading.Lock()


def queue_app() -> func.FunctionApp:
    """A queue function on %TOY_QUEUE% (connection TOY_QUEUE_STORAGE) that records each call;
    a body "sleep S" makes it take S seconds, a body starting with "fail" makes it raise.
    And an HTTP route, to see that HTTP is served beside it."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    @app.queue_trigger(arg_name="msg", queue_name="%TOY_QUEUE%", connection="TOY_QUEUE_STORAGE")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body()
        with QUEUE_LOCK:
            QUEUE_STATE["active"] += 1
            QUEUE_STATE["max_active"] = max(QUEUE_STATE["max_active"], QUEUE_STATE["active"])
            QUEUE_CALLS.append(QueueCall(body, int(msg.dequeue_count or 0), str(msg.id),
                                         msg.insertion_time, time.monotonic()))
        try:
            if body.startswith(b"sleep "):
                time.sleep(float(body.split()[1]))
            if body.startswith(b"fail"):
                raise RuntimeError("toy failure")
        finally:
            with QUEUE_LOCK:
                QUEUE_STATE["active"] -= 1

    return app


def ping_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        COUNTED.append("ping")
        return func.HttpResponse("pong")

    return app


@dataclass
class Served:
    url: str
    started: float

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def exchange(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    return received
