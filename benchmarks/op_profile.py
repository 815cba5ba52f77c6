"""CPU per SCIM operation in one process, without HTTP: each Entra request shape is sent
through the Functions handlers (`azure.functions.HttpRequest` in, `HttpResponse` out) against
Azurite, timed by thread CPU, and optionally profiled with cProfile. The quick loop for
working on the "app CPU per operation" target of `make bench` (which measures the same
handler work behind the dev host's HTTP server).

    .venv/bin/python benchmarks/op_profile.py [--reps 200] [--profile patch_user] [--top 40]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools"), str(ROOT / "benchmarks")]

import azurite  # noqa: E402
import client  # noqa: E402

PATCH_OP = client.PATCH_OP
ENTERPRISE = client.ENTERPRISE


_store_cpu = [0.0]


def _clock_store() -> None:
    """Add the thread CPU spent inside the storage client's calls to `_store_cpu`: only the
    calls of the main thread, which runs the requests (the audit writer has its own)."""
    from shared.store.table import Table

    main = threading.main_thread()

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not main:
                return fn(*args, **kwargs)
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                _store_cpu[0] += time.thread_time() - start
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
                    _store_cpu[0] += time.thread_time() - start
                yield row
        return call

    for name in ("get_entity", "submit_transaction", "update_entity", "upsert_entity",
                 "create_entity", "delete_entity"):
        setattr(Table, name, timed(getattr(Table, name)))
    Table.query_entities = timed_pages(Table.query_entities)  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200, help="requests per operation kind")
    parser.add_argument("--profile", default="", help="operation kind to run under cProfile")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    with azurite.running() as conn:
        os.environ.update({"SCIM_STORAGE_CONNECTION_STRING": conn,
                           "SCIM_PUBLIC_BASE_URL": "http://127.0.0.1:7071",
                           "SCIM_TABLE_PREFIX": "prof"})
        import azure.functions as func

        from shared import settings
        from shared.adapter import runtime
        from shared.adapter.blueprints import scim
        from shared.auth.tenants import Tenant, issue_token, new_tenant_id, now_iso

        settings.current.cache_clear()
        runtime.reset()
        _clock_store()
        service = runtime.service()
        tenant = Tenant(id=new_tenant_id(), name="prof", created=now_iso())
        token = issue_token(tenant)
        service.tenants.create(tenant)
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        handlers: dict[tuple[str, bool], Callable[[Any], Any]] = {
            ("Users", False): scim.users, ("Users", True): scim.user,
            ("Groups", False): scim.groups, ("Groups", True): scim.group,
        }

        def call(method: str, resource: str, rid: str | None = None,
                 body: Any = None, params: dict[str, str] | None = None) -> Any:
            route = {"tenant": tenant.id, **({"id": rid} if rid else {})}
            url = f"http://127.0.0.1:7071/scim/v2/{tenant.id}/{resource}"
            req = func.HttpRequest(method=method, url=url + (f"/{rid}" if rid else ""),
                                   headers=auth, params=params or {}, route_params=route,
                                   body=json.dumps(body).encode() if body is not None else b"")
            resp = handlers[(resource, rid is not None)](req)
            if resp.status_code >= 300:
                raise SystemExit(f"{method} {resource} {rid}: {resp.status_code} "
                                 f"{resp.get_body()[:300]!r}")
            return json.loads(resp.get_body()) if resp.get_body() else None

        def match(user: dict[str, Any]) -> Any:  # Entra's lookup before every change
            return call("GET", "Users", params={"filter": f'userName eq "{user["userName"]}"'})

        n = args.reps
        users = [client._user(i, "p") for i in range(n * 3)]
        ids: list[str] = []
        timings: dict[str, list[float]] = {}
        store: dict[str, list[float]] = {}
        profiler = cProfile.Profile(time.thread_time)  # CPU, not time waiting for storage

        def run(kind: str, fns: list[Callable[[], Any]]) -> None:
            out, in_store = timings.setdefault(kind, []), store.setdefault(kind, [])
            for fn in fns:
                if kind == args.profile:
                    profiler.enable()
                _store_cpu[0] = 0.0
                start = time.thread_time()
                fn()
                out.append((time.thread_time() - start) * 1000)
                in_store.append(_store_cpu[0] * 1000)
                if kind == args.profile:
                    profiler.disable()

        run("match_user_miss", [(lambda u=u: match(u)) for u in users[:n]])
        run("create_user", [(lambda u=u: ids.append(call("POST", "Users", body=u)["id"]))
                            for u in users])
        gid = call("POST", "Groups", body={"schemas": [client.GROUP_URN],
                                           "displayName": "prof group"})["id"]
        later = {
            "match_user_hit": [(lambda u=u: match(u)) for u in users[:n]],
            "get_user": [(lambda i=i: call("GET", "Users", i)) for i in ids[:n]],
            "patch_user": [
                (lambda i=i, k=k: call("PATCH", "Users", i, body={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "Replace", "path": 'emails[type eq "work"].value',
                         "value": f"new{k}@contoso.example"},
                        {"op": "Replace", "path": "name.familyName", "value": f"C{k}"},
                        {"op": "Add", "path": "nickName", "value": f"N{k}"}]}))
                for k, i in enumerate(ids[:n])],
            "patch_user_flag": [
                (lambda i=i, k=k: call("PATCH", "Users", i, body={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "value": {"displayName": f"R {k}",
                                                    "name.givenName": f"G{k}",
                                                    f"{ENTERPRISE}:department": "Sales"}}]}))
                for k, i in enumerate(ids[:n])],
            "deactivate_user": [
                (lambda i=i: call("PATCH", "Users", i, body={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "Replace", "path": "active", "value": "False"}]}))
                for i in ids[n : 2 * n]],
            "member_add_50": [
                (lambda c=c: call("PATCH", "Groups", gid,
                                  body=client._members_patch(ids[c : c + 50])))
                for c in range(0, min(len(ids), 50 * (n // 10 or 1)), 50)],
            "list_cursor_page": [
                (lambda: call("GET", "Users", params={"count": "100", "cursor": ""}))
                for _ in range(max(n // 10, 1))],
            "delete_user": [(lambda i=i: call("DELETE", "Users", i)) for i in ids[2 * n :]],
        }
        for kind, fns in later.items():
            run(kind, fns)

    print(f"{'operation':<20} {'n':>5} {'CPU p50 ms':>11} {'mean':>8} {'in store p50':>13}")
    for kind, values in timings.items():
        print(f"{kind:<20} {len(values):>5} {statistics.median(values):>11.3f} "
              f"{statistics.fmean(values):>8.3f} {statistics.median(store[kind]):>13.3f}")
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
