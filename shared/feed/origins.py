"""A process-wide bound on webhook requests in flight per URL origin (scheme, host, port).

One tenant's pass already sends at most SCIM_WEBHOOK_CONCURRENCY requests at once, but the
deployment-wide endpoint receives every tenant's events, and several tenants' passes run at
once in one instance (queue triggers, the reconciler): without a shared bound their requests
would add up against one receiver. Tenants whose webhooks share an origin share the bound too,
which is what that receiver sees anyway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """`scheme://host:port` of a URL, lower-cased, the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a number: the request fails anyway; bound it with its like
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


class OriginSlots:
    """Counts requests in flight per origin; a request waits for a slot (bounded)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight: dict[str, int] = {}

    def in_flight(self, url: str) -> int:
        with self._changed:
            return self._in_flight.get(origin(url), 0)

    @contextmanager
    def slot(self, url: str, limit: int, wait_seconds: float) -> Iterator[bool]:
        """Hold one of `limit` slots of the URL's origin while the block runs (yields True), or
        yield False, holding none, when no slot came free within `wait_seconds`. The limit is
        the caller's: settings may differ between callers, each is held to its own."""
        key = origin(url)
        until = time.monotonic() + max(0.0, wait_seconds)
        with self._changed:
            while self._in_flight.get(key, 0) >= limit:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            got = self._in_flight.get(key, 0) < limit
            if got:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield got
        finally:
            if got:
                with self._changed:
                    count = self._in_flight[key] - 1
                    if count:
                        self._in_flight[key] = count
                    else:
                        del self._in_flight[key]  # the map holds busy origins only
                    self._changed.notify_all()


# The instance every delivery of this process shares.
SLOTS = OriginSlots()
