"""Per-request overhead of the dev host: the previous one (shared/adapter/devhost.py at a git
revision, loaded from git into a temporary directory) and devhost/, side by side in one run.

    .venv/bin/python benchmarks/devhost_overhead.py                 # against 828b577
    .venv/bin/python benchmarks/devhost_overhead.py --base <rev> --requests 3000 --rounds 12

Both hosts serve the same trivial FunctionApp (GET /health answering a small JSON document) in
this process, on loopback, with the access log written to a file. A client in a separate
process sends keep-alive requests on one connection per host, `--requests` per host and round,
alternating which host goes first; the first round is a warm-up and is not counted. Printed per
host: client-side latency per request (median and 95th percentile) and this process's CPU per
request (the servers' work only: the client runs elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"
NO_PREFIX = {"extensions": {"http": {"routePrefix": ""}}}


def load_old_host(revision: str, into: Path) -> ModuleType:
    """shared/adapter/devhost.py as it was at `revision`, imported from a file in `into`."""
    source = subprocess.run(["git", "show", f"{revision}:shared/adapter/devhost.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    # It imported its sanitiser relatively (from ..sanitize); outside shared/adapter that is
    # the same module by its absolute name.
    source = source.replace("from ..sanitize import clean", "from shared.sanitize import clean")
    path = into / "old_devhost.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_devhost", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_devhost"] = module
    spec.loader.exec_module(module)
    return module


def trivial_app() -> Any:
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="health", methods=["GET"])
    def health(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse('{"status": "ok"}', mimetype="application/json")

    return app


# -- the client (a separate process) ----------------------------------------------------------

def _read_response(sock: socket.socket, buffer: bytearray) -> None:
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += sock.recv(65536)
    head = bytes(buffer[:end]).lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    total = end + 4 + length
    while len(buffer) < total:
        buffer += sock.recv(65536)
    if not head.startswith(b"http/1.1 200 "):
        raise RuntimeError(f"unexpected answer: {bytes(buffer[:80])!r}")
    del buffer[:total]


def client(conn: Connection) -> None:
    sockets: dict[int, socket.socket] = {}
    while (job := conn.recv()) is not None:
        port, count = job
        sock = sockets.get(port)
        if sock is None:
            sock = sockets[port] = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        latencies = []
        for _ in range(count):
            started = time.perf_counter_ns()
            sock.sendall(REQUEST)
            _read_response(sock, buffer)
            latencies.append(time.perf_counter_ns() - started)
        conn.send(latencies)
    for sock in sockets.values():
        sock.close()


# -- the run ----------------------------------------------------------------------------------

def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base", default="828b577", help="revision of the previous host")
    parser.add_argument("--requests", type=int, default=2000, help="per host and round")
    parser.add_argument("--rounds", type=int, default=10, help="counted rounds (plus a warm-up)")
    args = parser.parse_args(argv)

    import devhost

    with tempfile.TemporaryDirectory() as tmp:
        logging.basicConfig(filename=Path(tmp) / "access.log", level=logging.INFO, force=True)
        old = load_old_host(args.base, Path(tmp))
        hosts: dict[str, Any] = {f"old ({args.base})": old.running,
                                 "new (devhost/)": devhost.running}
        latencies: dict[str, list[int]] = {name: [] for name in hosts}
        cpu_ns: dict[str, int] = dict.fromkeys(hosts, 0)
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(target=client, args=(child,))
        process.start()
        try:
            with contextlib.ExitStack() as stack:
                ports = {name: int(stack.enter_context(running(
                    trivial_app(), host_json=NO_PREFIX, start_timers=False)).rsplit(":", 1)[1])
                    for name, running in hosts.items()}  # fmt: skip
                for round_ in range(args.rounds + 1):
                    order = list(hosts) if round_ % 2 else list(reversed(hosts))
                    for name in order:
                        cpu = time.process_time_ns()
                        parent.send((ports[name], args.requests))
                        got = parent.recv()
                        if round_:  # round 0 warms up both
                            cpu_ns[name] += time.process_time_ns() - cpu
                            latencies[name].extend(got)
        finally:
            parent.send(None)
            process.join(10)

    counted = args.requests * args.rounds
    print(f"dev host per-request overhead: GET /health on one keep-alive connection, "
          f"{args.rounds} rounds x {args.requests} requests per host (alternating, after a "
          "warm-up round)")
    print(f"{'host':<18} {'median us':>10} {'p95 us':>10} {'server CPU us':>14}")
    for name in hosts:
        values = latencies[name]
        print(f"{name:<18} {statistics.median(values) / 1000:>10.1f} "
              f"{_percentile(values, 0.95):>10.1f} {cpu_ns[name] / counted / 1000:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
