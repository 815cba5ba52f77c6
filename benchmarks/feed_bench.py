"""Change delivery and the reconciler at scale: commit -> webhook-received latency
under an Entra initial cycle, with and without one tenant's endpoint dead, delivery throughput
against the write rate, and the repair of a large tenant by the app's own work-queue items.

    .venv/bin/python benchmarks/feed_bench.py            # the target sizes (hours here:
                                                         # docs/performance.md)
    .venv/bin/python benchmarks/feed_bench.py --quick    # all three phases, small (~3 min;
                                                         # work items of 15 s, not 120)
    .venv/bin/python benchmarks/feed_bench.py --phases A,B --users 2000

One run, as `make run` serves the app: Azurite in memory (Table with the range-index preload
as entra_bench uses, Blob and Queue), the app on the dev host as a child process with the
environment tools/run_local.py builds (queue mode: SCIM_QUEUE_STORAGE, the deliver and work
queue triggers, the reconciler's timer every 15 minutes; nothing here runs the reconciler).
20 tenants, each with a webhook on a loopback receiver in this process that records every
event's `webhook-id`, its CloudEvents `time` and when it arrived.

"Commit" is the event's `time` attribute: the timestamp the request takes (`now_iso()`, ms)
just before the entity-group transaction that writes the change and its outbox row, so the
latency covers the transaction, the commit's signal, the deliver queue's polling, the pass and
the POST. Both ends read this machine's clock.

Phase A: tenant 1 runs an Entra initial cycle (benchmarks/client.py: match + POST per user,
groups created empty and filled by member PATCHes) while tenants 2-20 take a few PATCHes a
second in total. Phase B: the same with tenant 20's endpoint dead (it accepts connections and
never answers). Phase C: a tenant of --repair-users users and --repair-memberships memberships
(M and R rows, with damage; benchmarks/repair_scale.py seeds it by entity-group transactions)
is repaired by the app's work queue: one `tenant` work item as the timer's `schedule` sends it,
then the `repair` continuations the app sends itself, each within SCIM_WORK_BUDGET_SECONDS;
meanwhile tenant 1 takes paced Entra-shaped PATCHes and tenants 2-19 the light load. The dev
host's peak RSS is reset (/proc/PID/clear_refs) when phase C starts and read from VmHWM, and
sampled from VmRSS every half second.

Writes benchmarks/results/feed-<UTC>.json, the dev host's log as feed-app-<UTC>.log, and prints
per-phase tables and the targets with PASS/FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools"), str(ROOT / "benchmarks")]

import client  # noqa: E402  (benchmarks/client.py)

RESULTS = ROOT / "benchmarks" / "results"
TENANTS = 20
PATCH_OP = client.PATCH_OP
STOP: Any = None  # a multiprocessing Event shared with the load processes (spawned)
# The targets (docs/performance.md, "Change delivery and the reconciler at scale"): s, MB.
P50_TARGET_S, P99_TARGET_S, DEAD_DELTA_TARGET_S, RSS_TARGET_MB = 1.0, 5.0, 1.0, 150.0


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# -- receivers ---------------------------------------------------------------------------

@dataclass
class Arrival:
    tenant: int  # 1..20
    webhook_id: str
    committed: float  # the event's `time`, epoch seconds
    received: float


@dataclass
class Receivers:
    """One loopback webhook receiver per tenant; every accepted event, deduplicated by
    webhook-id (a redelivery is counted, not recorded twice)."""

    arrivals: list[Arrival] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def start(self, tenant: int) -> str:
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received = time.time()
                hook_id = self.headers.get("webhook-id", "")
                committed = datetime.fromisoformat(json.loads(body)["time"]).timestamp()
                with receivers.lock:
                    if hook_id in receivers.seen:
                        receivers.duplicates += 1
                    else:
                        receivers.seen.add(hook_id)
                        receivers.arrivals.append(Arrival(tenant, hook_id, committed, received))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/hooks/scim"

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


@contextlib.contextmanager
def dead_endpoint() -> Iterator[str]:
    """Accepts connections (the kernel completes them into the backlog), never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/scim"


# -- load processes ------------------------------------------------------------------------

def _init_load(counter: Any, stop: Any) -> None:
    global STOP
    client.COUNTER = counter
    STOP = stop


def paced_patches(targets: list[tuple[str, str, list[str]]], rate: float,
                  kind: str) -> dict[str, Any]:
    """PATCHes of users' displayName at `rate` per second in total, round robin over the
    tenants and their users, until STOP is set. Sequential: a slow answer delays the next
    (the achieved rate is reported, not assumed)."""
    sessions = [httpx.Client(base_url=base, timeout=60,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/scim+json"})
                for base, token, _ in targets]
    sent = errors = 0
    latencies: list[float] = []
    started = time.monotonic()
    n = 0
    while not STOP.is_set():
        due = started + n / rate
        wait = due - time.monotonic()
        if wait > 0 and STOP.wait(wait):
            break
        t = n % len(targets)
        users = targets[t][2]
        uid = users[(n // len(targets)) % len(users)]
        body = {"schemas": [PATCH_OP], "Operations": [
            # A value never sent before: a PATCH that changes nothing commits no event.
            {"op": "replace", "value": {"displayName": f"{kind} {time.time_ns()}"}}]}
        t0 = time.perf_counter()
        try:
            r = sessions[t].patch(f"/Users/{uid}", json=body, headers={"X-Bench-Op": kind})
            if r.status_code != 200:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        latencies.append((time.perf_counter() - t0) * 1000)
        sent += 1
        n += 1
    for s in sessions:
        s.close()
    wall = time.monotonic() - started
    return {"sent": sent, "errors": errors, "wall_s": round(wall, 1),
            "rate": round(sent / wall, 2) if wall else None,
            "p50_ms": round(pct(latencies, 0.5), 1), "p99_ms": round(pct(latencies, 0.99), 1)}


def entra_cycle(base: str, token: str, concurrency: int, prefix: str, first: int, last: int,
                groups: int, members: int, batch: int) -> dict[str, Any]:
    """Entra's initial cycle: users, then groups created empty and filled by member PATCHes."""
    import random

    users = client.initial_users(base, token, concurrency, prefix, first, last)
    ids = [i for i in users.data["ids"] if i]
    rng = random.Random(first)
    names = [f"Group {prefix} #{g}" for g in range(groups)]
    picks = [rng.sample(ids, min(members, len(ids))) for _ in names]
    grouped = client.initial_groups(base, token, concurrency, prefix, names, picks, batch)
    ops = users.ops() + grouped.ops()
    wall = users.wall_s + grouped.wall_s
    errors = sum(len(v) for v in users.errors.values()) + sum(
        len(v) for v in grouped.errors.values())
    return {"user_ids": ids, "requests": ops, "wall_s": round(wall, 1),
            "req_per_s": round(ops / wall, 1) if wall else None, "errors": errors,
            "users_created": len(ids), "groups_created": len(grouped.data["ids"]),
            "member_patches": len(grouped.latencies.get(f"member_add_{batch}", []))}


# -- measuring -------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def latency_stats(arrivals: list[Arrival]) -> dict[str, Any]:
    lat = [a.received - a.committed for a in arrivals]
    return {"events": len(lat), **{f"{name}_s": round(pct(lat, q), 3) for name, q in
                                   (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))}}


def _proc_status_mb(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Every `every` seconds: pending outbox events (E: rows) per tenant, the dev host's RSS."""

    def __init__(self, outbox: Any, tenant_ids: list[str], host_pid: int,
                 every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.outbox, self.tenant_ids, self.host_pid, self.every = (outbox, tenant_ids,
                                                                    host_pid, every)
        self.backlog: list[tuple[float, list[int]]] = []
        self.rss: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        next_backlog = 0.0
        while not self.stop.wait(0.5):
            now = time.time()
            rss = _proc_status_mb(self.host_pid, "VmRSS")
            if rss is not None:
                with self.lock:
                    self.rss.append((now, rss))
            if now >= next_backlog:
                counts = []
                for tid in self.tenant_ids:
                    try:
                        counts.append(self.outbox.count(tid))
                    except Exception:  # a sample lost to a storage hiccup: -1, left out later
                        counts.append(-1)
                with self.lock:
                    self.backlog.append((now, counts))
                next_backlog = now + self.every

    def latest(self) -> list[int]:
        with self.lock:
            return list(self.backlog[-1][1]) if self.backlog else []

    def window(self, start: float, end: float) -> tuple[list[tuple[float, list[int]]],
                                                        list[tuple[float, float]]]:
        with self.lock:
            return ([b for b in self.backlog if start <= b[0] <= end],
                    [r for r in self.rss if start <= r[0] <= end])


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (per second)."""
    if len(points) < 2:
        return 0.0
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else 0.0


def throughput(arrivals: list[Arrival], start: float, end: float,
               window: float = 10.0) -> list[dict[str, Any]]:
    """Per window from `start`: events committed (by `time`) and delivered (by arrival)."""
    rows = []
    t = start
    while t < end:
        written = sum(1 for a in arrivals if t <= a.committed < t + window)
        delivered = sum(1 for a in arrivals if t <= a.received < t + window)
        rows.append({"from_s": round(t - start), "written_per_s": round(written / window, 1),
                     "delivered_per_s": round(delivered / window, 1)})
        t += window
    return rows


# -- the app -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served_app(env: dict[str, str], port: int, log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The dev host serving function_app:app in a child process, as `make run` does without
    Core Tools (timers and queue triggers on)."""
    with open(log_file, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "devhost", "function_app:app",
                                 "--port", str(port)], cwd=ROOT,
                                env={**env, "PYTHONUNBUFFERED": "1"}, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"the dev host did not start; see {log_file}") from None
                    time.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- the run -----------------------------------------------------------------------------

@dataclass
class Bench:
    args: argparse.Namespace
    service: Any
    receivers: Receivers
    sampler: Sampler
    pool: ProcessPoolExecutor
    stop: Any
    counter: Any
    tenants: list[tuple[str, str]]  # (id, token) of tenants 1..20, index 0 = tenant 1
    urls: list[str]  # their receivers
    base: str
    users: dict[int, list[str]] = field(default_factory=dict)
    next_user: int = 0

    def tenant_base(self, n: int) -> str:
        return f"{self.base}/scim/v2/{self.tenants[n - 1][0]}"

    def light_targets(self, numbers: list[int]) -> list[tuple[str, str, list[str]]]:
        return [(self.tenant_base(n), self.tenants[n - 1][1], self.users[n]) for n in numbers]

    def pending(self, numbers: list[int]) -> int:
        latest = self.sampler.latest()
        return sum(max(0, latest[n - 1]) for n in numbers) if latest else -1

    def drain(self, numbers: list[int], timeout: float) -> float:
        """Wait until the tenants' outboxes are empty (read now, not from the sampler)."""
        from shared.store.outbox import Outbox

        outbox = Outbox(self.service.directory)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            left = sum(outbox.count(self.tenants[n - 1][0]) for n in numbers)
            if left == 0:
                # A row goes after its POST was answered, so nothing is in flight; a second's
                # margin all the same (the drain times reported include it).
                time.sleep(1.0)
                return time.monotonic() - started
            log(f"    draining: {left} events pending, {self.receivers.count()} received")
            time.sleep(2.0)
        return float("nan")

    def progress(self, label: str, started: float, future: Any, numbers: list[int]) -> None:
        shown = 0.0
        sent0 = self.counter.value
        while not future.done():
            time.sleep(0.5)
            if time.monotonic() - shown >= self.args.progress_every:
                shown = time.monotonic()
                log(f"    {label}: {time.monotonic() - started:.0f} s, "
                    f"{self.counter.value - sent0} requests, {self.receivers.count()} events "
                    f"received, pending now: {self.pending(numbers)}")


def setup_tenants(service: Any, receivers: Receivers) -> tuple[list[tuple[str, str]], list[str]]:
    from shared.auth.tenants import issue_token, new_tenant_id
    from shared.feed import signing
    from shared.store.tenants import Tenant
    from shared.timestamps import now_iso

    tenants, urls = [], []
    for n in range(1, TENANTS + 1):
        url = receivers.start(n)
        record = Tenant(id=new_tenant_id(), name=f"feed-bench-{n}", created=now_iso(),
                        webhook_url=url, webhook_secret=signing.new_secret())
        token = issue_token(record)
        service.tenants.create(record)
        tenants.append((record.id, token))
        urls.append(url)
    return tenants, urls


def set_webhook(service: Any, tenant: str, url: str) -> None:
    record = service.tenants.get(tenant)
    record.webhook_url = url
    service.tenants.save(record)


def create_light_users(bench: Bench, per_tenant: int) -> None:
    for n in range(1, TENANTS + 1):
        token = bench.tenants[n - 1][1]
        with httpx.Client(base_url=bench.tenant_base(n), timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            ids = []
            for k in range(per_tenant):
                r = http.post("/Users", json={"schemas": [client.USER_URN],
                                              "userName": f"light{k}@t{n}.example"})
                r.raise_for_status()
                ids.append(str(r.json()["id"]))
        bench.users[n] = ids


def phase_load(bench: Bench, name: str, *, dead: bool) -> dict[str, Any]:
    """Phase A (dead=False) or B: tenant 1's Entra initial cycle, light PATCHes elsewhere."""
    args = bench.args
    healthy = list(range(1, TENANTS)) if dead else list(range(1, TENANTS + 1))
    log(f"phase {name}: tenant 1 Entra initial cycle ({args.users} users, {args.groups} groups "
        f"x {args.members} members), tenants 2-20 {args.light_rate} PATCH/s in total"
        + (", tenant 20's endpoint dead" if dead else ""))
    result: dict[str, Any] = {"dead_endpoint_tenant": 20 if dead else None}
    with contextlib.ExitStack() as stack:
        if dead:
            url = stack.enter_context(dead_endpoint())
            set_webhook(bench.service, bench.tenants[TENANTS - 1][0], url)
        bench.stop.clear()
        start = time.time()
        started = time.monotonic()
        light = bench.pool.submit(paced_patches, bench.light_targets(list(range(2, TENANTS + 1))),
                                  args.light_rate, "light")
        first = bench.next_user
        bench.next_user += args.users
        cycle = bench.pool.submit(entra_cycle, bench.tenant_base(1), bench.tenants[0][1],
                                  args.concurrency, name.lower(), first, first + args.users,
                                  args.groups, args.members, args.member_batch)
        bench.progress(f"phase {name}", started, cycle, healthy)
        entra = cycle.result()
        bench.stop.set()
        result["light_load"] = light.result()
        load_end = time.time()
        bench.users.setdefault(1, []).extend(entra.pop("user_ids"))
        result["entra_cycle"] = entra
        log(f"  load done in {load_end - start:.0f} s: {entra['requests']} Entra requests "
            f"({entra['req_per_s']}/s, {entra['errors']} errors), light "
            f"{result['light_load']['sent']} PATCHes; draining")
        drained = bench.drain(healthy, args.drain_timeout)
        end = time.time()
        if dead:
            result["dead_tenant_pending_at_end"] = bench.sampler.latest()[TENANTS - 1]
            set_webhook(bench.service, bench.tenants[TENANTS - 1][0], bench.urls[TENANTS - 1])
    result.update(summarise_phase(bench, start, load_end, end, healthy))
    result["drain_s"] = round(drained, 1)
    return result


def summarise_phase(bench: Bench, start: float, load_end: float, end: float,
                    healthy: list[int]) -> dict[str, Any]:
    """Latency of the events committed during the load, received by `end`; throughput and
    backlog of the healthy tenants."""
    arrivals = [a for a in bench.receivers.snapshot() if start <= a.committed <= load_end]
    ok = [a for a in arrivals if a.tenant in healthy]
    backlog, rss = bench.sampler.window(start, load_end)
    pending = [(t, float(sum(max(0, c[n - 1]) for n in healthy))) for t, c in backlog]
    windows = throughput(ok, start, load_end)
    written = sum(1 for a in ok if a.committed <= load_end)
    half = len(pending) // 2
    return {
        "load_s": round(load_end - start, 1),
        "latency_all": latency_stats(arrivals),
        "latency_healthy": latency_stats(ok),
        "latency_tenant1": latency_stats([a for a in ok if a.tenant == 1]),
        "latency_light_healthy": latency_stats([a for a in ok if a.tenant != 1]),
        # Tenants 1-19: phase B's healthy set, so that the dead endpoint's delta compares
        # the same tenants.
        "latency_1_to_19": latency_stats([a for a in ok if a.tenant < TENANTS]),
        "written_per_s": round(written / (load_end - start), 1),
        "delivered_per_s_during_load": round(
            sum(1 for a in ok if a.received <= load_end) / (load_end - start), 1),
        "windows": windows,
        "backlog_samples": [(round(t - start, 1), int(p)) for t, p in pending],
        "backlog_slope_per_s": round(slope(pending), 3),
        "backlog_max": int(max((p for _, p in pending), default=0)),
        "backlog_first_half_max": int(max((p for _, p in pending[:half]), default=0)),
        "backlog_second_half_max": int(max((p for _, p in pending[half:]), default=0)),
        "host_rss_max_mb": round(max((r for _, r in rss), default=0.0), 1),
        # Every 10 s: whether the host's memory holds a level or keeps growing.
        "host_rss_samples": [(round(t - start), round(r, 1)) for t, r in rss[::20]],
    }


def phase_repair(bench: Bench, env: dict[str, str], host_pid: int, log_file: Path
                 ) -> dict[str, Any]:
    """Phase C: seed a large tenant, then let the app's work queue repair it."""
    import repair_scale

    from shared.service.reconcile import work_item
    from shared.store import layout
    from shared.store.queues import open_queues
    from shared.store.tenants import Tenant
    from shared.timestamps import iso, now_iso

    args = bench.args
    service = bench.service
    big = repair_scale.TENANT
    log(f"phase C: seeding tenant {big}: {args.repair_users:,} users, "
        f"{args.repair_memberships:,} memberships (entity-group transactions)")
    seeded = time.monotonic()
    repair_scale.seed(service.tables.data, args.repair_users, args.repair_memberships)
    repair_scale.damage(service.tables.data, args.repair_users, args.repair_memberships)
    # Only now a tenant: a timer tick during the seeding would start its repair early.
    service.tenants.create(Tenant(id=big, name="feed-bench-repair", created=now_iso()))
    seed_s = time.monotonic() - seeded
    log(f"  seeded in {seed_s:.0f} s")
    others = list(range(1, TENANTS))  # tenant 20 had the dead endpoint: left out of C
    # The dev host's peak RSS from here on (Linux: writing 5 resets VmHWM to the current RSS).
    reset = True
    try:
        Path(f"/proc/{host_pid}/clear_refs").write_text("5")
    except OSError:
        reset = False
    rss_at_start = _proc_status_mb(host_pid, "VmRSS")
    log_offset = log_file.stat().st_size
    bench.stop.clear()
    start = time.time()
    started = time.monotonic()
    light = bench.pool.submit(paced_patches, bench.light_targets(list(range(2, TENANTS))),
                              args.light_rate, "light")
    entra = bench.pool.submit(paced_patches, bench.light_targets([1]), args.c_rate, "entra")
    open_queues(service.settings).work.send(work_item("tenant", iso(datetime.now(UTC)), big))
    mark = layout.repair_mark(big)
    done_at = None
    shown = 0.0
    while time.monotonic() - started < args.repair_timeout:
        time.sleep(1.0)
        if mark in service.runs.marks():
            done_at = time.time()
            break
        if time.monotonic() - shown >= args.progress_every:
            shown = time.monotonic()
            under_way = service.runs.repair_progress(big)
            where = ""
            if under_way is not None:
                p = under_way[0]
                where = f"found {p.found}, repaired {p.repaired}, at {p.after[:14]!r}"

            log(f"    repair: {time.monotonic() - started:.0f} s, {where}; host RSS "
                f"{_proc_status_mb(host_pid, 'VmRSS') or 0:.0f} MB (peak "
                f"{_proc_status_mb(host_pid, 'VmHWM') or 0:.0f}); {bench.receivers.count()} "
                f"events received, pending {bench.pending(others)}")
    bench.stop.set()
    load_end = time.time()
    result: dict[str, Any] = {"seed_s": round(seed_s, 1), "completed": done_at is not None,
                              "light_load": light.result(), "entra_paced": entra.result()}
    peak = _proc_status_mb(host_pid, "VmHWM")
    drained = bench.drain(others, args.drain_timeout)
    end = time.time()
    text = log_file.read_text(errors="replace")[log_offset:]
    invocations = [json.loads(m) for m in re.findall(r"reconcile tenant (\{.*\})", text)]
    mine = [i for i in invocations if i.get("tenant") == big]
    result.update({
        "repair_s": round((done_at or load_end) - start, 1),
        "invocations": len(mine),
        "invocation_durations_s": [i.get("duration_s") for i in mine],
        "repaired": sum(int(i.get("repaired", 0)) for i in mine),
        "unrepaired": sum(int(i.get("unrepaired", 0)) for i in mine),
        "work_items_other_tenants": len(invocations) - len(mine),
        "host_rss_at_start_mb": round(rss_at_start or 0.0, 1),
        "host_peak_rss_mb": round(peak or 0.0, 1) if reset else None,
        "work_budget_s": float(env.get("SCIM_WORK_BUDGET_SECONDS", "120")),
    })
    result.update(summarise_phase(bench, start, load_end, end, others))
    result["host_rss_sampled_max_mb"] = result.pop("host_rss_max_mb")
    result["drain_s"] = round(drained, 1)
    return result


def backlog_verdict(p: dict[str, Any]) -> dict[str, Any]:
    """"No backlog growth": over the second half of the load (the first half holds the ramp
    from an empty outbox to the working level) the pending count rises by less than a tenth of
    the write rate per second, and when the load ends it holds at most 5 s of writes (what the
    p99 target allows)."""
    samples = [(float(t), float(n)) for t, n in p["backlog_samples"]]
    late = samples[len(samples) // 2:]
    rate = max(1.0, float(p["written_per_s"]))
    late_slope = slope(late)
    at_end = samples[-1][1] if samples else 0.0
    return {"second_half_slope_per_s": round(late_slope, 3), "at_load_end": int(at_end),
            "at_load_end_s_of_writes": round(at_end / rate, 2),
            "ok": late_slope <= 0.1 * rate and at_end / rate <= P99_TARGET_S}


GROWTH_GOAL = "2nd-half slope <= 0.1 x written/s, <= 5 s of writes pending at the end"


def growth_text(p: dict[str, Any]) -> str:
    v = backlog_verdict(p)
    return (f"slope {v['second_half_slope_per_s']} ev/s vs {p['written_per_s']} written/s; "
            f"{v['at_load_end']} pending at the end ({v['at_load_end_s_of_writes']} s), max "
            f"{p['backlog_max']}")


def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    phases = result["phases"]
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, measured: str, ok: bool | None) -> None:
        rows.append({"target": name, "goal": target, "measured": measured,
                     "result": "n/a" if ok is None else ("PASS" if ok else "FAIL")})

    def no_growth(p: dict[str, Any]) -> bool:
        return bool(backlog_verdict(p)["ok"])

    a, b, c = phases.get("A"), phases.get("B"), phases.get("C")
    if a:
        la = a["latency_all"]
        add("A: commit -> received p50", f"<= {P50_TARGET_S} s", f"{la['p50_s']} s",
            la["p50_s"] <= P50_TARGET_S)
        add("A: commit -> received p99", f"<= {P99_TARGET_S} s", f"{la['p99_s']} s",
            la["p99_s"] <= P99_TARGET_S)
        add("A: no backlog growth", GROWTH_GOAL, growth_text(a), no_growth(a))
    if b:
        lb = b["latency_healthy"]
        add("B: healthy p50 / p99", f"<= {P50_TARGET_S} / {P99_TARGET_S} s",
            f"{lb['p50_s']} / {lb['p99_s']} s",
            lb["p50_s"] <= P50_TARGET_S and lb["p99_s"] <= P99_TARGET_S)
        if a:
            before = a.get("latency_1_to_19", a["latency_healthy"])
            delta = round(lb["p99_s"] - before["p99_s"], 3)
            add("B: dead endpoint adds to others' p99", f"<= {DEAD_DELTA_TARGET_S} s",
                f"{delta:+} s", delta <= DEAD_DELTA_TARGET_S)
        add("B: no backlog growth (healthy)", GROWTH_GOAL, growth_text(b), no_growth(b))
    if c:
        add("C: repair completes across invocations", "mark set",
            f"{c['invocations']} invocations, {c['repair_s']} s", c["completed"])
        peak = max(c["host_peak_rss_mb"] or 0.0, c["host_rss_sampled_max_mb"])
        add("C: peak RSS of the app", f"<= {RSS_TARGET_MB:.0f} MB", f"{peak} MB",
            peak <= RSS_TARGET_MB)
        lc = c["latency_healthy"]
        add("C: others' p50 / p99 during repair", f"<= {P50_TARGET_S} / {P99_TARGET_S} s",
            f"{lc['p50_s']} / {lc['p99_s']} s",
            lc["p50_s"] <= P50_TARGET_S and lc["p99_s"] <= P99_TARGET_S)
        add("C: no backlog growth (others)", GROWTH_GOAL, growth_text(c), no_growth(c))
    return rows


def print_tables(result: dict[str, Any]) -> None:
    print("\n## commit -> webhook received (s)")
    print("| phase | tenants | events | p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    for name, p in result["phases"].items():
        for label, key in (("all", "latency_all"), ("healthy", "latency_healthy"),
                           ("tenant 1 (Entra)", "latency_tenant1"),
                           ("light tenants", "latency_light_healthy")):
            s = p[key]
            print(f"| {name} | {label} | {s['events']} | {s['p50_s']} | {s['p95_s']} | "
                  f"{s['p99_s']} | {s['max_s']} |")
    print("\n## written vs delivered (healthy tenants, events/s per 10 s window)")
    for name, p in result["phases"].items():
        pairs = " ".join(f"{w['written_per_s']}/{w['delivered_per_s']}" for w in p["windows"])
        print(f"{name}: overall {p['written_per_s']} written/s, "
              f"{p['delivered_per_s_during_load']} delivered/s during the load; backlog max "
              f"{p['backlog_max']}, slope {p['backlog_slope_per_s']} ev/s; drained "
              f"{p['drain_s']} s after; windows (written/delivered): {pairs}")
    b = result["phases"].get("B")
    if b:
        print(f"\nB: the dead endpoint's tenant had {b['dead_tenant_pending_at_end']} events "
              "pending when the phase ended")
    c = result["phases"].get("C")
    if c:
        print(f"\n## repair: {c['invocations']} invocations ({c['invocation_durations_s']} s), "
              f"{c['repair_s']} s in all, repaired {c['repaired']}, peak RSS "
              f"{c['host_peak_rss_mb']} MB (sampled max {c['host_rss_sampled_max_mb']}, at start "
              f"{c['host_rss_at_start_mb']}); seeding {c['seed_s']} s")
    print("\n## targets")
    print("| target | goal | measured | result |")
    print("|---|---|---|---|")
    for row in result["checks"]:
        print(f"| {row['target']} | {row['goal']} | {row['measured']} | {row['result']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="A,B,C", help="which of A,B,C to run")
    parser.add_argument("--quick", action="store_true",
                        help="all phases at small scale (a few minutes): 500 users, 10 groups "
                        "x 20, repair of 2,000 users and 20,000 memberships")
    parser.add_argument("--users", type=int, default=5000, help="tenant 1's initial cycle")
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--members", type=int, default=100, help="members per group")
    parser.add_argument("--member-batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8, help="tenant 1's client threads")
    parser.add_argument("--light-rate", type=float, default=4.0,
                        help="PATCHes per second over the light tenants, in total")
    parser.add_argument("--light-users", type=int, default=5, help="users per light tenant")
    parser.add_argument("--c-rate", type=float, default=10.0,
                        help="tenant 1's paced PATCHes per second during phase C")
    parser.add_argument("--repair-users", type=int, default=100_000)
    parser.add_argument("--repair-memberships", type=int, default=1_000_000)
    parser.add_argument("--repair-timeout", type=float, default=5400.0)
    parser.add_argument("--work-budget", type=float, default=None,
                        help="SCIM_WORK_BUDGET_SECONDS for the app (default: `make run`'s, "
                        "120; --quick: 15, so that its small repair spans several work items)")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--progress-every", type=float, default=5.0)
    parser.add_argument("--report", type=Path,
                        help="print the tables of a saved result (checks recomputed) and exit")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        saved["checks"] = checks(saved)
        print_tables(saved)
        return 0
    if args.quick:
        args.users, args.groups, args.members = 500, 10, 20
        args.repair_users, args.repair_memberships = 2000, 20_000
        if args.work_budget is None:
            args.work_budget = 15.0
    phases = [p.strip().upper() for p in args.phases.split(",") if p.strip()]
    import azurite
    import run_local

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    app_log = RESULTS / f"feed-app-{stamp}.log"
    out = RESULTS / f"feed-{stamp}.json"
    result: dict[str, Any] = {
        "started": stamp, "config": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "phases": {},
    }
    # 2.4 million rows exceed node's default heap in the in-memory emulator.
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "")
                                  + " --max-old-space-size=12288").strip()
    ctx = multiprocessing.get_context("spawn")
    counter, stop = ctx.Value("q", 0), ctx.Event()
    with azurite.running(log=RESULTS / "azurite-feed.log", indexed=True,
                         services=azurite.SERVICES) as conn:
        queue_port = int(re.search(r"QueueEndpoint=http://127.0.0.1:(\d+)/", conn)[1])  # type: ignore[index]
        port = _free_port()
        # What `make run` gives the app, with this run's Azurite and port.
        env = run_local.app_environment(
            conn, app_port=port, host_storage=conn,
            queue_storage=azurite.queue_connection_string(queue_port),
            base={k: v for k, v in os.environ.items() if not k.startswith("SCIM_")},
            settings=json.loads((ROOT / "local.settings.example.json").read_text())["Values"])
        if args.work_budget is not None:
            env["SCIM_WORK_BUDGET_SECONDS"] = str(args.work_budget)
        result["app_settings"] = {k: v for k, v in env.items()
                                  if k.startswith(("SCIM_", "RECONCILE"))
                                  and "STORAGE" not in k and "CONNECTION" not in k}
        os.environ.update(env)
        from shared import settings as settings_module
        from shared.adapter import runtime
        from shared.store.queues import open_queues

        settings_module.current.cache_clear()
        runtime.reset()
        service = runtime.service()
        service.tables.ensure()
        open_queues(service.settings).ensure()
        receivers = Receivers()
        tenants, urls = setup_tenants(service, receivers)
        with served_app(env, port, app_log) as host, \
                ProcessPoolExecutor(2, mp_context=ctx, initializer=_init_load,
                                    initargs=(counter, stop)) as pool:
            from shared.store.outbox import Outbox

            sampler = Sampler(Outbox(service.directory), [t for t, _ in tenants], host.pid)
            sampler.start()
            bench = Bench(args, service, receivers, sampler, pool, stop, counter, tenants, urls,
                          f"http://127.0.0.1:{port}")
            log(f"app on {bench.base} (pid {host.pid}), {TENANTS} tenants; creating "
                f"{args.light_users} users per light tenant")
            create_light_users(bench, args.light_users)
            bench.drain(list(range(1, TENANTS + 1)), args.drain_timeout)
            try:
                for name in phases:
                    if name in ("A", "B"):
                        result["phases"][name] = phase_load(bench, name, dead=name == "B")
                    elif name == "C":
                        result["phases"][name] = phase_repair(bench, env, host.pid, app_log)
                    log(f"phase {name} done")
                    # Written after each phase: a later phase that fails keeps these figures.
                    out.write_text(json.dumps(result, indent=1))
            finally:
                stop.set()  # Ctrl-C: the load processes end, so the pool can shut down
            sampler.stop.set()
            result["duplicates_received"] = receivers.duplicates
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["checks"] = checks(result)
    result["finished"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.write_text(json.dumps(result, indent=1))
    print_tables(result)
    print(f"\nresult: {out.relative_to(ROOT)}; app log: {app_log.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
