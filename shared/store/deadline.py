"""How long the storage calls of the current request may still take.

A storage endpoint that accepts connections and never answers would otherwise hold a request
for the per-call timeouts times the retries (a minute and more), and with it one of the
instance's few concurrency slots. `within(seconds)` sets a deadline for every storage call made
in its block (the SCIM service sets one per request, `/health` a short one); `wire` consults it
for its socket timeouts, retries and back-off. It is a context variable, so it follows the
request's thread and nothing else: a thread pool that works for the request has to run its
tasks in a copy of the request's context (`contextvars.copy_context`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_expires: ContextVar[float | None] = ContextVar("storage_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Storage calls in this block end by `seconds` from now (or by an enclosing block's
    deadline, when that is earlier)."""
    end = time.monotonic() + seconds
    outer = _expires.get()
    token = _expires.set(end if outer is None else min(end, outer))
    try:
        yield
    finally:
        _expires.reset(token)


def expires_at() -> float | None:
    """The `time.monotonic()` by which storage calls must end; None: no deadline."""
    return _expires.get()


def remaining() -> float | None:
    """Seconds left before the deadline (0 or less: passed); None: no deadline."""
    end = _expires.get()
    return None if end is None else end - time.monotonic()
