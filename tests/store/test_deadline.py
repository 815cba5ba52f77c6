"""The storage deadline (`shared.store.deadline`): every storage call made inside
`deadline.within(s)` ends by it, however the storage endpoint misbehaves.

A "hung" endpoint here is a loopback socket that listens and never accepts: the kernel
completes the handshake and buffers what is sent, and no answer ever comes — what a frozen
storage process looks like from the client (tests/reliability/test_storage_hang.py freezes a
real Azurite). The retry property runs on a fake clock: attempts and back-off sleeps are
simulated, so any deadline and any sequence of slow or failed attempts can be tried."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.store import deadline, wire
from shared.store.connection import DEV_ACCOUNT_KEY
from shared.store.directory import Directory
from shared.store.errors import TransportFailed, Unavailable
from shared.store.table import Table
from shared.store.wire import Request, Response, SharedKeyLite, Wire
from tests.support.storage_faults import hooked, own_thread

ACCOUNT = "devstoreaccount1"
SLACK = 0.4  # scheduling on a busy 2-core machine; far below the per-call timeouts (5, 20 s)


@pytest.fixture
def hung() -> Iterator[Wire]:
    """A Wire to an endpoint that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        w = Wire(f"http://127.0.0.1:{listener.getsockname()[1]}/{ACCOUNT}",
                 SharedKeyLite(ACCOUNT, DEV_ACCOUNT_KEY))
        yield w
        w.close()


@pytest.fixture
def trickling() -> Iterator[Wire]:
    """A Wire to an endpoint that answers a response head at once, then one body byte every
    0.1 s: each socket read gets data well within any read timeout, the whole body takes
    6 s."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
                for _ in range(60):
                    if stop.wait(0.1):
                        break
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    w = Wire(f"http://127.0.0.1:{listener.getsockname()[1]}/{ACCOUNT}",
             SharedKeyLite(ACCOUNT, DEV_ACCOUNT_KEY))
    yield w
    w.close()
    stop.set()
    thread.join(5)
    listener.close()


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# -- the context -----------------------------------------------------------------------------

def test_within_nests_to_the_earlier_deadline_and_restores_the_outer_one() -> None:
    assert deadline.expires_at() is None
    assert deadline.remaining() is None
    with deadline.within(5):
        outer = deadline.expires_at()
        assert outer is not None
        with deadline.within(50):
            assert deadline.expires_at() == outer  # a longer inner one cannot extend it
        with deadline.within(1):
            inner = deadline.expires_at()
            assert inner is not None
            assert inner < outer
        assert deadline.expires_at() == outer
    assert deadline.expires_at() is None


# -- a hung endpoint -------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/{ACCOUNT}/t(PartitionKey='p',RowKey='r')"),
    ("DELETE", f"/{ACCOUNT}/t(PartitionKey='p',RowKey='r')"),
    ("PUT", f"/{ACCOUNT}/t(PartitionKey='p',RowKey='r')"),
    ("POST", f"/{ACCOUNT}/$batch"),
])
def test_a_call_to_hung_storage_ends_by_the_deadline(hung: Wire, method: str,
                                                     path: str) -> None:
    with deadline.within(0.5):
        error, elapsed = _timed(lambda: hung.request(method, path, body=b"{}"))
    assert elapsed < 0.5 + SLACK
    # A transport failure is Unavailable (the service's 503 + Retry-After).
    assert isinstance(error, TransportFailed), error
    assert isinstance(error, Unavailable)


def test_a_call_made_after_the_deadline_is_not_sent(hung: Wire) -> None:
    sent: list[Request] = []

    def count(request: Request, send: wire.Send) -> Response:
        sent.append(request)
        return send(request)

    with hooked(own_thread(count)), deadline.within(0):  # not the audit writer's requests
        error, elapsed = _timed(lambda: hung.request("GET", f"/{ACCOUNT}/Tables"))
    assert isinstance(error, wire.DeadlinePassed)
    assert not sent
    assert elapsed < SLACK


def test_an_answer_that_trickles_in_ends_by_the_deadline(trickling: Wire) -> None:
    """Each read gets a byte within 0.1 s, so a timeout per read never fires: the deadline
    bounds the reads together."""
    with deadline.within(0.8):
        error, elapsed = _timed(lambda: trickling.request("GET", f"/{ACCOUNT}/Tables"))
    assert isinstance(error, TransportFailed), error
    assert elapsed < 0.8 + SLACK


def test_concurrent_point_reads_of_get_many_keep_the_callers_deadline(hung: Wire) -> None:
    """get_many reads on a thread pool; those threads work under the request's deadline."""
    directory = Directory(Table(hung, "t"))
    with deadline.within(0.6):
        error, elapsed = _timed(lambda: directory.get_many("tenant", "U", ["a", "b", "c"]))
    assert isinstance(error, Unavailable), error
    assert elapsed < 0.6 + SLACK


# -- retries and back-off --------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[tuple[float, float]] = []  # (start, seconds)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append((self.now, seconds))
        self.now += seconds


OUTCOMES = st.sampled_from(["503", "503-retry-after", "429", "timeout", "reset"])


@settings(max_examples=300, deadline=None)
@given(limit=st.floats(0.0, 12.0), method=st.sampled_from(["GET", "PUT", "DELETE", "POST"]),
       attempts=st.lists(st.tuples(st.floats(0.0, 6.0), OUTCOMES), min_size=4, max_size=4),
       retry_after=st.floats(0.0, 6.0))
def test_no_attempt_starts_and_no_back_off_ends_after_the_deadline(
        limit: float, method: str, attempts: list[tuple[float, str]],
        retry_after: float) -> None:
    """Whatever each attempt costs and answers, `Wire.request` starts no attempt at or after
    the deadline and sleeps towards none that could not start before it."""
    clock = FakeClock()
    started: list[float] = []
    mine = threading.get_ident()

    def storage(request: Request, send: wire.Send) -> Response:
        if threading.get_ident() != mine:  # another test's background writer (audit, journal)
            return send(request)
        duration, outcome = attempts[len(started)]
        started.append(clock.now)
        clock.now += duration
        if outcome == "timeout":
            raise TransportFailed("simulated: no answer")
        if outcome == "reset":
            raise TransportFailed("simulated: connection reset")
        headers = {"retry-after": f"{retry_after:.3f}"} if outcome == "503-retry-after" else {}
        return Response(int(outcome[:3]), "", headers, b"")

    offline = Wire(f"http://127.0.0.1:9/{ACCOUNT}", SharedKeyLite(ACCOUNT, DEV_ACCOUNT_KEY))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wire, "TRANSPORT_HOOKS", [storage])
        # Only this thread lives on the fake clock: background writers of other tests (audit,
        # journal) retry through the same module and must neither move it nor wait on it.
        fake = SimpleNamespace(
            time=time.time,
            monotonic=lambda: (clock.monotonic() if threading.get_ident() == mine
                               else time.monotonic()),
            sleep=lambda s: clock.sleep(s) if threading.get_ident() == mine else time.sleep(s))
        mp.setattr(wire, "time", fake)
        mp.setattr(deadline, "time", fake)
        with deadline.within(limit):
            end = clock.now + limit
            with contextlib.suppress(TransportFailed):
                offline.request(method, f"/{ACCOUNT}/t(PartitionKey='p',RowKey='r')")
    assert all(t < end for t in started), (started, end)
    assert all(start + seconds < end for start, seconds in clock.sleeps), (clock.sleeps, end)
    assert len(started) <= wire.RETRIES + 1
