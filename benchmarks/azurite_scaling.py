"""How Azurite itself scales with table size, without our app: the latency of a point read, of
a 100-row RowKey-range query (the shapes a cursor page and a delete's membership read use), and
of a transaction inserting 6 rows and one deleting them (a user create and delete write about as
many), and of a replace of a row written long before (a PATCH of an old user), in a table of
1,000 to 500,000 rows, through the store's own client.

Azurite evaluates a query's filter over every entity of the table (LokiJS `where`, see
`node_modules/azurite/dist/src/table/persistence/LokiTableMetadataStore.js`,
`queryTableEntities`), while point reads use its key index; Table Storage serves both from
its index. This separates the emulator's growth from ours in the `make bench` scale curves.
Writes grow too: LokiJS keeps each collection and its binary indexes as arrays, and inserting
or removing an entity moves (and, for removals, renumbers) entries of every one of them.
`indexed` is Azurite with tools/azurite_range_index.js preloaded, which serves these range
queries from Loki's RowKey index and keeps inserts, updates and deletes from moving or
renumbering the whole table (what `entra_bench.py --emulator indexed` and `feed_bench.py`
use).

    .venv/bin/python benchmarks/azurite_scaling.py [--sizes 1000,10000,100000,500000] [--reps 50]
        [--emulators stock,indexed]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.settings import Settings  # noqa: E402
from shared.store import backend, keys, layout  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402

DOC = '{"userName":"' + "x" * 400 + '"}'
USERS_END = keys.prefix_range(layout.resource_prefix(layout.USER))[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000,500000")
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--emulators", default="stock,indexed")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    emulators = [e.strip() for e in args.emulators.split(",") if e.strip()]
    results = {e: _measure(e == "indexed", sizes, args.reps) for e in emulators}
    columns = ("point read", "range query (page of 100)", "insert 6 rows", "delete 6 rows",
               "replace a row")
    print(f"p50 ms per call; emulators: {', '.join(emulators)}")
    print("| rows in the table | " + " | ".join(
        f"{e}: {c}" for e in emulators for c in columns) + " |")
    print("|---|" + "---|" * len(columns) * len(emulators))
    for n, size in enumerate(sizes):
        cells = " | ".join(f"{v:.2f}" for e in emulators for v in results[e][n])
        print(f"| {size:,} | {cells} |")
    return 0


def _measure(indexed: bool, sizes: list[int], reps: int) -> list[tuple[float, ...]]:
    rows: list[tuple[float, ...]] = []
    with azurite.running(indexed=indexed) as conn:
        table = open_tables(Settings.model_validate(
            {"storage_connection_string": conn, "table_prefix": "scale"})).data
        table.create_table()
        have = 0
        for size in sizes:
            started = time.perf_counter()
            while have < size:
                batch = min(100, size - have)
                table.submit_transaction([
                    backend.upsert({"PartitionKey": "t", "RowKey": layout.resource_key(
                        layout.USER, f"{n:08d}"), "doc": DOC})
                    for n in range(have, have + batch)])
                have += batch
            print(f"{'indexed' if indexed else 'stock'}: {size} rows "
                  f"({time.perf_counter() - started:.0f} s to fill)", file=sys.stderr, flush=True)
            point, page, insert, delete, replace = [], [], [], [], []
            for rep in range(reps):
                key = layout.resource_key(layout.USER, f"{(rep * 7919) % size:08d}")
                t = time.perf_counter()
                table.get_entity("t", key)
                point.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                got = list(islice(table.query_entities(
                    "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                    parameters={"pk": "t", "lo": key, "hi": USERS_END}, results_per_page=100), 100))
                page.append((time.perf_counter() - t) * 1000)
                assert got  # at least the row itself
                # Rows of a tag the app never writes: they leave the measured range alone.
                extra = [f"X:{size}:{rep}:{n}" for n in range(6)]
                t = time.perf_counter()
                table.submit_transaction([backend.create({"PartitionKey": "t", "RowKey": k,
                                                          "doc": DOC}) for k in extra])
                insert.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                table.submit_transaction([backend.delete("t", k) for k in extra])
                delete.append((time.perf_counter() - t) * 1000)
                # A row written long before (a PATCH of an old user): Azurite's replace is a
                # remove and an insert of the entity, wherever it is in Loki's arrays.
                t = time.perf_counter()
                table.update_entity({"PartitionKey": "t", "RowKey": key, "doc": DOC},
                                    mode="replace")
                replace.append((time.perf_counter() - t) * 1000)
            rows.append(tuple(statistics.median(v)
                              for v in (point, page, insert, delete, replace)))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
