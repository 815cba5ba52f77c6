"""`shared.store.http_connection` against scripted peers: real listening sockets in threads that
answer exact bytes (each test states them), so every framing rule and every broken response is
seen as a client sees it. Broken responses go through `wire.Wire.request`, the store's only
caller, to show what it makes of them: a retry where the rules allow one, else TransportFailed
(the service's 503), never another exception, and never a broken connection left in the pool.

Proxies are a scripted CONNECT proxy (a thread relaying bytes); TLS is a server with a
self-signed certificate made here (`cryptography`)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.store import deadline, http_connection, wire
from shared.store.connection import DEV_ACCOUNT_KEY
from shared.store.errors import TransportFailed, Unavailable
from shared.store.http_connection import (
    MAX_BODY,
    MAX_HEAD,
    Connection,
    Proxy,
    Reply,
    proxy_for,
    tls_context,
)
from shared.store.wire import Request, Response, SharedKeyLite, Wire
from tests.support.storage_faults import own_thread

ACCOUNT = "devstoreaccount1"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                   "no_proxy", "ALL_PROXY", "all_proxy", "REQUEST_METHOD")


# -- a scripted server ---------------------------------------------------------------------

class Peer:
    """The server side of one connection: reads whole requests (recording them), sends
    scripted bytes, hangs up or resets."""

    def __init__(self, conn: socket.socket, received: list[bytes]) -> None:
        self._conn, self._received = conn, received
        self._pending = b""

    def request(self) -> bytes:
        data = self._pending
        while b"\r\n\r\n" not in data:
            chunk = self._conn.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += self._conn.recv(65536)
        self._pending = body[length:]
        request = head + b"\r\n\r\n" + body[:length]
        self._received.append(request)
        return request

    def send(self, data: bytes) -> None:
        self._conn.sendall(data)

    def close(self) -> None:
        self._conn.shutdown(socket.SHUT_RDWR)
        self._conn.close()

    def reset(self) -> None:
        """Close with a TCP reset (RST) instead of an orderly FIN."""
        self._conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._conn.close()


Script = Callable[[Peer], None]


@dataclass
class Scripted:
    port: int
    received: list[bytes] = field(default_factory=list)
    connections: int = 0


@contextmanager
def server(*scripts: Script, tls: ssl.SSLContext | None = None) -> Iterator[Scripted]:
    """Accepts one connection per script, in order (a connection beyond them is accepted and
    closed unanswered, so a client that makes too many is seen to)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # a blocked accept() does not see the listener closing
    state = Scripted(listener.getsockname()[1])
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(10)
            state.connections += 1
            script = scripts[state.connections - 1] if state.connections <= len(scripts) else None
            try:
                conn = tls.wrap_socket(raw, server_side=True) if tls else raw
            except (OSError, ssl.SSLError):  # the client refused our certificate
                raw.close()
                continue
            with conn:
                if script is not None:
                    with suppress(OSError):  # the client left first
                        script(Peer(conn, state.received))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def answer(*responses: bytes, then: str = "hold") -> Script:
    """Reads a request and answers the next response, for each; then "hold"s the connection
    until the client leaves, "close"s it or "reset"s it."""
    def run(peer: Peer) -> None:
        for response in responses:
            if not peer.request():
                return
            peer.send(response)
        if then == "close":
            peer.close()
        elif then == "reset":
            peer.reset()
        else:
            peer.request()
    return run


def times(count: int, script: Script) -> list[Script]:
    return [script] * count


@pytest.fixture
def attempts() -> Iterator[list[str]]:
    """The methods of the attempts the retry rules made for this test (a transport hook counts
    them). Hooks are the process's: the session's app writes its audit log from a thread of its
    own, whenever it likes (counted authentication failures once their minute ends), so only
    the test's thread is counted; `Wire.request` runs the hooks on its caller's thread."""
    seen: list[str] = []

    def count(request: Request, send: wire.Send) -> Response:
        seen.append(request.method)
        return send(request)

    saved = list(wire.TRANSPORT_HOOKS)
    wire.TRANSPORT_HOOKS[:] = [own_thread(count)]
    yield seen
    wire.TRANSPORT_HOOKS[:] = saved


@pytest.fixture(autouse=True)
def no_proxy_or_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the proxy and CA variables they are about; the machine's are not theirs."""
    for name in (*PROXY_VARIABLES, "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _wire(port: int, scheme: str = "http", host: str = "127.0.0.1") -> Wire:
    return Wire(f"{scheme}://{host}:{port}/{ACCOUNT}", SharedKeyLite(ACCOUNT, DEV_ACCOUNT_KEY))


def _exchange(port: int, method: str = "GET", body: bytes = b"") -> Reply:
    conn = Connection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, "/t", body, {"X-Test": "1"})
        return conn.getresponse()
    finally:
        conn.close()


# -- framing that works ----------------------------------------------------------------------

def test_content_length_body_and_headers_in_lower_case() -> None:
    with server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: W/\"x\"\r\n\r\nhello")
                ) as peer:
        reply = _exchange(peer.port)
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"hello")
    assert type(reply.body) is bytes
    assert reply.headers["etag"] == 'W/"x"'
    assert not reply.will_close
    assert peer.received[0].startswith(b"GET /t HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Test: 1\r\n" in peer.received[0]
    assert b"content-length" not in peer.received[0].lower()  # a GET without a body


def test_chunked_body_with_extensions_and_trailers() -> None:
    body = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n"
            b"0\r\nX-Trailer: y\r\n\r\n")
    with server(answer(body)) as peer:
        reply = _exchange(peer.port)
    assert reply.body == b"Wikipedia in \r\n\r\nchunks."
    assert not reply.will_close


def test_no_content_has_no_body_and_the_connection_is_reused() -> None:
    with server(answer(b"HTTP/1.1 204 No Content\r\nETag: a\r\n\r\n", OK)) as peer:
        conn = Connection("127.0.0.1", peer.port, timeout=5)
        conn.request("DELETE", "/a", b"", {})
        first = conn.getresponse()
        conn.request("POST", "/b", b"xyz", {})
        second = conn.getresponse()
        conn.close()
    assert (first.status, first.body, second.body) == (204, b"", b"ok")
    assert peer.connections == 1
    assert b"Content-Length: 3\r\n" in peer.received[1]
    assert peer.received[1].endswith(b"\r\n\r\nxyz")


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 304)])
def test_head_and_not_modified_answers_have_no_body_whatever_their_length_says(
        method: str, status: int) -> None:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\n".encode()
    with server(answer(head, OK)) as peer:
        conn = Connection("127.0.0.1", peer.port, timeout=5)
        conn.request(method, "/a", b"", {})
        first = conn.getresponse()
        conn.request("GET", "/b", b"", {})
        second = conn.getresponse()  # read right after the bodiless answer
        conn.close()
    assert (first.status, first.body, second.body) == (status, b"", b"ok")


def test_interim_100_continue_is_skipped() -> None:
    with server(answer(b"HTTP/1.1 100 Continue\r\n\r\n"
                       b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")) as peer:
        assert _exchange(peer.port).status == 201


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokTRAILING-GARBAGE",
])
def test_a_connection_the_response_ends_is_closed_not_kept(response: bytes) -> None:
    with server(answer(response)) as peer:
        conn = Connection("127.0.0.1", peer.port, timeout=5)
        conn.request("GET", "/a", b"", {})
        reply = conn.getresponse()
    assert (reply.body, reply.will_close, conn.sock) == (b"ok", True, None)


def test_body_delimited_by_close_marks_the_connection_closing() -> None:
    with server(answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", then="close")) as peer:
        reply = _exchange(peer.port)
    assert reply.body == b"until the end"
    assert reply.will_close


def test_header_values_with_line_breaks_are_refused_before_connecting() -> None:
    with server() as peer:
        conn = Connection("127.0.0.1", peer.port, timeout=1)
        for headers in ({"If-Match": "a\r\nInjected: 1"}, {"Bad Name": "x"},
                        {"X": "caf\u00e9\u20ac"}, {"X": "nul\x00"}):
            with pytest.raises(ValueError, match="holds a line break") as info:
                conn.request("GET", "/", b"", headers)
            assert "Injected" not in str(info.value)
    assert peer.connections == 0


# -- malformed responses, through Wire -------------------------------------------------------

HEAD = b"HTTP/1.1 200 OK\r\n"
MALFORMED = {
    "content-length not a number": HEAD + b"Content-Length: abc\r\n\r\nok",
    "negative content-length": HEAD + b"Content-Length: -1\r\n\r\nok",
    "two different content-lengths": HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "bad chunk size line": HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "no CRLF after a chunk": HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nokXY0\r\n\r\n",
    "unknown transfer coding": HEAD + b"Transfer-Encoding: gzip\r\n\r\nok",
    "garbage status line": b"garbage\r\n\r\n",
    "header line without a colon": HEAD + b"no colon here\r\n\r\n",
    "head over the limit": HEAD + b"X: " + b"a" * MAX_HEAD + b"\r\nContent-Length: 0\r\n\r\n",
    "head over the limit, never ending": HEAD + b"X: " + b"a" * (MAX_HEAD + 10),
    "declared body over the limit": HEAD + b"Content-Length: %d\r\n\r\nok" % (MAX_BODY + 1),
}
BROKEN_OFF = {  # the script sends these, then closes or resets the connection
    "truncated body": (HEAD + b"Content-Length: 10\r\n\r\nshort", "close"),
    "truncated chunked body": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab", "close"),
    "reset mid-body": (HEAD + b"Content-Length: 100000\r\n\r\n" + b"x" * 1000, "reset"),
    "reset mid-head": (HEAD + b"Content-Len", "reset"),
}
BROKEN = {**{name: (data, "hold") for name, data in MALFORMED.items()}, **BROKEN_OFF}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_response_to_a_get_is_retried_then_transport_failed(
        case: str, sleeps: list[float], attempts: list[str]) -> None:
    """An idempotent request is retried on a new connection each time (the broken one is
    closed), and once the retries are spent the caller gets TransportFailed."""
    response, then = BROKEN[case]
    with server(*times(wire.RETRIES + 1, answer(response, then=then))) as peer:
        w = _wire(peer.port)
        with pytest.raises(TransportFailed) as info:
            w.request("GET", f"/{ACCOUNT}/t")
        assert w.pool.idle() == []
        w.close()
    assert isinstance(info.value, Unavailable)  # the service's 503
    assert attempts == ["GET"] * (wire.RETRIES + 1)
    assert peer.connections == wire.RETRIES + 1
    assert len(sleeps) == wire.RETRIES


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_response_to_a_post_is_transport_failed_at_once(
        case: str, sleeps: list[float], attempts: list[str]) -> None:
    """A POST may have been applied: it is neither retried nor resent."""
    response, then = BROKEN[case]
    with server(answer(response, then=then)) as peer:
        w = _wire(peer.port)
        with pytest.raises(TransportFailed):
            w.request("POST", f"/{ACCOUNT}/$batch", body=b"1")
        assert w.pool.idle() == []
        w.close()
    assert attempts == ["POST"]
    assert peer.connections == 1
    assert len(peer.received) == 1
    assert sleeps == []


def test_attempts_counts_only_the_tests_own_thread(attempts: list[str]) -> None:
    """Another thread's storage call (the app's audit writer, in a full run) is not one of the
    test's attempts, though it goes through the same hooks."""
    with server(answer(OK, OK)) as peer:
        w = _wire(peer.port)
        writer = threading.Thread(target=w.request, args=("POST", f"/{ACCOUNT}/$batch"))
        writer.start()
        writer.join()
        assert w.request("GET", f"/{ACCOUNT}/t").body == b"ok"
        w.close()
    assert [r.split(b" ")[0] for r in peer.received] == [b"POST", b"GET"]
    assert attempts == ["GET"]


@pytest.mark.parametrize("case", ["two different content-lengths", "no CRLF after a chunk",
                                  "reset mid-body", "garbage status line"])
def test_broken_response_then_a_good_one_succeeds_and_only_the_good_connection_is_kept(
        case: str, sleeps: list[float], attempts: list[str]) -> None:
    response, then = BROKEN[case]
    with server(answer(response, then=then), answer(OK, OK)) as peer:
        w = _wire(peer.port)
        assert w.request("PUT", f"/{ACCOUNT}/t", body=b"1").body == b"ok"
        (kept,) = w.pool.idle()
        assert kept.sock is not None
        assert w.request("GET", f"/{ACCOUNT}/t").body == b"ok"  # on the kept connection
        w.close()
    assert attempts == ["PUT", "PUT", "GET"]
    assert peer.connections == 2
    assert sleeps == [0.0]


def test_body_over_the_limit_is_refused_while_it_streams(
        monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """A chunked (or close-delimited) body has no declared size: reading stops at the limit."""
    monkeypatch.setattr(http_connection, "MAX_BODY", 1000)
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"
    with server(answer(chunked), answer(HEAD + b"\r\n" + b"y" * 1200, then="close")) as peer:
        w = _wire(peer.port)
        for _ in range(2):
            with pytest.raises(TransportFailed, match="1000-byte limit"):
                w.request("POST", f"/{ACCOUNT}/$batch", body=b"1")
        assert w.pool.idle() == []
        w.close()


def test_failure_messages_hold_no_header_value_or_body(sleeps: list[float]) -> None:
    """What the peer sent is not quoted (it could echo anything); neither is what we sent."""
    response = HEAD + b"SECRET-IN-RESPONSE, a header line without a colon\r\n\r\n"
    with server(answer(response)) as peer:
        w = Wire(f"http://127.0.0.1:{peer.port}/{ACCOUNT}", _Signer("SECRET-TOKEN"))
        with pytest.raises(TransportFailed) as info:
            w.request("POST", f"/{ACCOUNT}/$batch", body=b"SECRET-BODY")
        w.close()
    messages = []
    error: BaseException | None = info.value
    while error is not None:
        messages.append(str(error))
        error = error.__cause__
    assert "malformed" in messages[0]
    assert not [m for m in messages if "SECRET" in m], messages


class _Signer:
    def __init__(self, token: str) -> None:
        self.token = token

    def sign(self, request: Request, path: str) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"


def test_a_connection_closed_without_an_answer_is_resent_once_when_it_was_pooled(
        sleeps: list[float], attempts: list[str]) -> None:
    """The idle-close race: a pooled connection the server closes as the request leaves. An
    idempotent request goes out once more on a new connection (one attempt of the rules)."""
    def answer_then_vanish(peer: Peer) -> None:
        peer.request()
        peer.send(OK)
        peer.request()
        peer.close()

    with server(answer_then_vanish, answer(OK)) as peer:
        w = _wire(peer.port)
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        assert w.request("DELETE", f"/{ACCOUNT}/b").body == b"ok"
        w.close()
    assert attempts == ["GET", "DELETE"]
    assert [r.split(b" ")[0] for r in peer.received] == [b"GET", b"DELETE", b"DELETE"]
    assert sleeps == []


# -- the deadline -------------------------------------------------------------------------------

def test_the_deadline_bounds_a_response_that_never_completes(sleeps: list[float]) -> None:
    def stall(peer: Peer) -> None:
        peer.request()
        peer.send(HEAD + b"Content-Length: 10\r\n\r\nabc")
        peer.request()  # until the client gives up

    with server(*times(wire.RETRIES + 1, stall)) as peer:
        w = _wire(peer.port)
        started = time.monotonic()
        with deadline.within(0.5), pytest.raises(TransportFailed):
            w.request("GET", f"/{ACCOUNT}/t")
        assert time.monotonic() - started < 1.5
        w.close()


# -- proxies -------------------------------------------------------------------------------------

@dataclass
class ScriptedProxy:
    port: int
    requests: list[bytes] = field(default_factory=list)  # each tunnel's CONNECT head


@contextmanager
def connect_proxy(status: int = 200) -> Iterator[ScriptedProxy]:
    """A CONNECT proxy: reads the CONNECT head, answers `status`, and on 2xx relays bytes
    between the client and the host:port it asked for."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    proxy = ScriptedProxy(listener.getsockname()[1])
    done = threading.Event()

    def tunnel(client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            proxy.requests.append(head)
            if status // 100 != 2:
                client.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\n\r\n" % status)
                return
            host, _, port = head.split(b" ")[1].decode().rpartition(":")
            with socket.create_connection((host.strip("[]"), int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _relay(client, upstream)

    def serve() -> None:
        while not done.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(10)
            threading.Thread(target=tunnel, args=(client,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    while True:
        readable, _, _ = select.select([a, b], [], [], 5)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


def test_http_endpoint_through_http_proxy_tunnels_with_connect(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with server(answer(OK, OK)) as origin, connect_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        w = _wire(origin.port)
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        assert w.request("GET", f"/{ACCOUNT}/b").body == b"ok"  # the same tunnel, kept alive
        w.close()
    assert [r.split(b"\r\n")[0] for r in proxy.requests] == [
        f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1".encode()]
    assert b"proxy-authorization" not in proxy.requests[0].lower()
    # the request inside the tunnel is an origin-form request, signed as without a proxy
    assert origin.received[0].startswith(f"GET /{ACCOUNT}/a HTTP/1.1\r\n".encode())


def test_proxy_credentials_go_in_proxy_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    with server(answer(OK)) as origin, connect_proxy() as proxy:
        monkeypatch.setenv("http_proxy", f"http://us%40er:p%3Ass@127.0.0.1:{proxy.port}/")
        w = _wire(origin.port)
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        w.close()
    expected = base64.b64encode(b"us@er:p:ss")
    assert b"\r\nProxy-Authorization: Basic " + expected + b"\r\n" in proxy.requests[0]
    assert b"proxy-authorization" not in origin.received[0].lower()


def test_a_proxy_refusing_connect_is_transport_failed_naming_its_status(
        monkeypatch: pytest.MonkeyPatch, sleeps: list[float], attempts: list[str]) -> None:
    with server() as origin, connect_proxy(status=407) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:hunter2@127.0.0.1:{proxy.port}")
        w = _wire(origin.port)
        with pytest.raises(TransportFailed) as info:
            w.request("GET", f"/{ACCOUNT}/a")
        assert w.pool.idle() == []
        w.close()
    assert "407" in str(info.value)
    assert f"127.0.0.1:{proxy.port}" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(w.pool.proxy)
    assert attempts == ["GET"] * (wire.RETRIES + 1)
    assert origin.connections == 0


def test_the_deadline_bounds_a_proxy_that_never_answers_connect() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        conn = Connection("127.0.0.1", 9, timeout=5, proxy=Proxy("127.0.0.1",
                                                                 silent.getsockname()[1]))
        conn.until = time.monotonic() + 0.3
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            conn.request("GET", "/", b"", {})
    assert time.monotonic() - started < 1.0
    assert conn.sock is None


@pytest.mark.parametrize("no_proxy", [
    "127.0.0.1", "localhost,127.0.0.1", " example.com , 127.0.0.1 ", "*", "127.0.0.1:{port}",
])
def test_no_proxy_sends_the_request_directly(
        monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    with server(answer(OK)) as origin, connect_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=origin.port))
        w = _wire(origin.port)
        assert w.pool.proxy is None
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        w.close()
    assert proxy.requests == []
    assert origin.connections == 1


@pytest.mark.parametrize(("env", "scheme", "host", "port", "expected"), [
    ({"HTTPS_PROXY": "http://p:3128"}, "https", "a.table.core.windows.net", 443, "p:3128"),
    ({"HTTPS_PROXY": "p:3128"}, "https", "a.table.core.windows.net", 443, "p:3128"),
    ({"HTTPS_PROXY": "http://p"}, "https", "a.table.core.windows.net", 443, "p:80"),
    ({"HTTPS_PROXY": "http://P:1", "https_proxy": "http://q:2"}, "https", "h", 443, "q:2"),
    ({"HTTP_PROXY": "http://p:3128"}, "https", "h", 443, None),  # http's proxy only
    ({"HTTPS_PROXY": "http://p:3128"}, "http", "h", 80, None),
    ({"HTTP_PROXY": "http://p:3128"}, "http", "h", 80, "p:3128"),
    # NO_PROXY: host suffixes (a leading dot or not), ports optional, "*", case-insensitive
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".core.windows.net"}, "https",
     "a.table.core.windows.net", 443, None),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "core.windows.net"}, "https",
     "a.table.core.windows.net", 443, None),
    ({"HTTPS_PROXY": "http://p:1", "no_proxy": "CORE.WINDOWS.NET"}, "https",
     "a.table.core.windows.net", 443, None),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "indows.net"}, "https",
     "a.table.core.windows.net", 443, "p:1"),  # a suffix of labels, not of characters
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "h:443"}, "https", "h", 443, None),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "h:8443"}, "https", "h", 443, "p:1"),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https", "h", 443, None),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.example"}, "https", "h", 443, "p:1"),
    # loopback is not special: Azurite behind a proxy needs NO_PROXY like any host
    ({"HTTP_PROXY": "http://p:1"}, "http", "127.0.0.1", 10002, "p:1"),
    ({"HTTP_PROXY": "http://p:1"}, "http", "localhost", 10002, "p:1"),
])
def test_proxy_for_follows_the_environment(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], scheme: str, host: str,
        port: int, expected: str | None) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    proxy = proxy_for(scheme, host, port)
    assert (None if proxy is None else f"{proxy.host}:{proxy.port}") == expected


@pytest.mark.parametrize("url", ["https://p:3128", "socks5://p:1080"])
def test_a_proxy_url_that_is_not_http_is_refused_at_construction(
        monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HTTPS_PROXY", url)
    with pytest.raises(ValueError, match="HTTPS_PROXY must be an http:// proxy URL"):
        Wire("https://acct.table.core.windows.net", SharedKeyLite("acct", DEV_ACCOUNT_KEY))


# -- TLS -------------------------------------------------------------------------------------------

@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _self_signed(directory: Path, names: list[str], addresses: list[str]) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scim test storage")])
    now = datetime.datetime.now(datetime.UTC)
    alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    out = Certificate(directory / "cert.pem", directory / "key.pem")
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return out


@pytest.fixture(scope="module")
def localhost_cert(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return _self_signed(tmp_path_factory.mktemp("tls"), ["localhost"], ["127.0.0.1"])


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def test_tls_is_verified_against_the_system_cas_by_default(
        localhost_cert: Certificate, sleeps: list[float]) -> None:
    with server(*times(wire.RETRIES + 1, answer(OK)),
                tls=localhost_cert.server_context()) as peer:
        w = _wire(peer.port, "https")
        with pytest.raises(TransportFailed) as info:
            w.request("GET", f"/{ACCOUNT}/t")
        w.close()
    assert isinstance(_root_cause(info.value), ssl.SSLCertVerificationError)
    assert peer.received == []


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_ca_bundle_named_by_the_environment_is_trusted(
        monkeypatch: pytest.MonkeyPatch, localhost_cert: Certificate, variable: str) -> None:
    monkeypatch.setenv(variable, str(localhost_cert.cert))
    with server(answer(OK, OK), tls=localhost_cert.server_context()) as peer:
        w = _wire(peer.port, "https")
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        assert w.request("GET", f"/{ACCOUNT}/b").body == b"ok"
        w.close()
    assert peer.connections == 1
    assert peer.received[0].startswith(f"GET /{ACCOUNT}/a HTTP/1.1\r\n".encode())


def test_the_certificate_must_name_the_host(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sleeps: list[float]) -> None:
    """A trusted certificate for another name is refused: hostname checking is on."""
    other = _self_signed(tmp_path, ["storage.example"], [])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.cert))
    with server(*times(wire.RETRIES + 1, answer(OK)), tls=other.server_context()) as peer:
        w = _wire(peer.port, "https", host="localhost")
        with pytest.raises(TransportFailed) as info:
            w.request("GET", f"/{ACCOUNT}/t")
        w.close()
    cause = _root_cause(info.value)
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert "match" in str(cause).lower()  # "Hostname mismatch"
    assert peer.received == []


def test_https_through_a_proxy_verifies_the_storage_host_inside_the_tunnel(
        monkeypatch: pytest.MonkeyPatch, localhost_cert: Certificate) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(localhost_cert.cert))
    with server(answer(OK), tls=localhost_cert.server_context()) as origin, \
            connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        w = _wire(origin.port, "https", host="localhost")
        assert w.request("GET", f"/{ACCOUNT}/a").body == b"ok"
        w.close()
    assert proxy.requests[0].startswith(f"CONNECT localhost:{origin.port} HTTP/1.1\r\n".encode())
    assert origin.received[0].startswith(f"GET /{ACCOUNT}/a HTTP/1.1\r\n".encode())


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_an_unreadable_ca_bundle_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match=f"{variable}=.*fix or unset it"):
        tls_context()
    with pytest.raises(ValueError, match=variable):
        Wire("https://acct.table.core.windows.net", SharedKeyLite("acct", DEV_ACCOUNT_KEY))
