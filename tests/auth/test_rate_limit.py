"""shared.auth.rate_limit: a token bucket per key with an injected clock - the burst, then one
grant per interval with an exact wait; keys apart; memory capped; eviction never hands a key a
fresh burst; and, as a property over random traffic, no key ever gets more than
`burst + elapsed / interval` grants in any stretch of `elapsed` seconds."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.auth.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_burst_then_one_grant_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 6.0, clock=clock)
    assert [limiter.acquire("c") for _ in range(10)] == [0.0] * 10
    assert limiter.acquire("c") == pytest.approx(6.0)
    clock.now += 4.5
    assert limiter.acquire("c") == pytest.approx(1.5)  # the wait left, not a fixed value
    clock.now += 1.5
    assert limiter.acquire("c") == 0.0
    assert limiter.acquire("c") == pytest.approx(6.0)
    clock.now += 60.0  # refilled, but never beyond the burst
    assert [limiter.acquire("c") for _ in range(11)][-2:] == [0.0, pytest.approx(6.0)]


def test_keys_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(2, 6.0, clock=Clock())
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(6.0)]
    assert limiter.acquire("b") == 0.0


def test_memory_is_capped_whatever_keys_are_sent() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 6.0, clock=clock, max_keys=100)
    for n in range(5000):
        limiter.acquire(f"made-up-{n}")
        clock.now += 0.001
        assert limiter.tracked_keys() <= 100


def test_eviction_does_not_hand_a_key_a_fresh_burst() -> None:
    """A client that spends its burst, then sends made-up keys until its bucket is evicted,
    must still wait: a plain LRU would give it ten more grants at once."""
    clock = Clock()
    limiter = RateLimiter(10, 6.0, clock=clock, max_keys=10)
    for _ in range(10):
        assert limiter.acquire("victim") == 0.0
    for n in range(50):
        limiter.acquire(f"filler-{n}")
    assert limiter.acquire("victim") > 0.0
    clock.now += 60.0  # by then every evicted bucket would be full again
    assert limiter.acquire("victim") == 0.0


def test_full_buckets_are_dropped_before_anything_is_evicted() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 6.0, clock=clock, max_keys=3)
    limiter.acquire("idle-1")
    limiter.acquire("idle-2")
    clock.now += 7.0  # both refilled: dropping them loses nothing
    for _ in range(10):
        limiter.acquire("busy")
    limiter.acquire("new")  # the cap is reached: the full buckets go, "busy" stays
    assert limiter.acquire("busy") > 0.0
    assert limiter.acquire("idle-1") == 0.0  # and a dropped full bucket comes back full


def test_concurrent_acquires_never_exceed_the_burst() -> None:
    limiter = RateLimiter(10, 3600.0, clock=Clock())
    granted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            wait = limiter.acquire("shared")
            with lock:
                granted.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(0.0) == 10


@pytest.mark.parametrize(("burst", "interval", "max_keys"), [(0, 6.0, 10), (1, 0.0, 10),
                                                             (1, 6.0, 0)])
def test_impossible_limits_are_refused(burst: int, interval: float, max_keys: int) -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(burst, interval, max_keys=max_keys)


_traffic = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]),
                              st.integers(min_value=0, max_value=3000)),  # ms before the call
                    min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(traffic=_traffic, burst=st.integers(1, 4), interval_ms=st.integers(100, 2000),
       max_keys=st.integers(1, 6))
def test_no_key_ever_gets_more_than_burst_plus_elapsed_over_interval(
        traffic: list[tuple[str, int]], burst: int, interval_ms: int, max_keys: int) -> None:
    clock = Clock()
    clock.now = 0.0
    interval = interval_ms / 1000
    limiter = RateLimiter(burst, interval, clock=clock, max_keys=max_keys)
    grants: dict[str, list[float]] = {}
    for key, pause_ms in traffic:
        clock.now += pause_ms / 1000
        if limiter.acquire(key) == 0.0:
            grants.setdefault(key, []).append(clock.now)
        assert limiter.tracked_keys() <= max_keys
    for times in grants.values():
        for first in range(len(times)):
            for last in range(first, len(times)):
                elapsed = times[last] - times[first]
                assert last - first + 1 <= burst + elapsed / interval + 1e-9


@settings(max_examples=200, deadline=None)
@given(calls=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=40),
       burst=st.integers(1, 5), interval_ms=st.integers(100, 2000))
def test_waiting_the_answered_time_is_enough(calls: list[int], burst: int,
                                             interval_ms: int) -> None:
    clock = Clock()
    limiter = RateLimiter(burst, interval_ms / 1000, clock=clock)
    for pause_ms in calls:
        clock.now += pause_ms / 1000
        wait = limiter.acquire("k")
        if wait > 0:
            clock.now += wait + 1e-9
            assert limiter.acquire("k") == 0.0
