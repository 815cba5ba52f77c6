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
from shared.store.backend import upsert
from shared.store.connection import open_tables
from shared.store.table import Table

RANGE = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
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
def tables() -> Iterator[tuple[Table, Table]]:
    rows = _rows()
    with azurite.running(indexed=False) as stock_conn, \
            azurite.running(indexed=True) as indexed_conn:
        pair = []
        for conn in (stock_conn, indexed_conn):
            table = open_tables(Settings.model_validate(
                {"storage_connection_string": conn, "table_prefix": "rangeidx"})).data
            table.create_table()
            by_partition: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                by_partition.setdefault(row["PartitionKey"], []).append(row)
            for part in by_partition.values():
                for i in range(0, len(part), 100):
                    table.submit_transaction([upsert(r) for r in part[i:i + 100]])
            pair.append(table)
        yield pair[0], pair[1]


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
        query = RANGE + rnd.choice(["", " and active eq @on", " and n lt @n"])
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
