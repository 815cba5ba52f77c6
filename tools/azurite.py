"""Start the Azurite Table emulator (from node_modules) on loopback, for tests and `make run`.

Used as a library by tests/conftest.py and the local run script, and as a command:
    python tools/azurite.py [--port 10002]      # runs until Ctrl-C
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
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def connection_string(port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://{host}:{port}/{ACCOUNT};"
    )


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
    *, indexed: bool | None = None,
) -> Iterator[str]:
    """Run Azurite's Table service on loopback (in memory unless `location` is given, where
    it persists its data); yield its connection string. `indexed`: with
    tools/azurite_range_index.js preloaded, which answers RowKey range queries from an index
    as Table Storage does, instead of scanning the whole table (for benchmarks; None reads
    AZURITE_RANGE_INDEX=1 from the environment, so a whole test run can use it)."""
    with process(port, log, location, indexed=indexed) as (conn, _):
        yield conn


@contextlib.contextmanager
def process(
    port: int | None = None, log: Path | None = None, location: Path | None = None,
    *, indexed: bool | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running`, also yielding the process; it leads its own process group (fault tests
    stop and continue the whole group)."""
    if indexed is None:
        indexed = os.environ.get("AZURITE_RANGE_INDEX") == "1"
    if not AZURITE_BIN.exists():
        raise SystemExit(
            f"Azurite is not installed at {AZURITE_BIN}. Run `npm ci` (or `make test`) first."
        )
    port = port or free_port()
    workdir = str(location) if location else tempfile.mkdtemp(prefix="azurite-")
    if location:
        location.mkdir(parents=True, exist_ok=True)
    persistence = ["--location", workdir] if location else ["--inMemoryPersistence"]
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(AZURITE_BIN),
            "--tableHost", "127.0.0.1",
            "--tablePort", str(port),
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
        while not _port_open(port):
            if proc.poll() is not None:
                raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port} within 30 s")
            time.sleep(0.1)
        yield connection_string(port), proc
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
    parser.add_argument("--port", type=int, default=int(os.environ.get("AZURITE_PORT", "10002")))
    args = parser.parse_args()
    with running(args.port) as conn:
        print(f"Azurite Table service on 127.0.0.1:{args.port} (in memory). Ctrl-C stops it.")
        print(f"Connection string: {conn}")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
