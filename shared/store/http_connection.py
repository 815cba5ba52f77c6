"""One HTTP/1.1 client connection to Table Storage, framed by h11; TLS and proxies from the
environment.

`http.client` parses every response's headers with the `email` package, which also compiles a
regular expression for each multipart boundary it sees (every transaction response has a new
one), and `requests`/urllib3 add their own layers on top: most of a storage call's CPU before
the store had its own client (docs/performance.md). This module keeps one socket and one
`h11.Connection` per keep-alive connection and lets h11 do all the framing (status line,
headers, Content-Length, chunked bodies, which responses have no body); around it only what
a storage call needs:

- a deadline (`until`) that bounds every blocking operation of an exchange, connecting
  through a proxy and the TLS handshake included;
- bounded responses: a head over `MAX_HEAD` or a body over `MAX_BODY` is refused;
- TLS with certificate and hostname verification against the system's CAs plus the bundles
  named by `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` (`tls_context`);
- `HTTPS_PROXY` / `HTTP_PROXY` with `NO_PROXY` (`proxy_for`): a CONNECT tunnel through the
  proxy, TLS to the storage host inside it.

Failures are `OSError` (the network: refused, reset, timed out, TLS) or `Failure` (the
peer's HTTP was unusable); either way the connection is closed and must not be reused.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]  # the second is not in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

import h11

MAX_HEAD = 64 * 1024  # status line and headers together
MAX_BODY = 32 * 1024 * 1024  # far above what the store reads: query pages, batch answers
# Socket reads go into one buffer per connection: `recv(n)` allocates n bytes each time, and
# an allocation this large is a fresh memory mapping (a measurable cost per call).
_RECV_SIZE = 256 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE"})
_FIELD_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # a header name (RFC 9110)
_FIELD_NAMES = re.compile(rf"(?:{_FIELD_NAME}(?:\n{_FIELD_NAME})*)?")  # names joined by line feeds
_NOT_FIELD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_QUOTED_BYTES = re.compile(r":\s*(?:bytearray\()?b['\"]")  # where h11 starts quoting data
_CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_NEED_DATA = h11.NEED_DATA
_DONE = h11.DONE
_DATA = h11.Data
_END = h11.EndOfMessage
_RESPONSE = h11.Response
_INFORMATIONAL = h11.InformationalResponse
_END_OF_MESSAGE = h11.EndOfMessage()  # immutable: one serves every request


class Failure(Exception):
    """The peer's HTTP could not be used; the connection is closed."""


class ClosedUnanswered(Failure):
    """The connection closed (or was reset) before any byte of a response arrived: what a
    server closing an idle keep-alive connection as the request left looks like."""


class MalformedResponse(Failure):
    """The response broke HTTP/1.1 framing, ended early or exceeded the size limits."""


class ProxyRefused(Failure):
    """The proxy did not open a tunnel (its CONNECT answer was not 2xx)."""


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    will_close: bool


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy that tunnels with CONNECT; `authorization` is a ready
    `Proxy-Authorization` value (never shown: `__repr__` leaves it out)."""

    host: str
    port: int
    authorization: bytes | None = None

    def __repr__(self) -> str:
        return f"Proxy({self.host}:{self.port})"


def tls_context() -> ssl.SSLContext:
    """Certificate and hostname verification against the system's CAs, plus the bundle files
    named by `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` (as `requests` honoured them; OpenSSL
    reads only the first by itself, and only when the system store is used)."""
    context = ssl.create_default_context()
    for variable in _CA_BUNDLE_VARIABLES:
        path = os.environ.get(variable)
        if not path:
            continue
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"{variable}={path!r} is not a readable PEM file (or directory) of CA "
                f"certificates: {exc}; fix or unset it") from exc
    return context


def proxy_for(scheme: str, host: str, port: int) -> Proxy | None:
    """The proxy the environment names for this endpoint (`HTTPS_PROXY` for https,
    `HTTP_PROXY` for http, lower-case spellings first), unless `NO_PROXY` lists the host (with
    or without the port) or a suffix of it, or is `*` (urllib's rules; loopback is not
    special)."""
    proxies = getproxies_environment()
    url = proxies.get(scheme)
    if not url or proxy_bypass_environment(f"{_bracketed(host)}:{port}", proxies):
        return None
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(
            f"{scheme.upper()}_PROXY must be an http:// proxy URL (host and port, optionally "
            f"user:password@); got scheme {parts.scheme!r}")
    try:
        proxy_port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"{scheme.upper()}_PROXY has an invalid port") from exc
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = b"Basic " + base64.b64encode(credentials.encode())
    return Proxy(parts.hostname, proxy_port, authorization)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Connection:
    """A keep-alive connection to one host; one request at a time.

    `timeout` bounds connecting and sending, `getresponse(timeout=)` each wait for response
    bytes. `until` (a `time.monotonic()` value, set by the caller per exchange) bounds them
    all together: every blocking operation waits at most until then, and one that would
    start after it raises TimeoutError. A per-operation timeout alone lets a server that
    answers slowly, or a request that waits for several operations, run far past it."""

    def __init__(self, host: str, port: int | None, *, timeout: float,
                 tls: ssl.SSLContext | None = None, proxy: Proxy | None = None) -> None:
        self.host = host
        self.port = port or (443 if tls else 80)
        self.timeout = timeout
        self.until: float | None = None
        self.sock: socket.socket | None = None
        self.proxy = proxy
        self._tls = tls
        self._h11: h11.Connection | None = None
        self._received: memoryview | None = None  # the read buffer, made on connecting
        default = 443 if tls else 80
        authority = _bracketed(host) if self.port == default else f"{_bracketed(host)}:{self.port}"
        self._host_field = (b"Host", authority.encode("idna"))

    def _bounded(self, timeout: float | None) -> float | None:
        """`timeout`, shortened to what is left before `until`."""
        if self.until is None:
            return timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect(self) -> None:
        if self._received is None:
            self._received = memoryview(bytearray(_RECV_SIZE))
        target = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        sock = socket.create_connection(target, timeout=self._bounded(self.timeout))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.proxy is not None:
                self._tunnel(sock, self.proxy)
            if self._tls is not None:
                sock.settimeout(self._bounded(self.timeout))  # the handshake's reads
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)

    def _tunnel(self, sock: socket.socket, proxy: Proxy) -> None:
        """Ask the proxy for a tunnel to our host (RFC 9110 CONNECT); on return, `sock`
        carries bytes to and from the storage host."""
        authority = f"{_bracketed(self.host)}:{self.port}".encode("idna")
        fields = [(b"Host", authority)]
        if proxy.authorization is not None:
            fields.append((b"Proxy-Authorization", proxy.authorization))
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        sock.settimeout(self._bounded(self.timeout))
        sock.sendall(conn.send(h11.Request(method=b"CONNECT", target=authority, headers=fields))
                     + conn.send(_END_OF_MESSAGE))
        answer = self._next_response(conn, sock, self.timeout, "the proxy")
        if not 200 <= answer.status_code < 300:
            raise ProxyRefused(f"proxy {proxy.host}:{proxy.port} refused to tunnel "
                               f"(CONNECT answered {answer.status_code})")
        leftover, _ = conn.trailing_data
        if leftover:  # nothing may come from the far end before we speak
            raise MalformedResponse(f"proxy {proxy.host}:{proxy.port} sent bytes after its "
                                    "CONNECT answer")

    def request(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> None:
        # h11 checks every header name and value with a regular expression of its own when it
        # builds a Request, a good part of its CPU per call. One check of all names and one of all
        # values here applies the same rule (RFC 9110 tokens; no control characters), so the
        # Request is built from fields known valid (`_parsed`, as h11's own parser does).
        if (not _FIELD_NAMES.fullmatch("\n".join(headers))
                or _NOT_FIELD_VALUE.search("".join(headers.values()))):
            raise ValueError(_unsendable(method, target, headers))
        fields = [self._host_field]
        fields += [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
        if body or method in _BODY_METHODS:
            fields.append((b"Content-Length", b"%d" % len(body)))
        if self.sock is None:
            self.connect()
        sock, conn = self.sock, self._h11
        assert sock is not None
        assert conn is not None
        try:
            out = conn.send(h11.Request(method=method.encode("ascii"),
                                        target=target.encode("ascii"), headers=fields,
                                        http_version=b"1.1", _parsed=True))
            if body:
                out += conn.send(h11.Data(data=body))
            out += conn.send(_END_OF_MESSAGE)
        except (h11.LocalProtocolError, UnicodeError):  # nothing was sent
            self.close()
            raise ValueError(_unsendable(method, target, headers)) from None
        sock.settimeout(self._bounded(self.timeout))
        sock.sendall(out)

    def getresponse(self, *, timeout: float | None = None) -> Reply:
        """The response to the request sent (h11 knows its method, and frames a HEAD's answer
        by it); `timeout` bounds each wait for its bytes (default: the connection's)."""
        sock, conn = self.sock, self._h11
        if sock is None or conn is None:
            raise ClosedUnanswered("not connected")
        read_timeout = self.timeout if timeout is None else timeout
        try:
            head = self._next_response(conn, sock, read_timeout, "storage")
            headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                       for name, value in head.headers.raw_items()}
            declared = headers.get("content-length")
            if declared is not None and int(declared) > MAX_BODY:  # h11 checked the digits
                raise MalformedResponse(f"response body of {declared} bytes is over the "
                                        f"{MAX_BODY}-byte limit")
            body = self._body(conn, sock, read_timeout)
        except BaseException:
            self.close()
            raise
        # Kept only when both sides are done, the peer's end of the stream has not been read
        # (a body delimited by closing) and nothing followed the response (a broken peer).
        leftover, ended = conn.trailing_data
        will_close = (conn.our_state is not _DONE or conn.their_state is not _DONE
                      or ended or bool(leftover))
        if will_close:
            self.close()
        else:
            conn.start_next_cycle()
        return Reply(head.status_code, head.reason.decode("latin-1"), headers, body, will_close)

    def close(self) -> None:
        self._h11 = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- reading: whole socket reads fed to h11 --------------------------------------------

    def _recv(self, sock: socket.socket, timeout: float | None) -> memoryview:
        """What the socket has (empty at its end), valid until the next read: h11 copies it."""
        sock.settimeout(self._bounded(timeout))
        buffer = self._received
        assert buffer is not None
        return buffer[:sock.recv_into(buffer)]

    def _next_response(self, conn: h11.Connection, sock: socket.socket,
                       timeout: float | None, peer: str) -> h11.Response:
        """The next final response head (1xx interim answers are skipped). It reads before
        asking h11: nothing is buffered when an exchange starts (a connection is kept only
        when nothing followed its last response)."""
        arrived = 0  # bytes
        while True:
            try:
                data = self._recv(sock, timeout)
            except ConnectionResetError as exc:
                if arrived:
                    raise
                raise ClosedUnanswered(f"{peer} reset the connection without a "
                                       "response") from exc
            if not data and not arrived:
                raise ClosedUnanswered(f"{peer} closed the connection without a response")
            arrived += len(data)
            conn.receive_data(data)  # type: ignore[arg-type]  # any bytes-like: h11 copies it
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    raise MalformedResponse(f"{peer} sent a malformed response head "
                                            f"({_what(exc)})") from None
                if event is _NEED_DATA:
                    break
                if type(event) is _RESPONSE:
                    # h11 refuses an incomplete head past MAX_HEAD; one that arrived whole
                    # in a larger read is measured (only then: the common case costs nothing)
                    if arrived > MAX_HEAD and _head_size(event) > MAX_HEAD:
                        raise MalformedResponse(f"{peer} sent a response head over "
                                                f"{MAX_HEAD} bytes")
                    return event
                if type(event) is not _INFORMATIONAL:  # ConnectionClosed
                    raise MalformedResponse(f"{peer} ended the connection without a response")

    def _body(self, conn: h11.Connection, sock: socket.socket, timeout: float | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise MalformedResponse(f"malformed response body ({_what(exc)})") from None
            kind = type(event)
            if kind is _DATA:
                data = event.data  # type: ignore[union-attr]
                size += len(data)
                if size > MAX_BODY:
                    raise MalformedResponse(f"response body over the {MAX_BODY}-byte limit")
                chunks.append(data)
            elif kind is _END:
                return bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)
            elif event is _NEED_DATA:
                conn.receive_data(self._recv(sock, timeout))  # type: ignore[arg-type]
            else:
                raise MalformedResponse("response ended before its body")


def _what(exc: h11.RemoteProtocolError) -> str:
    """h11's description without the bytes it quotes (they could hold anything the peer
    sent)."""
    return _QUOTED_BYTES.split(str(exc), 1)[0]


def _head_size(head: h11.Response) -> int:
    """The size of a response head as sent, give or take the spaces around values."""
    lines = [len(name) + len(value) + 4 for name, value in head.headers.raw_items()]
    return len("HTTP/1.1 200 \r\n\r\n") + len(head.reason) + sum(lines)


def _unsendable(method: str, target: str, headers: dict[str, str]) -> str:
    """Which part of a request cannot be written, named without its value."""
    for name, value in headers.items():
        if not re.fullmatch(_FIELD_NAME, name) or _NOT_FIELD_VALUE.search(value):
            return f"header {name!r} holds a line break or a character HTTP does not allow"
    return f"{method} request line holds a character HTTP does not allow"
