"""HTTP to Table Storage: pooled keep-alive connections, request signing, retries.

This replaces azure-core's pipeline and `requests` transport on the store's path: the SDK spends
most of a call's CPU in `requests`/urllib3 and in building and parsing batches as `email` MIME
messages (`benchmarks/wire.py` measures both side by side; docs/performance.md has the figures).
The Functions bill is CPU-time, so this module keeps only what a storage call needs:

- one keep-alive connection (`http_connection.py`, framed by h11) per concurrent call, reused
  while the server keeps it alive; TLS verified against the system's and the environment's CA
  bundles, through the environment's HTTPS_PROXY / HTTP_PROXY unless NO_PROXY says otherwise;
- Shared Key Lite signing (connection strings, Azurite) or a bearer token from azure-identity
  (managed identity in Azure), refreshed five minutes before it expires;
- azure-core's retry rules as the SDK applied them (same statuses and methods): transport
  failures of idempotent methods and 408/429/500/502/503/504 are retried, POST only on
  500/503/504; 3 retries, back-off 0, 0.8, 1.6 s (at most 4 s) or the server's `Retry-After`.
  A transport failure that outlasts them is `errors.TransportFailed` (the service's 503), with
  a message that never holds a header value or a body;
- the caller's deadline (`deadline.within`, one per SCIM request): connecting, sending and
  waiting for the answer each end by it, and no retry is started (or slept towards) that
  could not end before it. A storage endpoint that accepts connections and never answers
  would otherwise hold a request for READ_TIMEOUT times the attempts.
"""

from __future__ import annotations

import base64
import hmac
import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import deadline
from .errors import CREDENTIAL_FAILED, NotSignedIn, TransportFailed, Unavailable
from .http_connection import ClosedUnanswered, Connection, Failure, proxy_for, tls_context

log = logging.getLogger(__name__)

API_VERSION = "2019-02-02"  # the first version that accepts Entra ID (bearer) tokens
STORAGE_SCOPE = "https://storage.azure.com/.default"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
RETRIES = 3
BACKOFF_FACTOR = 0.4
BACKOFF_MAX = 4.0
# Close pooled connections idle for longer than this: servers drop idle keep-alive connections
# (Azurite after 5 s), and a request written into a connection the server is closing has an
# unknown outcome.
IDLE_LIMIT = 4.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_STATUS_ANY_METHOD = frozenset({500, 503, 504})


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Response:
    status_code: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# Middleware around every attempt (after the retry rules): `hook(request, send)` must return
# `send(request)`, or another Response, or raise. Benchmarks count storage round trips here and
# reliability tests inject faults here, so both go through the real retry rules.
Send = Callable[[Request], Response]
TransportHook = Callable[[Request, Send], Response]
TRANSPORT_HOOKS: list[TransportHook] = []


class Signer(Protocol):
    def sign(self, request: Request, path: str) -> None: ...


class SharedKeyLite:
    """Account-key signing: `Authorization: SharedKeyLite account:HMAC-SHA256(date + "\\n" +
    "/" + account + path)` (the Table service's Shared Key Lite scheme)."""

    def __init__(self, account: str, key: str) -> None:
        self.account = account
        self._key = base64.b64decode(key)

    def sign(self, request: Request, path: str) -> None:
        date = request.headers["x-ms-date"]
        to_sign = f"{date}\n/{self.account}{path}".encode()
        digest = hmac.digest(self._key, to_sign, "sha256")
        request.headers["Authorization"] = (
            f"SharedKeyLite {self.account}:{base64.b64encode(digest).decode()}")


class TokenCredential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class BearerToken:
    """An Entra ID token for Storage (managed identity via azure-identity), cached until five
    minutes before it expires."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_at = 0.0

    def sign(self, request: Request, path: str) -> None:
        if time.time() >= self._refresh_at:
            with self._lock:
                if time.time() >= self._refresh_at:
                    try:
                        token = self._credential.get_token(STORAGE_SCOPE)
                    except Exception as exc:  # any credential's failure: no token, no call
                        log.warning("storage token: %s", type(exc).__name__)
                        if _authentication_failed(exc):
                            raise NotSignedIn(CREDENTIAL_FAILED) from exc
                        raise Unavailable(CREDENTIAL_FAILED) from exc
                    self._token, self._refresh_at = token.token, token.expires_on - 300
        request.headers["Authorization"] = f"Bearer {self._token}"


def _authentication_failed(exc: Exception) -> bool:
    """Whether a credential said it has no identity to sign in with, or could not use it
    (azure-core's ClientAuthenticationError, which DefaultAzureCredential raises when none of
    its sources gave a token), rather than failing to reach its identity endpoint."""
    return any(kind.__name__ == "ClientAuthenticationError" for kind in type(exc).__mro__)


class _ClosedIdle(TransportFailed):
    """The connection closed before any byte of a response arrived."""


class DeadlinePassed(TransportFailed):
    """The caller's storage deadline passed before this call was sent (so it was not)."""


class Pool:
    """Idle connections to one origin; a connection is used by one call at a time."""

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()
        self._tls = tls_context() if scheme == "https" else None
        self.proxy = proxy_for(scheme, host, port or (443 if scheme == "https" else 80))

    def take(self, *, fresh: bool = False) -> Connection:
        now = time.monotonic()
        while not fresh:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if now - since < IDLE_LIMIT and not closed_by_peer(conn):
                return conn
            conn.close()
        return Connection(self._host, self._port, timeout=CONNECT_TIMEOUT, tls=self._tls,
                          proxy=self.proxy)

    def give_back(self, conn: Connection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))

    def idle(self) -> list[Connection]:
        """The idle connections, the one `take` returns next last."""
        with self._lock:
            return [conn for conn, _ in self._idle]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def closed_by_peer(conn: Connection) -> bool:
    """An idle connection is readable only when the server closed it (or broke protocol)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # select() fails on descriptors above 1023
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Wire:
    """Signed, retried HTTP calls to one storage account endpoint (thread-safe)."""

    def __init__(self, endpoint: str, signer: Signer) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a table endpoint URL: {endpoint!r}; expected e.g. "
                             "https://ACCOUNT.table.core.windows.net")
        if parts.scheme == "http" and isinstance(signer, BearerToken):
            raise ValueError(
                f"refusing to send a bearer token over plain http to {parts.netloc}: use the "
                "account's https:// table endpoint (a managed identity is for Azure), or a "
                "connection string with an account key for a local emulator")
        self.base_path = parts.path  # "/devstoreaccount1" for Azurite, "" in Azure
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._signer = signer
        self.pool = Pool(parts.scheme, parts.hostname, parts.port)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes = b"") -> Response:
        """`path` is the URL-encoded path below the origin (including `base_path`) with its
        query string. Raises TransportFailed once retries are spent (DeadlinePassed when
        the deadline passed before an attempt); error statuses are returned, not raised."""
        history = 0
        while True:
            left = deadline.remaining()
            if left is not None and left <= 0:
                raise DeadlinePassed(f"storage deadline passed before {method} was sent")
            request = Request(method, self.origin + path, {
                "x-ms-version": API_VERSION, "DataServiceVersion": "3.0",
                "x-ms-date": _http_date(), **(headers or {})}, body)
            self._signer.sign(request, path.split("?", 1)[0])
            try:
                response = _through_hooks(request, self._transmit)
            except TransportFailed as exc:
                delay = backoff(history + 1, None)
                if history >= RETRIES or method not in _IDEMPOTENT or _too_late(delay):
                    raise
                log.warning("storage %s failed (%s); retry %d in %.1f s", method,
                            type(exc).__name__, history + 1, delay)
            else:
                if history >= RETRIES or not is_retryable(method, response.status_code):
                    return response
                delay = backoff(history + 1, response.header("retry-after"))
                if _too_late(delay):
                    return response
                log.warning("storage %s answered %d %s; retry %d in %.1f s", method,
                            response.status_code, response.header("x-ms-error-code") or "",
                            history + 1, delay)
            history += 1
            time.sleep(delay)

    def _transmit(self, request: Request) -> Response:
        conn = self.pool.take()
        reused = conn.sock is not None
        try:
            return self._exchange(conn, request)
        except _ClosedIdle:
            if not reused or request.method not in _IDEMPOTENT:
                raise
        # A pooled connection closed without a byte of a response: most likely the server
        # closed it while idle, just before our request left. An idempotent request is sent
        # again at once on a new connection; anything else may have been applied, so its
        # caller decides (the store's transactions check whether their write landed).
        return self._exchange(self.pool.take(fresh=True), request)

    def _exchange(self, conn: Connection, request: Request) -> Response:
        """One attempt on `conn`. Whatever fails closes the connection (a late or partial
        answer must not be read as another request's) and is a TransportFailed whose message
        names what failed, never a header value or a body."""
        target = request.url[len(self.origin):]
        conn.until = deadline.expires_at()
        try:
            conn.request(request.method, target, request.body, request.headers)
        except (BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            raise _ClosedIdle(f"storage connection closed: {exc}") from exc
        except (OSError, Failure) as exc:
            conn.close()
            raise TransportFailed(f"storage connection failed: {_described(exc)}") from exc
        try:
            raw = conn.getresponse(timeout=READ_TIMEOUT)
        except ClosedUnanswered as exc:
            conn.close()
            raise _ClosedIdle(f"storage closed the connection: {exc}") from exc
        except TimeoutError as exc:
            # The request was sent: whether it was applied is unknown.
            conn.close()
            raise TransportFailed(
                f"storage did not answer within {READ_TIMEOUT:.0f} s or the deadline") from exc
        except (OSError, Failure) as exc:
            conn.close()
            raise TransportFailed(f"storage response lost: {_described(exc)}") from exc
        response = Response(raw.status, raw.reason, raw.headers, raw.body)
        if raw.will_close:
            conn.close()
        else:
            self.pool.give_back(conn)
        return response

    def close(self) -> None:
        self.pool.close()


_date: tuple[int, str] = (0, "")


def _http_date() -> str:
    """RFC 1123 date of this second (formatted once per second, not per call)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]


def _described(exc: BaseException) -> str:
    """An exception as a log line: its type, and its text (the connection's own messages and
    the operating system's, which hold no request content)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _through_hooks(request: Request, transmit: Send) -> Response:
    def call(index: int, req: Request) -> Response:
        if index == len(TRANSPORT_HOOKS):
            return transmit(req)
        return TRANSPORT_HOOKS[index](req, lambda r: call(index + 1, r))

    return call(0, request)


def _too_late(delay: float) -> bool:
    """Whether a retry after `delay` seconds would start at or after the caller's deadline."""
    # Compared as points in time, as the retry would start: `delay >= end - now` can hold
    # false while `now + delay` rounds to `end`.
    end = deadline.expires_at()
    return end is not None and time.monotonic() + delay >= end


def is_retryable(method: str, status: int) -> bool:
    """Whether a response with this status is retried (azure-core's rules)."""
    if status in _RETRY_STATUS_ANY_METHOD:
        return True
    return method in _IDEMPOTENT and (status in _RETRY_STATUS or 506 <= status < 999)


def backoff(retry: int, retry_after: str | None) -> float:
    """Seconds to wait before retry number `retry` (from 1): the server's Retry-After when it
    sent one, else azure-core's exponential back-off."""
    if retry_after:
        try:
            return min(BACKOFF_MAX, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return 0.0 if retry <= 1 else min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (retry - 1))
