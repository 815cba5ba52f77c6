"""HTTP/1.1 framing of `shared.store.http11` against a scripted socket server (each test
states the exact bytes a server sends), and `wire.Wire`'s resend when a pooled connection was
closed while idle."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from azure.core.exceptions import ServiceResponseError

from shared.store import wire
from shared.store.http11 import Connection, Reply


class Peer:
    """The server side of one connection: reads whole requests (recording them), sends
    scripted bytes, hangs up."""

    def __init__(self, conn: socket.socket, received: list[bytes]) -> None:
        self._conn, self._received = conn, received

    def request(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += self._conn.recv(65536)
        data = head + b"\r\n\r\n" + body
        self._received.append(data)
        return data

    def send(self, data: bytes) -> None:
        self._conn.sendall(data)

    def close(self) -> None:
        self._conn.shutdown(socket.SHUT_RDWR)
        self._conn.close()


Script = Callable[[Peer], None]


@contextmanager
def server(*scripts: Script) -> Iterator[tuple[int, list[bytes]]]:
    """Accepts one connection per script, in order; yields (port, requests received)."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        for script in scripts:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the client made fewer connections than scripted
                return
            with conn:
                script(Peer(conn, received))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        listener.close()
        thread.join(timeout=5)


def answer(*responses: bytes, then_close: bool = False) -> Script:
    def run(sock: Peer) -> None:
        for response in responses:
            if not sock.request():
                return
            sock.send(response)
        if then_close:
            sock.close()
        else:
            sock.request()  # hold the connection until the client leaves
    return run


def _get(port: int, method: str = "GET", body: bytes = b"") -> Reply:
    conn = Connection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, "/t", body, {"X-Test": "1"})
        return conn.getresponse(method)
    finally:
        conn.close()


def test_content_length_body_and_headers_in_lower_case() -> None:
    with server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: W/\"x\"\r\n\r\nhello")
                ) as (port, received):
        reply = _get(port)
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"hello")
    assert reply.headers["etag"] == 'W/"x"'
    assert received[0].startswith(b"GET /t HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Test: 1\r\n" in received[0]


def test_chunked_body_with_extensions_and_trailers() -> None:
    body = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n"
            b"0\r\nX-Trailer: y\r\n\r\n")
    with server(answer(body)) as (port, _):
        reply = _get(port)
    assert reply.body == b"Wikipedia in \r\n\r\nchunks."
    assert not reply.will_close


def test_no_content_has_no_body_and_the_connection_is_reused() -> None:
    with server(answer(b"HTTP/1.1 204 No Content\r\nETag: a\r\n\r\n",
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) as (port, received):
        conn = Connection("127.0.0.1", port, timeout=5)
        conn.request("DELETE", "/a", b"", {})
        first = conn.getresponse("DELETE")
        conn.request("POST", "/b", b"xyz", {})
        second = conn.getresponse("POST")
        conn.close()
    assert (first.status, first.body, second.body) == (204, b"", b"ok")
    assert len(received) == 2  # both over the one connection
    assert b"Content-Length: 3\r\n" in received[1]
    assert received[1].endswith(b"\r\n\r\nxyz")


def test_interim_100_continue_is_skipped() -> None:
    with server(answer(b"HTTP/1.1 100 Continue\r\n\r\n"
                       b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")) as (port, _):
        assert _get(port).status == 201


def test_body_delimited_by_close_marks_the_connection_closing() -> None:
    with server(answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", then_close=True)) as (port, _):
        reply = _get(port)
    assert reply.body == b"until the end"
    assert reply.will_close


@pytest.mark.parametrize(("response", "error"), [
    (b"garbage\r\n\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.IncompleteRead),
])
def test_broken_responses_raise_http_client_errors(response: bytes, error: type) -> None:
    with server(answer(response, then_close=True)) as (port, _), pytest.raises(error):
        _get(port)


def test_a_connection_closed_without_an_answer_is_remote_disconnected() -> None:
    def hang_up(sock: Peer) -> None:
        sock.request()
        sock.close()

    with server(hang_up) as (port, _), pytest.raises(http.client.RemoteDisconnected):
        _get(port)


def test_header_values_with_line_breaks_are_refused_before_sending() -> None:
    conn = Connection("127.0.0.1", 9, timeout=1)
    with pytest.raises(ValueError, match="line break"):
        conn.request("GET", "/", b"", {"If-Match": "a\r\nInjected: 1"})


class _Unsigned:
    def sign(self, request: wire.Request, path: str) -> None:
        request.headers["Authorization"] = "test"


@pytest.mark.parametrize(("method", "resent"), [("PUT", True), ("POST", False)])
def test_wire_resends_only_idempotent_requests_when_a_pooled_connection_closes_unanswered(
        method: str, resent: bool) -> None:
    """The server answers, then reads the next request and hangs up without a byte (as a
    server closing an idle keep-alive connection at that instant looks): a PUT goes out again
    on a new connection; a POST may have been applied, so it is not resent."""
    ok = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"

    def answer_then_vanish(sock: Peer) -> None:
        sock.request()
        sock.send(ok)
        sock.request()
        sock.close()

    scripts = (answer_then_vanish, answer(ok)) if resent else (answer_then_vanish,)
    with server(*scripts) as (port, received):
        w = wire.Wire(f"http://127.0.0.1:{port}/acct", _Unsigned())
        assert w.request(method, "/acct/x", body=b"1").status_code == 202
        if resent:
            assert w.request(method, "/acct/x", body=b"2").status_code == 202
        else:
            with pytest.raises(ServiceResponseError):
                w.request(method, "/acct/x", body=b"2")
        w.close()
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in received] == (
        [b"1", b"2", b"2"] if resent else [b"1", b"2"])


def test_wire_does_not_resend_a_post_whose_response_broke_off() -> None:
    """Part of a response arrived: the server processed the request, so a resend could apply
    it twice; the caller gets ServiceResponseError (a POST is not retried)."""
    def half_answer(sock: Peer) -> None:
        sock.request()
        sock.send(b"HTTP/1.1 202 Accepted\r\nContent-Length: 50\r\n\r\npartial")
        sock.close()

    with server(half_answer) as (port, received):
        w = wire.Wire(f"http://127.0.0.1:{port}", _Unsigned())
        with pytest.raises(ServiceResponseError):
            w.request("POST", "/$batch", body=b"1")
        w.close()
    assert len(received) == 1
