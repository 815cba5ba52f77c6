"""HTTP/1.1 for the dev host: ``h11`` parses and frames the messages, this module owns the
sockets, the limits and the threads.

One thread accepts connections; at most ``ServerLimits.workers`` threads serve them, one
connection each, keep-alive and pipelining included. Up to ``ServerLimits.waiting`` more
connections wait for a worker; beyond that a connection is answered 503 at once. A request
whose framing h11 rejects (or that breaks a limit below) is answered 4xx/5xx with a small
JSON body and its connection closed, so nothing sent after it is ever taken as a request:

* 400: malformed request line or header line (obsolete line folding and control characters
  included), conflicting or invalid Content-Length, a bad chunk, both Content-Length and
  Transfer-Encoding (RFC 9112 section 6.3: close after it), Transfer-Encoding in HTTP/1.0,
  no Host in HTTP/1.1;
* 408: headers not complete ``header_timeout`` seconds after the connection was accepted (or
  after the first byte of a later request), or a body arriving slower than Kestrel's minimum
  data rate after a grace period;
* 413: a body larger than ``max_body_bytes``; 414: a URL longer than ``MAX_URL_CHARS``;
  431: request line and headers over ``MAX_HEADER_BYTES`` or more than ``MAX_HEADER_COUNT``
  fields; 501: a transfer coding other than chunked; 505: an HTTP version other than 1.x.

Like Kestrel, obsolete line folding and control characters in a field value are refused
with 400 (RFC 9112 section 5.2 and RFC 9110 section 5.5 allow a recipient to keep them); as
h11 does it, a Content-Length repeated with one same value is that value (RFC 9110 section
8.6 allows it).
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import logging
import queue
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import h11

from shared.sanitize import clean

__all__ = ["HostResponse", "Server", "ServerLimits", "json_error"]

_log = logging.getLogger("devhost")

MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's request length limit
MAX_URL_CHARS = 4096  # the Functions host's URL length limit
MAX_HEADER_BYTES = 32 * 1024  # Kestrel's MaxRequestHeadersTotalSize
MAX_HEADER_COUNT = 100  # Kestrel's MaxRequestHeaderCount
KEEP_ALIVE_SECONDS = 130.0  # Kestrel's KeepAliveTimeout
MIN_BODY_BYTES_PER_SECOND = 240.0  # Kestrel's MinRequestBodyDataRate ...
BODY_GRACE_SECONDS = 5.0  # ... and its grace period
SEND_TIMEOUT_SECONDS = 30.0  # a client that does not read its answer frees the worker
LINGER_SECONDS = 2.0
MAX_LINGERING = 1024  # closing sockets drained at once; beyond, the oldest is closed
SERVER_NAME = "devhost"
_RECV_BYTES = 65536
_IDLE_POLL_SECONDS = 0.25  # how soon an idle keep-alive connection yields under pressure
_BODYLESS = frozenset({204, 304})
_QUOTED_BYTES = re.compile(r":\s*(?:bytearray\()?b['\"].*", re.DOTALL)
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head
_FOLDED_LINE = re.compile(rb"\n[ \t]")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # h11 lets these through in values


@dataclass(frozen=True)
class HostResponse:
    """What goes on the wire; Content-Length, Date, Server and Connection are added here."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


# (method, origin-form target, header fields, body, Host) -> response
Handler = Callable[[str, str, list[tuple[str, str]], bytes, str], HostResponse]


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def json_error(
    status: int, extra: Sequence[tuple[str, str]] = (), *, detail: str | None = None
) -> HostResponse:
    """The host's own answers (404, 405, 500, framing errors): a small JSON document."""
    document: dict[str, object] = {"status": status, "error": reason(status)}
    if detail is not None:
        document["detail"] = detail
    body = json.dumps(document).encode()
    return HostResponse(status, [("Content-Type", "application/json"), *extra], body)


_BUSY = json_error(503, [("Retry-After", "1")],
                   detail="the dev host is serving as many connections as it allows")


@dataclass(frozen=True)
class ServerLimits:
    """How many connections are served at once, how long slow clients get, how large a body.

    ``workers`` threads serve connections; up to ``waiting`` more accepted connections wait for
    a free worker, and any beyond that are answered 503 at once. A connection must deliver its
    request line and headers within ``header_timeout`` seconds (counted from its acceptance,
    then from the first byte of each later request); an idle keep-alive connection is closed
    after ``keep_alive_timeout`` seconds, or as soon as another connection waits for a worker.
    Defaults are Kestrel's or the Functions host's where they have one.
    """

    workers: int = 64
    waiting: int = 256
    header_timeout: float = 30.0
    keep_alive_timeout: float = KEEP_ALIVE_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.workers < 1 or self.waiting < 0:
            raise ValueError(
                f"ServerLimits: workers must be >= 1 and waiting >= 0, got workers="
                f"{self.workers}, waiting={self.waiting}"
            )
        if not (self.header_timeout > 0 and self.keep_alive_timeout > 0):
            raise ValueError("ServerLimits: header_timeout and keep_alive_timeout must be > 0")
        if self.max_body_bytes < 0:
            raise ValueError("ServerLimits: max_body_bytes must be >= 0")


class _RequestError(Exception):
    """A request the server answers itself before closing the connection.

    ``linger``: keep reading (and discarding) what the client still sends for a moment after
    the answer, so that closing with unread data does not reset the connection before the
    client has read the answer. Not for timeouts: a client that is too slow gets no grace.
    """

    def __init__(self, status: int, detail: str, *, linger: bool = True) -> None:
        super().__init__(status, detail)
        self.status, self.detail, self.linger = status, detail, linger


class Server:
    """Accepts on one thread and serves connections on a bounded pool of worker threads."""

    def __init__(self, address: tuple[str, int], handler: Handler, limits: ServerLimits) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # create_server sets SO_REUSEADDR; a backlog of 128 absorbs bursts of connections.
        self.socket = socket.create_server(address, family=family, backlog=128)
        self.handler, self.limits = handler, limits
        self.lock = threading.Lock()
        self.connections: dict[threading.Thread, socket.socket] = {}
        self.workers: list[threading.Thread] = []
        self.admitted = 0  # connections waiting for a worker or being served
        self.closing = False
        self._queue: queue.SimpleQueue[tuple[socket.socket, float] | None] = queue.SimpleQueue()
        self._lingering: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self._next_drain = 0.0
        self._date = (0, "")
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name="devhost-http",
                                          daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._acceptor.start()

    def stop(self, deadline: float) -> None:
        """Stop accepting; end waiting and idle connections now, busy ones after their
        response (until ``deadline``, a time.monotonic() value); then end the workers."""
        self._stopping.set()
        self._acceptor.join(max(0.0, deadline - time.monotonic()))
        self.socket.close()
        with self.lock:
            self.closing = True
            active = list(self.connections.values())
            workers = list(self.workers)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        while True:  # connections still queued when the workers left
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].close()
        while self._lingering:
            self._lingering.popleft()[1].close()

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True))
        return self._date[1]

    def pressed(self) -> bool:
        """True when a connection waits for a worker (idle keep-alive connections yield)."""
        return self.admitted > self.limits.workers

    # -- accepting (one thread) ---------------------------------------------------------------

    def _accept_loop(self) -> None:
        # Accept everything pending at each wake-up: the acceptor must outpace a flood of
        # connections, or the listen backlog overflows and well-behaved clients are dropped.
        self.socket.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if selector.select(0.1) and not self._accept_pending():
                    self._stopping.wait(0.1)  # e.g. out of file descriptors
                self._drain_lingering()

    def _accept_pending(self) -> bool:
        """Accept the connections waiting in the backlog; False if accepting failed."""
        for _ in range(128):
            try:
                sock, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                _log.warning("accepting a connection failed", exc_info=True)
                return False
            self._admit(sock)
        return True

    def _admit(self, sock: socket.socket) -> None:
        with self.lock:
            admit = not self.closing and self.admitted < self.limits.workers + self.limits.waiting
            if admit:
                self.admitted += 1
                if self.admitted > len(self.workers) < self.limits.workers:
                    worker = threading.Thread(target=self._work, daemon=True,
                                              name=f"devhost-worker-{len(self.workers)}")
                    self.workers.append(worker)
                    worker.start()
        if admit:
            self._queue.put((sock, time.monotonic()))
            return
        # Answer 503 without reading the request: the acceptor must never block.
        with contextlib.suppress(OSError, h11.LocalProtocolError):
            sock.setblocking(False)
            sock.send(_Connection.encode_alone(_BUSY, self.date()))
        self.linger(sock)

    def linger(self, sock: socket.socket) -> None:
        """Close after the answer: FIN now, drain what the client still sends, close later."""
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        self._lingering.append((time.monotonic() + LINGER_SECONDS, sock))
        while len(self._lingering) > MAX_LINGERING:
            with contextlib.suppress(IndexError):
                self._lingering.popleft()[1].close()

    def _drain_lingering(self) -> None:
        now = time.monotonic()
        if now < self._next_drain:
            return
        self._next_drain = now + 0.05
        for _ in range(len(self._lingering)):
            try:
                expires, sock = self._lingering.popleft()
            except IndexError:
                break
            if _drained(sock) or now >= expires:
                sock.close()
            else:
                self._lingering.append((expires, sock))

    # -- serving (worker threads) -------------------------------------------------------------

    def _work(self) -> None:
        me = threading.current_thread()
        while (item := self._queue.get()) is not None:
            sock, accepted = item
            linger = False
            try:
                with self.lock:
                    if self.closing:
                        continue
                    self.connections[me] = sock
                linger = _Connection(sock, self, accepted).serve()
            except (ConnectionError, TimeoutError):
                pass
            except Exception:  # one broken connection must not end a worker
                _log.exception("unexpected error on a connection")
            finally:
                with self.lock:
                    self.connections.pop(me, None)
                    self.admitted -= 1
                if linger:
                    self.linger(sock)
                else:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                    sock.close()


def _drained(sock: socket.socket) -> bool:
    """Discard what a closing connection has received; True once the client has closed."""
    try:
        for _ in range(16):
            if not sock.recv(_RECV_BYTES):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    return False


class _Connection:
    """One client connection: h11 reads the requests, this class bounds the waits and sizes
    and hands each request to the server's handler."""

    def __init__(self, sock: socket.socket, server: Server, accepted: float) -> None:
        self.sock, self.server, self.limits = sock, server, server.limits
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        # The first request's headers are due header_timeout after acceptance, not after its
        # first byte: a connection that waited for a worker has had that time already.
        self.first_deadline = accepted + self.limits.header_timeout
        self.received = 0  # bytes received on the connection (for the body data rate)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def serve(self) -> bool:
        """Serve requests until the connection ends; True if it must linger when closed."""
        first = True
        while True:
            try:
                if not self._await_request(first):
                    return False
                self._handle_one(first)
            except _RequestError as exc:
                _log.info("- <rejected request> %d %s", exc.status, exc.detail)
                self._send_error(exc)
                return exc.linger
            first = False
            if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                return bool(self.h11.trailing_data[0])  # Connection: close, HTTP/1.0
            self.h11.start_next_cycle()

    # -- reading ------------------------------------------------------------------------------

    def _recv(self, timeout: float) -> bytes | None:
        """One receive (b"" at the end of the stream); None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(_RECV_BYTES)
        except TimeoutError:
            return None
        self.received += len(data)
        return data

    def _await_request(self, first: bool) -> bool:
        """Wait for the first byte of a request; False when the connection should be closed."""
        if self.h11.trailing_data[0]:
            return True  # pipelined
        if first:
            deadline, patience = self.first_deadline, False
        else:
            deadline, patience = time.monotonic() + self.limits.keep_alive_timeout, True
        while (remaining := deadline - time.monotonic()) > 0:
            data = self._recv(min(remaining, _IDLE_POLL_SECONDS) if patience else remaining)
            if data == b"":
                return False
            if data is not None:
                self.h11.receive_data(data)
                return True
            if patience and self.server.pressed():
                return False
        return False

    def _refuse_folding(self) -> None:
        """400 if the head h11 is about to parse has obsolete line folding (h11 would join
        the lines): a check of the buffered bytes, before they are parsed."""
        data = self.h11.trailing_data[0]
        end = _HEAD_END.search(data)
        if end is not None and _FOLDED_LINE.search(data, 0, end.start()):
            raise _RequestError(400, "obsolete line folding is not accepted")

    def _next_event(self, deadline: Callable[[], float], what: str, *, head: bool = False
                    ) -> object:
        while True:
            if head:
                self._refuse_folding()
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                # h11's reason without the client's bytes it quotes: not echoed, not logged.
                detail = _QUOTED_BYTES.sub("", str(exc))
                raise _RequestError(exc.error_status_hint, clean(detail, 200)) from None
            if event is not h11.NEED_DATA:
                return event
            remaining = deadline() - time.monotonic()
            data = self._recv(remaining) if remaining > 0 else None
            if data is None:
                raise _RequestError(408, f"{what} did not arrive in time", linger=False)
            if not data:
                raise _RequestError(400, f"the connection ended in the middle of {what}",
                                    linger=False)
            self.h11.receive_data(data)

    def _read_request(self, first: bool) -> tuple[h11.Request, list[tuple[str, str]], int]:
        """The request, its fields (names lower-cased) and its Content-Length (-1: none)."""
        due = self.first_deadline if first else time.monotonic() + self.limits.header_timeout
        request = self._next_event(lambda: due, "the request headers", head=True)
        assert isinstance(request, h11.Request)  # h11 yields nothing else before a request
        if not request.http_version.startswith(b"1."):
            raise _RequestError(505, "only HTTP/1.x is served")
        if len(request.headers) > MAX_HEADER_COUNT:
            raise _RequestError(431, f"more than {MAX_HEADER_COUNT} header fields")
        # h11 bounds only a head still incomplete; one received whole is measured here.
        size = len(request.method) + len(request.target)
        fields: list[tuple[str, str]] = []
        length, chunked = -1, False
        for name, value in request.headers:
            size += len(name) + len(value) + 4
            if _CONTROL.search(value):
                raise _RequestError(400, "a header field value holds a control character")
            if name == b"content-length":
                length = int(value)  # h11 has checked it: decimal, one value
            elif name == b"transfer-encoding":
                chunked = True  # h11 has checked it: exactly "chunked"
            fields.append((name.decode("latin-1"), value.decode("latin-1")))
        if size > MAX_HEADER_BYTES:
            raise _RequestError(431, f"the request headers are larger than {MAX_HEADER_BYTES} "
                                "bytes")
        if chunked and length >= 0:  # RFC 9112 section 6.3: either could be the real framing
            raise _RequestError(400, "both Content-Length and Transfer-Encoding are present")
        if chunked and request.http_version == b"1.0":
            raise _RequestError(400, "Transfer-Encoding is not allowed in HTTP/1.0")
        return request, fields, length

    def _read_body(self, length: int) -> bytes:
        limit = self.limits.max_body_bytes
        too_large = f"the body is larger than {limit} bytes"
        if length > limit:
            raise _RequestError(413, too_large)
        if self.h11.they_are_waiting_for_100_continue:
            self._send_raw(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        # Kestrel's minimum request body data rate: a grace period, then 240 bytes/s.
        started, received = time.monotonic(), self.received
        deadline = lambda: (  # noqa: E731
            started + BODY_GRACE_SECONDS + (self.received - received) / MIN_BODY_BYTES_PER_SECOND
        )
        body = bytearray()
        while True:
            event = self._next_event(deadline, "the request body")
            if isinstance(event, h11.EndOfMessage):
                return bytes(body)
            assert isinstance(event, h11.Data)
            body += event.data
            if len(body) > limit:
                raise _RequestError(413, too_large)

    def _handle_one(self, first: bool) -> None:
        started = time.perf_counter()
        request, headers, length = self._read_request(first)
        method, target = request.method.decode("ascii"), request.target.decode("ascii")
        if not target.startswith("/"):  # absolute-form (proxies) or '*'
            try:
                parts = urlsplit(target)
            except ValueError:
                raise _RequestError(400, "the request target is not a valid URL") from None
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(target) > MAX_URL_CHARS:
            raise _RequestError(414, f"the URL is longer than {MAX_URL_CHARS} characters")
        body = self._read_body(length)
        host = next((value for name, value in headers if name == "host"), None)
        if host is None:  # HTTP/1.0
            host = "{}:{}".format(*self.server.address)
        response = self.server.handler(method, target, headers, body, host)
        status, data = self._encode(response, close=False, head=method == "HEAD")
        # Logged before the answer leaves: a client that has it may read the log at once.
        # The request line is the client's text: one printable line, bounded.
        _log.info("%s %s %d %.1fms", clean(method, 16), clean(target.split("?", 1)[0], 300),
                  status, (time.perf_counter() - started) * 1000)
        self._send_raw(data)

    # -- writing ------------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        self.sock.settimeout(SEND_TIMEOUT_SECONDS)
        self.sock.sendall(data)

    @staticmethod
    def _head(response: HostResponse, date: str, close: bool) -> h11.Response:
        """The status line and fields; h11.LocalProtocolError (or UnicodeEncodeError) for what
        HTTP/1.1 cannot carry."""
        given = {name.lower() for name, _ in response.headers}
        fields = [(name.encode("latin-1"), value.encode("latin-1"))
                  for name, value in response.headers]  # fmt: skip
        if "date" not in given:
            fields.append((b"Date", date.encode("ascii")))
        if "server" not in given:
            fields.append((b"Server", SERVER_NAME.encode("ascii")))
        if response.status not in _BODYLESS:
            fields.append((b"Content-Length", str(len(response.body)).encode("ascii")))
        if close:
            fields.append((b"Connection", b"close"))
        return h11.Response(status_code=response.status, headers=fields,
                            reason=reason(response.status).encode("ascii"))

    @classmethod
    def encode_alone(cls, response: HostResponse, date: str) -> bytes:
        """A response written without a request (the 503 of the acceptor), then close."""
        connection = h11.Connection(h11.SERVER)
        return connection.send(cls._head(response, date, close=True)) + connection.send(
            h11.Data(data=response.body)) + connection.send(h11.EndOfMessage())

    def _encode(self, response: HostResponse, *, close: bool, head: bool) -> tuple[int, bytes]:
        """``response`` on the wire (a 500 if HTTP/1.1 cannot carry it): (status, bytes).
        ``head``: the answer to a HEAD request, fields as for GET but no body."""
        try:
            status_and_fields = self._head(response, self.server.date(), close)
        except (h11.LocalProtocolError, UnicodeEncodeError):
            _log.exception("a function's response cannot be sent as HTTP/1.1; answering 500")
            response = json_error(500)
            status_and_fields = self._head(response, self.server.date(), close)
        data = self.h11.send(status_and_fields)
        if response.body and not head and response.status not in _BODYLESS:
            data += self.h11.send(h11.Data(data=response.body))
        return response.status, data + self.h11.send(h11.EndOfMessage())

    def _send_error(self, error: _RequestError) -> None:
        """Answer a rejected request and close; silently if h11 or the client cannot take it."""
        response = json_error(error.status, detail=error.detail)
        with contextlib.suppress(h11.LocalProtocolError, OSError):
            self._send_raw(self._encode(response, close=True, head=False)[1])
