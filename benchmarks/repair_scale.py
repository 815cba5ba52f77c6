"""The repair pass on one large tenant: duration and peak memory of `invariants.repair`, as it
is now (a walk of the partition in pages with point reads) and as it was at git revision
`--base` (one read of the whole partition into memory), side by side.

    .venv/bin/python benchmarks/repair_scale.py [--users 10000] [--memberships 10000]
        [--base a99884d] [--concurrency 4] [--rounds 1]

One Azurite (in memory) holds the tenant: `--users` users (a user row, its userName and
externalId index rows) and `--memberships` memberships of those users in groups of 100 (M and
R rows), written in bulk. Before each measured pass the same damage is written again (missing,
orphan and stale index rows, lone M and R rows, members that are gone), so every pass finds and
fixes the same violations. Each pass runs in a child process of its own, which reports its
wall time, CPU time and `ru_maxrss` (peak resident memory) both before the pass (the
interpreter, the imports and the storage client) and after it. `--concurrency` takes a list
(`1,4,8`) to measure the walk at several values of SCIM_REPAIR_CONCURRENCY. The default
`--base` is the last revision whose pass read the whole partition.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.service.kinds import GROUPS, USERS, stored_indexes  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import invariants, layout  # noqa: E402
from shared.store.backend import Backend, Operation, create, upsert  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402
from shared.store.directory import Directory  # noqa: E402
from shared.store.long_text import split_text  # noqa: E402

TENANT = "bench-repair"
PREFIX = "repairbench"
NOW = "2026-01-01T00:00:00.000Z"
GROUP_SIZE = 100


def _id(kind: int, n: int) -> str:
    """A stable id of this service's shape (so members are checked for existence)."""
    return layout.format_id(layout.ID_EPOCH_MS + kind * 10_000_000 + n, n.to_bytes(10, "big"))


def _users(count: int) -> list[str]:
    return [_id(1, n) for n in range(count)]


def _groups(memberships: int) -> list[str]:
    return [_id(2, n) for n in range(-(-memberships // GROUP_SIZE))]


def _resource(kind: str, rid: str, doc: dict[str, Any]) -> list[Operation]:
    indexes = (USERS if kind == layout.USER else GROUPS).indexes(doc)
    row = {"PartitionKey": TENANT, "RowKey": layout.resource_key(kind, rid),
           **split_text(json.dumps(doc, separators=(",", ":")), "doc"),
           "created": NOW, "lastModified": NOW}
    return [create(row), *(create({"PartitionKey": TENANT, "RowKey": rk, "ref": rid})
                           for rk in indexes.rows(rid))]


def _submit(table: Backend, ops: list[Operation], label: str) -> None:
    for start in range(0, len(ops), 100):
        table.submit_transaction(ops[start:start + 100])
        if start // 100 % 50 == 0:
            print(f"\r  {label}: {min(start + 100, len(ops)):,}/{len(ops):,} rows", end="",
                  file=sys.stderr, flush=True)
    print(file=sys.stderr)


def seed(table: Backend, users: int, memberships: int) -> None:
    """The healthy tenant, written in bulk and in RowKey order (a resource's rows may straddle
    two transactions: nothing reads the tenant until it is all written). In key order, each
    row lands at the end of Azurite's indexes of the partition (tools/azurite_range_index.js:
    with the indexed emulator that is O(log n) a row, not a move of the partition's index)."""
    user_ids, group_ids = _users(users), _groups(memberships)
    ops: list[Operation] = []
    for n, uid in enumerate(user_ids):
        ops += _resource(layout.USER, uid, {"userName": f"user{n:06d}@bench.test",
                                            "externalId": f"ext-{n:06d}"})
    for n, gid in enumerate(group_ids):
        ops += _resource(layout.GROUP, gid, {"displayName": f"group {n:04d}"})
    for n in range(memberships):
        gid, uid = group_ids[n // GROUP_SIZE], user_ids[n % users]
        ops += [upsert({"PartitionKey": TENANT, "RowKey": layout.member_key(gid, uid)}),
                upsert({"PartitionKey": TENANT, "RowKey": layout.reverse_member_key(uid, gid)})]
    ops.sort(key=lambda op: str(op.entity["RowKey"]))
    _submit(table, ops, "rows")


def damage(table: Backend, users: int, memberships: int) -> None:
    """The same violations before every pass (what a pass repaired is broken again)."""
    user_ids, group_ids = _users(users), _groups(memberships)

    def drop(rk: str) -> None:
        table.delete_entity(TENANT, rk)

    def put(rk: str, **props: Any) -> None:
        table.upsert_entity({"PartitionKey": TENANT, "RowKey": rk, **props}, mode="replace")

    for n in range(0, users, 100):
        drop(layout.unique_key("UN", f"user{n:06d}@bench.test"))               # missing
    for n in range(50, users, 200):
        put(layout.multi_key("UX", "old", user_ids[n]), ref=user_ids[n])         # stale
    for n in range(50):
        put(layout.unique_key("UN", f"zz-orphan-{n}"), ref=_id(3, n))            # orphan
    for n in range(0, memberships, 100):
        gid, uid = group_ids[n // GROUP_SIZE], user_ids[n % users]
        drop(layout.reverse_member_key(uid, gid))                                # lone M
    for n in range(min(50, len(group_ids))):
        gone = _id(4, n)
        put(layout.member_key(group_ids[n], gone))                               # gone member
        put(layout.reverse_member_key(gone, group_ids[n]))


def _before_module(base: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{base}:shared/store/invariants.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="repair-bench-")) / "invariants_before.py"
    path.write_text(source)
    # A module of the store package, so its relative imports reach today's store.
    spec = importlib.util.spec_from_file_location("shared.store.invariants_before", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def child(args: argparse.Namespace) -> None:
    table = open_tables(Settings.model_validate(
        {"storage_connection_string": args.conn, "table_prefix": PREFIX})).data
    directory = Directory(table)
    if args.impl == "before":
        run = _before_module(args.base).repair
        concurrency = 0
    else:
        concurrency = args.concurrency

        def run(directory: Directory, tenant: str, *, indexer: Any) -> Any:
            journals = directory.complete_pending(tenant)
            report, _ = invariants.walk(directory, tenant, indexer=indexer, fix=True,
                                        concurrency=concurrency)
            report.journals_completed = journals
            return report
    table.get_entity(TENANT, layout.resource_key(layout.USER, _users(1)[0]))  # warm connection
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = run(directory, TENANT, indexer=stored_indexes)
    duration = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_peak = usage.ru_maxrss
    cpu_s = usage.ru_utime + usage.ru_stime - cpu.ru_utime - cpu.ru_stime
    print(json.dumps({"impl": args.impl, "concurrency": concurrency,
                      "vm_hwm_mb": _vm_hwm_mb(),
                      "duration_s": round(duration, 2), "cpu_s": round(cpu_s, 2),
                      "found": report.found,
                      "repaired": report.repaired, "unrepaired": len(report.unrepaired),
                      "rss_before_mb": round(rss_before / 1024, 1),
                      "rss_peak_mb": round(rss_peak / 1024, 1)}))


# Linux carries a process's peak RSS across exec: a child started by this process (which
# holds the seeding's objects) would report this process's peak as its own. A bare
# interpreter in between starts the measured child from a few MB instead.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _vm_hwm_mb() -> float | None:
    """The peak RSS of this process's own memory (Linux: VmHWM), a cross-check of
    ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def measure(conn: str, impl: str, base: str, concurrency: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, sys.executable, __file__,
                          "child", "--conn", conn, "--impl", impl, "--base", base,
                          "--concurrency", str(concurrency)],
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="compare", choices=["compare", "child"])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--memberships", type=int, default=10_000)
    parser.add_argument("--base", default="a99884d")
    parser.add_argument("--concurrency", default="4")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--conn", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "child":
        args.concurrency = int(args.concurrency)
        child(args)
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    results: list[dict[str, Any]] = []
    with azurite.running() as conn:
        table = open_tables(Settings.model_validate(
            {"storage_connection_string": conn, "table_prefix": PREFIX})).data
        table.create_table()
        started = time.perf_counter()
        seed(table, args.users, args.memberships)
        rows = sum(1 for _ in table.query_entities("PartitionKey eq @pk",
                                                   parameters={"pk": TENANT},
                                                   select=["RowKey"]))
        print(f"seeded {args.users:,} users, {args.memberships:,} memberships: {rows:,} rows "
              f"in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        runs = [("before", 0), *(("after", c) for c in levels)]
        for round_ in range(args.rounds):
            for impl, concurrency in runs:
                damage(table, args.users, args.memberships)
                print(f"round {round_ + 1}: {impl}"
                      f"{f' (concurrency {concurrency})' if concurrency else ''} …",
                      file=sys.stderr, flush=True)
                result = measure(conn, impl, args.base, concurrency)
                print(f"  {json.dumps(result)}", file=sys.stderr, flush=True)
                results.append(result)
    print(f"\nrepair of one tenant: {args.users:,} users, {args.memberships:,} memberships "
          f"({rows:,} rows); before = {args.base}\n")
    print("| pass | concurrency | duration (s) | its CPU (s) | peak RSS (MB) | RSS before the "
          "pass (MB) | growth (MB) | found | repaired |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['impl']} | {r['concurrency'] or '-'} | {r['duration_s']} | {r['cpu_s']} | "
              f"{r['rss_peak_mb']} | {r['rss_before_mb']} | "
              f"{round(r['rss_peak_mb'] - r['rss_before_mb'], 1)} | {r['found']} | "
              f"{r['repaired']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
