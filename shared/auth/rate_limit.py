"""A per-key token bucket in bounded memory: each key may take `burst` grants at once, then one
per `interval` seconds.

Keys are whatever callers send (the token endpoint limits per client id before it reads any
storage), so the number of buckets is capped at `max_keys`. A full bucket is the same as no
bucket and is dropped first; beyond that the least recently used bucket is evicted. Eviction
must not hand a key a fresh burst (a client cycling through many made-up keys would otherwise
reset its own), so the limiter remembers one number: the moment by which every evicted bucket
would have refilled. A key that is new, or new again, before then starts with only what the
emptiest evicted bucket would hold by now, which is never more than its own would. So no key
ever gets more than `burst + elapsed / interval` grants in any stretch of `elapsed` seconds."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float  # the clock reading `tokens` was computed at


class RateLimiter:
    def __init__(self, burst: int, interval: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if burst < 1 or interval <= 0 or max_keys < 1:
            raise ValueError("a rate limit needs burst >= 1, interval > 0 and max_keys >= 1")
        self._burst = float(burst)
        self._interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._evicted_full_at = -math.inf

    def acquire(self, key: str) -> float:
        """Take a grant for `key`: 0.0 when granted, else the seconds until one would be."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._make_room(now)
                bucket = self._buckets[key] = _Bucket(self._start_level(now), now)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(self._burst,
                                    bucket.tokens + (now - bucket.updated) / self._interval)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) * self._interval

    def tracked_keys(self) -> int:
        """How many buckets are held (at most `max_keys`)."""
        with self._lock:
            return len(self._buckets)

    def _start_level(self, now: float) -> float:
        behind = (self._evicted_full_at - now) / self._interval
        return self._burst if behind <= 0 else max(0.0, self._burst - behind)

    def _full_at(self, bucket: _Bucket) -> float:
        return bucket.updated + (self._burst - bucket.tokens) * self._interval

    def _make_room(self, now: float) -> None:
        """Drop full buckets, then evict the least recently used down to nine tenths of the
        cap: a flood of new keys costs one scan per tenth of the cap, not one per key."""
        for key in [k for k, b in self._buckets.items() if self._full_at(b) <= now]:
            del self._buckets[key]
        while len(self._buckets) > self._max_keys * 9 // 10:
            _, evicted = self._buckets.popitem(last=False)
            self._evicted_full_at = max(self._evicted_full_at, self._full_at(evicted))
