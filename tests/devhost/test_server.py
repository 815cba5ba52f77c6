"""HTTP/1.1 on the wire: keep-alive and pipelining, framing errors answered and the connection
closed (nothing smuggled after them), limits, and a bounded pool of workers."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost import ServerLimits, running
from tests.devhost.toy import COUNTED, NO_PREFIX, Served, exchange, ping_app

# -- connections ------------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(client: httpx.Client) -> None:
    addresses = set()
    for path in ["/items", "/items/1", "/nope", "/things/a", "/items"]:
        r = client.get(path)
        addresses.add(r.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(addresses) == 1


def test_raw_socket_pipelined_requests_are_framed(toy: Served) -> None:
    with socket.create_connection(("127.0.0.1", toy.port), timeout=5) as s:
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


def test_chunked_request_body(client: httpx.Client) -> None:
    r = client.post("/items", content=iter([b"hello ", b"chunked ", b"world"]))
    assert r.json()["body"] == "hello chunked world"


def test_expect_100_continue(toy: Served) -> None:
    with socket.create_connection(("127.0.0.1", toy.port), timeout=5) as s:
        s.sendall(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")  # fmt: skip
        assert s.recv(65536).startswith(b"HTTP/1.1 100 ")
        s.sendall(b"abc")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b'"body": "abc"' in data


def test_http10_is_answered_and_closed(toy: Served) -> None:
    answer = exchange(toy.port, b"GET /items/3 HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"url": "http://127.0.0.1:%d/items/3"' % toy.port in answer  # no Host: the address
    assert b"\r\nConnection: close\r\n" in answer


def test_concurrent_requests_are_all_answered(toy: Served) -> None:
    # One client (thread-safe) opening up to 20 connections: creating 20 clients costs more
    # than the requests.
    with httpx.Client(base_url=toy.url, timeout=10) as c:

        def get(i: int) -> int:
            return c.get("/slow" if i % 2 else f"/items/{i}").status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(get, range(20)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 20
    assert elapsed < 1.5  # the 10 slow requests (0.3 s each) ran in parallel, not in 3 s


# -- framing errors and request smuggling (RFC 9112 section 6.3) ------------------------------

SMUGGLED = b"DELETE /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
POST = b"POST /count HTTP/1.1\r\nHost: x\r\n"


def _assert_rejected_and_closed(toy: Served, data: bytes, status: int) -> bytes:
    before = len(COUNTED)
    answer = exchange(toy.port, data)  # returns only once the server has closed the connection
    head = answer.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert b"\r\nConnection: close" in head
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # nothing after the error was answered
    assert len(COUNTED) == before  # neither the request nor the smuggled one ran
    return answer


@pytest.mark.parametrize(
    ("head", "rest", "status"),
    [
        # both framings: a front end using the other one would see a different request
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n", 400),
        # codings other than exactly chunked
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", b"0\r\n\r\n", 501),
        (b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n", 501),
        (b"Transfer-Encoding: gzip\r\n", b"0\r\n\r\n", 501),
        (b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", 501),
        (b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n", 400),
        # Content-Length: conflicting, not a number, too large
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!", 400),
        (b"Content-Length: 5, 6\r\n", b"hello!", 400),
        (b"Content-Length: +5\r\n", b"hello", 400),
        (b"Content-Length: 0x5\r\n", b"hello", 400),
        (b"Content-Length: 99999999999999999999999999\r\n", b"hello", 400),  # over 20 digits
        (b"Content-Length: 999999999999\r\n", b"hello", 413),
        # chunks: bad size, no CRLF after the data
        (b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", b" 5\r\nhello\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n", 400),
        # header lines: obsolete folding, whitespace before the colon, no colon, bare CR,
        # control characters
        (b"X-Folded: a\r\n b\r\n", b"", 400),
        (b"X-Folded: a\n\tb\n", b"", 400),
        (b"Content-Length : 5\r\n", b"hello", 400),
        (b"Content-Length\r\n", b"", 400),
        (b"X-Bad: a\rb\r\n", b"", 400),
        (b"X-Bad: a\x1bb\r\n", b"", 400),
        (b"X-Bad: a\x7f\r\n", b"", 400),
        # oversize headers
        (b"X-Big: " + b"a" * 40_000 + b"\r\n", b"", 431),
        (b"".join(b"X-%d: v\r\n" % i for i in range(120)), b"", 431),
    ],
    ids=lambda v: v.decode("latin-1")[:40] if isinstance(v, bytes) else str(v),
)
def test_framing_error_is_answered_and_closes_the_connection(
    toy: Served, head: bytes, rest: bytes, status: int
) -> None:
    answer = _assert_rejected_and_closed(toy, POST + head + b"\r\n" + rest + SMUGGLED, status)
    assert answer.partition(b"\r\n\r\n")[2].startswith(b'{"status": %d' % status)


def test_transfer_encoding_in_http10_is_a_framing_error(toy: Served) -> None:
    data = (b"POST /count HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED)  # fmt: skip
    _assert_rejected_and_closed(toy, data, 400)


def test_http11_without_host_is_rejected(toy: Served) -> None:
    _assert_rejected_and_closed(toy, b"POST /count HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                                + SMUGGLED, 400)


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
    toy: Served, request_line: bytes, status: int
) -> None:
    data = request_line + b"\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + SMUGGLED
    _assert_rejected_and_closed(toy, data, status)


def test_absolute_form_target_is_served_by_its_path(toy: Served) -> None:
    answer = exchange(toy.port, b"GET http://elsewhere/items/5?q=1 HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"route_params": {"id": "5"}' in answer


_LENGTHS = ["5", "005", " 5", "5 ", "+5", "5,5", "5, 5", "5, 6", "0x5", "-5", "", "5.0",
            "\u0665", "99999999999999999999"]  # fmt: skip
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
    """The request model (the body sent is always `0\\r\\n\\r\\n`, 5 bytes): Content-Length
    fields whose comma-separated values are all the same decimal 5 (RFC 9110 section 8.6 lets a
    recipient take such a list as the one value), or a single Transfer-Encoding field that is
    exactly `chunked`; never both (RFC 9112 section 6)."""
    lengths = {v.strip(" \t") for n, v in fields if n.lower() == "content-length"
               for v in v.split(",")}  # fmt: skip
    codings = [v.strip(" \t").lower() for n, v in fields if n.lower() == "transfer-encoding"]
    if lengths and codings:
        return False
    if codings:
        return codings == ["chunked"]
    (value, *others) = lengths
    return not others and value.isascii() and value.isdigit() and int(value) == 5


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=_framing_fields)
def test_framing_headers_either_frame_both_requests_or_close(
    toy: Served, fields: list[tuple[str, str]]
) -> None:
    head = b"".join(f"{n}: {v}\r\n".encode() for n, v in fields)
    before = len(COUNTED)
    answer = exchange(toy.port, POST + head + b"\r\n0\r\n\r\n" + SMUGGLED)
    if _framing_is_unambiguous(fields):
        assert answer.count(b"HTTP/1.1 200 ") == 2, answer
        assert COUNTED[before:] == ["POST", "DELETE"]
    else:
        assert answer.count(b"HTTP/1.1 ") == 1, answer
        assert re.match(rb"HTTP/1.1 (400|413|501) ", answer), answer[:100]
        assert b"\r\nConnection: close\r\n" in answer
        assert len(COUNTED) == before


# -- limits, bounded workers and slow clients -------------------------------------------------


def test_bodies_over_the_limit_are_413() -> None:
    limits = ServerLimits(max_body_bytes=10)
    with running(ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        chunked = (b"GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")  # fmt: skip
        for data in (b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11,
                     chunked):
            answer = exchange(port, data + SMUGGLED)
            assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
            assert answer.count(b"HTTP/1.1 ") == 1
        answer = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                                b"Connection: close\r\n\r\n" + b"x" * 10)  # fmt: skip
        assert answer.startswith(b"HTTP/1.1 200 ")


def test_slow_headers_and_slow_bodies_time_out_with_408() -> None:
    limits = ServerLimits(header_timeout=0.5)
    with running(ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        answer = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n", timeout=5)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert b"the request headers did not arrive in time" in answer
        assert time.monotonic() - started < 2
        # a body gets a grace period of 5 s, then must arrive at 240 bytes/s
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n")
            time.sleep(0.5)
            s.sendall(b"x" * 480)  # two more seconds
            answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert b"the request body did not arrive in time" in answer
        assert 5 + 480 / 240 - 0.5 < time.monotonic() - started < 9


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
    with running(ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
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
        answer = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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
    with running(ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
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
    with running(ping_app(), host_json=NO_PREFIX, start_timers=False, limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)  # one is being served (waiting for its headers), one waits
            answer = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
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
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServerLimits(max_body_bytes=-1)
