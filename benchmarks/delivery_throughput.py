"""Webhook delivery throughput against a slow receiver, one request at a time vs several.

    .venv/bin/python benchmarks/delivery_throughput.py [--events 600] [--latency 0.05]
        [--concurrency 1,4,8] [--rounds 1]

Azurite in memory; a loopback receiver that answers every POST with 204 after `--latency`
seconds (a receiver across a network, or one that writes before answering). For each
SCIM_WEBHOOK_CONCURRENCY value in turn (`--rounds` times, taking turns so drift hits all
alike), the tenant's outbox is filled with `--events` user.created events of as many users
(the shape of an Entra initial cycle: one event per resource) written by entity-group
transactions straight into the store, then one delivery pass (`Deliverer.deliver`, as the
reconciler runs it) sends them all. Reports events/s per value and its ratio to the first,
and prints the receiver's count every few seconds while a pass runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.auth.tenants import new_tenant_id  # noqa: E402
from shared.feed import events, signing  # noqa: E402
from shared.feed.delivery import Deliverer, Sender  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402
from shared.store.directory import MAX_BATCH, Directory, Indexes  # noqa: E402
from shared.store.feed_log import FeedLog, Route  # noqa: E402
from shared.store.outbox import Outbox, insert_op  # noqa: E402
from shared.store.tenants import Tenant  # noqa: E402
from shared.timestamps import now_iso  # noqa: E402


class _Receiver:
    """Counts what it accepted and the most requests it handled at once."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.received = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()


def _serve(state: _Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver offers

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            time.sleep(state.latency)
            with state.lock:
                state.in_flight -= 1
                state.received += 1
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _fill(directory: Directory, tenant: str, count: int) -> None:
    """`count` user.created events of as many users, 100 per transaction."""
    ops = []
    for n in range(count):
        rid = f"{n:032x}"
        event = events.resource_event(
            events.event_type("com.example.bench", events.USER_CREATED), tenant=tenant,
            source="https://scim.example.com", resource_type="User", rid=rid,
            attributes=["userName"], now=now_iso(),
            resource={"id": rid, "userName": f"user{n}@contoso.example", "active": True})
        ops.append(insert_op(tenant, event.id, event.subject, event.type, event.body, now_iso()))
    for i in range(0, len(ops), MAX_BATCH):
        directory.submit(ops[i : i + MAX_BATCH], Indexes())
    # Delivery sends published events only; publishing is the pass's first step, not timed.
    FeedLog(directory).publish(tenant, lambda _type: Route(), now=datetime.now(UTC),
                               limit=count)


def _pass(deliverer: Deliverer, tenant: Tenant, receiver: _Receiver, events_: int) -> float:
    """One delivery pass; seconds it took. Prints progress while it runs."""
    done = threading.Event()
    start_count = receiver.received

    def progress() -> None:
        while not done.wait(2.0):
            print(f"    … {receiver.received - start_count}/{events_} delivered", flush=True)

    reporter = threading.Thread(target=progress, daemon=True)
    reporter.start()
    started = time.monotonic()
    stats = deliverer.deliver(tenant, time.monotonic() + 3600)
    elapsed = time.monotonic() - started
    done.set()
    reporter.join()
    if stats.delivered != events_ or stats.backlog:
        raise SystemExit(f"pass incomplete: {stats}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds the receiver takes to answer each POST")
    parser.add_argument("--concurrency", default="1,4,8",
                        help="comma-separated SCIM_WEBHOOK_CONCURRENCY values to compare")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    levels = [int(v) for v in args.concurrency.split(",")]
    receiver = _Receiver(args.latency)
    server = _serve(receiver)
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/scim"
    with azurite.running() as conn:
        settings = Settings(storage_connection_string=conn)
        tables = open_tables(settings)
        tables.ensure()
        directory = Directory(tables.data)
        tenant = Tenant(id=new_tenant_id(), name="bench", created=now_iso(),
                        webhook_url=url, webhook_secret=signing.new_secret())
        sender = Sender(settings.webhook_timeout_seconds)
        rates: dict[int, list[float]] = {n: [] for n in levels}
        try:
            for round_ in range(1, args.rounds + 1):
                for n in levels:
                    deliverer = Deliverer(Outbox(directory),
                                          settings.model_copy(update={"webhook_concurrency": n}),
                                          sender)
                    _fill(directory, tenant.id, args.events)
                    receiver.most_in_flight = 0
                    print(f"round {round_}, concurrency {n}: {args.events} events, receiver "
                          f"latency {args.latency * 1000:.0f} ms", flush=True)
                    elapsed = _pass(deliverer, tenant, receiver, args.events)
                    rates[n].append(args.events / elapsed)
                    print(f"    {elapsed:.1f} s, {args.events / elapsed:.1f} events/s, at most "
                          f"{receiver.most_in_flight} in flight", flush=True)
        finally:
            sender.close()
            server.shutdown()
    base = statistics.median(rates[levels[0]])
    print(f"\n{'concurrency':>11} {'events/s':>9} {'vs ' + str(levels[0]):>7} "
          f"{'ideal':>7}")
    for n in levels:
        rate = statistics.median(rates[n])
        # What n requests at a time allow when only the receiver's latency counted.
        ideal = f"{n / args.latency:>7.0f}" if args.latency > 0 else f"{'-':>7}"
        print(f"{n:>11} {rate:>9.1f} {rate / base:>6.2f}x {ideal}")


if __name__ == "__main__":
    main()
