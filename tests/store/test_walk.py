"""`shared.store.walk`: a partition walked in RowKey order, resumable after any row, with
inspections bounded in concurrency, acts in order on the caller's thread, and the ranges of
skipped tags jumped (Azurite)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.store.backend import Backend, Entity, upsert
from shared.store.directory import Directory
from shared.store.walk import walk_rows

KEYS = sorted([*(f"G:{n:03d}" for n in range(5)), *(f"M:{n:03d}:x" for n in range(40)),
               *(f"U:{n:03d}" for n in range(30)), "J:1", "UN:a", "UN:b"])


def _fill(table: Backend, tenant: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 100):
        table.submit_transaction([upsert({"PartitionKey": tenant, "RowKey": k})
                                  for k in keys[start:start + 100]])


@pytest.fixture
def table(directory: Directory, tenant_id: str) -> Backend:
    _fill(directory.table, tenant_id, KEYS)
    return directory.table


def _key(row: Entity) -> str:
    return str(row["RowKey"])


def test_every_row_is_handled_once_in_rowkey_order(table: Backend, tenant_id: str) -> None:
    acted: list[str] = []
    threads: set[int] = set()

    def act(row: Entity, inspected: str) -> None:
        assert inspected == _key(row)  # each act gets its own row's inspection
        threads.add(threading.get_ident())
        acted.append(inspected)

    assert walk_rows(table, tenant_id, inspect=_key, act=act, page=7, concurrency=3) is None
    assert acted == KEYS
    assert threads == {threading.get_ident()}


def test_a_walk_stopped_after_each_row_resumes_after_it(table: Backend,
                                                        tenant_id: str) -> None:
    acted: list[str] = []
    after: str | None = ""
    walks = 0
    while after is not None:
        walks += 1
        # `over` is true from the start: each walk still handles one row.
        after = walk_rows(table, tenant_id, inspect=_key,
                          act=lambda row, key: acted.append(key), after=after,
                          over=lambda: True)
        assert after is None or after == acted[-1]
    assert acted == KEYS
    assert walks == len(KEYS) + 1  # the last walk finds nothing after the last row


def test_a_walk_resumes_from_a_key_between_rows(table: Backend, tenant_id: str) -> None:
    acted: list[str] = []
    walk_rows(table, tenant_id, inspect=_key, act=lambda row, key: acted.append(key),
              after="M:010")
    assert acted == [k for k in KEYS if k > "M:010"]


def test_skipped_tags_are_jumped_not_read(directory: Directory, tenant_id: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    events = [f"E:{n:04d}" for n in range(300)]
    _fill(directory.table, tenant_id, ["DL:1", "DL:2", *events, "G:1", "U:1", "UN:a"])
    pulled: list[str] = []
    real = directory.table.query_entities

    def counted(query_filter: str, **kwargs: Any) -> Iterator[Entity]:
        for row in real(query_filter, **kwargs):
            pulled.append(row["RowKey"])
            yield row

    monkeypatch.setattr(directory.table, "query_entities", counted)
    acted: list[str] = []
    walk_rows(directory.table, tenant_id, inspect=_key, act=lambda row, key: acted.append(key),
              skip={"E", "DL"}, page=10)
    assert acted == ["G:1", "U:1", "UN:a"]
    assert pulled == ["DL:1", "E:0000", "G:1", "U:1", "UN:a"]


def test_inspections_run_at_most_concurrency_at_once(table: Backend, tenant_id: str) -> None:
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def slow(row: Entity) -> str:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.01)
        with lock:
            running["now"] -= 1
        return _key(row)

    acted: list[str] = []
    walk_rows(table, tenant_id, inspect=slow, act=lambda row, key: acted.append(key),
              concurrency=3)
    assert acted == KEYS
    assert running["most"] == 3


def test_on_page_gets_the_last_row_after_every_page(table: Backend, tenant_id: str) -> None:
    pages: list[str] = []
    walk_rows(table, tenant_id, inspect=_key, act=lambda row, key: None, page=20,
              on_page=pages.append)
    assert pages == [KEYS[19], KEYS[39], KEYS[59]]


def test_on_batch_runs_after_a_batch_is_inspected_and_before_it_is_acted_on(
        table: Backend, tenant_id: str) -> None:
    log: list[str] = []

    def inspect(row: Entity) -> str:
        log.append("inspect")
        return _key(row)

    walk_rows(table, tenant_id, inspect=inspect,
              act=lambda row, key: log.append("act"), on_batch=lambda: log.append("batch"),
              concurrency=1)
    # One thread inspects 8 rows per batch.
    batch = ["inspect"] * 8 + ["batch"] + ["act"] * 8
    assert log[:2 * len(batch)] == batch * 2


def test_an_empty_partition_ends_at_once(directory: Directory, tenant_id: str) -> None:
    assert walk_rows(directory.table, tenant_id, inspect=_key,
                     act=lambda row, key: pytest.fail("no row")) is None


def test_an_inspection_that_fails_stops_the_walk(table: Backend, tenant_id: str) -> None:
    def failing(row: Entity) -> str:
        if _key(row) == "M:003:x":
            raise RuntimeError("storage failed")
        return _key(row)

    acted: list[str] = []
    with pytest.raises(RuntimeError):
        walk_rows(table, tenant_id, inspect=failing, act=lambda row, key: acted.append(key),
                  concurrency=2)
    assert "M:003:x" not in acted


def test_every_query_is_a_range_bounded_at_both_ends(directory: Directory, tenant_id: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """What Table Storage and the indexed emulator read without a scan: `ge|gt` a key and
    `lt` a key, both starting with a letter (tools/azurite_range_index.js), from the first
    walk (after "") through resumed and jumping ones."""
    _fill(directory.table, tenant_id, ["DL:1", "E:1", "E:2", "G:1", "U:1", "UN:a"])
    sent: list[tuple[str, dict[str, Any]]] = []
    real = directory.table.query_entities

    def recorded(query_filter: str, **kwargs: Any) -> Iterator[Entity]:
        sent.append((query_filter, kwargs["parameters"]))
        return real(query_filter, **kwargs)

    monkeypatch.setattr(directory.table, "query_entities", recorded)
    acted: list[str] = []
    for after in ("", "E:1"):
        walk_rows(directory.table, tenant_id, inspect=_key,
                  act=lambda row, key: acted.append(key), after=after, skip={"E"})
    assert acted == ["DL:1", "G:1", "U:1", "UN:a", "G:1", "U:1", "UN:a"]
    assert len(sent) == 4  # each walk: up to the outbox, then past it
    for query, params in sent:
        assert re.fullmatch(
            r"PartitionKey eq @pk and RowKey g[et] @start and RowKey lt @end", query)
        assert params["start"][:1].isalpha(), params
        assert params["end"][:1].isalpha(), params
