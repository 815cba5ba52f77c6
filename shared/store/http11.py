"""One HTTP/1.1 client connection, just enough for Table Storage (RFC 9112 message framing).

`http.client` parses every response's headers with the `email` package, which also compiles a
regular expression for each multipart boundary it sees: every transaction response has a new
one. That was a quarter of a request's CPU after the SDK was gone (py-spy, `make bench`). This
reads the status line and headers itself and frames bodies by Content-Length or chunked
encoding; errors are `http.client`'s exception types, so callers handle them as before.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
from dataclasses import dataclass

_MAX_LINE = 65536
_MAX_HEADERS = 100


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    will_close: bool


class Connection:
    """A keep-alive connection to one host; one request at a time."""

    def __init__(self, host: str, port: int | None, *, timeout: float,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port or (443 if tls else 80)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._tls = tls
        self._reader: io.BufferedReader | None = None
        default = 443 if tls else 80
        self._host_header = host if self.port == default else f"{host}:{self.port}"

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self._reader = sock.makefile("rb")

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
        self.sock.sendall(head + body)

    def getresponse(self, method: str = "GET") -> Reply:
        reader = self._reader
        if reader is None:
            raise http.client.RemoteDisconnected("not connected")
        while True:
            try:
                line = reader.readline(_MAX_LINE + 1)
            except ConnectionResetError as exc:
                line = b""
                cause: Exception | None = exc
            else:
                cause = None
            if not line:
                # Nothing of a response arrived: what a server closing an idle keep-alive
                # connection looks like (callers may retry on a new connection).
                raise http.client.RemoteDisconnected(
                    "connection closed without a response") from cause
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise http.client.BadStatusLine(line.decode("latin-1", "replace"))
            headers = _headers(reader)
            status = int(code)
            if status >= 200 or status == 101:
                break  # 1xx interim answers (100 Continue) are skipped
        te = headers.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in te:
            body = _chunked(reader)
        elif "content-length" in headers:
            body = _exactly(reader, int(headers["content-length"]))
        else:
            body = reader.read()  # delimited by the server closing
            headers["connection"] = "close"
        will_close = (headers.get("connection", "").lower() == "close"
                      or version == "HTTP/1.0")
        return Reply(status, reason, headers, body, will_close)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _headers(reader: io.BufferedReader) -> dict[str, str]:
    out: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return out
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    raise http.client.HTTPException(f"more than {_MAX_HEADERS} headers")


def _exactly(reader: io.BufferedReader, size: int) -> bytes:
    data = reader.read(size)
    if data is None or len(data) < size:
        raise http.client.IncompleteRead(data or b"", size - len(data or b""))
    return data


def _chunked(reader: io.BufferedReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = reader.readline(_MAX_LINE + 1)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(chunks)) from None
        if size == 0:
            _headers(reader)  # trailers, ignored
            return b"".join(chunks)
        chunks.append(_exactly(reader, size))
        reader.readline(_MAX_LINE + 1)  # the chunk's CRLF
