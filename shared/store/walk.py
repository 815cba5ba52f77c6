"""A tenant's partition walked in RowKey order with bounded memory, resumable from any row.

Rows are read a page at a time (`page` rows per query page; the query follows its
continuations, so each page is fetched only when the walk reaches it). They are handled in
batches: `inspect` (reads only) runs for every row of a batch on at most `concurrency` threads
at once, then `act` runs for each row in RowKey order on the caller's thread, so writes
happen one at a time and in order. After each row the walk asks `over()`: when it answers
true the walk stops and returns that row's key, and a later walk given it as `after` goes on
with the next row. At least one row is handled per walk, so a walk under any budget makes
progress.

Rows of the `skip` tags are neither inspected nor acted on: the walk jumps past their whole
RowKey range with a new query (an outbox holding many events costs one row read, not all).
Memory holds one query page and one batch of inspections, however large the partition.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from . import keys, layout
from .backend import Backend, Entity

T = TypeVar("T")

# Rows inspected per batch and thread: enough to keep the threads busy between batches, few
# enough that a walk cut off by its budget wastes little reading.
_ROWS_PER_THREAD = 8


def _never() -> bool:
    return False


def walk_rows(
    table: Backend,
    tenant: str,
    *,
    inspect: Callable[[Entity], T],
    act: Callable[[Entity, T], None],
    after: str = "",
    over: Callable[[], bool] = _never,
    skip: Collection[str] = (),
    concurrency: int = 4,
    page: int = 500,
    on_batch: Callable[[], None] | None = None,
    on_page: Callable[[str], None] | None = None,
) -> str | None:
    """Walk `tenant`'s rows after the RowKey `after` ("" = from the first). `on_batch` is
    called once a batch is inspected, before its first `act`; `on_page` with the key of the
    last row handled after every `page` rows handled. Returns None when the walk reached the
    end of the partition, else the key of the last row handled."""
    batch_size = max(1, concurrency) * _ROWS_PER_THREAD
    handled = 0
    last = after

    def handle(batch: list[Entity], run: _Inspector) -> bool:
        """Inspect and act on a batch; True when `over` stopped the walk inside it."""
        nonlocal handled, last
        results = run(inspect, batch)
        if on_batch is not None:
            on_batch()
        for row, result in zip(batch, results, strict=True):
            act(row, result)
            last = row["RowKey"]
            handled += 1
            if on_page is not None and handled % page == 0:
                on_page(last)
            if over():
                return True
        return False

    start, inclusive = after, False
    with _Inspector(concurrency) as run:
        while True:
            batch: list[Entity] = []
            jump: str | None = None
            for entity in _rows(table, tenant, start, inclusive, page):
                tag = layout.tag(entity["RowKey"])
                if tag in skip:
                    # The first key past every row of this tag (layout.py: tags are whole
                    # leading components).
                    jump = keys.prefix_range(tag + layout.SEPARATOR)[1]
                    break
                batch.append(entity)
                if len(batch) == batch_size:
                    if handle(batch, run):
                        return last
                    batch = []
            if batch and handle(batch, run):
                return last
            if jump is None:
                return None
            start, inclusive = jump, True


def _rows(table: Backend, tenant: str, start: str, inclusive: bool,
          page: int) -> Iterator[Entity]:
    """The partition's rows from `start` on, in RowKey order (a range on the partition's
    index in Table Storage). Bounded at both ends by the data keys' range (layout.py), which
    holds every row: the same range Table Storage reads, and the shape the indexed emulator
    answers without scanning the table."""
    if start < layout.DATA_KEYS_LOW:
        start, inclusive = layout.DATA_KEYS_LOW, True
    return table.query_entities(
        f"PartitionKey eq @pk and RowKey {'ge' if inclusive else 'gt'} @start "
        "and RowKey lt @end",
        parameters={"pk": tenant, "start": start, "end": layout.DATA_KEYS_HIGH},
        results_per_page=page)


class _Inspector:
    """Runs `inspect` over a batch on at most `concurrency` threads (inline for one), each
    call in a copy of the caller's context so that its storage deadline applies."""

    def __init__(self, concurrency: int) -> None:
        self._pool = (ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="walk")
                      if concurrency > 1 else None)

    def __enter__(self) -> _Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __call__(self, inspect: Callable[[Entity], T], batch: list[Entity]) -> list[T]:
        if self._pool is None or len(batch) == 1:
            return [inspect(row) for row in batch]
        futures = [self._pool.submit(contextvars.copy_context().run, inspect, row)
                   for row in batch]
        return [f.result() for f in futures]
