"""Start the Azurite emulator (from node_modules) on loopback, for tests and `make run`.

Table only by default (what the app and the tests need); Blob and Queue on request, for the
Functions host (`func start`), whose timer keeps its schedule and locks in Blob storage. The
Queue service alone (`running_queue`) is a process of its own, so tests of queue triggers leave
the session's Table service (and its range-index preload) alone.
Plain HTTP with the development account's Shared Key by default; with a certificate, HTTPS
and `--oauth basic`, so the bearer-token path the app takes in Azure runs locally (Azurite then
accepts an Entra ID token as well as the Shared Key; docs/testing.md says what it checks).
Used as a library by tests/conftest.py and the local run script, and as a command:
    python tools/azurite.py [--port 10002] [--all] [--oauth]     # runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import local_tls

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite-table"
# One process serving Blob, Queue and Table (the npm package's `azurite` command).
AZURITE_ALL_BIN = ROOT / "node_modules" / ".bin" / "azurite"
QUEUE_BIN = ROOT / "node_modules" / ".bin" / "azurite-queue"
SERVICES = ("table", "blob", "queue")
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def connection_string(
    port: int, host: str = "127.0.0.1", *, blob_port: int | None = None,
    queue_port: int | None = None, scheme: str = "http",
) -> str:
    """Connection string for Azurite's well-known account; `port` is the Table port, and Blob and
    Queue endpoints are included when their ports are given."""
    endpoints = f"TableEndpoint={table_endpoint(port, host, scheme=scheme)};"
    if blob_port is not None:
        endpoints += f"BlobEndpoint={scheme}://{host}:{blob_port}/{ACCOUNT};"
    if queue_port is not None:
        endpoints += f"QueueEndpoint={scheme}://{host}:{queue_port}/{ACCOUNT};"
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        + endpoints
    )


def queue_connection_string(port: int, host: str = "127.0.0.1", *, scheme: str = "http") -> str:
    """Connection string naming only the Queue endpoint of the well-known account."""
    return (f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint={scheme}://{host}:{port}/{ACCOUNT};")


def table_endpoint(port: int, host: str = "127.0.0.1", *, scheme: str = "http") -> str:
    """The account's Table endpoint (what SCIM_STORAGE_TABLE_ENDPOINT names in Azure)."""
    return f"{scheme}://{host}:{port}/{ACCOUNT}"


def default_side_ports(table_port: int) -> tuple[int, int]:
    """Blob and Queue ports next to a Table port, as Azurite's defaults sit (10000, 10001 below
    10002): AZURITE_PORT=10192 gives 10190 and 10191."""
    return table_port - 2, table_port - 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


RANGE_INDEX = Path(__file__).resolve().parent / "azurite_range_index.js"


@contextlib.contextmanager
def running(
    port: int | None = None, log: Path | None = None, location: Path | None = None,
    *, indexed: bool | None = None, services: Sequence[str] = ("table",),
    blob_port: int | None = None, queue_port: int | None = None,
    certificate: local_tls.Certificate | None = None,
) -> Iterator[str]:
    """Run Azurite on loopback (in memory unless `location` is given, where it persists its
    data); yield the connection string. `port` is the Table port. `services`: ("table",), the
    default, runs the Table service alone; ("table", "blob", "queue") also runs Blob and Queue,
    on `blob_port`/`queue_port` (free ports when not given), and the connection string names
    all three endpoints. `indexed`: with tools/azurite_range_index.js preloaded, which answers
    RowKey range queries from an index as Table Storage does, instead of scanning the whole
    table, and keeps Loki's index upkeep from costing the whole table per insert, update and
    delete (for benchmarks; None reads AZURITE_RANGE_INDEX=1 from the environment, so a
    whole test run can use it). `certificate`: serve over HTTPS with it and accept Entra ID bearer
    tokens (`--oauth basic`); the connection string names https endpoints (its Shared Key
    still works), and `table_endpoint(port, scheme="https")` is the endpoint for tokens."""
    with process(port, log, location, indexed=indexed, services=services,
                 blob_port=blob_port, queue_port=queue_port,
                 certificate=certificate) as (conn, _):
        yield conn


@contextlib.contextmanager
def process(
    port: int | None = None, log: Path | None = None, location: Path | None = None,
    *, indexed: bool | None = None, services: Sequence[str] = ("table",),
    blob_port: int | None = None, queue_port: int | None = None,
    certificate: local_tls.Certificate | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running`, also yielding the process; it leads its own process group (fault tests
    stop and continue the whole group)."""
    wanted = set(services)
    if wanted - set(SERVICES) or "table" not in wanted:
        raise ValueError(f"services must include 'table' and be among {SERVICES}: {services}")
    if wanted not in ({"table"}, set(SERVICES)):
        raise ValueError("run Table alone or all three services (the azurite command has no "
                         "switch to leave one out)")
    everything = wanted == set(SERVICES)
    if indexed is None:
        indexed = os.environ.get("AZURITE_RANGE_INDEX") == "1"
    binary = AZURITE_ALL_BIN if everything else AZURITE_BIN
    port = port or free_port()
    ports = {"table": port}
    extra: list[str] = []
    if everything:
        ports["blob"] = blob_port or free_port()
        ports["queue"] = queue_port or free_port()
        extra = [
            "--blobHost", "127.0.0.1", "--blobPort", str(ports["blob"]),
            "--queueHost", "127.0.0.1", "--queuePort", str(ports["queue"]),
        ]
    arguments = ["--tableHost", "127.0.0.1", "--tablePort", str(port), *extra]
    with _launch(binary, arguments, ports, log, location, certificate=certificate,
                 indexed=indexed) as proc:
        yield (connection_string(port, blob_port=ports.get("blob"), queue_port=ports.get("queue"),
                                 scheme="https" if certificate else "http"),
               proc)


@contextlib.contextmanager
def running_queue(
    port: int | None = None, log: Path | None = None,
    *, certificate: local_tls.Certificate | None = None,
) -> Iterator[str]:
    """Run Azurite's Queue service alone on loopback, in memory; yield a connection string that
    names only its Queue endpoint (`queue_connection_string`). `certificate`: HTTPS and
    `--oauth basic`, as in `running`."""
    with queue_process(port, log, certificate=certificate) as (conn, _):
        yield conn


@contextlib.contextmanager
def queue_process(
    port: int | None = None, log: Path | None = None,
    *, certificate: local_tls.Certificate | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_queue`, also yielding the process (leader of its own process group)."""
    port = port or free_port()
    with _launch(QUEUE_BIN, ["--queueHost", "127.0.0.1", "--queuePort", str(port)],
                 {"queue": port}, log, None, certificate=certificate, indexed=False) as proc:
        yield queue_connection_string(port, scheme="https" if certificate else "http"), proc


@contextlib.contextmanager
def _launch(
    binary: Path, arguments: Sequence[str], ports: dict[str, int], log: Path | None,
    location: Path | None, *, certificate: local_tls.Certificate | None, indexed: bool,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start an Azurite command, wait until every port in `ports` listens, stop it on exit."""
    if not binary.exists():
        raise SystemExit(
            f"Azurite is not installed at {binary}. Run `npm ci` (or `make test`) first."
        )
    workdir = str(location) if location else tempfile.mkdtemp(prefix="azurite-")
    if location:
        location.mkdir(parents=True, exist_ok=True)
    persistence = ["--location", workdir] if location else ["--inMemoryPersistence"]
    # Azurite refuses bearer tokens over plain HTTP, so OAuth comes with the certificate.
    secure = (["--cert", str(certificate.cert), "--key", str(certificate.key),
               "--oauth", "basic"] if certificate else [])
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(binary),
            *arguments,
            *secure,
            *persistence,
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ],
        cwd=workdir,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=_node_env(indexed),
    )
    try:
        deadline = time.monotonic() + 30
        for service, service_port in ports.items():
            while not _port_open(service_port):
                if proc.poll() is not None:
                    raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Azurite ({service}) did not listen on 127.0.0.1:{service_port} "
                        "within 30 s"
                    )
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()  # type: ignore[union-attr]
        if not location:
            shutil.rmtree(workdir, ignore_errors=True)


def _node_env(indexed: bool) -> dict[str, str]:
    env = dict(os.environ)
    if indexed:
        env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} --require {RANGE_INDEX}".strip()
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("AZURITE_PORT", "10002")),
                        help="Table port (AZURITE_PORT)")
    parser.add_argument("--all", action="store_true",
                        help="also Blob and Queue, on the two ports below the Table port")
    parser.add_argument("--oauth", action="store_true",
                        help="HTTPS with a fresh self-signed certificate for 127.0.0.1 and "
                        "localhost, accepting Entra ID bearer tokens (--oauth basic)")
    args = parser.parse_args()
    blob, queue = default_side_ports(args.port)
    services = SERVICES if args.all else ("table",)
    with contextlib.ExitStack() as stack:
        certificate = None
        if args.oauth:
            directory = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="azurite-tls-")))
            certificate = local_tls.self_signed(directory)
        conn = stack.enter_context(running(args.port, services=services, blob_port=blob,
                                           queue_port=queue, certificate=certificate))
        what = f"Table {args.port}" + (f", Blob {blob}, Queue {queue}" if args.all else "")
        print(f"Azurite on 127.0.0.1 ({what}; in memory). Ctrl-C stops it.")
        print(f"Connection string: {conn}")
        if certificate:
            print(f"Table endpoint for bearer tokens: "
                  f"{table_endpoint(args.port, scheme='https')}")
            print(f"Certificate (trust it with SSL_CERT_FILE={certificate.cert}): "
                  "removed when Azurite stops")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
