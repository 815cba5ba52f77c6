"""Storage SDK overheads that shared/store/connection.py removes, each measured side by side
with the SDK's default in one process on Azurite (alternating rounds, so machine noise hits
both variants alike):

1. azure-core's per-batch thread pools vs the sequential part preparation: process CPU and
   wall time (median) per transaction of 2 and of 99 operations;
2. the SDK's per-request HTTP logging at INFO (what the Functions worker's INFO root logger
   lets through; here to a file) vs WARNING: per point read and per 2-operation transaction.

    .venv/bin/python benchmarks/multipart.py [--reps 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.settings import Settings  # noqa: E402
from shared.store.connection import HTTP_LOGGER, _prepare_parts, open_tables  # noqa: E402


def _int_row(pk: str, j: int) -> dict[str, Any]:
    return {"PartitionKey": pk, "RowKey": f"r{j}", "x": j}


def measure(table: Any, size: int, reps: int,
            row: Callable[[str, int], dict[str, Any]] = _int_row
            ) -> tuple[list[float], list[float]]:
    """Process CPU and wall milliseconds of `reps` upsert transactions of `size` rows each,
    every one in a fresh partition."""
    cpus, walls = [], []
    for _ in range(reps):
        pk = "p" + uuid.uuid4().hex[:12]
        ops = [("upsert", row(pk, j)) for j in range(size)]
        cpu, wall = time.process_time(), time.perf_counter()
        table.submit_transaction(ops)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return cpus, walls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    pools = 0
    original_init = concurrent.futures.ThreadPoolExecutor.__init__

    def counting_init(self: Any, *a: Any, **kw: Any) -> None:
        nonlocal pools
        pools += 1
        original_init(self, *a, **kw)

    concurrent.futures.ThreadPoolExecutor.__init__ = counting_init  # type: ignore[method-assign]
    results: dict[tuple[str, int], tuple[list[float], list[float], int]] = {}
    with azurite.running() as conn:
        tables = open_tables(Settings.model_validate(
            {"storage_connection_string": conn, "table_prefix": "mp"}))
        tables.ensure()
        pipeline = tables.data._client._client._pipeline
        for _ in range(args.rounds):
            for variant in ("sdk thread pools", "sequential"):
                if variant == "sequential":
                    pipeline._prepare_multipart_mixed_request = _prepare_parts  # type: ignore[method-assign]
                else:
                    pipeline.__dict__.pop("_prepare_multipart_mixed_request", None)
                for size, reps in ((2, args.reps), (99, max(1, args.reps // 10))):
                    before = pools
                    cpus, walls = measure(tables.data, size, reps)
                    old = results.get((variant, size), ([], [], 0))
                    results[(variant, size)] = (old[0] + cpus, old[1] + walls,
                                                old[2] + pools - before)
        logged = logging_variants(tables, args.reps, args.rounds)
    print(f"| {'variant':<17} | ops | CPU ms p50 | wall ms p50 | thread pools / txn |")
    print("|---|---|---|---|---|")
    for (variant, size), (cpus, walls, n) in sorted(results.items(), key=lambda kv: kv[0][1]):
        print(f"| {variant:<17} | {size:>3} | {statistics.median(cpus):10.2f} | "
              f"{statistics.median(walls):11.2f} | {n / len(cpus):18.1f} |")
    print(f"\n| {'SDK HTTP logging':<17} | call | CPU ms p50 | wall ms p50 |")
    print("|---|---|---|---|")
    for (variant, call), (cpus, walls) in sorted(logged.items(), key=lambda kv: kv[0][1]):
        print(f"| {variant:<17} | {call} | {statistics.median(cpus):10.2f} | "
              f"{statistics.median(walls):11.2f} |")
    return 0


def logging_variants(tables: Any, reps: int, rounds: int
                     ) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    log_file = tempfile.NamedTemporaryFile(suffix=".log", delete=False)  # noqa: SIM115
    logging.basicConfig(filename=log_file.name, level=logging.INFO, force=True)
    tables.data.upsert_entity({"PartitionKey": "read", "RowKey": "me", "x": 1})
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for _ in range(rounds):
        for variant, level in (("INFO (SDK default)", logging.INFO), ("WARNING", logging.WARNING)):
            logging.getLogger(HTTP_LOGGER).setLevel(level)
            cpus, walls = [], []
            for _ in range(reps):
                cpu, wall = time.process_time(), time.perf_counter()
                tables.data.get_entity("read", "me")
                cpus.append((time.process_time() - cpu) * 1000)
                walls.append((time.perf_counter() - wall) * 1000)
            old = out.get((variant, "point read"), ([], []))
            out[(variant, "point read")] = (old[0] + cpus, old[1] + walls)
            cpus, walls = measure(tables.data, 2, reps)
            old = out.get((variant, "2-op transaction"), ([], []))
            out[(variant, "2-op transaction")] = (old[0] + cpus, old[1] + walls)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
