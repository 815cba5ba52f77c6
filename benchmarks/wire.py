"""The store's Table Storage client (`shared/store/table.py` over `wire.py` and
`http_connection.py`) against the azure-data-tables SDK it replaced, side by side in one
process on Azurite: CPU and wall time (medians) per point read, per 100-row query page, and per
entity-group transaction of 2 and of 99 operations. Within each round the clients take turns
in blocks of a twelfth of the calls, so that machine noise (this VM's per-call CPU moves by 2x
with the load) hits them alike.

The SDK is set up as the store used it before: `requests` transport with `trust_env` off, its
per-request HTTP logging at WARNING, and batch parts prepared in the calling thread.

    .venv/bin/python benchmarks/wire.py [--reps 200] [--rounds 3] [--base REV]

`--base REV` adds the store client as it was at git revision REV (its `shared/store` files,
imported as a separate package), so a change to the client is measured against its previous
version in the same process and rounds. The table then has a column per client (the SDK, the
client at REV, today's) and the change from REV to today in ms of CPU per call.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402
import revision  # noqa: E402

from shared.settings import Settings  # noqa: E402
from shared.store import backend  # noqa: E402
from shared.store.connection import from_connection_string, open_tables  # noqa: E402

DOC = '{"userName":"' + "x" * 600 + '"}'


def _sdk_client(conn: str, table: str) -> TableClient:
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    session = requests.Session()
    session.trust_env = False
    client = TableClient.from_connection_string(
        conn, table, transport=RequestsTransport(session=session, session_owner=False))

    def prepare_parts(request: Any) -> None:  # the store's former sequential part preparation
        info = request.multipart_mixed_info
        if not info:
            return
        for part in info[0]:
            if part.multipart_mixed_info:
                prepare_parts(part)
            pipeline_request = PipelineRequest(part, PipelineContext(None, **info[3]))
            for policy in info[1]:
                policy.on_request(pipeline_request)

    client._client._client._pipeline._prepare_multipart_mixed_request = prepare_parts
    return client


def _client_at(rev: str, conn: str, table_name: str, into: Path) -> Any:
    """The store's Table client from revision `rev`, as package `store_<commit>` under `into`."""
    package, _ = revision.package_at(rev, "shared/store", into)
    wire = revision.module(package, "wire")
    table = revision.module(package, "table")
    endpoint, signer = from_connection_string(conn)  # signing is the same in both
    return table.Table(wire.Wire(endpoint, signer), table_name)


def _timed(call: Callable[[], Any], reps: int) -> tuple[list[float], list[float]]:
    cpus, walls = [], []
    for _ in range(reps):
        cpu, wall = time.thread_time(), time.perf_counter()
        call()
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return cpus, walls


def _takes_operations(client: Any) -> bool:
    """Whether a client's transactions take `backend.Operation`s (the store since d80e857),
    not the SDK's tuples (the SDK, and the store before)."""
    annotation = inspect.signature(client.submit_transaction).parameters
    return any(re.search(r"\bOperation\b", str(p.annotation)) for p in annotation.values())


def _cases(table: Any, *, typed: bool = False) -> dict[str, tuple[Callable[[], Any], int]]:
    """The calls measured; `typed`: the client takes `backend.Operation`s."""
    def op(entity: dict[str, Any]) -> Any:
        return backend.upsert(entity) if typed else ("upsert", entity)

    def txn(size: int) -> Callable[[], Any]:
        def run() -> Any:
            pk = "t" + uuid.uuid4().hex[:12]
            return table.submit_transaction(
                [op({"PartitionKey": pk, "RowKey": f"r{j}", "doc": DOC}) for j in range(size)])
        return run

    return {
        "point read": (lambda: table.get_entity("read", "r0"), 1),
        "query page of 100": (lambda: list(table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo", parameters={"pk": "read", "lo": "r"},
            results_per_page=100)), 1),
        "transaction, 2 ops": (txn(2), 1),
        "transaction, 99 ops": (txn(99), 10),
    }


def _blocks(total: int, count: int) -> list[int]:
    """`total` calls as `count` near-equal blocks (fewer when there are fewer calls)."""
    count = min(count, total)
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


SDK = "azure-data-tables 12.7.0"
NOW = "today"


def _print(results: dict[tuple[str, str], tuple[list[float], list[float]]],
           names: list[str], calls: int) -> None:
    """One row per call: each client's CPU and wall time (ms, medians), and with a base the
    change from it to today's client in CPU ms per call."""
    base = names[1] if len(names) == 3 else None
    print(f"CPU and wall ms per call, medians of {calls} calls (99-op transactions: a tenth)")
    header = ["call", *(f"{n} CPU" for n in names), *(f"{n} wall" for n in names)]
    if base:
        header.append(f"CPU {base} -> today")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for case in _cases(None):
        cpu = {n: statistics.median(results[(case, n)][0]) for n in names}
        wall = {n: statistics.median(results[(case, n)][1]) for n in names}
        row = [case, *(f"{cpu[n]:.3f}" for n in names), *(f"{wall[n]:.3f}" for n in names)]
        if base:
            row.append(f"{cpu[NOW] - cpu[base]:+.3f}")
        print("| " + " | ".join(row) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="", help="git revision of the store to compare")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    with azurite.running() as conn:
        ours = open_tables(Settings.model_validate(
            {"storage_connection_string": conn, "table_prefix": "wire"}))
        ours.ensure()
        ours.data.submit_transaction(
            [backend.upsert({"PartitionKey": "read", "RowKey": f"r{j}", "doc": DOC})
             for j in range(100)])
        clients = {SDK: _sdk_client(conn, ours.data.table_name)}
        if args.base:
            clients[f"at {args.base}"] = _client_at(args.base, conn, ours.data.table_name,
                                                    Path(scratch.name))
        clients[NOW] = ours.data
        cases = {name: _cases(client, typed=_takes_operations(client))
                 for name, client in clients.items()}
        for _ in range(args.rounds):
            for case, (_, divisor) in _cases(None).items():
                calls = max(1, args.reps // divisor)
                for block in _blocks(calls, 12):
                    for name in clients:
                        cpus, walls = _timed(cases[name][case][0], block)
                        old = results.get((case, name), ([], []))
                        results[(case, name)] = (old[0] + cpus, old[1] + walls)
    _print(results, list(clients), args.reps * args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
