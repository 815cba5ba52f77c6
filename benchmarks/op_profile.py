"""CPU per SCIM operation in one process, without HTTP: each Entra request shape is sent
through the Functions handlers (`azure.functions.HttpRequest` in, `HttpResponse` out) against
Azurite, timed by thread CPU, and optionally profiled with cProfile. The quick loop for
working on the "app CPU per operation" target of `make bench` (which measures the same
handler work behind the dev host's HTTP server).

Two stacks can be measured side by side in one process, taking turns request by request, so
that both meet the same machine load (which drifts far more than a change moves):
`--base REV` runs the whole `shared` package as it was at git revision REV next to today's,
against the same tenant table: the way to judge a change of the request path. `--sizes S,B`
runs today's code for two tenants of S and B users, each in tables of its own (filled first,
through the same handlers): how a request's CPU depends on the tenant's size, without the
run-to-run drift that blurs the same comparison across the phases of `make bench`.

    .venv/bin/python benchmarks/op_profile.py [--reps 200] [--profile patch_user]
        [--base REV | --sizes 1000,100000] [--emulator stock|indexed]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools"), str(ROOT / "benchmarks")]

import azurite  # noqa: E402
import client  # noqa: E402
import revision  # noqa: E402

PATCH_OP = client.PATCH_OP
ENTERPRISE = client.ENTERPRISE


class Stack:
    """The Functions handlers of one `shared` package (today's, or a copy at a revision) with a
    tenant of their own, called in-process; thread CPU of the storage client's calls is added
    up in `store_cpu` (only the main thread's: the audit writer has its own)."""

    def __init__(self, package: str) -> None:
        import azure.functions as func

        def mod(name: str) -> ModuleType:
            return importlib.import_module(f"{package}.{name}")

        settings, runtime = mod("settings"), mod("adapter.runtime")
        scim, tenants = mod("adapter.blueprints.scim"), mod("auth.tenants")
        settings.current.cache_clear()
        runtime.reset()
        self.store_cpu = 0.0
        self._clock_store(mod("store.table").Table)
        service = self.service = runtime.service()
        # The record model is the store's (older revisions' store.tenants imports it too).
        tenant = mod("store.tenants").Tenant(id=tenants.new_tenant_id(), name="prof",
                                             created="2026-01-01T00:00:00.000Z")
        token = tenants.issue_token(tenant)
        service.tenants.create(tenant)
        self._tenant, self._func = tenant.id, func
        self._auth = {"Authorization": f"Bearer {token}",
                      "Content-Type": "application/scim+json"}
        self._handlers: dict[tuple[str, bool], Callable[[Any], Any]] = {
            ("Users", False): scim.users, ("Users", True): scim.user,
            ("Groups", False): scim.groups, ("Groups", True): scim.group,
        }
        self.group = self.call("POST", "Groups", body={"schemas": [client.GROUP_URN],
                                                       "displayName": "prof group"})["id"]

    def call(self, method: str, resource: str, rid: str | None = None,
             body: Any = None, params: dict[str, str] | None = None) -> Any:
        route = {"tenant": self._tenant, **({"id": rid} if rid else {})}
        url = f"http://127.0.0.1:7071/scim/v2/{self._tenant}/{resource}"
        req = self._func.HttpRequest(
            method=method, url=url + (f"/{rid}" if rid else ""), headers=self._auth,
            params=params or {}, route_params=route,
            body=json.dumps(body).encode() if body is not None else b"")
        resp = self._handlers[(resource, rid is not None)](req)
        if resp.status_code >= 300:
            raise SystemExit(f"{method} {resource} {rid}: {resp.status_code} "
                             f"{resp.get_body()[:300]!r}")
        return json.loads(resp.get_body()) if resp.get_body() else None

    def match(self, user: dict[str, Any]) -> Any:  # Entra's lookup before every change
        return self.call("GET", "Users",
                         params={"filter": f'userName eq "{user["userName"]}"'})

    def _clock_store(self, table: Any) -> None:
        main = threading.main_thread()

        def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                if threading.current_thread() is not main:
                    return fn(*args, **kwargs)
                start = time.thread_time()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.store_cpu += time.thread_time() - start
            return call

        def timed_pages(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
            def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
                rows = fn(*args, **kwargs)
                if threading.current_thread() is not main:
                    yield from rows
                    return
                while True:  # only the rows the caller takes are read (and timed)
                    start = time.thread_time()
                    try:
                        row = next(rows)
                    except StopIteration:
                        return
                    finally:
                        self.store_cpu += time.thread_time() - start
                    yield row
            return call

        for name in ("get_entity", "submit_transaction", "update_entity", "upsert_entity",
                     "create_entity", "delete_entity"):
            setattr(table, name, timed(getattr(table, name)))
        table.query_entities = timed_pages(table.query_entities)


def _requests(stack: Stack, n: int, prefix: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(kind, request) for each Entra request shape, n of each (fewer for the multi-row ones),
    in an order that leaves the tenant as it found it: every user created is deleted."""
    users = [client._user(i, prefix) for i in range(n * 3)]
    ids: list[str] = []
    for u in users[:n]:
        yield "match_user_miss", lambda u=u: stack.match(u)
    for u in users:
        yield "create_user", lambda u=u: ids.append(stack.call("POST", "Users", body=u)["id"])
    for u in users[:n]:
        yield "match_user_hit", lambda u=u: stack.match(u)
    for i in ids[:n]:
        yield "get_user", lambda i=i: stack.call("GET", "Users", i)
    for k, i in enumerate(ids[:n]):
        yield "patch_user", lambda i=i, k=k: stack.call("PATCH", "Users", i, body={
            "schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": 'emails[type eq "work"].value',
                 "value": f"new{k}@contoso.example"},
                {"op": "Replace", "path": "name.familyName", "value": f"C{k}"},
                {"op": "Add", "path": "nickName", "value": f"N{k}"}]})
    for k, i in enumerate(ids[:n]):
        yield "patch_user_flag", lambda i=i, k=k: stack.call("PATCH", "Users", i, body={
            "schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "value": {"displayName": f"R {k}", "name.givenName": f"G{k}",
                                            f"{ENTERPRISE}:department": "Sales"}}]})
    for i in ids[n : 2 * n]:
        yield "deactivate_user", lambda i=i: stack.call("PATCH", "Users", i, body={
            "schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"}]})
    for c in range(0, 50 * max(n // 10, 1), 50):
        yield "member_add_50", lambda c=c: stack.call(
            "PATCH", "Groups", stack.group, body=client._members_patch(ids[c : c + 50]))
    for _ in range(max(n // 10, 1)):
        yield "list_cursor_page", lambda: stack.call("GET", "Users",
                                                     params={"count": "100", "cursor": ""})
    for i in ids:
        yield "delete_user", lambda i=i: stack.call("DELETE", "Users", i)


def _sized_stacks(sizes: str) -> dict[str, Stack]:
    """Today's code twice (a second copy of `shared`, so each has its own settings and
    service), for tenants of the two sizes in tables of their own: the larger first."""
    small, big = sorted(int(n) for n in sizes.split(","))
    copy = Path(tempfile.mkdtemp(prefix="op-profile-")) / "shared_sized"
    shutil.copytree(ROOT / "shared", copy, ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(copy.parent))
    stacks: dict[str, Stack] = {}
    for size, package in ((big, "shared"), (small, "shared_sized")):
        os.environ["SCIM_TABLE_PREFIX"] = f"prof{size}"
        stacks[f"{size:,} users"] = stack = Stack(package)
        _fill(stack, size)
    return stacks


def _fill(stack: Stack, users: int) -> None:
    """Create `users` users through the handlers, 8 at a time, showing progress."""
    started, step = time.monotonic(), max(users // 10, 1)

    def create(n: int) -> None:
        stack.call("POST", "Users", body=client._user(n, "fill"))

    with ThreadPoolExecutor(8) as pool:
        for done, _ in enumerate(pool.map(create, range(users)), 1):
            if done % step == 0:
                print(f"  filled {done:,} of {users:,} users "
                      f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200,
                        help="requests per operation kind and round")
    parser.add_argument("--rounds", type=int, default=0,
                        help="rounds (default 1, or 3 with --base)")
    pair = parser.add_mutually_exclusive_group()
    pair.add_argument("--base", default="",
                      help="git revision whose `shared` package runs in the same process, "
                           "the two taking turns request by request: an A/B of a change")
    pair.add_argument("--sizes", default="",
                      help="SMALL,BIG: two tenants of that many users (today's code, tables "
                           "of their own), taking turns request by request")
    parser.add_argument("--emulator", choices=["stock", "indexed"], default="stock",
                        help="indexed: Azurite serving range reads from an index "
                             "(docs/performance.md)")
    parser.add_argument("--profile", default="", help="operation kind to run under cProfile")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.base or args.sizes else 1)

    with azurite.running(indexed=args.emulator == "indexed") as conn:
        os.environ.update({"SCIM_STORAGE_CONNECTION_STRING": conn,
                           "SCIM_PUBLIC_BASE_URL": "http://127.0.0.1:7071",
                           "SCIM_TABLE_PREFIX": "prof"})
        stacks = (_sized_stacks(args.sizes) if args.sizes
                  else revision.variants("shared", args.base, Stack))
        first = next(iter(stacks))  # "now", or the larger tenant
        timings: dict[tuple[str, str], list[float]] = {}
        store: dict[tuple[str, str], list[float]] = {}
        walls: dict[tuple[str, str], list[float]] = {}
        profiler = cProfile.Profile(time.thread_time)  # CPU, not time waiting for storage
        for round_number in range(rounds):
            order = list(stacks.items())
            if round_number % 2:
                order.reverse()  # neither goes first every time
            # Request by request, the stacks take turns: both meet the same Azurite (its table
            # grows) and the same machine load, which drift far more than a change moves.
            streams = [_requests(stack, args.reps, f"p{round_number}") for _, stack in order]
            for turn in zip(*streams, strict=True):
                for (name, stack), (kind, request) in zip(order, turn, strict=True):
                    profiled = kind == args.profile and name == first
                    if profiled:
                        profiler.enable()
                    stack.store_cpu = 0.0
                    start, wall = time.thread_time(), time.perf_counter()
                    request()
                    timings.setdefault((name, kind), []).append(
                        (time.thread_time() - start) * 1000)
                    walls.setdefault((name, kind), []).append(
                        (time.perf_counter() - wall) * 1000)
                    store.setdefault((name, kind), []).append(stack.store_cpu * 1000)
                    if profiled:
                        profiler.disable()
        for stack in stacks.values():  # the audit writer's last batch, before Azurite stops
            stack.service.audit.flush()

    kinds = list(dict.fromkeys(kind for _, kind in timings))
    if len(stacks) == 1:
        print(f"{'operation':<20} {'n':>5} {'CPU p50 ms':>11} {'mean':>8} {'in store p50':>13}")
        for kind in kinds:
            values, in_store = timings[(first, kind)], store[(first, kind)]
            print(f"{kind:<20} {len(values):>5} {statistics.median(values):>11.3f} "
                  f"{statistics.fmean(values):>8.3f} {statistics.median(in_store):>13.3f}")
    else:
        other = next(name for name in stacks if name != first)
        print(f"p50 ms per request, {rounds} rounds in one process, the two taking turns: "
              f"CPU (in store: the storage client's share of it) and wall time (request to "
              f"response, one at a time: Azurite's time included)")
        print(f"{'operation':<20} {'n':>5} {'CPU ' + first:>18} {other:>14} {'ratio':>6} "
              f"{'in store':>9} {'in store':>9} {'wall ' + first:>18} {other:>14} {'ratio':>6}")
        for kind in kinds:
            a, b = timings[(first, kind)], timings[(other, kind)]
            wa, wb = walls[(first, kind)], walls[(other, kind)]
            print(f"{kind:<20} {len(a):>5} {statistics.median(a):>18.3f} "
                  f"{statistics.median(b):>14.3f} "
                  f"{statistics.median(a) / statistics.median(b):>6.2f} "
                  f"{statistics.median(store[(first, kind)]):>9.3f} "
                  f"{statistics.median(store[(other, kind)]):>9.3f} "
                  f"{statistics.median(wa):>18.3f} {statistics.median(wb):>14.3f} "
                  f"{statistics.median(wa) / statistics.median(wb):>6.2f}")
        print(f"ratio: {first} / {other}")
    if args.profile:
        stats = pstats.Stats(profiler)
        by_area: dict[str, float] = {}
        for (path, _line, func_name), row in stats.stats.items():  # type: ignore[attr-defined]
            area = _area(path, func_name)
            by_area[area] = by_area.get(area, 0.0) + row[2]
        total = sum(by_area.values()) or 1.0
        print(f"\nself CPU of {args.profile} by area (profiled, so inflated; shares count):")
        for area, spent in sorted(by_area.items(), key=lambda kv: -kv[1]):
            print(f"  {area:<28} {100 * spent / total:5.1f} %")
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


def _area(path: str, func_name: str) -> str:
    if "/shared/" in path:
        return "shared/" + path.split("/shared/", 1)[1].split("/", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if path == "~":
        return "builtin " + func_name.split(" of ")[0].strip("<>{}")[:40]
    return "stdlib " + Path(path).stem


if __name__ == "__main__":
    raise SystemExit(main())
