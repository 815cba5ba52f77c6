"""Both backends answer alike: one script of operations runs against the `direct` and the `sdk`
backend, each on a table of its own, and every step must come out the same (values, error
types, a refused transaction's index and cause). ETags, timestamps and dates differ by nature:
they are compared by being there (non-empty) or not."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from shared.settings import Settings
from shared.store import backend, wire
from shared.store.backend import Backend, Entity
from shared.store.connection import open_tables
from shared.store.errors import StoreError, TransactionFailed, TransportFailed
from tests.support.storage_faults import hooked, own_thread

STALE = 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"'
# Keys with what needs quoting or escaping in an entity's URL: quotes, spaces, '%', ':' and
# characters beyond ASCII.
ODD_KEY = "O'Brien: Zoë %41 🙂"
VALUES: dict[str, Any] = {
    "text": "Zoë 'quoted' \"double\" 🙂", "empty": "", "yes": True, "no": False, "small": -7,
    "int32_max": 2**31 - 1, "beyond_int32": 2**31, "int64": -2**40, "int64_max": 2**63 - 1,
    "half": 1.5, "whole_float": 2.0,
}
# Written and read, not queried: an OData filter has no literal for it.
UNQUERIED: dict[str, Any] = {"infinite": float("inf"), "negative_infinite": float("-inf")}


BACKENDS = ["direct", "sdk"]


def _open(connection_string: str, client: str) -> Backend:
    tables = open_tables(Settings(storage_connection_string=connection_string,
                                  storage_client=client))  # type: ignore[arg-type]
    table = tables.open_table(f"parity{client}{uuid.uuid4().hex[:10]}")
    table.create_table()
    return table


# -- the script ------------------------------------------------------------------------------

Outcome = tuple[Any, ...]


def run_script(table: Backend, pk: str) -> list[tuple[str, Outcome]]:
    """Every step's label and outcome, in order."""
    transcript: list[tuple[str, Outcome]] = []

    def step(label: str, call: Callable[[], Any]) -> Any:
        try:
            value = call()
        except TransactionFailed as exc:
            transcript.append((label, ("TransactionFailed", exc.index, type(exc.error).__name__)))
            return None
        except (StoreError, ValueError, TypeError) as exc:
            transcript.append((label, (type(exc).__name__,)))
            return None
        transcript.append((label, ("ok", _comparable(value))))
        return value

    def rows(**options: Any) -> list[Entity]:
        return list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                         **options))

    # Creates and reads.
    first = step("create", lambda: table.create_entity(
        {"PartitionKey": pk, "RowKey": "r1", **VALUES, **UNQUERIED}))
    step("create an odd key", lambda: table.create_entity(
        {"PartitionKey": pk, "RowKey": ODD_KEY, "n": 1}))
    step("get", lambda: table.get_entity(pk, "r1"))
    step("get an odd key", lambda: table.get_entity(pk, ODD_KEY))
    step("get with select", lambda: table.get_entity(pk, "r1", select=["text", "int64"]))
    step("get a property that is not there", lambda: table.get_entity(pk, "r1",
                                                                       select=["absent"]))
    step("get a missing row", lambda: table.get_entity(pk, "nobody"))
    step("create an existing row", lambda: table.create_entity({"PartitionKey": pk,
                                                                "RowKey": "r1"}))
    step("create an int beyond 64 bits", lambda: table.create_entity(
        {"PartitionKey": pk, "RowKey": "r9", "n": 2**64}))

    # Queries: each parameter type, selects, continuations.
    for name, value in VALUES.items():
        step(f"query {name}", lambda name=name, value=value: list(table.query_entities(
            f"(PartitionKey eq @pk) and ({name} eq @value)",
            parameters={"pk": pk, "value": value})))
    step("query an odd key", lambda: list(table.query_entities(
        "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": pk, "rk": ODD_KEY})))
    step("query a quote that must stay in its literal", lambda: list(table.query_entities(
        "PartitionKey eq @pk and text eq @text", parameters={"pk": pk, "text": "' or true or '"})))
    step("query a key range", lambda: list(table.query_entities(
        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
        parameters={"pk": pk, "lo": "r", "hi": "s"}, select=["RowKey"])))
    step("query with select", lambda: rows(select=["RowKey", "n", "absent"]))
    step("query a parameter without a value", lambda: list(table.query_entities(
        "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": pk})))
    for n in range(5):
        step(f"create page row {n}", lambda n=n: table.create_entity(
            {"PartitionKey": pk, "RowKey": f"page{n}", "n": n}))
    step("query across pages", lambda: rows(results_per_page=2))

    # Updates and upserts, merge and replace, conditional and not.
    step("merge", lambda: table.update_entity({"PartitionKey": pk, "RowKey": "r1",
                                               "text": "merged", "added": 1}))
    step("get after merge", lambda: table.get_entity(pk, "r1"))
    step("replace", lambda: table.update_entity({"PartitionKey": pk, "RowKey": "r1",
                                                 "only": "this"}, "replace"))
    step("get after replace", lambda: table.get_entity(pk, "r1"))
    step("update with a stale etag", lambda: table.update_entity(
        {"PartitionKey": pk, "RowKey": "r1", "x": 1}, etag=first and first["etag"]))
    current = table.get_entity(pk, "r1").metadata["etag"]
    step("update with the current etag", lambda: table.update_entity(
        {"PartitionKey": pk, "RowKey": "r1", "x": 1}, "replace", etag=current))
    step("update a missing row", lambda: table.update_entity({"PartitionKey": pk,
                                                              "RowKey": "nobody"}))
    step("upsert merge", lambda: table.upsert_entity({"PartitionKey": pk, "RowKey": "r1",
                                                      "y": 2.5}))
    step("upsert replace", lambda: table.upsert_entity({"PartitionKey": pk, "RowKey": "u1",
                                                        "z": True}, "replace"))
    step("rows after upserts", lambda: rows(select=["RowKey", "x", "y", "z", "only"]))
    step("delete with a stale etag", lambda: table.delete_entity(pk, "r1", etag=STALE))
    step("delete a missing row", lambda: table.delete_entity(pk, "nobody"))
    step("delete a missing row with an etag", lambda: table.delete_entity(pk, "nobody",
                                                                          etag=STALE))
    step("delete an odd key", lambda: table.delete_entity(pk, ODD_KEY))
    step("too large a property", lambda: table.upsert_entity(
        {"PartitionKey": pk, "RowKey": "big", "doc": "x" * 40_000}))

    # Transactions.
    u1 = table.get_entity(pk, "u1").metadata["etag"]
    step("transaction", lambda: table.submit_transaction([
        backend.create({"PartitionKey": pk, "RowKey": "t1", "n": 2**40}),
        backend.update({"PartitionKey": pk, "RowKey": "u1", "w": "1"}, etag=u1),
        backend.upsert({"PartitionKey": pk, "RowKey": "t2", "f": 0.5}, "replace"),
        backend.delete(pk, "page0"),
        backend.update({"PartitionKey": pk, "RowKey": "page1", "n": 10}, "replace"),
    ]))
    step("rows after the transaction", lambda: rows())
    for label, refused in [
        ("transaction with an existing create", backend.create({"PartitionKey": pk,
                                                                "RowKey": "t1"})),
        ("transaction with a stale update", backend.update({"PartitionKey": pk,
                                                            "RowKey": "t1"}, etag=STALE)),
        ("transaction with a missing update", backend.update({"PartitionKey": pk,
                                                              "RowKey": "nobody"})),
        ("transaction with a missing delete", backend.delete(pk, "nobody")),
        ("transaction with a stale delete", backend.delete(pk, "t1", etag=STALE)),
        ("transaction with a too large entity", backend.upsert(
            {"PartitionKey": pk, "RowKey": "big", "doc": "x" * 40_000})),
    ]:
        step(label, lambda refused=refused: table.submit_transaction([
            backend.create({"PartitionKey": pk, "RowKey": "new1"}),
            backend.upsert({"PartitionKey": pk, "RowKey": "page2", "n": 20}),
            refused,
            backend.create({"PartitionKey": pk, "RowKey": "new2"}),
        ]))
    step("rows after refused transactions", lambda: rows())
    step("transaction on two partitions", lambda: table.submit_transaction([
        backend.create({"PartitionKey": pk, "RowKey": "x1"}),
        backend.create({"PartitionKey": pk + "b", "RowKey": "x1"}),
    ]))
    step("empty transaction", lambda: table.submit_transaction([]))
    return transcript


def _comparable(value: Any) -> Any:
    """A result with its ETags, timestamps and dates replaced by whether they are there."""
    if isinstance(value, Entity):
        return ("entity", dict(value), _present(value.metadata, ("etag", "timestamp")))
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, Mapping):  # a write's metadata
        return ("metadata", _present(value, ("etag",)),
                "date" in value and bool(value["date"]))
    return value


def _present(metadata: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names
                 if isinstance(metadata.get(name), str) and metadata[name])


@pytest.fixture(scope="module", params=BACKENDS)
def transcript(request: pytest.FixtureRequest,
               storage_connection_string: str) -> list[tuple[str, Outcome]]:
    return run_script(_open(storage_connection_string, request.param), "pk")


# -- what the script must show on each backend ------------------------------------------------

ENTITY = ("etag", "timestamp")
SELECTED = ("etag",)  # storage sends the Timestamp only when it is selected
WRITTEN = ("metadata", ("etag",), True)
IN_TRANSACTION = ("metadata", ("etag",), False)  # parts carry no Date on Azurite
EXPECTED: dict[str, Outcome] = {
    "create": ("ok", WRITTEN),
    "get": ("ok", ("entity", {"PartitionKey": "pk", "RowKey": "r1", **VALUES, **UNQUERIED},
                   ENTITY)),
    "get an odd key": ("ok", ("entity", {"PartitionKey": "pk", "RowKey": ODD_KEY, "n": 1},
                              ENTITY)),
    "get with select": ("ok", ("entity", {"text": VALUES["text"], "int64": -2**40},
                               SELECTED)),
    "get a missing row": ("NotFound",),
    "create an existing row": ("AlreadyExists",),
    "create an int beyond 64 bits": ("TypeError",),
    "query int64_max": ("ok", [("entity", {"PartitionKey": "pk", "RowKey": "r1", **VALUES,
                                            **UNQUERIED}, ENTITY)]),
    "query a quote that must stay in its literal": ("ok", []),
    "query a parameter without a value": ("ValueError",),
    "query a key range": ("ok", [("entity", {"RowKey": "r1"}, SELECTED)]),
    "get after replace": ("ok", ("entity", {"PartitionKey": "pk", "RowKey": "r1",
                                            "only": "this"}, ENTITY)),
    "update with a stale etag": ("PreconditionFailed",),
    "update with the current etag": ("ok", WRITTEN),
    "update a missing row": ("NotFound",),
    "delete with a stale etag": ("PreconditionFailed",),
    "delete a missing row": ("ok", None),
    "delete a missing row with an etag": ("ok", None),
    "too large a property": ("TooLarge",),
    "transaction": ("ok", [IN_TRANSACTION] * 3 + [("metadata", (), False), IN_TRANSACTION]),
    "transaction with an existing create": ("TransactionFailed", 2, "AlreadyExists"),
    "transaction with a stale update": ("TransactionFailed", 2, "PreconditionFailed"),
    "transaction with a missing update": ("TransactionFailed", 2, "NotFound"),
    "transaction with a missing delete": ("TransactionFailed", 2, "NotFound"),
    "transaction with a stale delete": ("TransactionFailed", 2, "PreconditionFailed"),
    "transaction with a too large entity": ("TransactionFailed", 2, "TooLarge"),
    "transaction on two partitions": ("ValueError",),
    "empty transaction": ("ok", []),
}


def test_the_script_shows_the_documented_behaviour(
        transcript: list[tuple[str, Outcome]]) -> None:
    outcomes = dict(transcript)
    assert len(outcomes) == len(transcript), "step labels must be unique"
    assert {label: outcomes[label] for label in EXPECTED} == EXPECTED


def test_every_parameter_type_finds_its_row(transcript: list[tuple[str, Outcome]]) -> None:
    outcomes = dict(transcript)
    for name in VALUES:
        assert [row[1]["RowKey"] for row in outcomes[f"query {name}"][1]] == ["r1"], name


def test_queries_follow_continuations_and_refused_transactions_write_nothing(
        transcript: list[tuple[str, Outcome]]) -> None:
    outcomes = dict(transcript)
    keys = [row[1]["RowKey"] for row in outcomes["query across pages"][1]]
    assert keys == [ODD_KEY, "page0", "page1", "page2", "page3", "page4", "r1"]
    after = outcomes["rows after the transaction"]
    assert after == outcomes["rows after refused transactions"]
    assert [row[1]["RowKey"] for row in after[1]] == [
        "page1", "page2", "page3", "page4", "r1", "t1", "t2", "u1"]


# -- both backends alike ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def transcripts(storage_connection_string: str) -> dict[str, list[Any]]:
    return {client: run_script(_open(storage_connection_string, client), "pk")
           for client in ("direct", "sdk")}


def test_both_backends_answer_the_script_alike(transcripts: dict[str, list[Any]]) -> None:
    direct, sdk = transcripts["direct"], transcripts["sdk"]
    assert [label for label, _ in direct] == [label for label, _ in sdk]
    for (label, mine), (_, theirs) in zip(direct, sdk, strict=True):
        assert mine == theirs, label


@pytest.mark.parametrize("client", BACKENDS)
@pytest.mark.parametrize(("lost", "created"), [(1, True), (2, False)])
def test_creating_a_table_is_sent_again_once_when_no_answer_came(
        storage_connection_string: str, client: str, lost: int, created: bool) -> None:
    """A POST is not resent by the transports (it may have been applied), but creating a table
    that exists is fine: a lost answer (e.g. a keep-alive connection the server had just
    closed) is tried once more; a second loss is reported."""
    tables = open_tables(Settings(storage_connection_string=storage_connection_string,
                                  storage_client=client))  # type: ignore[arg-type]
    table = tables.open_table(f"lost{client}{uuid.uuid4().hex[:10]}")
    sent: list[str] = []

    def lose(request: wire.Request, send: wire.Send) -> wire.Response:
        if request.method == "POST" and request.url.endswith("/Tables"):
            sent.append(request.method)
            if len(sent) <= lost:
                send(request)  # applied by storage, and then the answer is lost
                raise TransportFailed("injected: the answer was lost")
        return send(request)

    with hooked(own_thread(lose)):  # the test's POSTs, not another thread's
        if created:
            table.create_table()
        else:
            with pytest.raises(TransportFailed):
                table.create_table()
    assert sent == ["POST", "POST"]
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r"})  # the table is there either way
