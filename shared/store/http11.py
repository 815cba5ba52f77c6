"""One HTTP/1.1 client connection, just enough for Table Storage (RFC 9112 message framing).

`http.client` parses every response's headers with the `email` package, which also compiles a
regular expression for each multipart boundary it sees: every transaction response has a new
one. That was a quarter of a request's CPU after the SDK was gone (py-spy, `make bench`). This
reads the status line and headers itself and frames bodies by Content-Length or chunked
encoding; errors are `http.client`'s exception types, so callers handle them as before.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

_MAX_LINE = 65536
_MAX_HEAD = 65536  # status line and headers together
_MAX_HEADERS = 100
_READ_SIZE = 65536


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    will_close: bool


class Connection:
    """A keep-alive connection to one host; one request at a time.

    `timeout` bounds connecting and sending, `getresponse(timeout=)` each wait for response
    bytes. `until` (a `time.monotonic()` value, set by the caller per exchange) bounds them
    all together: every blocking operation waits at most until then, and one that would
    start after it raises TimeoutError. A per-operation timeout alone lets a server that
    answers slowly, or a request that waits for several operations, run far past it."""

    def __init__(self, host: str, port: int | None, *, timeout: float,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port or (443 if tls else 80)
        self.timeout = timeout
        self.until: float | None = None
        self.sock: socket.socket | None = None
        self._read_timeout: float | None = timeout
        self._tls = tls
        self._buffer = bytearray()  # received, not yet consumed
        default = 443 if tls else 80
        self._host_header = host if self.port == default else f"{host}:{self.port}"

    def _bounded(self, timeout: float | None) -> float | None:
        """`timeout`, shortened to what is left before `until`."""
        if self.until is None:
            return timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port),
                                        timeout=self._bounded(self.timeout))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self._buffer = bytearray()

    def request(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} holds a line break")
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH", "MERGE"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.settimeout(self._bounded(self.timeout))
        self.sock.sendall(head + body)

    def getresponse(self, method: str = "GET", *, timeout: float | None = None) -> Reply:
        """The next response; `timeout` bounds each wait for its bytes (default: the
        connection's `timeout`)."""
        if self.sock is None:
            raise http.client.RemoteDisconnected("not connected")
        self._read_timeout = self.timeout if timeout is None else timeout
        if self.until is None:  # otherwise each read sets its own (`_fill`)
            self.sock.settimeout(self._read_timeout)
        while True:
            try:
                arrived = bool(self._buffer) or self._fill()
            except ConnectionResetError as exc:
                raise http.client.RemoteDisconnected(
                    "connection reset without a response") from exc
            if not arrived:
                # Nothing of a response arrived: what a server closing an idle keep-alive
                # connection looks like (callers may retry on a new connection).
                raise http.client.RemoteDisconnected("connection closed without a response")
            head = self._until(b"\r\n\r\n", _MAX_HEAD).decode("latin-1")
            status_line, _, header_block = head.partition("\r\n")
            version, _, rest = status_line.partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise http.client.BadStatusLine(status_line)
            if header_block.count("\r\n") >= _MAX_HEADERS:
                raise http.client.HTTPException(f"more than {_MAX_HEADERS} headers")
            headers = parse_headers(header_block)
            status = int(code)
            if status >= 200 or status == 101:
                break  # 1xx interim answers (100 Continue) are skipped
        te = headers.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in te:
            body = self._chunked()
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        else:
            while self._fill():  # delimited by the server closing
                pass
            body, self._buffer = bytes(self._buffer), bytearray()
            headers["connection"] = "close"
        will_close = (headers.get("connection", "").lower() == "close"
                      or version == "HTTP/1.0")
        return Reply(status, reason, headers, body, will_close)

    def close(self) -> None:
        self._buffer = bytearray()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- reading: one buffer, filled by whole socket reads; a response head is split in one go --

    def _fill(self) -> bool:
        """Append what the socket has; False at end of stream."""
        assert self.sock is not None
        if self.until is not None:
            self.sock.settimeout(self._bounded(self._read_timeout))
        data = self.sock.recv(_READ_SIZE)
        self._buffer += data
        return bool(data)

    def _until(self, marker: bytes, limit: int) -> bytes:
        """The bytes before `marker` (consumed with it). A stream ending first leaves what
        arrived: the caller's framing then finds it incomplete."""
        searched = 0
        while True:
            found = self._buffer.find(marker, searched)
            if found > limit or (found < 0 and len(self._buffer) > limit):
                raise http.client.LineTooLong("header block" if limit == _MAX_HEAD else "line")
            if found >= 0:
                out = bytes(self._buffer[:found])
                del self._buffer[: found + len(marker)]
                return out
            searched = max(0, len(self._buffer) - len(marker) + 1)
            if not self._fill():
                out, self._buffer = bytes(self._buffer), bytearray()
                return out

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                got = bytes(self._buffer)
                self._buffer = bytearray()
                raise http.client.IncompleteRead(got, size - len(got))
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self._until(b"\r\n", _MAX_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise http.client.IncompleteRead(b"".join(chunks)) from None
            if size == 0:
                while self._until(b"\r\n", _MAX_LINE):  # trailers, ignored
                    pass
                return b"".join(chunks)
            chunks.append(self._exactly(size))
            self._exactly(2)  # the chunk's CRLF


def parse_headers(block: str) -> dict[str, str]:
    """A header block (CRLF-separated `Name: value` lines) as {lower-case name: value}; also
    the inner responses of a batch (table.py)."""
    out: dict[str, str] = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out
