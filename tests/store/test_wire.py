"""`shared.store.wire`: signing, retry rules, connection pooling and connection strings.

Retry and signing tests drive `Wire.request` through TRANSPORT_HOOKS (synthetic responses or
raised transport errors, no network unless a hook passes the request on to Azurite); sleeps are
recorded instead of slept. The pool tests use Azurite and, for a server that closes idle
keep-alive connections, a small HTTP server on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import RetryPolicy

from shared.settings import Settings
from shared.store import wire
from shared.store.connection import DEV_ACCOUNT_KEY, from_connection_string, open_tables
from shared.store.errors import NotSignedIn, StoreError, TransportFailed, Unavailable
from shared.store.http_connection import Connection
from shared.store.table import Table
from shared.store.wire import BearerToken, Request, Response, SharedKeyLite, Wire
from tests.support import storage_modes
from tests.support.storage_faults import own_thread_hooks
from tests.support.storage_modes import TestStorage

DEV_ACCOUNT = "devstoreaccount1"
# Nothing listens here: tests whose hooks answer every attempt never reach the network, and
# one that did would fail with a connection error instead of passing by accident.
NOWHERE = f"http://127.0.0.1:9/{DEV_ACCOUNT}"


@pytest.fixture
def hooks() -> Iterator[list[wire.TransportHook]]:
    """The test's hooks, for its own thread's requests: the session's app writes its audit log
    from a thread of its own, and these hooks count attempts and answer them."""
    saved = list(wire.TRANSPORT_HOOKS)
    wire.TRANSPORT_HOOKS.clear()
    with own_thread_hooks() as mine:
        yield mine
    wire.TRANSPORT_HOOKS[:] = saved


@pytest.fixture
def offline() -> Iterator[Wire]:
    w = Wire(NOWHERE, SharedKeyLite(DEV_ACCOUNT, DEV_ACCOUNT_KEY))
    yield w
    w.close()


@pytest.fixture(scope="module")
def azurite_wire(storage_connection_string: str) -> Iterator[Wire]:
    endpoint, signer = from_connection_string(storage_connection_string)
    w = Wire(endpoint, signer)
    yield w
    w.close()


@pytest.fixture(scope="module")
def table(azurite_wire: Wire) -> Table:
    t = Table(azurite_wire, "wire" + uuid.uuid4().hex[:10])
    t.create_table()
    return t


def _answering(response: Response, attempts: list[str]) -> wire.TransportHook:
    """A hook that records each attempt's method and answers `response` itself."""

    def hook(request: Request, send: wire.Send) -> Response:
        attempts.append(request.method)
        return response

    return hook


def _answer(status: int, reason: str = "", headers: dict[str, str] | None = None) -> Response:
    return Response(status, reason or http.client.responses.get(status, ""),
                    {k.lower(): v for k, v in (headers or {}).items()}, b"")


# -- retry rules (pure) ------------------------------------------------------------------------

RETRY_CASES: list[tuple[str, int, bool]] = [
    # success and client errors are final
    ("GET", 200, False), ("GET", 204, False), ("GET", 400, False), ("GET", 404, False),
    ("GET", 409, False), ("GET", 412, False), ("PUT", 413, False),
    # 500/503/504: any method, POST and PATCH (MERGE) included
    *[(m, s, True) for m in ("GET", "PUT", "DELETE", "HEAD", "POST", "PATCH")
      for s in (500, 503, 504)],
    # 408/429/502 and 506..998: idempotent methods only
    *[(m, s, True) for m in ("GET", "HEAD", "PUT", "DELETE") for s in (408, 429, 502, 506, 998)],
    *[(m, s, False) for m in ("POST", "PATCH") for s in (408, 429, 502, 506, 998)],
    # 501 and 505 are never retried, nor is anything from 999 up
    *[(m, s, False) for m in ("GET", "POST") for s in (501, 505, 999, 1000)],
]


@pytest.mark.parametrize(("method", "status", "expected"), RETRY_CASES)
def test_retry_status_table(method: str, status: int, expected: bool) -> None:
    assert wire.is_retryable(method, status) is expected


def test_retry_status_matches_azure_core_without_retry_after() -> None:
    """The rules the SDK applied (azure-core's RetryPolicy.is_retry), for every status code and
    the methods the store uses, when the response has no Retry-After header."""
    policy = RetryPolicy(retry_total=wire.RETRIES)
    settings = policy.configure_retries({})
    differ = []
    for method in ("GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"):
        for status in range(200, 1001):
            response = SimpleNamespace(http_request=SimpleNamespace(method=method),
                                       http_response=SimpleNamespace(status_code=status,
                                                                     headers={}))
            sdk = bool(policy.is_retry(settings, response))  # type: ignore[arg-type]
            if sdk != wire.is_retryable(method, status):
                differ.append((method, status, sdk))
    assert differ == []


@pytest.mark.parametrize(("retry", "retry_after", "expected"), [
    (1, None, 0.0),  # the first retry is immediate
    (2, None, 0.8),
    (3, None, 1.6),
    (4, None, 3.2),
    (5, None, 4.0),  # capped at BACKOFF_MAX
    (9, None, 4.0),
    (1, "2.5", 2.5),  # Retry-After (seconds) wins, even on the first retry
    (3, "0", 0.0),
    (2, "100", 4.0),  # capped at BACKOFF_MAX
    (2, "-5", 0.0),
    (2, "", 0.8),  # empty or unparsable: exponential back-off
    (3, "Wed, 21 Oct 2015 07:28:00 GMT", 1.6),
])
def test_backoff_table(retry: int, retry_after: str | None, expected: float) -> None:
    assert wire.BACKOFF_FACTOR == 0.4
    assert wire.BACKOFF_MAX == 4.0
    assert wire.backoff(retry, retry_after) == pytest.approx(expected)


def test_backoff_matches_azure_core() -> None:
    policy = RetryPolicy(retry_backoff_factor=wire.BACKOFF_FACTOR,
                         retry_backoff_max=int(wire.BACKOFF_MAX))
    settings = policy.configure_retries({})
    for retry in range(1, 8):
        settings["history"] = [None] * retry  # one history entry per failed attempt
        assert wire.backoff(retry, None) == pytest.approx(policy.get_backoff_time(settings))


# -- retry loop through hooks ------------------------------------------------------------------

def test_get_answered_503_twice_is_retried_then_succeeds(
        table: Table, hooks: list[wire.TransportHook], sleeps: list[float]) -> None:
    table.upsert_entity({"PartitionKey": "retry", "RowKey": "r1", "v": "here"})
    attempts: list[Request] = []

    def busy_twice(request: Request, send: wire.Send) -> Response:
        attempts.append(request)
        if len(attempts) <= 2:
            return _answer(503, "Server Busy", {"x-ms-error-code": "ServerBusy"})
        return send(request)

    hooks.append(busy_twice)
    assert table.get_entity("retry", "r1")["v"] == "here"
    assert [a.method for a in attempts] == ["GET", "GET", "GET"]
    assert sleeps == pytest.approx([0.0, 0.8])
    # every attempt is a fresh, signed request (not the same object re-sent)
    assert len({id(a) for a in attempts}) == 3
    assert all(a.headers["Authorization"].startswith("SharedKeyLite ") for a in attempts)


def test_post_answered_503_is_retried(
        table: Table, hooks: list[wire.TransportHook], sleeps: list[float]) -> None:
    attempts: list[str] = []

    def busy_once(request: Request, send: wire.Send) -> Response:
        attempts.append(request.method)
        return _answer(503) if len(attempts) == 1 else send(request)

    hooks.append(busy_once)
    rk = uuid.uuid4().hex
    table.create_entity({"PartitionKey": "retry", "RowKey": rk})
    assert attempts == ["POST", "POST"]
    assert sleeps == [0.0]
    hooks.clear()
    assert table.get_entity("retry", rk)["RowKey"] == rk


@pytest.mark.parametrize(("method", "status"), [
    ("POST", 429), ("POST", 408), ("POST", 502), ("PATCH", 429), ("PATCH", 502),
    ("GET", 404), ("PUT", 412), ("DELETE", 501),
])
def test_final_statuses_are_returned_after_one_attempt(
        offline: Wire, hooks: list[wire.TransportHook], sleeps: list[float],
        method: str, status: int) -> None:
    attempts: list[str] = []
    hooks.append(_answering(_answer(status), attempts))
    response = offline.request(method, f"/{DEV_ACCOUNT}/t")
    assert response.status_code == status
    assert attempts == [method]
    assert sleeps == []


def test_post_429_is_not_retried_through_table(
        table: Table, hooks: list[wire.TransportHook], sleeps: list[float]) -> None:
    attempts: list[str] = []
    hooks.append(_answering(_answer(429, "Too Many Requests",
                                    {"x-ms-error-code": "TooManyRequests"}), attempts))
    with pytest.raises(Unavailable) as info:
        table.create_entity({"PartitionKey": "retry", "RowKey": "throttled"})
    assert str(info.value) == "429 TooManyRequests"
    assert attempts == ["POST"]
    assert sleeps == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_retryable_status_is_retried_retries_times_then_returned(
        offline: Wire, hooks: list[wire.TransportHook], sleeps: list[float],
        method: str) -> None:
    attempts: list[str] = []
    hooks.append(_answering(_answer(429), attempts))
    response = offline.request(method, f"/{DEV_ACCOUNT}/t")
    assert response.status_code == 429  # the last answer, returned rather than raised
    assert attempts == [method] * (wire.RETRIES + 1)
    assert sleeps == pytest.approx([0.0, 0.8, 1.6])


def test_retry_after_sets_the_delay(offline: Wire, hooks: list[wire.TransportHook],
                                    sleeps: list[float]) -> None:
    answers = [_answer(503, headers={"Retry-After": "2"}),
               _answer(503, headers={"Retry-After": "60"}), _answer(200)]
    hooks.append(lambda req, send: answers.pop(0))
    assert offline.request("GET", f"/{DEV_ACCOUNT}/t").status_code == 200
    assert sleeps == pytest.approx([2.0, wire.BACKOFF_MAX])


_TRANSPORT_ERRORS = [TransportFailed, wire._ClosedIdle]


@pytest.mark.parametrize("exc_type", _TRANSPORT_ERRORS)
@pytest.mark.parametrize(("method", "retried"), [
    ("GET", True), ("HEAD", True), ("PUT", True), ("DELETE", True),
    ("POST", False), ("PATCH", False),  # may have been applied: the caller decides
])
def test_transport_errors_are_retried_for_idempotent_methods_only(
        offline: Wire, hooks: list[wire.TransportHook], sleeps: list[float],
        method: str, retried: bool, exc_type: type[Exception]) -> None:
    attempts: list[str] = []

    def fail(request: Request, send: wire.Send) -> Response:
        attempts.append(request.method)
        raise exc_type("injected")

    hooks.append(fail)
    with pytest.raises(exc_type):
        offline.request(method, f"/{DEV_ACCOUNT}/t")
    if retried:
        assert attempts == [method] * (wire.RETRIES + 1)
        assert sleeps == pytest.approx([0.0, 0.8, 1.6])
    else:
        assert attempts == [method]
        assert sleeps == []


def test_transport_error_then_success_on_get(
        table: Table, hooks: list[wire.TransportHook], sleeps: list[float]) -> None:
    table.upsert_entity({"PartitionKey": "retry", "RowKey": "r2"})
    attempts: list[str] = []

    def refuse_once(request: Request, send: wire.Send) -> Response:
        attempts.append(request.method)
        if len(attempts) == 1:
            raise TransportFailed("injected: connection refused")
        return send(request)

    hooks.append(refuse_once)
    assert table.get_entity("retry", "r2")["RowKey"] == "r2"
    assert attempts == ["GET", "GET"]
    assert sleeps == [0.0]


def test_hooks_run_in_order_and_may_rewrite_the_request(
        offline: Wire, hooks: list[wire.TransportHook]) -> None:
    order: list[str] = []

    def outer(request: Request, send: wire.Send) -> Response:
        order.append("outer")
        request.headers["X-Test"] = "outer"
        return send(request)

    def inner(request: Request, send: wire.Send) -> Response:
        order.append("inner:" + request.headers["X-Test"])
        return _answer(204)

    hooks.extend([outer, inner])
    assert offline.request("DELETE", f"/{DEV_ACCOUNT}/t").status_code == 204
    assert order == ["outer", "inner:outer"]


def test_the_tests_hooks_leave_another_threads_requests_alone(
        offline: Wire, hooks: list[wire.TransportHook]) -> None:
    """Another thread's storage call (the app's audit writer, in a full run) goes through the
    same process-wide hooks: the test's neither count nor answer it, it goes on to `send`."""
    attempts: list[str] = []
    hooks.append(_answering(_answer(204), attempts))
    theirs: list[object] = []

    def other_thread() -> None:
        try:
            theirs.append(offline.request("POST", f"/{DEV_ACCOUNT}/$batch"))
        except TransportFailed as exc:
            theirs.append(exc)

    writer = threading.Thread(target=other_thread)
    writer.start()
    writer.join()
    assert offline.request("POST", f"/{DEV_ACCOUNT}/$batch").status_code == 204
    assert attempts == ["POST"]
    # Sent on to NOWHERE, where nothing listens (a POST is not retried): not the hook's 204.
    [outcome] = theirs
    assert isinstance(outcome, TransportFailed)


# -- signing -----------------------------------------------------------------------------------

def test_shared_key_lite_matches_a_known_value() -> None:
    # Computed independently (`openssl dgst -sha256 -mac HMAC -binary | base64`) from the
    # documented string to sign: Date + "\n" + "/" + account + URL path (no query string).
    key = base64.b64encode(b"not-a-real-account-key-0123456789").decode()
    request = Request("GET", "https://myaccount.table.core.windows.net/x",
                      {"x-ms-date": "Thu, 26 Nov 2026 15:00:00 GMT"})
    SharedKeyLite("myaccount", key).sign(request, "/mytable(PartitionKey='p',RowKey='r')")
    assert request.headers["Authorization"] == (
        "SharedKeyLite myaccount:KMy5Z0DNF+PrgbvZ08sHmp8J3J7B+tsesg2qokTRlNw=")


def test_wire_signs_the_path_without_query_and_sets_storage_headers(
        offline: Wire, hooks: list[wire.TransportHook]) -> None:
    seen: list[Request] = []

    def record(request: Request, send: wire.Send) -> Response:
        seen.append(request)
        return _answer(200)

    hooks.append(record)
    path = f"/{DEV_ACCOUNT}/t()?%24filter=PartitionKey%20eq%20%27a%27&%24top=2"
    offline.request("GET", path, headers={"Accept": "application/json"})
    (request,) = seen
    assert request.url == "http://127.0.0.1:9" + path
    assert request.headers["x-ms-version"] == wire.API_VERSION
    assert request.headers["DataServiceVersion"] == "3.0"
    assert request.headers["Accept"] == "application/json"
    date = request.headers["x-ms-date"]
    assert date.endswith(" GMT")
    to_sign = f"{date}\n/{DEV_ACCOUNT}/{DEV_ACCOUNT}/t()".encode()
    digest = hmac.new(base64.b64decode(DEV_ACCOUNT_KEY), to_sign, hashlib.sha256).digest()
    assert request.headers["Authorization"] == (
        f"SharedKeyLite {DEV_ACCOUNT}:{base64.b64encode(digest).decode()}")


def test_azurite_rejects_a_wrong_key(storage_connection_string: str,
                                     storage: TestStorage) -> None:
    """Azurite checks signatures, so the round-trip tests also prove signing is right."""
    endpoint, _ = from_connection_string(storage_connection_string)
    bad = Wire(endpoint, SharedKeyLite(DEV_ACCOUNT, base64.b64encode(b"x" * 64).decode()))
    try:
        response = bad.request("GET", f"{bad.base_path}/Tables",
                               headers={"Accept": "application/json"})
    finally:
        bad.close()
    # With --oauth, a Shared Key header that no key authenticator accepts reaches the token
    # authenticator last, which refuses any scheme but Bearer with 400.
    expected = ((400, "InvalidAuthenticationInfo") if storage.mode == storage_modes.HTTPS_OAUTH
                else (403, "AuthorizationFailure"))
    assert (response.status_code, response.header("x-ms-error-code")) == expected


class FakeCredential:
    def __init__(self, clock: list[float], lifetime: float) -> None:
        self.clock, self.lifetime = clock, lifetime
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(f"token-{len(self.calls)}", int(self.clock[0] + self.lifetime))


def _bearer(signer: BearerToken) -> str:
    request = Request("GET", "https://a.table.core.windows.net/t", {"x-ms-date": "d"})
    signer.sign(request, "/t")
    return request.headers["Authorization"]


def test_bearer_token_is_cached_until_five_minutes_before_expiry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(wire, "time", SimpleNamespace(
        time=lambda: clock[0], monotonic=time.monotonic, sleep=time.sleep))
    credential = FakeCredential(clock, lifetime=3600)
    signer = BearerToken(credential)

    assert _bearer(signer) == "Bearer token-1"
    assert credential.calls == [(wire.STORAGE_SCOPE,)]
    clock[0] += 3600 - 301  # still fresh: 301 s before expiry
    assert _bearer(signer) == "Bearer token-1"
    assert _bearer(signer) == "Bearer token-1"
    assert len(credential.calls) == 1
    clock[0] += 1  # 300 s before expiry: refresh
    assert _bearer(signer) == "Bearer token-2"
    assert len(credential.calls) == 2
    assert _bearer(signer) == "Bearer token-2"
    assert len(credential.calls) == 2


def test_bearer_token_shorter_than_the_margin_is_fetched_every_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(wire, "time", SimpleNamespace(
        time=lambda: clock[0], monotonic=time.monotonic, sleep=time.sleep))
    credential = FakeCredential(clock, lifetime=120)
    signer = BearerToken(credential)
    assert [_bearer(signer) for _ in range(3)] == [
        "Bearer token-1", "Bearer token-2", "Bearer token-3"]


# -- endpoint and connection strings -------------------------------------------------------------

def test_wire_endpoint_parsing() -> None:
    azure = Wire("https://acct.table.core.windows.net/", SharedKeyLite("acct", DEV_ACCOUNT_KEY))
    assert (azure.origin, azure.base_path) == ("https://acct.table.core.windows.net", "")
    local = Wire("http://127.0.0.1:10002/devstoreaccount1", SharedKeyLite("a", DEV_ACCOUNT_KEY))
    assert (local.origin, local.base_path) == ("http://127.0.0.1:10002", "/devstoreaccount1")
    for bad in ("ftp://acct.table.core.windows.net", "acct.table.core.windows.net", "http://"):
        with pytest.raises(ValueError, match="not a table endpoint"):
            Wire(bad, SharedKeyLite("a", DEV_ACCOUNT_KEY))


def test_a_bearer_token_is_never_sent_over_plain_http() -> None:
    """A managed identity's token over http would be readable on the network: refused when the
    Wire is made, with what to do instead. Shared Key signs without sending the key, so it
    stays allowed over http (Azurite)."""
    credential = FakeCredential([0.0], lifetime=3600)
    with pytest.raises(ValueError, match=r"bearer token over plain http.*https://") as info:
        Wire("http://acct.table.core.windows.net", BearerToken(credential))
    assert "acct.table.core.windows.net" in str(info.value)
    assert credential.calls == []  # no token was even fetched
    Wire("https://acct.table.core.windows.net", BearerToken(credential)).close()
    Wire("http://127.0.0.1:10002/devstoreaccount1",
         SharedKeyLite(DEV_ACCOUNT, DEV_ACCOUNT_KEY)).close()


def _signs_as(signer: Any, account: str, key: str) -> bool:
    """Whether `signer` is Shared Key Lite signing for `account` with `key` (base64): it signs
    a request exactly as that does."""
    assert isinstance(signer, SharedKeyLite)
    signed = []
    for each in (signer, SharedKeyLite(account, key)):
        request = Request("GET", "http://127.0.0.1:9/t",
                          {"x-ms-date": "Thu, 01 Jan 2026 00:00:00 GMT"})
        each.sign(request, "/t")
        signed.append(request.headers["Authorization"])
    return signer.account == account and signed[0] == signed[1]


KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef01").decode()  # ends in "="


def test_connection_string_development_storage() -> None:
    endpoint, signer = from_connection_string("UseDevelopmentStorage=true")
    assert endpoint == "http://127.0.0.1:10002/devstoreaccount1"
    assert _signs_as(signer, "devstoreaccount1", DEV_ACCOUNT_KEY)
    assert not _signs_as(signer, "devstoreaccount1", KEY)
    # case and spacing of names and values do not matter
    assert from_connection_string(" usedevelopmentstorage = TRUE ;")[0] == endpoint


def test_connection_string_explicit_table_endpoint() -> None:
    assert KEY.endswith("=")
    endpoint, signer = from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};"
        "TableEndpoint=http://127.0.0.1:12345/acct;")
    assert endpoint == "http://127.0.0.1:12345/acct"
    # the key's "=" padding survives splitting name=value on the first "="
    assert _signs_as(signer, "acct", KEY)


@pytest.mark.parametrize(("text", "expected"), [
    (f"AccountName=acct;AccountKey={KEY}", "https://acct.table.core.windows.net"),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
     "EndpointSuffix=core.chinacloudapi.cn", "https://acct.table.core.chinacloudapi.cn"),
    (f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY}",
     "http://acct.table.core.windows.net"),
])
def test_connection_string_account_default_endpoint(text: str, expected: str) -> None:
    endpoint, signer = from_connection_string(text)
    assert endpoint == expected
    assert _signs_as(signer, "acct", KEY)


@pytest.mark.parametrize("text", [
    "AccountName=acct",
    f"AccountKey={KEY}",
    "AccountName=acct;AccountKey=",
    "DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net",
    "UseDevelopmentStorage=false",
    "",
])
def test_connection_string_without_account_or_key_is_a_store_error(text: str) -> None:
    with pytest.raises(StoreError, match="AccountName and AccountKey"):
        from_connection_string(text)


def test_open_tables_errors_are_store_errors() -> None:
    with pytest.raises(StoreError, match="No storage configured"):
        open_tables(Settings())
    with pytest.raises(StoreError, match="not a table endpoint"):
        open_tables(Settings(storage_connection_string=(
            f"AccountName=acct;AccountKey={KEY};TableEndpoint=ftp://acct")))


# -- connection pool -------------------------------------------------------------------------------

def test_keep_alive_connection_is_reused(azurite_wire: Wire, table: Table) -> None:
    table.upsert_entity({"PartitionKey": "pool", "RowKey": "r"})
    pool = azurite_wire.pool
    assert len(pool.idle()) == 1
    conn = pool.idle()[0]
    table.get_entity("pool", "r")
    assert pool.idle() == [conn]
    assert conn.sock is not None


def test_connection_idle_past_the_limit_is_not_reused(
        azurite_wire: Wire, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    table.upsert_entity({"PartitionKey": "pool", "RowKey": "r"})
    pool = azurite_wire.pool
    (old,) = pool.idle()
    monkeypatch.setattr(wire, "IDLE_LIMIT", 0.0)  # every idle connection is now too old
    assert table.get_entity("pool", "r")["RowKey"] == "r"
    (new,) = pool.idle()
    assert new is not old
    assert old.sock is None  # closed, not leaked


def test_connection_closed_by_peer_is_detected_and_not_reused(
        azurite_wire: Wire, table: Table) -> None:
    table.upsert_entity({"PartitionKey": "pool", "RowKey": "r"})
    pool = azurite_wire.pool
    (old,) = pool.idle()
    assert not wire.closed_by_peer(old)
    assert old.sock is not None
    old.sock.shutdown(2)  # the socket now reads EOF, as after the server's FIN
    assert wire.closed_by_peer(old)
    assert table.get_entity("pool", "r")["RowKey"] == "r"
    (new,) = pool.idle()
    assert new is not old
    assert old.sock is None


# What the local server does after reading request `index` (0-based) of connection `number`
# (1-based): "answer" and keep the connection, "answer+close" (answer, then close the
# connection without a "Connection: close", as a server closing an idle keep-alive connection
# does) or "drop" (close without answering the request it has read).
Plan = Callable[[int, int], str]


class _Server(ThreadingHTTPServer):
    def __init__(self, plan: Plan) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.plan = plan
        self.connections = 0
        self.received: list[tuple[int, str, str, bytes]] = []  # (connection, method, path, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.number, self.index = self.server.connections, 0

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.number, self.command, self.path, body))
        action = self.server.plan(self.number, self.index)
        self.index += 1
        if action == "drop":
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()  # no "Connection: close": the client believes it may reuse this
        self.wfile.write(b"ok")
        self.wfile.flush()
        if action == "answer+close":
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def local_server(plan: Plan) -> Iterator[tuple[_Server, Wire]]:
    server = _Server(plan)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    w = Wire(f"http://127.0.0.1:{server.server_address[1]}/acct",
             SharedKeyLite("acct", DEV_ACCOUNT_KEY))
    try:
        yield server, w
    finally:
        w.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _idle_connection(w: Wire) -> Connection:
    (conn,) = w.pool.idle()
    return conn


def _wait_until_dropped(conn: Connection) -> None:
    deadline = time.monotonic() + 2
    while not wire.closed_by_peer(conn) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wire.closed_by_peer(conn)


def test_connection_kept_alive_by_the_server_is_reused() -> None:
    with local_server(lambda number, index: "answer") as (server, w):
        assert w.request("GET", "/acct/one").body == b"ok"
        first = _idle_connection(w)
        assert w.request("POST", "/acct/two", body=b"2").body == b"ok"
        assert _idle_connection(w) is first
    assert server.connections == 1
    assert [(n, m, p) for n, m, p, _ in server.received] == [
        (1, "GET", "/acct/one"), (1, "POST", "/acct/two")]


def test_connection_closed_by_the_server_while_idle_is_detected() -> None:
    with local_server(lambda number, index: "answer+close") as (server, w):
        assert w.request("GET", "/acct/one").body == b"ok"
        first = _idle_connection(w)
        _wait_until_dropped(first)
        assert w.request("POST", "/acct/two", body=b"2").body == b"ok"
        assert _idle_connection(w) is not first
        assert first.sock is None
    assert server.connections == 2
    assert [(n, m, b) for n, m, _, b in server.received] == [(1, "GET", b""), (2, "POST", b"2")]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_request_racing_an_idle_close_is_sent_again_on_a_new_connection(
        monkeypatch: pytest.MonkeyPatch, hooks: list[wire.TransportHook],
        sleeps: list[float], method: str) -> None:
    """The server closed the pooled connection, but the request went out before the client
    could see that (`closed_by_peer` says no): an idempotent request is sent once more, on a new
    connection, and arrives exactly once."""
    with local_server(lambda number, index: "answer+close") as (server, w):
        assert w.request("GET", "/acct/one").body == b"ok"
        first = _idle_connection(w)
        _wait_until_dropped(first)
        monkeypatch.setattr(wire, "closed_by_peer", lambda conn: False)
        attempts: list[str] = []

        def count(request: Request, send: wire.Send) -> Response:
            attempts.append(request.method)
            return send(request)

        hooks.append(count)
        assert w.request(method, "/acct/two", body=b"2").body == b"ok"
    assert server.connections == 2
    assert [(n, m, b) for n, m, _, b in server.received] == [(1, "GET", b""), (2, method, b"2")]
    assert attempts == [method]  # one attempt of the retry policy
    assert sleeps == []


def test_post_racing_an_idle_close_is_not_sent_again(
        monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """The client cannot tell this race from a server that read the POST and then closed:
    the POST is not resent (its caller decides; transactions check whether they landed)."""
    with local_server(lambda number, index: "answer+close") as (server, w):
        assert w.request("GET", "/acct/one").body == b"ok"
        _wait_until_dropped(_idle_connection(w))
        monkeypatch.setattr(wire, "closed_by_peer", lambda conn: False)
        with pytest.raises(TransportFailed):
            w.request("POST", "/acct/$batch", body=b"2")
    assert [(n, m) for n, m, _, _ in server.received] == [(1, "GET")]
    assert sleeps == []


def test_resend_after_an_idle_close_uses_a_new_connection_not_another_pooled_one(
        monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """The server closed every pooled connection (a restart, a load balancer's idle sweep):
    the resend must not pick the next stale one."""
    with local_server(lambda number, index: "answer+close") as (server, w):
        stale = [w.pool.take() for _ in range(2)]
        for conn in stale:
            conn.request("GET", "/acct/warm", b"", {})
            assert conn.getresponse().body == b"ok"
            w.pool.give_back(conn)
        for conn in stale:
            _wait_until_dropped(conn)
        monkeypatch.setattr(wire, "closed_by_peer", lambda conn: False)
        assert w.request("PUT", "/acct/t(PartitionKey='p',RowKey='r')", body=b"1").body == b"ok"
    assert server.connections == 3
    assert [(n, b) for n, m, _, b in server.received if m == "PUT"] == [(3, b"1")]
    assert sleeps == []


def test_fresh_connection_closed_without_an_answer_is_not_resent_for_post(
        sleeps: list[float]) -> None:
    with local_server(lambda number, index: "drop") as (server, w), \
            pytest.raises(TransportFailed):
        w.request("POST", "/acct/$batch", body=b"1")
    assert [(n, b) for n, _, _, b in server.received] == [(1, b"1")]
    assert sleeps == []


def test_fresh_connection_closed_without_an_answer_is_retried_for_get(
        sleeps: list[float]) -> None:
    with local_server(lambda number, index: "drop") as (server, w), \
            pytest.raises(TransportFailed):
        w.request("GET", "/acct/t")
    assert [n for n, _, _, _ in server.received] == list(range(1, wire.RETRIES + 2))
    assert sleeps == pytest.approx([0.0, 0.8, 1.6])


def test_post_the_server_read_before_closing_is_not_sent_twice(sleeps: list[float]) -> None:
    def plan(number: int, index: int) -> str:
        return "drop" if (number, index) == (1, 1) else "answer"

    with local_server(plan) as (server, w):
        assert w.request("POST", "/acct/$batch", body=b"1").body == b"ok"
        with pytest.raises(TransportFailed):  # the outcome is unknown: the caller decides
            w.request("POST", "/acct/$batch", body=b"2")
    assert [b for _, _, _, b in server.received] == [b"1", b"2"]


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise self.error


def test_a_credential_without_an_identity_is_not_signed_in() -> None:
    """DefaultAzureCredential raises ClientAuthenticationError when none of its sources has an
    identity (no managed identity, no `az login`): NotSignedIn, still an Unavailable (503 in
    the app), so the CLI can say to sign in."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CredentialUnavailableError

    for error in (ClientAuthenticationError("DefaultAzureCredential failed"),
                  CredentialUnavailableError("no az login")):
        with pytest.raises(NotSignedIn) as caught:
            _bearer(BearerToken(_Failing(error)))
        assert isinstance(caught.value, Unavailable)
    with pytest.raises(Unavailable) as other:
        _bearer(BearerToken(_Failing(OSError("identity endpoint down"))))
    assert not isinstance(other.value, NotSignedIn)
