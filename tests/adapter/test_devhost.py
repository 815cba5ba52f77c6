"""The local dev host serves a FunctionApp over HTTP like the Functions host (see devhost.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapter.devhost import (
    CronSchedule,
    DevHost,
    RouteTemplate,
    ServerLimits,
    next_occurrence,
    running,
)

ROOT = Path(__file__).resolve().parents[2]
NO_PREFIX = {"extensions": {"http": {"routePrefix": ""}}}

# -- the toy app ------------------------------------------------------------------------------

TIMER_RUNS: list[tuple[float, float, bool, dict[str, str]]] = []
TIMER_STATE = {"active": 0, "max_active": 0}
TIMER_LOCK = threading.Lock()
COUNTED: list[str] = []  # one entry per request that reached the `count` function


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

    @bp.route(route="versions/{n:int}/{label?}", methods=["GET"])
    def versions(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("versions", req)

    app.register_functions(bp)

    @app.route(route="async/{name}", methods=["GET"])
    async def async_echo(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0.01)
        return _echo("async_echo", req)

    @app.route(route="boom", methods=["GET"])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("kaboom internal detail")

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

    @app.route(route="ctx", methods=["GET"])
    def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(f"{context.function_name} {context.invocation_id}")

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


@dataclass
class Served:
    url: str
    started: float


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOY_SCHEDULE", "*/1 * * * * *")
        app = build_app()
        started = time.monotonic()
        with running(app, host_json=NO_PREFIX) as url:
            yield Served(url, started)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


# -- discovery --------------------------------------------------------------------------------


def test_discovers_routes_and_timer_from_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SCHEDULE", "0 */15 * * * *")
    host = DevHost(build_app(), NO_PREFIX)
    routes = {r.function_name: r for r in host.routes}
    assert routes["item"].template.template == "items/{id}"
    assert routes["item"].methods == frozenset({"GET", "PUT", "PATCH", "DELETE"})
    assert routes["things"].methods is None
    assert routes["items"].auth_level == "anonymous"
    assert routes["ctx"].wants_context
    (timer,) = host.timers
    assert (timer.function_name, timer.arg_name) == ("toy_timer", "tick")
    assert timer.schedule.expression == "0 */15 * * * *"
    assert not timer.run_on_startup
    assert timer.use_monitor  # host default for intervals over a minute
    assert host.skipped == []


def test_default_route_prefix_is_api_and_unresolved_schedule_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOY_SCHEDULE", raising=False)
    host = DevHost(build_app())  # no host.json: prefix "api", as in the real host
    assert host.handle("GET", "/api/items").status == 200
    assert host.handle("GET", "/items").status == 404
    assert host.timers == []
    assert [name for name, _ in host.skipped] == ["toy_timer"]
    assert "TOY_SCHEDULE" in host.skipped[0][1]


def test_app_already_indexed_can_be_hosted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SCHEDULE", "* * * * * *")
    app = build_app()
    app.get_functions()  # the SDK refuses a second get_functions() on the same app...
    assert len(DevHost(app).routes) == len(DevHost(app).routes) > 0  # ...the host copes


# -- routing ----------------------------------------------------------------------------------


def test_route_precedence(client: httpx.Client) -> None:
    assert client.get("/items").json()["fn"] == "items"
    assert client.get("/items/42").json()["fn"] == "item"
    assert client.post("/items/.search", content=b"{}").json()["fn"] == "items_search"
    # literal beats parameter: items/{id} wins over {resource}/{id}
    assert client.get("/widgets/7").json()["route_params"] == {"resource": "widgets", "id": "7"}
    assert client.get("/items/7").json()["fn"] == "item"
    # .search is POST only: a GET falls through to the next route that matches (host behaviour)
    got = client.get("/items/.search").json()
    assert (got["fn"], got["route_params"]) == ("item", {"id": ".search"})


def test_literals_match_case_insensitively(client: httpx.Client) -> None:
    assert client.get("/ITEMS").json()["fn"] == "items"
    assert client.post("/Items/.SEARCH").json()["fn"] == "items_search"
    assert client.get("/iTeMs/Ab").json()["route_params"] == {"id": "Ab"}  # values keep case


def test_route_params_are_decoded(client: httpx.Client) -> None:
    assert client.get("/items/a%20b%C3%A9+c").json()["route_params"] == {"id": "a bé+c"}
    # Kestrel leaves %2F encoded in the path, so it stays in the route value
    assert client.get("/items/a%2Fb").json()["route_params"] == {"id": "a%2Fb"}
    assert client.get("/things/x/y%20z").json()["route_params"] == {"rest": "x/y z"}
    assert client.get("/things").json()["route_params"] == {}
    assert client.get("/items/").json()["fn"] == "items"  # trailing slash ignored


def test_optional_parameter_and_constraint(client: httpx.Client) -> None:
    assert client.get("/versions/12").json()["route_params"] == {"n": "12"}
    assert client.get("/versions/12/beta").json()["route_params"] == {"n": "12", "label": "beta"}
    # {n:int} does not match "abc": the request falls through to {resource}/{id}
    assert client.get("/versions/abc").json()["fn"] == "generic"
    assert client.get("/versions/abc/x").status_code == 404
    assert client.get("/versions/1/2/3").status_code == 404


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    r = client.get("/no/such/route/here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json()["status"] == 404
    r = client.delete("/items")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.json()["status"] == 405


def test_head_request(client: httpx.Client) -> None:
    r = client.head("/things/x")  # things accepts every method
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) > 0
    assert client.head("/items").status_code == 405
    assert client.get("/items").status_code == 200  # connection still in sync after HEAD


# -- request ----------------------------------------------------------------------------------


def test_query_params_like_the_host(client: httpx.Client) -> None:
    r = client.get(
        "/items?filter=userName+eq+%22a+b%22&x=%20y&empty=&flag&dup=1&dup=2&Dup=3&enc=%C3%A9%2B"
    )
    params = r.json()["params"]
    assert params["filter"] == 'userName eq "a b"'
    assert params["x"] == " y"
    assert params["dup"] == "1,2,3"  # repeated keys joined with ',' (case-insensitive keys)
    assert params["enc"] == "é+"
    assert "empty" not in params  # the host drops empty values...
    assert "flag" not in params  # ...including keys without '='

    assert r.json()["url"].endswith("/items?filter=userName+eq+%22a+b%22&x=%20y&empty=&flag"
                                     "&dup=1&dup=2&Dup=3&enc=%C3%A9%2B")  # fmt: skip


def test_body_and_headers_round_trip(client: httpx.Client) -> None:
    body = bytes(range(256))
    r = client.post(
        "/items",
        content=body,
        headers=[
            ("Content-Type", "application/scim+json"),
            ("Authorization", "Bearer t0k"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
        ],
    )
    got = r.json()
    assert got["body"].encode("latin-1") == body
    assert got["method"] == "POST"
    assert got["headers"]["content-type"] == "application/scim+json"
    assert got["headers"]["authorization"] == "Bearer t0k"
    assert got["headers"]["x-multi"] == "a,b"
    assert got["url"] == f"{client.base_url}".rstrip("/") + "/items"


def test_chunked_request_body(client: httpx.Client) -> None:
    r = client.post("/items", content=iter([b"hello ", b"chunked ", b"world"]))
    assert r.json()["body"] == "hello chunked world"


def test_context_argument(client: httpx.Client) -> None:
    name, invocation_id = client.get("/ctx").text.split()
    assert name == "ctx"
    assert re.fullmatch(r"[0-9a-f-]{36}", invocation_id)


# -- response ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "status", "content_type"),
    [
        ({"body": "x", "mimetype": "application/scim+json"}, 200, "application/scim+json"),
        ({"body": "x"}, 200, "text/plain; charset=utf-8"),
        ({"body": "x", "mimetype": "text/html", "charset": "latin-1"}, 200,
         "text/html; charset=latin-1"),
        ({"body": "x", "headers": {"Content-Type": "application/json"}}, 200, "application/json"),
        ({"body": "{}", "status": 201, "mimetype": "application/scim+json"}, 201,
         "application/scim+json"),
        ({"body": "teapot", "status": 418}, 418, "text/plain; charset=utf-8"),
    ],
)  # fmt: skip
def test_response_status_and_content_type(
    client: httpx.Client, spec: dict[str, object], status: int, content_type: str
) -> None:
    r = client.post("/respond", json=spec)
    assert r.status_code == status
    assert r.headers["content-type"] == content_type
    assert r.text == spec["body"]


def test_custom_headers_and_no_content(client: httpx.Client) -> None:
    r = client.post(
        "/respond",
        json={"status": 201, "headers": {"ETag": 'W/"3"', "Location": "http://x/Users/1"}},
    )
    assert (r.status_code, r.headers["etag"], r.headers["location"]) == (201, 'W/"3"',
                                                                         "http://x/Users/1")
    r = client.post("/respond", json={"status": 204})
    assert r.status_code == 204
    assert r.content == b""
    assert "content-length" not in r.headers
    assert client.get("/items").status_code == 200  # keep-alive still in sync


def test_repeated_response_headers_like_the_worker(client: httpx.Client) -> None:
    r = client.get("/multi")
    assert r.headers.get_list("x-dup") == ["second"]  # the worker keeps the last value
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_exception_becomes_generic_500(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    r = client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": 500, "error": "Internal Server Error"}
    assert "kaboom" not in r.text
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info
    assert "kaboom" in str(errors[0].exc_info[1])  # the traceback goes to the log
    assert client.get("/items").status_code == 200  # the host survives


def test_async_function(client: httpx.Client) -> None:
    got = client.get("/async/zed").json()
    assert (got["fn"], got["route_params"]) == ("async_echo", {"name": "zed"})


def test_request_log_has_no_query_headers_or_body(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    client.post(
        "/items?filter=secret-filter", content=b"secret-body", headers={"Authorization": "secret"}
    )
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "devhost"]
    assert any(re.fullmatch(r"POST /items 200 [0-9.]+ms", line) for line in lines), lines
    assert not any("secret" in line for line in lines)


# -- connections ------------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(client: httpx.Client) -> None:
    addresses = set()
    for path in ["/items", "/items/1", "/nope", "/things/a", "/items"]:
        r = client.get(path)
        addresses.add(r.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(addresses) == 1


def test_raw_socket_pipelined_requests_are_framed(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /items/9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    first, _, second = data.partition(b"HTTP/1.1 200 OK\r\n")[2].partition(b"HTTP/1.1 ")
    assert b'"body": "abc"' in first
    assert second.startswith(b"200 OK")
    assert b'"id": "9"' in second
    assert b"Connection: close" in second


def test_concurrent_requests_are_all_answered(served: Served) -> None:
    # One client (thread-safe) opening up to 20 connections: creating 20 clients costs more
    # than the requests.
    with httpx.Client(base_url=served.url, timeout=10) as c:

        def get(i: int) -> int:
            return c.get("/slow" if i % 2 else f"/items/{i}").status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(get, range(20)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert elapsed < 1.5  # the 10 slow requests (0.3 s each) ran in parallel, not in 3 s


# -- framing errors and request smuggling (RFC 9112 §6.3) -------------------------------------

SMUGGLED = b"DELETE /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _exchange(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    return received


def _assert_rejected_and_closed(served: Served, data: bytes, status: int) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    before = len(COUNTED)
    answer = _exchange(port, data)  # returns only once the server has closed the connection
    head = answer.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert b"\r\nConnection: close" in head
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # nothing after the error was answered
    assert len(COUNTED) == before  # neither the request nor the smuggled one ran


POST = b"POST /count HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    ("head", "rest", "status"),
    [
        # both framings: a front end using the other one would see a different request
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n", 400),
        # codings other than exactly chunked
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", b"0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n", 400),
        (b"Transfer-Encoding: gzip\r\n", b"0\r\n\r\n", 400),
        (b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", 501),
        (b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n", 400),
        # Content-Length: repeated, conflicting, not a number, too large
        (b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello", 400),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!", 400),
        (b"Content-Length: 5, 5\r\n", b"hello", 400),
        (b"Content-Length: +5\r\n", b"hello", 400),
        (b"Content-Length: 0x5\r\n", b"hello", 400),
        (b"Content-Length: 99999999999999999999999999\r\n", b"hello", 413),
        # chunks: bad size, no CRLF after the data, larger than the limit
        (b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", b" 5\r\nhello\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", b"FFFFFFFF\r\nhello\r\n", 413),
        # header lines: obsolete folding, whitespace before the colon, no colon, bare CR
        (b"X-Folded: a\r\n b\r\n", b"", 400),
        (b"Content-Length : 5\r\n", b"hello", 400),
        (b"Content-Length\r\n", b"", 400),
        (b"X-Bad: a\rb\r\n", b"", 400),
        # oversize headers
        (b"X-Big: " + b"a" * 40_000 + b"\r\n", b"", 431),
        (b"".join(b"X-%d: v\r\n" % i for i in range(120)), b"", 431),
    ],
    ids=lambda v: v.decode("latin-1")[:40] if isinstance(v, bytes) else str(v),
)
def test_framing_error_is_answered_and_closes_the_connection(
    served: Served, head: bytes, rest: bytes, status: int
) -> None:
    _assert_rejected_and_closed(served, POST + head + b"\r\n" + rest + SMUGGLED, status)


def test_transfer_encoding_in_http10_is_a_framing_error(served: Served) -> None:
    data = (b"POST /count HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED)  # fmt: skip
    _assert_rejected_and_closed(served, data, 400)


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"POST  /count HTTP/1.1", 400),
        (b"POST /count HTTP/1.1 extra", 400),
        (b"POST /co\x00unt HTTP/1.1", 400),
        (b"POST /count HTTP/1.1x", 400),
        (b"POST /count", 400),
        (b"P(ST /count HTTP/1.1", 400),
        (b"POST http://[bad/count HTTP/1.1", 400),
        (b"POST /count HTTP/2.0", 505),
        (b"POST /" + b"a" * 9000 + b" HTTP/1.1", 414),
    ],
    ids=lambda v: v.decode("latin-1")[:30] if isinstance(v, bytes) else str(v),
)
def test_bad_request_line_is_answered_and_closes_the_connection(
    served: Served, request_line: bytes, status: int
) -> None:
    data = request_line + b"\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + SMUGGLED
    _assert_rejected_and_closed(served, data, status)


_LENGTHS = ["5", "005", " 5", "5 ", "+5", "5,5", "5, 5", "0x5", "-5", "", "5.0", "\u0665",
            "99999999999999999999"]  # fmt: skip
_CODINGS = ["chunked", "Chunked", "CHUNKED", " chunked ", "chunked, chunked", "gzip",
            "gzip, chunked", "chunked, gzip", "identity", "", "chunked;x=1", "x-chunked",
            "chunked,"]  # fmt: skip
_framing_fields = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["Content-Length", "content-length", "CONTENT-LENGTH"]),
                  st.sampled_from(_LENGTHS)),
        st.tuples(st.sampled_from(["Transfer-Encoding", "transfer-encoding"]),
                  st.sampled_from(_CODINGS)),
    ),
    min_size=1,
    max_size=3,
)  # fmt: skip


def _framing_is_unambiguous(fields: list[tuple[str, str]]) -> bool:
    """The request model: exactly one decimal Content-Length, or Transfer-Encoding that is
    exactly `chunked`, never both (RFC 9112 §6); the body sent is always `0\\r\\n\\r\\n`."""
    lengths = [v for n, v in fields if n.lower() == "content-length"]
    codings = [c.strip().lower() for n, v in fields if n.lower() == "transfer-encoding"
               for c in v.split(",")]  # fmt: skip
    if lengths and codings:
        return False
    if codings:
        return codings == ["chunked"]
    value = lengths[0].strip(" \t")
    return len(lengths) == 1 and value.isascii() and value.isdigit() and int(value) == 5


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=_framing_fields)
def test_framing_headers_either_frame_both_requests_or_close(
    served: Served, fields: list[tuple[str, str]]
) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    head = b"".join(f"{n}: {v}\r\n".encode() for n, v in fields)
    before = len(COUNTED)
    answer = _exchange(port, POST + head + b"\r\n0\r\n\r\n" + SMUGGLED)
    if _framing_is_unambiguous(fields):
        assert answer.count(b"HTTP/1.1 200 OK") == 2, answer
        assert COUNTED[before:] == ["POST", "DELETE"]
    else:
        assert answer.count(b"HTTP/1.1 ") == 1, answer
        assert re.match(rb"HTTP/1.1 (400|413|501) ", answer), answer[:100]
        assert b"\r\nConnection: close\r\n" in answer
        assert len(COUNTED) == before


# -- bounded workers and slow clients ---------------------------------------------------------


def _ping_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        COUNTED.append("ping")
        return func.HttpResponse("pong")

    return app


def test_slow_connections_keep_the_thread_count_bounded_and_time_out() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each slow connection costs this process two descriptors (client and server side).
    n = min(800, (soft - 200) // 3)
    if n < 200:
        pytest.skip(f"the open file limit ({soft}) is too low for this test")
    limits = ServerLimits(workers=8, waiting=8, header_timeout=1.0)
    baseline = threading.active_count()
    before = len(COUNTED)
    slow: list[socket.socket] = []
    with running(_ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        for i in range(n):
            if i % 32 == 0:
                # Let the acceptor thread run: a client in this process that never sleeps
                # keeps the GIL, and the listen backlog overflows (1 s SYN retries).
                time.sleep(0.002)
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            with contextlib.suppress(OSError):
                s.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        peak = threading.active_count()

        def dribble() -> None:  # one header byte per connection per round, never the end
            for s in list(slow):
                try:
                    s.send(b"X")
                except OSError:
                    slow.remove(s)
                    s.close()

        # Meanwhile a normal request is answered: served, or a clean 503 (no reset).
        dribble()
        answer = _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert re.match(rb"HTTP/1.1 (200|503) ", answer), answer[:100]
        peak = max(peak, threading.active_count())

        # Once the slow connections have timed out, requests are served again.
        served_again = False
        while not served_again and time.monotonic() - started < 10:
            dribble()
            peak = max(peak, threading.active_count())
            time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=5) as c:
                served_again = c.get("/ping").status_code == 200
        assert served_again
        assert time.monotonic() - started < 10
        for s in slow:
            s.close()
    # workers + the accepting thread; nothing per connection
    assert peak - baseline <= limits.workers + 2, (peak, baseline)
    assert "ping" in COUNTED[before:]  # the normal requests ran ...
    assert COUNTED[before:].count("ping") <= 2  # ... and no dribbled request ever did


def test_idle_keep_alive_connections_yield_to_waiting_ones() -> None:
    limits = ServerLimits(workers=2, waiting=4)
    with running(_ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        idle = [httpx.Client(base_url=url, timeout=5) for _ in range(limits.workers)]
        try:
            for c in idle:  # each keeps a keep-alive connection, holding a worker
                assert c.get("/ping").text == "pong"
            started = time.monotonic()
            assert httpx.get(f"{url}/ping", timeout=5).text == "pong"
            assert time.monotonic() - started < 2.0  # not after the keep-alive timeout
        finally:
            for c in idle:
                c.close()


def test_connections_beyond_workers_and_waiting_get_503() -> None:
    limits = ServerLimits(workers=1, waiting=1, header_timeout=5.0)
    with running(_ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)  # one is being served (waiting for its headers), one waits
            answer = _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
            assert b"\r\nConnection: close\r\n" in answer
            assert b"Retry-After: 1" in answer
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        assert httpx.get(f"{url}/ping", timeout=5).text == "pong"


def test_server_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="workers"):
        ServerLimits(workers=0)
    with pytest.raises(ValueError, match="timeout"):
        ServerLimits(header_timeout=0)


# -- timer ------------------------------------------------------------------------------------


def test_timer_fires_on_schedule_and_never_overlaps(served: Served) -> None:
    deadline = served.started + 8
    while len(TIMER_RUNS) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = list(TIMER_RUNS)
    assert len(runs) >= 2, runs
    assert runs[0][0] - served.started < 2.5
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(runs):
        assert start >= end  # singleton: the next run starts after the previous one ended
        assert start - end < 0.5  # the overrun leads to one immediate run, like the host
    assert TIMER_STATE["max_active"] == 1
    assert all(not past_due for _, _, past_due, _ in runs)  # no schedule monitor here
    assert all(status == {} for _, _, _, status in runs)  # useMonitor off for 1 s schedules


def test_timer_exception_is_logged_and_schedule_continues(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    calls: list[bool] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.timer_trigger(schedule="*/1 * * * * *", arg_name="t", run_on_startup=True)
    async def failing(t: func.TimerRequest) -> None:
        calls.append(t.past_due)
        raise ValueError("timer boom")

    with running(app, start_timers=True):
        deadline = time.monotonic() + 3
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(calls) >= 2  # run on startup, then on schedule despite the exceptions
    assert any("timer boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# -- shutdown ---------------------------------------------------------------------------------


def test_context_manager_exit_finishes_requests_and_closes_everything() -> None:
    runs: list[float] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="slow", methods=["GET"])
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        time.sleep(0.5)
        return func.HttpResponse("finished")

    @app.route(route="fast", methods=["GET"])
    async def fast(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.timer_trigger(schedule="*/1 * * * * *", arg_name="t", run_on_startup=True)
    def tick(t: func.TimerRequest) -> None:
        runs.append(time.monotonic())

    results: list[str] = []
    before = set(threading.enumerate())
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = httpx.Client(base_url=url)  # an idle keep-alive connection must not block exit
        assert idle.get("/api/fast").text == "ok"
        in_flight = threading.Thread(
            target=lambda: results.append(httpx.get(f"{url}/api/slow", timeout=5).text)
        )
        in_flight.start()
        time.sleep(0.15)
        exiting = time.monotonic()
    assert time.monotonic() - exiting < 2.0
    in_flight.join(5)
    assert results == ["finished"]  # the in-flight request was answered before closing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(httpx.TransportError):
        idle.get("/api/fast")
    idle.close()
    assert runs  # run_on_startup
    count = len(runs)
    time.sleep(1.2)
    assert len(runs) == count  # timers stopped
    in_flight.join(5)
    leftover = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []  # server, connection, timer and event loop threads all ended


TOY_MODULE = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    (tmp_path / "toyapp.py").write_text(TOY_MODULE)
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", **NO_PREFIX}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.adapter.devhost", "toyapp:app", "--port", "0",
         "--host-json", "host.json"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 10
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if m := re.search(r"listening on (http://\S+)", line):
                url = m.group(1)
        assert url, "the dev host did not start"
        assert httpx.get(f"{url}/ping").text == "pong"
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/ping", timeout=1)


# -- NCRONTAB ---------------------------------------------------------------------------------


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 */15 * * * *", "2024-01-01T10:07:30", "2024-01-01T10:15:00"),
        ("0 */15 * * * *", "2024-01-01T10:45:00", "2024-01-01T11:00:00"),  # strictly after
        ("0 */15 * * * *", "2024-12-31T23:59:59", "2025-01-01T00:00:00"),
        ("*/30 * * * * *", "2024-01-01T10:00:00", "2024-01-01T10:00:30"),
        ("*/30 * * * * *", "2024-01-01T10:00:29.999", "2024-01-01T10:00:30"),
        ("*/30 * * * * *", "2024-01-01T10:00:30", "2024-01-01T10:01:00"),
        ("0 0 2 * * 1-5", "2024-01-05T03:00:00", "2024-01-08T02:00:00"),  # Fri -> Mon
        ("0 0 2 * * 1-5", "2024-01-08T01:59:59", "2024-01-08T02:00:00"),
        ("0 0,30 9-17/4 * * *", "2024-01-01T09:30:00", "2024-01-01T13:00:00"),
        ("0 0,30 9-17/4 * * *", "2024-01-01T17:30:00", "2024-01-02T09:00:00"),
        ("15,45 * * * * *", "2024-01-01T00:00:15", "2024-01-01T00:00:45"),
        ("0 0 12 * jul,DEC sun", "2024-01-01T00:00:00", "2024-07-07T12:00:00"),
        ("0 0 0 13 * 5", "2024-01-01T00:00:00", "2024-09-13T00:00:00"),  # day AND day-of-week
        ("0 0 0 29 2 *", "2023-03-01T00:00:00", "2024-02-29T00:00:00"),
        ("0 0 0 29 2 1", "2024-03-01T00:00:00", "2044-02-29T00:00:00"),
        ("0 0 0 31 * *", "2024-04-01T00:00:00", "2024-05-31T00:00:00"),
        ("10/20 * * * * *", "2024-01-01T00:00:31", "2024-01-01T00:00:50"),  # a/n = a-max/n
        ("*/5 * * * *", "2024-01-01T00:01:00", "2024-01-01T00:05:00"),  # 5 fields: second 0
    ],
)
def test_next_occurrence(expr: str, after: str, expected: str) -> None:
    assert next_occurrence(expr, _dt(after)) == _dt(expected)


def test_next_occurrence_keeps_awareness_and_uses_utc() -> None:
    after = datetime.fromisoformat("2024-01-01T10:07:30+02:00")  # 08:07:30 UTC
    assert next_occurrence("0 0 * * * *", after) == datetime(2024, 1, 1, 9, tzinfo=UTC)
    schedule = CronSchedule.parse("0 */15 * * * *")
    assert schedule.minutes == (0, 15, 30, 45)
    assert schedule.seconds == (0,)
    assert next_occurrence(schedule, datetime(2024, 1, 1)) == datetime(2024, 1, 1, 0, 15)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "expected 6 fields, got 0"),
        ("* * * *", "expected 6 fields, got 4"),
        ("* * * * * * *", "expected 6 fields, got 7"),
        ("60 * * * * *", "second field '60': 60 is outside 0-59"),
        ("0 0 24 * * *", "hour field '24'"),
        ("0 0 0 0 * *", "day field '0'"),
        ("* * * * * 7", "day-of-week field '7': 7 is outside 0-6"),
        ("*/0 * * * * *", "step '0' must be a positive number"),
        ("5-1 * * * * *", "range '5-1' goes backwards"),
        ("a * * * * *", "'a' is not a number"),
        ("* * * * FOO *", "'FOO' is not a known name"),
        ("1,,2 * * * * *", "empty list item"),
        ("? * * * * *", "second field"),
        ("0 0 0 31 2 *", "has no occurrence"),
    ],
)
def test_invalid_ncrontab_raises_helpful_value_error(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match="NCRONTAB") as info:
        next_occurrence(expr, datetime(2024, 1, 1))
    assert message in str(info.value)


# -- route templates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("scim/v2/{tenant}/Users/{id}", ["scim", "V2", "t1", "users", "u1"],
         {"tenant": "t1", "id": "u1"}),
        ("a/{id:guid}", ["a", "6F9619FF-8B86-D011-B42D-00C04FC964FF"],
         {"id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}),
        ("a/{id:guid}", ["a", "nope"], None),
        ("a/{id:length(2,3)}", ["a", "abcd"], None),
        ("a/{id:regex(^[a-z]{{2}}$)}", ["a", "XY"], {"id": "XY"}),
        ("a/{id:range(1,5)}", ["a", "6"], None),
        ("a/{page=1}", ["a"], {"page": "1"}),
        ("a/{**path}", ["a", "b", "c"], {"path": "b/c"}),
        ("a/{id}", ["a", ""], None),
    ],
)  # fmt: skip
def test_route_template_matching(
    template: str, path: list[str], expected: dict[str, str] | None
) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    "template", ["a/{id", "a/{x}.{y}", "a//b", "a/{id:nosuch}", "a/{*rest}/b", "{x}/{X}"]
)
def test_bad_route_templates_are_rejected(template: str) -> None:
    with pytest.raises(ValueError, match="route"):
        RouteTemplate(template)
