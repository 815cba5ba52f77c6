"""`shared.store.purge`: every row of a partition deleted (but the kept ones) in transactions
of up to 100, stopping when told and resuming on the next call, never touching another
partition, and undisturbed by rows another deleter removed meanwhile (Azurite)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store.backend import Backend, Operation, upsert
from shared.store.connection import Tables
from shared.store.purge import delete_partition


def _fill(table: Backend, partition: str, count: int) -> None:
    rows = [upsert({"PartitionKey": partition, "RowKey": f"r{n:05d}", "v": n})
            for n in range(count)]
    for i in range(0, len(rows), 100):
        table.submit_transaction(rows[i:i + 100])


def _keys(table: Backend, partition: str) -> list[str]:
    return [str(e["RowKey"]) for e in table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"])]


@pytest.fixture
def partition() -> str:
    return "p" + uuid.uuid4().hex[:12]


def test_every_row_but_the_kept_ones_goes_in_transactions_of_100(
        tables: Tables, partition: str) -> None:
    neighbour = partition + "-other"
    _fill(tables.data, partition, 250)
    _fill(tables.data, neighbour, 3)
    sizes: list[int] = []
    assert delete_partition(tables.data, partition, keep={"r00007"}, deleted=sizes.append)
    assert sizes == [100, 100, 49]
    assert _keys(tables.data, partition) == ["r00007"]
    assert len(_keys(tables.data, neighbour)) == 3


def test_a_purge_told_to_stop_resumes_where_it_stopped(tables: Tables, partition: str) -> None:
    _fill(tables.data, partition, 230)
    calls: list[int] = []
    assert not delete_partition(tables.data, partition, over=lambda: True,
                                deleted=calls.append)
    assert calls == [100]
    assert len(_keys(tables.data, partition)) == 130
    assert delete_partition(tables.data, partition, deleted=calls.append)
    assert _keys(tables.data, partition) == []
    assert sum(calls) == 230


class _Racing:
    """The table, with another deleter taking one row just before the first transaction."""

    def __init__(self, table: Backend, partition: str, row_key: str) -> None:
        self.table, self.partition, self.row_key = table, partition, row_key
        self.stolen = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)

    def submit_transaction(self, operations: Sequence[Operation]) -> list[Any]:
        if not self.stolen:
            self.stolen = True
            self.table.delete_entity(self.partition, self.row_key)
        return self.table.submit_transaction(operations)


def test_rows_another_deleter_removed_meanwhile_do_not_fail_it(tables: Tables,
                                                               partition: str) -> None:
    _fill(tables.data, partition, 120)
    racing = _Racing(tables.data, partition, "r00003")
    sizes: list[int] = []
    assert delete_partition(racing, partition, deleted=sizes.append)  # type: ignore[arg-type]
    assert racing.stolen
    assert sizes == [100, 20]
    assert _keys(tables.data, partition) == []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(count=st.integers(0, 260), stop_after=st.integers(1, 4))
def test_any_size_is_purged_across_any_number_of_cut_short_calls(
        tables: Tables, count: int, stop_after: int) -> None:
    partition = "p" + uuid.uuid4().hex[:12]
    _fill(tables.data, partition, count)
    removed: list[int] = []
    for _ in range(10):
        left = {"n": stop_after}

        def over(left: dict[str, int] = left) -> bool:
            left["n"] -= 1
            return left["n"] <= 0

        if delete_partition(tables.data, partition, over=over, deleted=removed.append):
            break
    assert _keys(tables.data, partition) == []
    assert sum(removed) == count
    assert all(0 < n <= 100 for n in removed)
