"""`shared.feed.origins`: what counts as one origin, and the bound on requests in flight to it
across threads (its use by delivery across tenants is in tests/feed/test_lanes.py)."""

from __future__ import annotations

import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from shared.feed.origins import OriginSlots, origin


def test_one_origin_whatever_the_path_case_and_default_port() -> None:
    assert origin("https://Hooks.Example.com/a?x=1") == "https://hooks.example.com:443"
    assert origin("https://hooks.example.com:443/b") == "https://hooks.example.com:443"
    assert origin("http://127.0.0.1/x") == "http://127.0.0.1:80"
    assert origin("http://127.0.0.1:8080/x") != origin("http://127.0.0.1:8081/x")
    assert origin("http://hooks.example.com/") != origin("https://hooks.example.com/")


@given(st.text(max_size=40))
def test_any_text_has_an_origin(url: str) -> None:
    assert isinstance(origin(url), str)  # never raises: a malformed URL fails at send time


def test_at_most_limit_in_flight_per_origin_across_threads() -> None:
    slots = OriginSlots()
    lock = threading.Lock()
    now: dict[str, int] = {}
    most: dict[str, int] = {}

    def request(url: str) -> None:
        with slots.slot(url, 2, wait_seconds=5) as got:
            assert got
            with lock:
                now[url] = now.get(url, 0) + 1
                most[url] = max(most.get(url, 0), now[url])
            time.sleep(0.05)
            with lock:
                now[url] -= 1

    threads = [threading.Thread(target=request, args=("https://a.example.com/x",))
               for _ in range(8)]
    threads.append(threading.Thread(target=request, args=("https://b.example.com/",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == {"https://a.example.com/x": 2, "https://b.example.com/": 1}
    assert slots.in_flight("https://a.example.com/") == 0


def test_no_slot_within_the_wait_is_reported_and_holds_nothing() -> None:
    slots = OriginSlots()
    with slots.slot("https://a.example.com/", 1, wait_seconds=1) as first:
        assert first
        started = time.monotonic()
        with slots.slot("https://a.example.com/", 1, wait_seconds=0.1) as second:
            assert not second
        assert 0.09 <= time.monotonic() - started < 1
        assert slots.in_flight("https://a.example.com/") == 1
        with slots.slot("https://b.example.com/", 1, wait_seconds=0) as other:
            assert other  # another origin has slots of its own
    with slots.slot("https://a.example.com/", 1, wait_seconds=0) as again:
        assert again  # the first was released


def test_a_slot_freed_lets_a_waiting_request_go_at_once() -> None:
    slots = OriginSlots()
    waited: list[float] = []

    def second() -> None:
        started = time.monotonic()
        with slots.slot("https://a.example.com/", 1, wait_seconds=5) as got:
            assert got
            waited.append(time.monotonic() - started)

    with slots.slot("https://a.example.com/", 1, wait_seconds=0):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)
    thread.join()
    assert 0.05 < waited[0] < 1
