"""Storage failures that mean "storage did not answer usefully" -> `Unavailable` (azure-core's
exception types, raised by `table`, and `TransportFailed`, raised by `wire`, which already is
one).

Every storage call of the store runs inside `unavailable_on_failure()`, so a throttled,
timed-out or reset call (after `wire`'s retries) reaches the service as `Unavailable`
(a SCIM 503 with Retry-After) instead of an unmapped storage exception (a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from .errors import TransportFailed, Unavailable


def is_transient(exc: BaseException) -> bool:
    """Transport failures, throttling and server errors: retrying later may succeed."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError | TransportFailed):
        return True
    if isinstance(exc, HttpResponseError):
        code = exc.status_code
        return code is None or code >= 500 or code in (408, 429)
    return False


def unavailable(exc: BaseException) -> Unavailable:
    # The type and status only: storage messages can quote keys, which hold attribute values.
    return Unavailable(f"{type(exc).__name__}: {getattr(exc, 'status_code', '')}")


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except (ServiceRequestError, ServiceResponseError, HttpResponseError) as exc:
        if is_transient(exc):
            raise unavailable(exc) from exc
        raise
