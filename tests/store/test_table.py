"""`shared.store.table`: the TableClient subset against Azurite (the real Table API), plus the
pure pieces (OData literals, entity JSON, multipart bodies, error mapping) as unit tests."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import random
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any
from urllib.parse import quote

import pytest

from shared.settings import Settings
from shared.store import wire
from shared.store.backend import Entity, Operation
from shared.store.connection import open_tables
from shared.store.errors import (
    AccessDenied,
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    Unavailable,
)
from shared.store.table import (
    Table,
    _committed,
    _entity,
    _error,
    _failed_index,
    _http_parts,
    _json_entity,
    _key,
    _metadata,
    _multipart,
    _quote,
)
from shared.store.wire import Request, Response, Wire
from tests.support.storage_faults import hooked, own_thread


@pytest.fixture(scope="module")
def table(storage_settings: dict[str, str]) -> Iterator[Table]:
    # A wire of the module's own (open_tables, not the cached tables_for): it is closed at
    # the end, and signs as the app does in this session's storage mode.
    w = open_tables(Settings(**storage_settings)).data.wire
    t = Table(w, "table" + uuid.uuid4().hex[:10])
    t.create_table()
    t.create_table()  # exists already: not an error
    yield t
    w.close()


@pytest.fixture
def pk() -> str:
    """A fresh partition per test."""
    return "p" + uuid.uuid4().hex[:12]


def _rows(table: Table, pk: str) -> list[str]:
    return [e["RowKey"] for e in table.query_entities("PartitionKey eq @pk",
                                                      parameters={"pk": pk})]


# -- round trips -----------------------------------------------------------------------------------

def test_create_get_round_trips_property_types(table: Table, pk: str) -> None:
    entity = {
        "PartitionKey": pk, "RowKey": "r1",
        "s": "ü 'quoted' \"double\" 日本 \u00a0tab\tnewline\n",
        "empty": "",
        "yes": True, "no": False,
        "i32max": 2**31 - 1, "i32min": -(2**31), "zero": 0,
        "i64": 2**40, "i64edge": 2**31, "i64max": 2**63 - 1, "i64min": -(2**63),
        "half": 0.5, "whole": 3.0, "neg": -1.25e-7,
        "skipped": None,
    }
    created = table.create_entity(entity)
    got = table.get_entity(pk, "r1")
    assert isinstance(got, Entity)
    expected = {k: v for k, v in entity.items() if v is not None}
    assert dict(got) == expected
    # types, not just equal values (True == 1 and 3.0 == 3 in Python)
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}
    assert "skipped" not in got
    assert "Timestamp" not in got
    assert got.metadata["etag"] == created["etag"]
    assert created["etag"].startswith('W/"datetime')
    assert got.metadata["timestamp"]


def test_int64_and_int32_are_stored_with_their_edm_types(table: Table, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "big": 2**40, "small": 7,
                         "f": 0.5, "b": True})

    def matches(query: str, **params: Any) -> list[str]:
        return [e["RowKey"] for e in table.query_entities(
            "PartitionKey eq @pk and " + query, parameters={"pk": pk, **params})]

    assert matches("big eq @v", v=2**40) == ["r"]  # 1099511627776L: an Int64 literal
    assert matches("big gt @v", v=2**40 - 1) == ["r"]
    assert matches("small eq @v", v=7) == ["r"]
    assert matches("f eq @v", v=0.5) == ["r"]
    assert matches("b eq @v", v=True) == ["r"]
    assert matches("b eq @v", v=False) == []


@pytest.mark.parametrize(("partition", "row"), [
    ("o'brien", "ü: x"),
    ("''", "it''s"),
    ("日本", "a b+c&=;,()$@!*~"),
    ("\u00a0nbsp", "emoji \U0001f600 + ascii ~"),
    ("UX:plain", "M:a.b~c_d-e:Z9"),  # the fast path of `_key` (":" encoded, nothing else)
])
def test_keys_with_quotes_and_unicode(table: Table, pk: str, partition: str, row: str) -> None:
    partition = pk + partition
    table.create_entity({"PartitionKey": partition, "RowKey": row, "v": 1})
    got = table.get_entity(partition, row)
    assert (got["PartitionKey"], got["RowKey"], got["v"]) == (partition, row, 1)
    table.update_entity({"PartitionKey": partition, "RowKey": row, "v": 2})
    assert [dict(e) for e in table.query_entities(
        "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": partition, "rk": row})] == [
        {"PartitionKey": partition, "RowKey": row, "v": 2}]
    # the same keys in transaction part URLs
    table.submit_transaction([
        Operation("update", {"PartitionKey": partition, "RowKey": row, "v": 3}),
        Operation("upsert", {"PartitionKey": partition, "RowKey": row + "'2", "v": 4}),
    ])
    assert table.get_entity(partition, row)["v"] == 3
    table.submit_transaction([Operation("delete", {"PartitionKey": partition,
                                                   "RowKey": row + "'2"})])
    table.delete_entity(partition, row)
    assert _rows(table, partition) == []


def test_get_with_select_returns_only_those_properties(table: Table, pk: str) -> None:
    created = table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1", "b": 2,
                                   "c": 2**40})
    got = table.get_entity(pk, "r", select=["a", "c"])
    assert dict(got) == {"a": "1", "c": 2**40}
    assert got.metadata["etag"] == created["etag"]


def test_get_missing_entity_and_missing_table(table: Table, pk: str) -> None:
    with pytest.raises(NotFound) as info:
        table.get_entity(pk, "nope")
    assert str(info.value).startswith("404")
    assert str(info.value).endswith("ResourceNotFound")
    with pytest.raises(NotFound) as info:
        Table(table.wire, "missing" + uuid.uuid4().hex[:8]).get_entity(pk, "nope")
    assert str(info.value).endswith("TableNotFound")


@pytest.mark.parametrize("value", [[1], b"bytes", {"a": 1}, (1,), 2**63, -(2**63) - 1,
                                   uuid.UUID(int=0)])
def test_unsupported_property_types_raise_before_any_request(
        table: Table, pk: str, sent: list[Request], value: Any) -> None:
    entity = {"PartitionKey": pk, "RowKey": "r", "ok": "x", "bad": value}
    with pytest.raises(TypeError, match="bad"):
        table.create_entity(entity)
    with pytest.raises(TypeError, match="bad"):
        table.upsert_entity(entity)
    with pytest.raises(TypeError, match="bad"):
        table.update_entity(entity, "replace")
    with pytest.raises(TypeError, match="bad"):
        table.submit_transaction([Operation("upsert", {"PartitionKey": pk, "RowKey": "a"}),
                                  Operation("create", entity)])
    assert sent == []
    assert _rows(table, pk) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_round_trip_like_the_sdk(table: Table, pk: str, value: float) -> None:
    """JSON has no NaN or infinities: they travel as the strings the SDK sends."""
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "v": value})
    got = table.get_entity(pk, "r")["v"]
    assert isinstance(got, float)
    assert repr(got) == repr(value)


# -- updates, conditions, deletes ------------------------------------------------------------------

def test_merge_keeps_other_properties_replace_drops_them(table: Table, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "a": "1", "b": "2"})
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "b": "B", "c": "3"},
                        "merge")
    assert dict(table.get_entity(pk, "r")) == {
        "PartitionKey": pk, "RowKey": "r", "a": "1", "b": "B", "c": "3"}
    # merging None leaves the stored property alone (None is not sent)
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "a": None})
    assert table.get_entity(pk, "r")["a"] == "1"
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "c": "C"}, "replace")
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "c": "C"}
    # MERGE is the default, as in the SDK
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "d": "4"})
    assert dict(table.get_entity(pk, "r")) == {
        "PartitionKey": pk, "RowKey": "r", "c": "C", "d": "4"}


def test_upsert_creates_then_merges_or_replaces(table: Table, pk: str) -> None:
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "a": "1"})
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "b": "2"})
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r",
                                              "a": "1", "b": "2"}
    table.upsert_entity({"PartitionKey": pk, "RowKey": "r", "c": "3"}, "replace")
    assert dict(table.get_entity(pk, "r")) == {"PartitionKey": pk, "RowKey": "r", "c": "3"}


def test_if_not_modified_with_a_stale_etag_is_refused(table: Table, pk: str) -> None:
    first = table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": "1"})
    second = table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "2"})
    assert second["etag"] != first["etag"]
    assert table.get_entity(pk, "r").metadata["etag"] == second["etag"]
    for mode in ("merge", "replace"):
        with pytest.raises(PreconditionFailed) as info:
            table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "stale"}, mode,
                                etag=first["etag"])
        assert str(info.value).startswith("412")
        assert str(info.value).endswith("UpdateConditionNotSatisfied")
    assert table.get_entity(pk, "r")["v"] == "2"
    third = table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "3"},
                                etag=second["etag"])
    assert table.get_entity(pk, "r").metadata["etag"] == third["etag"]
    # without an etag the update applies to whatever is there
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "4"})
    assert table.get_entity(pk, "r")["v"] == "4"


def test_an_unknown_update_mode_is_a_value_error(table: Table, pk: str,
                                                 sent: list[Request]) -> None:
    with pytest.raises(ValueError, match="update mode"):
        table.update_entity({"PartitionKey": pk, "RowKey": "r"}, "patch")  # type: ignore[arg-type]
    assert sent == []


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_update_of_a_missing_entity_is_not_found(table: Table, pk: str, mode: str) -> None:
    with pytest.raises(NotFound) as info:
        table.update_entity({"PartitionKey": pk, "RowKey": "missing", "v": 1}, mode)
    assert str(info.value).startswith("404")
    assert _rows(table, pk) == []  # not created by the update


def test_create_of_an_existing_entity_is_resource_exists(table: Table, pk: str) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": "first"})
    with pytest.raises(AlreadyExists) as info:
        table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": "second"})
    assert str(info.value).startswith("409")
    assert str(info.value).endswith("EntityAlreadyExists")
    assert table.get_entity(pk, "r")["v"] == "first"


def test_delete(table: Table, pk: str) -> None:
    table.delete_entity(pk, "never-existed")  # no error, as in the SDK
    first = table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": "1"})
    current = table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "2"})
    with pytest.raises(PreconditionFailed) as info:
        table.delete_entity(pk, "r", etag=first["etag"])
    assert str(info.value).startswith("412")
    assert table.get_entity(pk, "r")["v"] == "2"
    table.delete_entity(pk, "r", etag=current["etag"])
    with pytest.raises(NotFound):
        table.get_entity(pk, "r")
    table.delete_entity(pk, "r")  # already gone
    # a conditional delete of an entity that is gone is not an error either
    table.delete_entity(pk, "r", etag=current["etag"])


# -- queries --------------------------------------------------------------------------------------

def test_query_follows_continuations(table: Table, pk: str, sent: list[Request]) -> None:
    row_keys = [f"r{i:02}" for i in range(7)]
    shuffled = random.Random(7).sample(row_keys, len(row_keys))
    table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": rk, "n": i})
                              for i, rk in enumerate(shuffled)])
    table.create_entity({"PartitionKey": pk + "x", "RowKey": "other"})  # next partition
    sent.clear()
    # (bounded: a continuation that is not followed correctly can restart the query forever)
    got = [e["RowKey"] for e in islice(table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": pk}, results_per_page=3), 20)]
    assert got == row_keys  # each row once, in RowKey order
    assert len(sent) == 3  # 3 + 3 + 1: two continuations followed
    assert "NextPartitionKey" not in sent[0].url
    assert "NextPartitionKey=" in sent[1].url
    assert "NextRowKey=" in sent[1].url
    assert all("%24top=3" in r.url for r in sent)


def test_query_pages_across_partitions(table: Table, pk: str) -> None:
    partitions = [pk + "a", pk + "b", pk + "c"]
    for p in partitions:
        table.submit_transaction([Operation("create", {"PartitionKey": p, "RowKey": f"r{i}"})
                                  for i in range(2)])
    got = [(e["PartitionKey"], e["RowKey"]) for e in islice(table.query_entities(
        "PartitionKey ge @lo and PartitionKey lt @hi",
        parameters={"lo": pk + "a", "hi": pk + "d"}, results_per_page=1), 20)]
    assert got == [(p, f"r{i}") for p in partitions for i in range(2)]


def test_query_parameters_cannot_widen_the_filter(table: Table, pk: str) -> None:
    table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": rk})
                              for rk in ("a", "b", "o'brien")])
    hostile = "x' or RowKey ne '"
    assert list(table.query_entities("PartitionKey eq @pk and RowKey eq @rk",
                                     parameters={"pk": pk, "rk": hostile})) == []
    assert list(table.query_entities("PartitionKey eq @pk",
                                     parameters={"pk": pk + "' or PartitionKey ne '"})) == []
    # control: the same text pasted into the filter does widen it (to other partitions too)
    naive = f"PartitionKey eq '{pk}' and RowKey eq '{hostile}'"
    widened = {(e["PartitionKey"], e["RowKey"]) for e in table.query_entities(naive)}
    assert {(pk, "a"), (pk, "b"), (pk, "o'brien")} < widened
    # and a quote in a value still matches exactly
    assert [e["RowKey"] for e in table.query_entities(
        "PartitionKey eq @pk and RowKey eq @rk",
        parameters={"pk": pk, "rk": "o'brien"})] == ["o'brien"]


def test_query_select(table: Table, pk: str) -> None:
    table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": f"r{i}", "a": i,
                                          "b": "x"}) for i in range(3)])
    got = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                    select=["RowKey", "a"]))
    assert [dict(e) for e in got] == [{"RowKey": f"r{i}", "a": i} for i in range(3)]
    assert all(e.metadata["etag"] for e in got)


def test_query_of_a_missing_table_raises(table: Table) -> None:
    missing = Table(table.wire, "missing" + uuid.uuid4().hex[:8])
    with pytest.raises(NotFound):
        list(missing.query_entities("PartitionKey eq 'a'"))


# -- transactions ----------------------------------------------------------------------------------

def test_transaction_returns_etags_later_conditions_accept(table: Table, pk: str) -> None:
    table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": rk, "v": "0"})
                              for rk in ("u", "m", "d")])
    result = table.submit_transaction([
        Operation("create", {"PartitionKey": pk, "RowKey": "c", "v": "1"}),
        Operation("upsert", {"PartitionKey": pk, "RowKey": "s", "v": "2"}),
        Operation("update", {"PartitionKey": pk, "RowKey": "u", "v": "3"}, "replace"),
        Operation("upsert", {"PartitionKey": pk, "RowKey": "m", "w": "4"}, "merge"),
        Operation("delete", {"PartitionKey": pk, "RowKey": "d"}),
    ])
    assert len(result) == 5
    assert all(isinstance(r, dict) for r in result)
    assert result[4]["etag"] is None  # a delete has no new ETag
    for rk, meta in zip(("c", "s", "u", "m"), result, strict=False):
        assert meta["etag"], rk
        assert table.get_entity(pk, rk).metadata["etag"] == meta["etag"]
        table.update_entity({"PartitionKey": pk, "RowKey": rk, "after": "yes"},
                            etag=meta["etag"])
    assert dict(table.get_entity(pk, "m")) == {"PartitionKey": pk, "RowKey": "m", "v": "0",
                                              "w": "4", "after": "yes"}
    assert _rows(table, pk) == ["c", "m", "s", "u"]


def test_the_quick_reading_of_a_committed_batch_equals_the_full_parse(
        table: Table, pk: str) -> None:
    """Successful transactions are read by one scan for status codes and ETags; it must give
    what parsing every inner response gives, and decline (None) whenever that parse would
    raise, so errors always get the full reading."""
    answers: list[Response] = []

    def keep(request: Request, send: wire.Send) -> Response:
        response = send(request)
        answers.append(response)
        return response

    table.create_entity({"PartitionKey": pk, "RowKey": "dup"})
    with hooked(own_thread(keep)):  # the test's answers, not the audit writer's
        table.submit_transaction(
            [Operation("create", {"PartitionKey": pk, "RowKey": f"c{i}",
                                  "v": "x\r\nHTTP/1.1 500 no"}) for i in range(3)]
            + [Operation("upsert", {"PartitionKey": pk, "RowKey": "s", "etag": "not a header"}),
               Operation("delete", {"PartitionKey": pk, "RowKey": "dup"})])
        with pytest.raises(TransactionFailed):
            table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": "c0"})])
    ok, failed = answers
    content_type = ok.header("content-type") or ""
    full = [_metadata(part) for part in _http_parts(ok.body, content_type)]
    assert _committed(ok.body, 5) == full
    assert [bool(m["etag"]) for m in full] == [True, True, True, True, False]
    assert _committed(ok.body, 4) is None  # a count that does not match is not trusted
    assert _committed(failed.body, 1) is None


@pytest.mark.parametrize("k", [0, 2, 4])
def test_failing_operation_names_its_index_and_nothing_is_written(
        table: Table, pk: str, k: int) -> None:
    table.create_entity({"PartitionKey": pk, "RowKey": "dup", "v": "original"})
    ops = [Operation("create", {"PartitionKey": pk, "RowKey": f"new{i}", "v": "batch"})
           for i in range(5)]
    ops[k] = Operation("create", {"PartitionKey": pk, "RowKey": "dup", "v": "batch"})
    with pytest.raises(TransactionFailed) as info:
        table.submit_transaction(ops)
    assert info.value.index == k
    assert isinstance(info.value.error, AlreadyExists)
    assert str(info.value.error) == "409 EntityAlreadyExists"
    assert _rows(table, pk) == ["dup"]
    assert table.get_entity(pk, "dup")["v"] == "original"


def test_stale_etag_in_a_transaction_names_its_index(table: Table, pk: str) -> None:
    old = table.create_entity({"PartitionKey": pk, "RowKey": "r", "v": "1"})
    table.update_entity({"PartitionKey": pk, "RowKey": "r", "v": "2"})
    with pytest.raises(TransactionFailed) as info:
        table.submit_transaction([
            Operation("create", {"PartitionKey": pk, "RowKey": "a"}),
            Operation("update", {"PartitionKey": pk, "RowKey": "r", "v": "3"},
                      etag=old["etag"]),
        ])
    assert info.value.index == 1
    assert isinstance(info.value.error, PreconditionFailed)
    assert _rows(table, pk) == ["r"]
    assert table.get_entity(pk, "r")["v"] == "2"


def test_hundred_operations_in_one_transaction(table: Table, pk: str,
                                               sent: list[Request]) -> None:
    result = table.submit_transaction(
        [Operation("create", {"PartitionKey": pk, "RowKey": f"r{i:03}", "i": i})
         for i in range(100)])
    assert len(result) == 100
    assert all(r["etag"] for r in result)
    assert [r.method for r in sent] == ["POST"]
    assert _rows(table, pk) == [f"r{i:03}" for i in range(100)]


def test_unknown_transaction_verb_is_a_value_error(table: Table, pk: str,
                                                   sent: list[Request]) -> None:
    with pytest.raises(ValueError, match="merge"):
        table.submit_transaction([
            Operation("create", {"PartitionKey": pk, "RowKey": "a"}),
            Operation("merge", {"PartitionKey": pk, "RowKey": "b"})])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="update mode"):
        table.submit_transaction([Operation("update", {"PartitionKey": pk, "RowKey": "b"},
                                            "patch")])  # type: ignore[arg-type]
    assert sent == []


def test_transaction_across_partitions_is_refused_before_sending(
        table: Table, pk: str, sent: list[Request]) -> None:
    """As the SDK does: Azure refuses such a batch, but Azurite would commit it."""
    with pytest.raises(ValueError, match="Partition Keys in the batch must all be the same"):
        table.submit_transaction([Operation("create", {"PartitionKey": pk, "RowKey": "a"}),
                                  Operation("create", {"PartitionKey": pk + "2", "RowKey": "a"})])
    assert sent == []
    assert _rows(table, pk) == []
    assert _rows(table, pk + "2") == []


def test_empty_transaction_sends_nothing(table: Table, sent: list[Request]) -> None:
    assert table.submit_transaction([]) == []
    assert table.submit_transaction(iter(())) == []
    assert sent == []


@pytest.mark.parametrize("value", [
    "", "abc", "A-Z_0.9~", "UX:alice", "M:g1:u1", "o'brien", "''", "a b", "ü", "日本", "a+b",
    "a&b=c;d,e", "(x)", "$@!*", "%", "a%3Ab", "\U0001f600",
])
def test_key_in_entity_urls(value: str) -> None:
    """Quotes doubled, then everything but unreserved characters percent-encoded (the fast
    path for plain keys must give the same)."""
    assert _key(value) == quote(value.replace("'", "''"), safe="")


def test_query_strings_are_encoded_as_urllib_would() -> None:
    rng = random.Random(7)
    samples = ["".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x800),
                                       rng.randrange(0, 0x110000)]))
                       for _ in range(rng.randrange(0, 40))) for _ in range(2000)]
    samples = [s for s in samples if not any(0xD800 <= ord(c) < 0xE000 for c in s)]
    samples += ["".join(map(chr, range(256)))]
    for text in samples:
        assert _quote(text) == quote(text, safe=""), text


# -- entity JSON (pure) ----------------------------------------------------------------------------

def test_json_entity_non_finite_floats_are_strings() -> None:
    body = _json_entity({"n": float("nan"), "p": float("inf"), "m": float("-inf")})
    assert json.loads(body) == {  # strings: a bare NaN token would load as a float
        "n": "NaN", "n@odata.type": "Edm.Double", "p": "Infinity", "p@odata.type": "Edm.Double",
        "m": "-Infinity", "m@odata.type": "Edm.Double"}


def test_json_entity_types_and_int_boundaries() -> None:
    body = json.loads(_json_entity({
        "s": "x", "t": True, "i": 2**31 - 1, "j": -(2**31), "k": 2**31, "l": -(2**31) - 1,
        "m": 2**63 - 1, "f": 1.0, "n": None}))
    assert body == {
        "s": "x", "t": True, "i": 2**31 - 1, "j": -(2**31),
        "k": "2147483648", "k@odata.type": "Edm.Int64",
        "l": "-2147483649", "l@odata.type": "Edm.Int64",
        "m": "9223372036854775807", "m@odata.type": "Edm.Int64",
        "f": 1.0, "f@odata.type": "Edm.Double",
    }
    assert body["t"] is True


def test_entity_from_json() -> None:
    entity = _entity({
        "odata.metadata": "http://x/$metadata#t/@Element", "odata.etag": "W/\"e\"",
        "PartitionKey": "p", "RowKey": "r", "Timestamp": "2026-01-01T00:00:00Z",
        "big": "1099511627776", "big@odata.type": "Edm.Int64",
        "d": 3, "d@odata.type": "Edm.Double", "s": "x", "i": 5, "b": False,
    })
    assert dict(entity) == {"PartitionKey": "p", "RowKey": "r", "big": 2**40, "d": 3.0,
                            "s": "x", "i": 5, "b": False}
    assert type(entity["d"]) is float
    assert dict(entity.metadata) == {"etag": "W/\"e\"", "timestamp": "2026-01-01T00:00:00Z"}


# -- multipart (pure) ------------------------------------------------------------------------------

def _crlf(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


BATCH = "batchresponse_d1e4f368-eb6a-4f7d-a166-605962fe40b0"
CHANGESET = "changesetresponse_84f5578d-ace1-4106-abd0-2289be2a7a87"
ETAG_A = "W/\"datetime'2026-11-26T15%3A23%3A06.2203932Z'\""
ETAG_B = "W/\"datetime'2026-11-26T15%3A23%3A06.2203953Z'\""
ERROR_JSON = ('{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US",'
              '"value":"2:The specified entity already exists.\\nRequestId:1efa5fab"}}}')
ENTITY_JSON = '{"odata.etag":"W/\\"x\\"","PartitionKey":"p","RowKey":"c"}'

# As Azurite answers a batch (the success parts verbatim), with a 201 that carries the entity
# (Azure without Prefer: return-no-content) and an error part appended.
BATCH_RESPONSE = _crlf(
    f"--{BATCH}",
    f"Content-Type: multipart/mixed; boundary={CHANGESET}",
    "",
    f"--{CHANGESET}",
    "Content-Type: application/http",
    "Content-Transfer-Encoding: binary",
    "",
    "HTTP/1.1 201 Created",
    "X-Content-Type-Options: nosniff",
    "Cache-Control: no-cache",
    "DataServiceVersion: 3.0;",
    "Location: http://127.0.0.1:52723/devstoreaccount1/t(PartitionKey='p',RowKey='a')",
    "DataServiceId: http://127.0.0.1:52723/devstoreaccount1/t(PartitionKey='p',RowKey='a')",
    f"ETag: {ETAG_A}",
    "",
    "",
    f"--{CHANGESET}",
    "Content-Type: application/http",
    "Content-Transfer-Encoding: binary",
    "",
    "HTTP/1.1 204 No Content",
    "X-Content-Type-Options: nosniff",
    "Cache-Control: no-cache",
    "DataServiceVersion: 3.0;",
    f"ETag: {ETAG_B}",
    "",
    "",
    f"--{CHANGESET}",
    "Content-Type: application/http",
    "Content-Transfer-Encoding: binary",
    "",
    "HTTP/1.1 201 Created",
    "Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
    "ETag: W/\"x\"",
    "",
    ENTITY_JSON,
    f"--{CHANGESET}",
    "Content-Type: application/http",
    "Content-Transfer-Encoding: binary",
    "",
    "HTTP/1.1 409 Conflict",
    "Content-ID: 3",
    "DataServiceVersion: 3.0;",
    "Content-Type: application/json;odata=minimalmetadata;charset=utf-8",
    "",
    ERROR_JSON,
    f"--{CHANGESET}--",
    f"--{BATCH}--",
    "",
)

# Azurite's answer to a transaction whose operation 1 is a duplicate create, verbatim.
AZURITE_CONFLICT = (
    b'--batchresponse_4acaa147-b979-4eda-99ae-db4c8c76e8c3\r\nContent-Type: multipart/mixed; '
    b'boundary=changesetresponse_39bd823c-cd8e-4de2-b9cc-ca055a9a9f15\r\n\r\n--changesetresp'
    b'onse_39bd823c-cd8e-4de2-b9cc-ca055a9a9f15\r\nContent-Type: application/http\r\nContent-T'
    b'ransfer-Encoding: binary\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-ID: 2\r\nDataServiceVer'
    b'sion: 3.0;\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n'
    b'{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The s'
    b'pecified entity already exists.\\nRequestId:1efa5fab-f5ed-420a-8c8a-e200c89c01bf\\nTime:'
    b'2026-11-26T15:23:06.241Z"}}}\r\n--changesetresponse_39bd823c-cd8e-4de2-b9cc-ca055a9a9f15'
    b'--\r\n--batchresponse_4acaa147-b979-4eda-99ae-db4c8c76e8c3--\r\n')


def test_http_parts_of_a_nested_batch_response() -> None:
    parts = _http_parts(BATCH_RESPONSE, f"multipart/mixed; boundary={BATCH}")
    assert [(p.status_code, p.reason) for p in parts] == [
        (201, "Created"), (204, "No Content"), (201, "Created"), (409, "Conflict")]
    assert parts[0].header("ETag") == ETAG_A
    assert parts[1].header("etag") == ETAG_B
    assert parts[0].body == b""
    assert parts[1].body == b""
    assert parts[0].header("location") == (
        "http://127.0.0.1:52723/devstoreaccount1/t(PartitionKey='p',RowKey='a')")
    assert json.loads(parts[2].body) == json.loads(ENTITY_JSON)
    assert parts[3].body == ERROR_JSON.encode()  # without the CRLF before the delimiter
    error = _error(parts[3])
    assert isinstance(error, AlreadyExists)
    assert str(error) == "409 EntityAlreadyExists"
    assert _failed_index(parts[3]) == 2


def test_http_parts_of_azurites_conflict_answer() -> None:
    content_type = ("multipart/mixed; "
                    'boundary="batchresponse_4acaa147-b979-4eda-99ae-db4c8c76e8c3"')
    (part,) = _http_parts(AZURITE_CONFLICT, content_type)
    assert (part.status_code, part.header("content-id")) == (409, "2")
    assert (_failed_index(part), str(_error(part))) == (1, "409 EntityAlreadyExists")


def test_http_parts_needs_a_multipart_answer() -> None:
    with pytest.raises(StoreError, match="not multipart"):
        _http_parts(b'{"value":[]}', "application/json")


def test_multipart_request_body_parses_as_nested_multipart() -> None:
    bodies = [
        _crlf("POST http://h/acct/t HTTP/1.1", "Content-Type: application/json",
              "Content-Length: 9", "", '{"a":"b"}'),
        _crlf("DELETE http://h/acct/t(PartitionKey='p',RowKey='r') HTTP/1.1", "If-Match: *",
              "", ""),
        _crlf("PATCH http://h/acct/t(PartitionKey='p',RowKey='s') HTTP/1.1",
              "Content-Length: 2", "", "{}"),
    ]
    body = _multipart("batch_B", "changeset_C", bodies)
    assert body.startswith(b"--batch_B\r\n")
    assert body.endswith(b"--changeset_C--\r\n\r\n--batch_B--\r\n")
    message = email.message_from_bytes(
        b"Content-Type: multipart/mixed; boundary=batch_B\r\n\r\n" + body,
        policy=email.policy.HTTP)
    assert message.is_multipart()
    assert message.defects == []
    payload = message.get_payload()
    assert isinstance(payload, list)
    (changeset,) = payload
    assert isinstance(changeset, email.message.Message)
    assert changeset.get_content_type() == "multipart/mixed"
    assert changeset.get_param("boundary") == "changeset_C"
    parts = changeset.get_payload()
    assert isinstance(parts, list)
    assert len(parts) == 3
    for n, (part, expected) in enumerate(zip(parts, bodies, strict=True)):
        assert isinstance(part, email.message.Message)
        assert part.get_content_type() == "application/http"
        assert part["Content-Transfer-Encoding"] == "binary"
        assert part["Content-ID"] == str(n)
        content = part.get_payload()
        assert isinstance(content, str)
        assert content.encode() == expected
    # and our own parser reads it back the same way (the request lines parse as HTTP)
    assert [p.status_code for p in _http_parts(
        body.replace(b"POST http://h/acct/t HTTP/1.1", b"HTTP/1.1 201 Created")
        .replace(b"DELETE http://h/acct/t(PartitionKey='p',RowKey='r') HTTP/1.1",
                 b"HTTP/1.1 204 No Content")
        .replace(b"PATCH http://h/acct/t(PartitionKey='p',RowKey='s') HTTP/1.1",
                 b"HTTP/1.1 204 No Content"),
        "multipart/mixed; boundary=batch_B")] == [201, 204, 204]


# -- error mapping (pure) --------------------------------------------------------------------------

def _odata_error(code: str, message: str) -> bytes:
    return json.dumps({"odata.error": {"code": code, "message": {"lang": "en-US",
                                                                 "value": message}}}).encode()


ERROR_CASES: list[tuple[int, dict[str, str], bytes, type[StoreError], str]] = [
    (404, {}, _odata_error("ResourceNotFound", "gone"), NotFound, "404 ResourceNotFound"),
    (404, {}, _odata_error("TableNotFound", "no table"), NotFound, "404 TableNotFound"),
    (404, {}, b"", NotFound, "404"),
    (409, {}, _odata_error("EntityAlreadyExists", "exists"), AlreadyExists,
     "409 EntityAlreadyExists"),
    (409, {}, _odata_error("TableAlreadyExists", "exists"), AlreadyExists,
     "409 TableAlreadyExists"),
    (412, {}, _odata_error("UpdateConditionNotSatisfied", "etag"), PreconditionFailed,
     "412 UpdateConditionNotSatisfied"),
    (412, {"x-ms-error-code": "ConditionNotMet"}, b"", PreconditionFailed,
     "412 ConditionNotMet"),
    (413, {}, b"", TooLarge, "413"),
    (400, {}, _odata_error("EntityTooLarge", "big"), TooLarge, "400 EntityTooLarge"),
    (400, {}, _odata_error("PropertyValueTooLarge", "big"), TooLarge,
     "400 PropertyValueTooLarge"),
    (400, {}, _odata_error("InvalidInput", "bad"), StoreError, "400 InvalidInput"),
    (500, {}, b"", Unavailable, "500"),
    (503, {"x-ms-error-code": "ServerBusy"}, b"not json", Unavailable, "503 ServerBusy"),
    (408, {}, b"", Unavailable, "408"),
    (429, {}, b"", Unavailable, "429"),
    # the body's code wins over the header's
    (409, {"x-ms-error-code": "Other"}, _odata_error("EntityAlreadyExists", "m"),
     AlreadyExists, "409 EntityAlreadyExists"),
    # a code decides the type before the status does
    (400, {}, _odata_error("ResourceNotFound", "odd"), NotFound, "400 ResourceNotFound"),
]


@pytest.mark.parametrize(("status", "headers", "body", "kind", "detail"), ERROR_CASES)
def test_error_mapping(status: int, headers: dict[str, str], body: bytes,
                       kind: type[StoreError], detail: str) -> None:
    error = _error(Response(status, "Reason", headers, body))
    assert type(error) is kind
    assert str(error) == detail  # status and code only: messages can quote keys


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_say_what_to_check(status: int) -> None:
    error = _error(Response(status, "Forbidden", {"x-ms-error-code": "AuthenticationFailed"},
                            b"<?xml version='1.0'?><Error><Code>AuthenticationFailed</Code>"
                            b"</Error>"))
    assert type(error) is StoreError
    assert f"{status} AuthenticationFailed" in str(error)
    assert "role assignment" in str(error)


@pytest.mark.parametrize("code", ["AuthorizationPermissionMismatch", "AuthorizationFailure"])
def test_a_missing_data_role_is_access_denied(code: str) -> None:
    """Storage authenticated the identity but refused the operation: the CLI says which role
    to assign. Only a 403 with these codes: a 401 or another code is not about the role."""
    error = _error(Response(403, "Forbidden", {"x-ms-error-code": code}, b""))
    assert type(error) is AccessDenied
    assert f"403 {code}" in str(error)
    assert "Storage Table Data Contributor" in str(error)
    assert type(_error(Response(401, "Unauthorized", {"x-ms-error-code": code}, b""))) is (
        StoreError)


@pytest.mark.parametrize(("message", "index"), [
    ("3:The specified entity already exists.", 3),
    ("The batch request body is malformed.", 0),
    ("12:x", 12),
])
def test_the_failed_operation_index_is_read_from_the_message(message: str, index: int) -> None:
    part = Response(409, "Conflict", {}, _odata_error("EntityAlreadyExists", message))
    assert _failed_index(part) == index


def test_request_too_large_transaction(table: Table, pk: str) -> None:
    big = "x" * 30_000
    with pytest.raises(TransactionFailed) as info:
        table.submit_transaction([Operation("upsert", {"PartitionKey": pk, "RowKey": f"r{i:03}",
                                                       "a": big, "b": big}) for i in range(80)])
    assert isinstance(info.value.error, TooLarge)
    assert str(info.value.error).startswith("413")
    assert _rows(table, pk) == []


def _offline_table(answer: Response) -> tuple[Table, list[Request]]:
    """A table whose every request a transport hook answers with `answer` (nothing listens on
    its endpoint); use with the `sent` fixture, whose teardown removes the hook. The hook
    answers the calling thread only: the session's audit writer, on a thread of its own, goes
    on to storage."""
    requests: list[Request] = []

    def hook(request: Request, send: wire.Send) -> Response:
        requests.append(request)
        return answer

    wire.TRANSPORT_HOOKS.insert(0, own_thread(hook))
    return Table(Wire("http://127.0.0.1:9/devstoreaccount1",
                      wire.SharedKeyLite("devstoreaccount1", "AAAA")), "t"), requests


def test_transaction_answer_with_too_few_parts_is_an_error(sent: list[Request]) -> None:
    content_type = f"multipart/mixed; boundary={BATCH}"
    body = _crlf(
        f"--{BATCH}", f"Content-Type: multipart/mixed; boundary={CHANGESET}", "",
        f"--{CHANGESET}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
        "", "HTTP/1.1 204 No Content", f"ETag: {ETAG_A}", "", "",
        f"--{CHANGESET}--", f"--{BATCH}--", "")
    assert [p.status_code for p in _http_parts(body, content_type)] == [204]
    table, requests = _offline_table(Response(202, "Accepted", {"content-type": content_type},
                                              body))
    with pytest.raises(StoreError, match="1 parts for 2"):
        table.submit_transaction([Operation("create", {"PartitionKey": "p", "RowKey": "a"}),
                                  Operation("create", {"PartitionKey": "p", "RowKey": "b"})])
    assert [r.method for r in requests] == ["POST"]
    assert requests[0].url == "http://127.0.0.1:9/devstoreaccount1/$batch"


def test_transaction_answer_that_is_not_multipart_is_an_error(sent: list[Request]) -> None:
    table, _ = _offline_table(Response(202, "Accepted", {"content-type": "application/json"},
                                       b"{}"))
    with pytest.raises(StoreError, match="not multipart"):
        table.submit_transaction([Operation("create", {"PartitionKey": "p", "RowKey": "a"})])


def test_transaction_refused_as_a_whole_maps_the_status(sent: list[Request]) -> None:
    table, _ = _offline_table(Response(
        400, "Bad Request", {"content-type": "application/json"},
        _odata_error("InvalidInput", "0:The batch request body is malformed.")))
    with pytest.raises(StoreError) as info:
        table.submit_transaction([Operation("create", {"PartitionKey": "p", "RowKey": "a"})])
    assert type(info.value) is StoreError
    assert str(info.value) == "400 InvalidInput"
