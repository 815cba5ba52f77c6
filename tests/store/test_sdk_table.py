"""`shared.store.sdk_table`: the `sdk` backend against Azurite. Every method of the Backend
protocol, the values it returns, the store errors it raises, the deadline and the transport
hooks. That it answers like the `direct` backend is test_backend_parity.py's job."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.settings import Settings
from shared.store import backend, deadline, wire
from shared.store.backend import Operation
from shared.store.connection import DEV_ACCOUNT, open_tables
from shared.store.errors import (
    AccessDenied,
    AlreadyExists,
    NotFound,
    NotSignedIn,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    TransportFailed,
    Unavailable,
)
from shared.store.sdk_table import SdkAccount, SdkTable, store_error
from tests.support import storage_modes
from tests.support.storage_faults import own_thread_hooks
from tests.support.storage_modes import TestStorage

Hook = Any


@pytest.fixture(scope="module")
def table(storage_connection_string: str) -> SdkTable:
    tables = open_tables(Settings(storage_connection_string=storage_connection_string,
                                  storage_client="sdk"))
    opened = tables.open_table("sdk" + uuid.uuid4().hex[:12])
    assert isinstance(opened, SdkTable)
    opened.create_table()
    return opened


@pytest.fixture
def pk() -> str:
    return "p" + uuid.uuid4().hex[:12]


@pytest.fixture
def hooks() -> Iterator[list[Hook]]:
    """The test's hooks, for its own thread's requests (the session's app writes its audit log
    from a thread of its own, through the same process-wide hooks)."""
    with own_thread_hooks() as mine:
        yield mine


def _counting(seen: list[str]) -> Hook:
    def hook(request: wire.Request, send: wire.Send) -> wire.Response:
        seen.append(request.method)
        return send(request)
    return hook


def _busy(request: wire.Request, send: wire.Send) -> wire.Response:
    return wire.Response(503, "Server Busy", {
        "content-type": "application/json;odata=minimalmetadata", "x-ms-error-code": "ServerBusy",
        "retry-after": "0"},
        b'{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US",'
        b'"value":"The server is busy."}}}')


# -- values ----------------------------------------------------------------------------------

VALUES: dict[str, Any] = {
    "text": "Zoë O'Brien 🙂", "empty": "", "yes": True, "no": False, "small": 7,
    "int32_max": 2**31 - 1, "int32_min": -2**31, "beyond_int32": 2**31, "below_int32": -2**31 - 1,
    "int64": 2**40, "int64_max": 2**63 - 1, "half": 1.5, "whole_float": 2.0, "negative": -0.25,
}


def test_values_come_back_as_plain_python_values_of_their_type(table: SdkTable, pk: str) -> None:
    # The SDK refuses a Python int beyond 32 bits unless it is typed, and reads an Edm.Int64
    # back as EntityProperty; Edm.Double comes back as float even when it is whole.
    table.create_entity({"PartitionKey": pk, "RowKey": "r", **VALUES})
    entity = table.get_entity(pk, "r")
    assert dict(entity) == {"PartitionKey": pk, "RowKey": "r", **VALUES}
    assert {name: type(entity[name]) for name in VALUES} == {
        name: type(value) for name, value in VALUES.items()}
    assert isinstance(entity, backend.Entity)
    assert set(entity.metadata) == {"etag", "timestamp"}
    assert entity.metadata["etag"].startswith('W/"datetime')
    # As storage wrote it (seven fractional digits), like the direct backend.
    assert isinstance(entity.metadata["timestamp"], str)
    assert entity.metadata["timestamp"].endswith("Z")
    assert "T" in entity.metadata["timestamp"]


def test_non_finite_floats_round_trip(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "up": float("inf"),
                         "down": float("-inf"), "nan": float("nan")})
    entity = table.get_entity(pk, "r")
    assert entity["up"] == float("inf")
    assert entity["down"] == float("-inf")
    assert entity["nan"] != entity["nan"]


@pytest.mark.parametrize("value", [2**63, -2**63 - 1, b"bytes", ["list"], {"a": 1}])
def test_values_the_store_does_not_write_are_refused_before_a_request(
        table: SdkTable, pk: str, value: Any, hooks: list[Hook]) -> None:
    seen: list[str] = []
    hooks.append(_counting(seen))
    with pytest.raises(TypeError):
        table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "v": value})
    assert seen == []


def test_select_returns_only_the_named_properties(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1", "b": 2**40})
    assert dict(table.get_entity(pk, "r", select=["b"])) == {"b": 2**40}
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                select=["RowKey", "a"])
    assert [dict(row) for row in rows] == [{"RowKey": "r", "a": "1"}]


# -- queries ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VALUES))
def test_a_query_parameter_of_each_type_finds_its_row_only(
        table: SdkTable, pk: str, name: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "match", **VALUES})
    table.create_entity({"PartitionKey": pk, "RowKey": "other", **{
        key: _other(value) for key, value in VALUES.items()}})
    rows = list(table.query_entities(f"(PartitionKey eq @pk) and ({name} eq @value)",
                                     parameters={"pk": pk, "value": VALUES[name]}))
    assert [row["RowKey"] for row in rows] == ["match"]


def _other(value: Any) -> Any:
    """Another value of the same Edm type (Azurite answers 500 when a filter compares an
    Int32 property with an Int64 literal)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, int):
        return value ^ 1  # same width: only the lowest bit changes
    return value + 1


def test_a_quote_in_a_parameter_stays_inside_its_literal(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "name": "x"})
    rows = table.query_entities("PartitionKey eq @pk and name eq @name",
                                parameters={"pk": pk, "name": "x' or RowKey eq 'r"})
    assert list(rows) == []


def test_a_query_follows_continuations(table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    for n in range(7):
        table.create_entity({"PartitionKey": pk, "RowKey": f"r{n}", "n": n})
    seen: list[str] = []
    hooks.append(_counting(seen))
    rows = list(table.query_entities("PartitionKey eq @pk and n ge @low",
                                     parameters={"pk": pk, "low": 0}, results_per_page=2))
    assert [row["n"] for row in rows] == list(range(7))
    assert seen == ["GET"] * 4  # pages of 2, 2, 2 and 1


def test_a_query_matching_nothing_is_empty(table: SdkTable, pk: str) -> None:
    assert list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})) == []


# -- single-entity writes --------------------------------------------------------------------

def test_writes_return_the_new_etag_and_the_date(table: SdkTable, pk: str) -> None:
    created = table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1"})
    assert set(created) == {"etag", "date"}
    assert created["etag"] == table.get_entity(pk, "r").metadata["etag"]
    assert created["date"].endswith(" GMT")  # the Date header, as the direct backend has it
    updated = table.update_entity({"PartitionKey": pk, "RowKey": "r", "a": "2"})
    assert updated["etag"] != created["etag"]
    upserted = table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "a": "3"})
    assert upserted["etag"] == table.get_entity(pk, "r").metadata["etag"]


def test_merge_keeps_properties_not_named_and_replace_drops_them(
        table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1", "b": "2"})
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "a": "x"})
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "a": "x",
                                                "b": "2"}
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "c": 3}, "replace")
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "c": 3}
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "d": True})
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "c": 3,
                                                "d": True}
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "e": 1.5}, "replace")
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "e": 1.5}


def test_upsert_creates_a_missing_row(table: SdkTable, pk: str) -> None:
    table.upsert_entity({"PartitionKey": pk, "RowKey": "m", "a": "1"})
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "a": "1"}, "replace")
    assert [row["RowKey"] for row in table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": pk})] == ["m", "r"]


def test_a_create_of_an_existing_row_is_already_exists(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "alice@example.com"})
    with pytest.raises(AlreadyExists) as info:
        table.create_entity({"PartitionKey": pk, "RowKey": "alice@example.com"})
    # Type, status and storage's error code; never storage's message, which can quote keys.
    assert str(info.value) == "409 EntityAlreadyExists"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_missing_rows(table: SdkTable, pk: str) -> None:
    with pytest.raises(NotFound):
        table.get_entity(pk, "nobody@example.com")
    with pytest.raises(NotFound):
        table.update_entity({"PartitionKey": pk, "RowKey": "nobody", "a": "1"})
    with pytest.raises(NotFound):
        table.update_entity({"PartitionKey": pk, "RowKey": "nobody", "a": "1"}, "replace")
    table.delete_entity(pk, "nobody")  # already gone: not an error
    table.delete_entity(pk, "nobody", etag='W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"')


def test_conditional_writes_apply_only_to_the_version_read(table: SdkTable, pk: str) -> None:
    first = table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": 1})
    second = table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": 2},
                                 etag=first["etag"])
    with pytest.raises(PreconditionFailed):
        table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": 3}, etag=first["etag"])
    with pytest.raises(PreconditionFailed):
        table.update_entity({"PartitionKey": pk, "RowKey": "r"}, "replace", etag=first["etag"])
    with pytest.raises(PreconditionFailed):
        table.delete_entity(pk, "r", etag=first["etag"])
    assert table.get_entity(pk, "r")["v"] == 2
    table.delete_entity(pk, "r", etag=second["etag"])
    with pytest.raises(NotFound):
        table.get_entity(pk, "r")


def test_an_unknown_update_mode_is_refused(table: SdkTable, pk: str) -> None:
    with pytest.raises(ValueError, match="mode"):
        table.update_entity({"PartitionKey": pk, "RowKey": "r"}, "patch")  # type: ignore[arg-type]


def test_a_too_large_entity_is_too_large(table: SdkTable, pk: str) -> None:
    with pytest.raises(TooLarge, match="PropertyValueTooLarge"):  # a property above 64 KiB
        table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "doc": "x" * 40_000})
    with pytest.raises(TooLarge, match="EntityTooLarge"):  # an entity above 1 MiB
        table.upsert_entity({"PartitionKey": pk, "RowKey": "r",
                             **{f"doc{n}": "x" * 30_000 for n in range(40)}})
    with pytest.raises(NotFound):
        table.get_entity(pk, "r")


def test_create_table_leaves_an_existing_table_alone(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r"})
    table.create_table()
    assert table.get_entity(pk, "r")["RowKey"] == "r"


# -- transactions ----------------------------------------------------------------------------

def test_a_transaction_returns_each_operations_metadata(table: SdkTable, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "old", "a": "1"})
    kept = table.create_entity({"PartitionKey": pk, "RowKey": "kept", "a": "1", "b": "2"})
    results = table.submit_transaction([
        backend.create({"PartitionKey": pk, "RowKey": "new", "n": 2**40}),
        backend.update({"PartitionKey": pk, "RowKey": "kept", "a": "x"}, etag=kept["etag"]),
        backend.upsert({"PartitionKey": pk, "RowKey": "up", "f": 1.5}, "replace"),
        backend.delete(pk, "old"),
    ])
    assert len(results) == 4
    assert all(set(r) == {"etag", "date"} for r in results)
    rows = {row["RowKey"]: row for row in table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": pk})}
    assert sorted(rows) == ["kept", "new", "up"]
    assert [results[0]["etag"], results[1]["etag"], results[2]["etag"]] == [
        rows["new"].metadata["etag"], rows["kept"].metadata["etag"],
        rows["up"].metadata["etag"]]
    assert results[3]["etag"] is None  # a delete leaves no version
    assert dict(rows["kept"]) == {"PartitionKey": pk, "RowKey": "kept", "a": "x", "b": "2"}
    assert rows["new"]["n"] == 2**40


def test_an_empty_transaction_sends_nothing(table: SdkTable, hooks: list[Hook]) -> None:
    seen: list[str] = []
    hooks.append(_counting(seen))
    assert table.submit_transaction([]) == []
    assert seen == []


def test_a_transaction_on_two_partitions_is_refused_before_sending(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    seen: list[str] = []
    hooks.append(_counting(seen))
    with pytest.raises(ValueError, match="Partition"):
        table.submit_transaction([backend.create({"PartitionKey": pk, "RowKey": "a"}),
                                  backend.create({"PartitionKey": pk + "x", "RowKey": "a"})])
    assert seen == []


STALE = 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"'


@pytest.mark.parametrize(("refused", "cause"), [
    (backend.create({"RowKey": "existing"}), AlreadyExists),
    (backend.update({"RowKey": "missing", "a": "1"}), NotFound),
    (backend.update({"RowKey": "existing", "a": "1"}, etag=STALE), PreconditionFailed),
    (backend.delete("", "existing", etag=STALE), PreconditionFailed),
    (backend.delete("", "missing"), NotFound),
    (backend.upsert({"RowKey": "big", "doc": "x" * 40_000}), TooLarge),
])
def test_a_refused_operation_fails_the_transaction_and_nothing_is_written(
        table: SdkTable, pk: str, refused: Operation, cause: type[StoreError]) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "existing", "v": 1})
    operation = Operation(refused.verb, {**refused.entity, "PartitionKey": pk}, refused.mode,
                          refused.etag)
    with pytest.raises(TransactionFailed) as info:
        table.submit_transaction([backend.create({"PartitionKey": pk, "RowKey": "a"}),
                                  backend.upsert({"PartitionKey": pk, "RowKey": "b"}),
                                  operation,
                                  backend.create({"PartitionKey": pk, "RowKey": "c"})])
    assert info.value.index == 2
    assert type(info.value.error) is cause
    assert [(row["RowKey"], row["v"]) for row in table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": pk})] == [("existing", 1)]


def test_a_transaction_too_large_for_one_request_is_too_large(table: SdkTable, pk: str) -> None:
    operations = [backend.upsert({"PartitionKey": pk, "RowKey": f"r{n}",
                                  **{f"doc{m}": "x" * 30_000 for m in range(10)}})
                  for n in range(30)]  # ~9 MB, above the 4 MiB a transaction may be
    with pytest.raises(TooLarge):
        table.submit_transaction(operations)
    assert list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})) == []


# -- the deadline ----------------------------------------------------------------------------

def test_no_call_starts_after_the_deadline(table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    seen: list[str] = []
    hooks.append(_counting(seen))
    calls = [
        lambda: table.get_entity(pk, "r"),
        lambda: list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})),
        lambda: table.create_entity({"PartitionKey": pk, "RowKey": "r"}),
        lambda: table.update_entity({"PartitionKey": pk, "RowKey": "r"}),
        lambda: table.upsert_entity({"PartitionKey": pk, "RowKey": "r"}),
        lambda: table.delete_entity(pk, "r"),
        lambda: table.submit_transaction([backend.create({"PartitionKey": pk, "RowKey": "r"})]),
        table.create_table,
    ]
    with deadline.within(0):
        for call in calls:
            with pytest.raises(TransportFailed, match="deadline"):
                call()
    assert seen == []


def test_a_query_stops_at_the_deadline_between_pages(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    for n in range(4):
        table.create_entity({"PartitionKey": pk, "RowKey": f"r{n}"})
    rows = []
    with deadline.within(0.5), pytest.raises(TransportFailed, match="deadline"):  # noqa: PT012
        for row in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                        results_per_page=2):
            rows.append(row)
            time.sleep(0.3)
    assert len(rows) == 2  # the first page; the second was not asked for


def test_retries_end_by_the_deadline(table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    # Storage that keeps answering 503: the SDK's back-off (0, 0.8, 1.6 s) would take 2.4 s.
    attempts: list[float] = []
    hooks.append(lambda request, send: (attempts.append(time.monotonic()),
                                        _busy(request, send))[1])
    started = time.monotonic()
    with deadline.within(1.0), pytest.raises(Unavailable):
        table.get_entity(pk, "r")
    assert time.monotonic() - started < 1.5
    assert 1 < len(attempts) < 4


def test_without_a_deadline_the_retries_run_their_course(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    attempts: list[str] = []
    hooks.append(lambda request, send: (attempts.append(request.method),
                                        _busy(request, send))[1])
    with pytest.raises(Unavailable) as info:
        table.get_entity(pk, "r")
    assert not isinstance(info.value, TransportFailed)  # storage answered: 503 ServerBusy
    assert str(info.value) == "503 ServerBusy"
    assert attempts == ["GET"] * (1 + wire.RETRIES)


# -- transport hooks -------------------------------------------------------------------------

def test_hooks_see_every_attempt_and_pass_storage_answers_on(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    seen: list[str] = []
    hooks.append(_counting(seen))
    table.create_entity({"PartitionKey": pk, "RowKey": "r"})
    results = table.submit_transaction([backend.update({"PartitionKey": pk, "RowKey": "r",
                                                        "a": "1"}),
                                        backend.create({"PartitionKey": pk, "RowKey": "s"})])
    assert table.get_entity(pk, "r")["a"] == "1"
    assert results[0]["etag"] == table.get_entity(pk, "r").metadata["etag"]
    assert seen == ["POST", "POST", "GET", "GET"]


def test_hooks_get_the_request_as_sent(table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    requests: list[wire.Request] = []
    hooks.append(lambda request, send: (requests.append(request), send(request))[1])
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "name": "Zoë"})
    [request] = requests
    assert request.method == "PATCH"
    assert request.url.endswith(f"(PartitionKey='{pk}',RowKey='r')")
    assert "Zo\\u00eb" in request.body.decode() or "Zoë" in request.body.decode()
    assert {name.lower() for name in request.headers} >= {"authorization", "x-ms-date"}


def test_a_synthesized_answer_is_read_as_storage_s(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    def missing(request: wire.Request, send: wire.Send) -> wire.Response:
        send(request)  # storage answers; the hook replaces its answer
        return wire.Response(404, "Not Found", {"x-ms-error-code": "ResourceNotFound"},
                             b'{"odata.error":{"code":"ResourceNotFound","message":'
                             b'{"lang":"en-US","value":"The resource does not exist."}}}')

    table.create_entity({"PartitionKey": pk, "RowKey": "r"})
    hooks.append(missing)
    with pytest.raises(NotFound, match="ResourceNotFound"):
        table.get_entity(pk, "r")


def test_a_busy_answer_to_a_write_is_retried_then_unavailable(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    attempts: list[str] = []
    hooks.append(lambda request, send: (attempts.append(request.method),
                                        _busy(request, send))[1])
    with pytest.raises(Unavailable):
        table.submit_transaction([backend.create({"PartitionKey": pk, "RowKey": "r"})])
    # azure-core retries a POST on 500, 503 and 504 (storage refused it before applying it).
    assert attempts == ["POST"] * (1 + wire.RETRIES)


def test_a_hook_s_transport_failure_is_retried_for_reads(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    attempts: list[str] = []

    def reset(request: wire.Request, send: wire.Send) -> wire.Response:
        attempts.append(request.method)
        raise TransportFailed("injected: connection reset")

    hooks.append(reset)
    with pytest.raises(TransportFailed):
        table.get_entity(pk, "r")
    assert attempts == ["GET"] * (1 + wire.RETRIES)
    attempts.clear()
    # A create may have been applied: not retried, the caller decides.
    with pytest.raises(TransportFailed):
        table.create_entity({"PartitionKey": pk, "RowKey": "r"})
    assert attempts == ["POST"]


def test_azure_core_transport_errors_from_hooks_are_transport_failures(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    def refuse(request: wire.Request, send: wire.Send) -> wire.Response:
        raise ServiceRequestError("injected: connection refused")

    hooks.append(refuse)
    with pytest.raises(TransportFailed, match="ServiceRequestError"):
        table.get_entity(pk, "r")


def test_a_failure_after_the_first_attempt_is_recovered_by_a_retry(
        table: SdkTable, pk: str, hooks: list[Hook]) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1"})
    attempts: list[str] = []

    def once(request: wire.Request, send: wire.Send) -> wire.Response:
        attempts.append(request.method)
        if len(attempts) == 1:
            raise TransportFailed("injected: read timed out")
        return send(request)

    hooks.append(once)
    assert table.get_entity(pk, "r")["a"] == "1"
    assert attempts == ["GET", "GET"]


# -- credentials and errors ------------------------------------------------------------------

def test_a_wrong_account_key_is_an_actionable_store_error(storage_connection_string: str,
                                                          storage: TestStorage) -> None:
    endpoint = storage_connection_string.split("TableEndpoint=")[1].split(";")[0]
    wrong = AzureNamedKeyCredential(DEV_ACCOUNT, base64.b64encode(b"w" * 64).decode())
    table = SdkAccount(endpoint, wrong).table("sdkwrongkey")
    with pytest.raises(StoreError) as info:
        table.get_entity("p", "r")
    assert not isinstance(info.value, Unavailable)  # retrying will not help: a 500, not a 503
    assert "Storage Table Data Contributor" in str(info.value)
    # With --oauth, Azurite refuses a Shared Key it cannot check with 400 (test_wire.py).
    expected = ("400 InvalidAuthenticationInfo" if storage.mode == storage_modes.HTTPS_OAUTH
                else "403")
    assert expected in str(info.value)


def _http_error(status: int | None, code: str | None = None,
                kind: type[HttpResponseError] = HttpResponseError) -> HttpResponseError:
    error = kind(message="RowKey 'alice@example.com' was refused")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(("error", "expected"), [
    (_http_error(503, "ServerBusy"), Unavailable),
    (_http_error(500, "InternalError"), Unavailable),
    (_http_error(429), Unavailable),
    (_http_error(408), Unavailable),
    (_http_error(None), Unavailable),
    (_http_error(400, "InvalidInput"), StoreError),
    (_http_error(413, "RequestBodyTooLarge"), TooLarge),
    (_http_error(400, "EntityTooLarge"), TooLarge),
    (_http_error(409, "EntityAlreadyExists", ResourceExistsError), AlreadyExists),
    (_http_error(401, "AuthenticationFailed", ClientAuthenticationError), StoreError),
    (ClientAuthenticationError("no managed identity endpoint"), NotSignedIn),
    (_http_error(403, "AuthorizationPermissionMismatch", HttpResponseError), AccessDenied),
    (ServiceRequestError("connection refused"), TransportFailed),
    (ServiceResponseError("connection reset"), TransportFailed),
])
def test_each_azure_error_maps_to_one_store_error(error: Any, expected: type) -> None:
    mapped = store_error(error)
    assert type(mapped) is expected
    assert "alice" not in str(mapped)
