"""The app served by a dev host in a process of its own (`python -m devhost function_app:app`),
for tests that need other app settings than the session's served app, or its output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SeparateHost:
    base_url: str
    process: subprocess.Popen[str]
    out: str = ""  # what it printed, once stopped (with `capture`)
    err: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def separate_host(settings: Mapping[str, str], *, capture: bool = False
                  ) -> Iterator[SeparateHost]:
    """Serve with this environment added (SCIM_PUBLIC_BASE_URL set to the host's own port),
    wait until /health answers, stop it on exit; `capture` keeps its stdout and stderr."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **settings, "SCIM_PUBLIC_BASE_URL": base, "PYTHONUNBUFFERED": "1"}
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "devhost", "function_app:app", "--port",
                                str(port)], cwd=ROOT, env=env, stdout=output, stderr=output,
                               text=True)
    host = SeparateHost(base, process)
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield host
    finally:
        process.terminate()
        host.out, host.err = process.communicate(timeout=20)
        host.out, host.err = host.out or "", host.err or ""
