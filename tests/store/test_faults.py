"""`shared.store.faults`: which storage failures mean "storage did not answer usefully" (retrying
later may succeed) and become `Unavailable` (the service's 503 with Retry-After), and which are
outcomes that pass through unchanged (a missing row, a conflict). The failures are the ones the
store's `Table` really raises against Azurite, refusals injected through the transport hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.data.tables import RequestTooLargeError, TableTransactionError

from shared.store.errors import TransportFailed, Unavailable
from shared.store.faults import is_transient, unavailable, unavailable_on_failure
from shared.store.table import Table
from shared.store.wire import Request, Response
from tests.support.storage_faults import busy, hooked

Send = Callable[[Request], Response]


def _status(status: int | None, kind: type[HttpResponseError] = HttpResponseError
            ) -> HttpResponseError:
    error = kind(message="refused")
    error.status_code = status
    return error


def _name(value: object) -> str:
    if isinstance(value, HttpResponseError):
        return f"{type(value).__name__}-{value.status_code}"
    return type(value).__name__ if isinstance(value, BaseException) else str(value)


@pytest.mark.parametrize(("error", "transient"), [
    (ServiceRequestError("connection refused"), True),
    (ServiceRequestTimeoutError("connect timed out"), True),
    (ServiceResponseError("connection reset"), True),
    (ServiceResponseTimeoutError("read timed out"), True),
    (TransportFailed("the direct client's retries spent"), True),
    (_status(None), True),  # no answer to read a status from
    (_status(408), True),
    (_status(429), True),
    (_status(500), True),
    (_status(503, TableTransactionError), True),
    (_status(504), True),
    (_status(400), False),
    (_status(401), False),
    (_status(403), False),
    (_status(404, ResourceNotFoundError), False),
    (_status(409, ResourceExistsError), False),
    (_status(412, ResourceModifiedError), False),
    (_status(413, RequestTooLargeError), False),
    (ValueError("a bug"), False),
    (TimeoutError("not a storage call"), False),
], ids=_name)
def test_which_failures_are_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_unavailable_keeps_the_type_and_status_but_not_storage_s_message() -> None:
    """Storage messages can quote keys, and keys hold attribute values (a userName)."""
    error = _status(503)
    error.message = "The specified entity UN:alice@example.com is busy"
    mapped = unavailable(error)
    assert isinstance(mapped, Unavailable)
    assert "HttpResponseError" in str(mapped)
    assert "503" in str(mapped)
    assert "alice" not in str(mapped)
    assert "alice" not in str(unavailable(ServiceRequestError("reset reading UN:alice")))


def test_a_block_without_a_failure_is_left_alone() -> None:
    with unavailable_on_failure():
        value = 42
    assert value == 42


@pytest.mark.parametrize("error", [ServiceRequestError("reset"), _status(503), _status(None)],
                         ids=_name)
def test_a_transient_failure_becomes_unavailable_caused_by_it(error: BaseException) -> None:
    with pytest.raises(Unavailable) as info, unavailable_on_failure():
        raise error
    assert info.value.__cause__ is error


@pytest.mark.parametrize("error", [_status(404, ResourceNotFoundError), _status(400),
                                   ValueError("a bug")], ids=_name)
def test_other_failures_pass_unchanged(error: BaseException) -> None:
    with pytest.raises(type(error)) as info, unavailable_on_failure():
        raise error
    assert info.value is error


# -- what Table raises against Azurite -------------------------------------------------------

def reset(request: Request, send: Send) -> Response:
    raise TransportFailed("injected: connection reset by peer")


def _raised(call: Callable[[], Any]) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value


def test_storage_outcomes_are_not_transient(empty_table: Table) -> None:
    created = empty_table.create_entity({"PartitionKey": "p", "RowKey": "r", "n": 1})
    empty_table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "n": 2})
    outcomes = [
        _raised(lambda: empty_table.get_entity("p", "missing")),
        _raised(lambda: empty_table.create_entity({"PartitionKey": "p", "RowKey": "r"})),
        _raised(lambda: empty_table.update_entity(
            {"PartitionKey": "p", "RowKey": "r", "n": 3}, etag=created["etag"],
            match_condition=MatchConditions.IfNotModified)),
        _raised(lambda: empty_table.submit_transaction(
            [("update", {"PartitionKey": "p", "RowKey": "missing"})])),
    ]
    assert [type(e) for e in outcomes] == [ResourceNotFoundError, ResourceExistsError,
                                           ResourceModifiedError, TableTransactionError]
    for error in outcomes:
        assert not is_transient(error)
        with pytest.raises(type(error)), unavailable_on_failure():
            raise error


@pytest.mark.parametrize("hook", [busy, reset])
def test_storage_that_keeps_refusing_is_unavailable_after_the_retries(
        empty_table: Table, hook: Callable[[Request, Send], Response]) -> None:
    attempts: list[str] = []

    def counted(request: Request, send: Send) -> Response:
        attempts.append(request.method)
        return hook(request, send)

    with hooked(counted), pytest.raises(Unavailable) as info, unavailable_on_failure():
        empty_table.get_entity("p", "r")
    # a refusal's HttpResponseError became Unavailable; TransportFailed already is one
    assert is_transient(info.value.__cause__ or info.value)
    assert len(attempts) > 1  # the transport's retries ran first
