"""tools/azurite_range_index.js (the indexed emulator of `entra_bench.py --emulator indexed`)
must answer exactly like stock Azurite: the same rows, in the same order, with the same
continuation tokens, for the range queries it takes over, and leave every other query alone.
Both emulators get the same rows; random queries are compared page by page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import azurite
import pytest

from shared.settings import Settings
from shared.store.backend import create, delete, update, upsert
from shared.store.connection import open_tables
from shared.store.errors import StoreError
from shared.store.table import Table

RANGE = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
# The repair walk resumes after a row (shared/store/walk.py).
RANGE_AFTER = "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi"
PREFIXES = ["U:", "M:", "R:", "I:", "E:", "u:", "U;"]


def _key(rnd: random.Random) -> str:
    tail = "".join(rnd.choice("0123456789abcdef:'é ") for _ in range(rnd.randint(0, 6)))
    return rnd.choice(PREFIXES) + tail


def _rows(seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(1500):
        pk = rnd.choice(["t1", "t2", "t1'x"])
        rk = _key(rnd)
        rows[(pk, rk)] = {"PartitionKey": pk, "RowKey": rk, "active": rnd.random() < 0.7,
                          "n": rnd.randint(0, 9)}
    rows.update({(pk, rk): {"PartitionKey": pk, "RowKey": rk, "active": True, "n": 0}
                 for pk in ("t1",) for rk in ("12", "5", "Infinity", "07")})  # numeric-looking
    return list(rows.values())


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, str]]:
    """Connection strings of stock Azurite and of the indexed one."""
    with azurite.running(indexed=False) as stock_conn, \
            azurite.running(indexed=True) as indexed_conn:
        yield stock_conn, indexed_conn


def _table(conn: str, prefix: str) -> Table:
    table = open_tables(Settings.model_validate(
        {"storage_connection_string": conn, "table_prefix": prefix})).data
    table.create_table()
    return table


@pytest.fixture(scope="module")
def tables(emulators: tuple[str, str]) -> tuple[Table, Table]:
    rows = _rows()
    pair = []
    for conn in emulators:
        table = _table(conn, "rangeidx")
        by_partition: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_partition.setdefault(row["PartitionKey"], []).append(row)
        for part in by_partition.values():
            for i in range(0, len(part), 100):
                table.submit_transaction([upsert(r) for r in part[i:i + 100]])
        pair.append(table)
    return pair[0], pair[1]


def _pages(table: Table, query: str, params: dict[str, Any], page: int) -> list[list[str]]:
    """Row keys page by page, following the continuation tokens the emulator returns."""
    out: list[list[str]] = []
    original = table.wire.request

    def request(method: str, path: str, **kwargs: Any) -> Any:
        if len(out) > 3000:
            raise AssertionError("the continuation tokens do not end")
        response = original(method, path, **kwargs)
        out.append([])
        return response

    table.wire.request = request  # type: ignore[method-assign]
    try:
        for entity in table.query_entities(query, parameters=params, results_per_page=page):
            out[-1].append(entity["RowKey"])
    finally:
        del table.wire.request
    return out


def test_random_range_queries_get_the_same_pages(tables: tuple[Table, Table]) -> None:
    stock, indexed = tables
    rnd = random.Random(11)
    for _ in range(120):
        low, high = sorted([_key(rnd), _key(rnd)])
        params = {"pk": rnd.choice(["t1", "t2", "t1'x", "none"]), "lo": low, "hi": high}
        if rnd.random() < 0.3:  # a bound that is a stored key: `gt` must leave it out
            low = rnd.choice([r["RowKey"] for r in _rows()])
        query = rnd.choice([RANGE, RANGE_AFTER]) + rnd.choice(
            ["", " and active eq @on", " and n lt @n"])
        params.update({"on": rnd.random() < 0.5, "n": rnd.randint(0, 9)})
        page = rnd.choice([1, 3, 50, 1000])
        assert _pages(indexed, query, params, page) == _pages(stock, query, params, page), (
            query, params, page)


def test_prefix_ranges_as_the_store_sends_them(tables: tuple[Table, Table]) -> None:
    stock, indexed = tables
    for prefix, high in (("U:", "U;"), ("M:", "M;"), ("R:", "R;"), ("u:", "u;")):
        for page in (7, 100, 1000):
            params = {"pk": "t1", "lo": prefix, "hi": high}
            got = _pages(indexed, RANGE, params, page)
            assert got == _pages(stock, RANGE, params, page)
            assert sum(map(len, got)) > 10


def test_walks_of_a_partition_as_the_repair_sends_them(tables: tuple[Table, Table]) -> None:
    """From the first data key, and after stored keys, to past every tag (layout.py)."""
    stock, indexed = tables
    stored = sorted(r["RowKey"] for r in _rows() if r["PartitionKey"] == "t1")
    for query, low in [(RANGE, "A"), *((RANGE_AFTER, k) for k in stored[::97])]:
        for page in (7, 500):
            params = {"pk": "t1", "lo": low, "hi": "a"}
            got = _pages(indexed, query, params, page)
            assert got == _pages(stock, query, params, page), (query, low, page)
            assert low not in {k for p in got for k in p}


def test_other_queries_are_left_to_azurite(tables: tuple[Table, Table]) -> None:
    stock, indexed = tables
    for query, params in (
        ("PartitionKey eq @pk", {"pk": "t1"}),
        ("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi or n eq @n",
         {"pk": "t1", "lo": "U:", "hi": "U;", "n": 3}),
        ("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",  # numeric-looking bounds
         {"pk": "t1", "lo": "0", "hi": "9"}),
    ):
        assert _pages(indexed, query, params, 50) == _pages(stock, query, params, 50)


def test_writes_in_one_partition_keep_the_indexes_answering_alike(
        emulators: tuple[str, str]) -> None:
    """The preload inserts into Loki's binary indexes after the equal values (one partition:
    all rows share a PartitionKey; several partitions: RowKeys recur). Rows created out of
    key order, in key order, deleted, merged, replaced and upserted again, in both emulators
    alike; after each round every row reads back, range queries and whole-partition queries
    answer alike, and a deleted row is gone."""
    stock, indexed = (_table(conn, "rangeidxw") for conn in emulators)
    rnd = random.Random(5)
    live: dict[tuple[str, str], int] = {}
    for round_ in range(6):
        ops: list[tuple[str, str, str]] = []
        keys = sorted({_key(rnd) for _ in range(150)})
        if round_ % 2:
            rnd.shuffle(keys)
        for rk in keys:
            ops.append(("upsert", rnd.choice(["p", "p", "p", "q"]), rk))
        for pk, rk in rnd.sample(sorted(live), min(len(live), 60)):
            ops.append((rnd.choice(["delete", "merge", "replace"]), pk, rk))
        for verb, pk, rk in ops:
            n = rnd.randint(0, 9)
            for table in (stock, indexed):
                entity = {"PartitionKey": pk, "RowKey": rk, "n": n}
                if verb == "delete":
                    table.delete_entity(pk, rk)
                elif verb == "upsert":
                    table.upsert_entity(entity, mode="replace")
                else:
                    table.update_entity(entity, mode="merge" if verb == "merge" else "replace")
            if verb == "delete":
                live.pop((pk, rk))
            else:
                live[(pk, rk)] = n
        for (pk, rk), n in live.items():
            assert indexed.get_entity(pk, rk)["n"] == n
        for pk in ("p", "q"):
            whole = ("PartitionKey eq @pk", {"pk": pk})
            assert _pages(indexed, *whole, 1000) == _pages(stock, *whole, 1000)
            for low, high in (("A", "a"), ("M:", "M;"), ("U:", "U;"), ("u:", "u;")):
                for query in (RANGE, RANGE_AFTER):
                    params = {"pk": pk, "lo": low, "hi": high}
                    got = _pages(indexed, query, params, 40)
                    assert got == _pages(stock, query, params, 40), (round_, query, params)
                    assert {k for p in got for k in p} == {
                        rk for (p, rk) in live if p == pk and low <= rk < high and (
                            query == RANGE or rk != low)}


def test_deletes_and_failed_transactions_keep_every_row_findable(
        emulators: tuple[str, str]) -> None:
    """The preload removes a row by moving the collection's last row into its place and finds
    rows through its own map. Rows of several partitions (RowKeys recurring among them) are
    deleted first, last, in the middle and at random, replaced (a remove and an insert in
    Azurite) and merged, some inside transactions that fail halfway, which Azurite rolls back
    by removing and inserting again. After each round both emulators hold the same rows: every
    live row reads back with its value, every deleted one is gone, and whole-partition and
    range queries answer alike."""
    stock, indexed = (_table(conn, "rangeidxd") for conn in emulators)
    rnd = random.Random(23)
    partitions = ["a", "b", "c'"]
    live: dict[tuple[str, str], int] = {}
    gone: set[tuple[str, str]] = set()

    def both(call: Any) -> bool:
        outcomes = []
        for table in (stock, indexed):
            try:
                call(table)
                outcomes.append(True)
            except StoreError:
                outcomes.append(False)
        assert outcomes[0] == outcomes[1]
        return outcomes[0]

    for round_ in range(8):
        for pk in partitions:
            for rk in {_key(rnd) for _ in range(40)}:
                n = rnd.randint(0, 9)
                both(lambda t, pk=pk, rk=rk, n=n: t.upsert_entity(
                    {"PartitionKey": pk, "RowKey": rk, "n": n}, mode="replace"))
                live[(pk, rk)] = n
                gone.discard((pk, rk))
        ordered = sorted(live)
        doomed = {ordered[0], ordered[-1], ordered[len(ordered) // 2],
                  *rnd.sample(ordered, 15)}
        for pk, rk in sorted(doomed, key=lambda _: rnd.random()):
            both(lambda t, pk=pk, rk=rk: t.delete_entity(pk, rk))
            live.pop((pk, rk))
            gone.add((pk, rk))
        for pk, rk in rnd.sample(sorted(live), 10):
            n = rnd.randint(10, 19)
            mode = rnd.choice(["merge", "replace"])
            both(lambda t, pk=pk, rk=rk, n=n, mode=mode: t.update_entity(
                {"PartitionKey": pk, "RowKey": rk, "n": n}, mode=mode))
            live[(pk, rk)] = n
        # A transaction that deletes, replaces and creates, then fails on a row that exists:
        # nothing of it may stay.
        pk = rnd.choice(partitions)
        mine = [rk for (p, rk) in sorted(live) if p == pk]
        if len(mine) >= 3:
            ops = [delete(pk, mine[0]),
                   update({"PartitionKey": pk, "RowKey": mine[1], "n": 99}, mode="replace"),
                   create({"PartitionKey": pk, "RowKey": f"Z:new{round_}", "n": 1}),
                   create({"PartitionKey": pk, "RowKey": mine[2], "n": 1})]
            assert not both(lambda t, ops=ops: t.submit_transaction(ops)), round_
        for (pk, rk), n in live.items():
            assert indexed.get_entity(pk, rk)["n"] == n, (round_, pk, rk)
        for pk, rk in gone:
            assert not both(lambda t, pk=pk, rk=rk: t.get_entity(pk, rk)), (round_, pk, rk)
        for pk in partitions:
            whole = ("PartitionKey eq @pk", {"pk": pk})
            got = _pages(indexed, *whole, 1000)
            assert got == _pages(stock, *whole, 1000)
            assert {k for p in got for k in p} == {rk for (p, rk) in live if p == pk}
            for query in (RANGE, RANGE_AFTER):
                params = {"pk": pk, "lo": "A", "hi": "a"}
                assert _pages(indexed, query, params, 25) == _pages(stock, query, params, 25)
