"""`python -m devhost`: serves until SIGTERM/SIGINT, refuses an app it cannot serve."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from devhost.__main__ import load_local_settings
from tests.devhost.toy import NO_PREFIX

ROOT = Path(__file__).resolve().parents[2]

TOY_MODULE = """
import os
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong " + os.environ.get("TOY_VALUE", "-"))

if os.environ.get("TOY_BROKEN"):
    @app.route(route="items/{id:int}")
    def typed(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("")
"""


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    (tmp_path / "toyapp.py").write_text(TOY_MODULE)
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", **NO_PREFIX}))
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    return subprocess.Popen(
        [sys.executable, "-m", "devhost", "toyapp:app", "--port", "0"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"TOY_VALUE": "set"}}))
    proc = _start(tmp_path, {})  # ./host.json and ./local.settings.json by default
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 10
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if m := re.search(r"listening on (http://\S+)", line):
                url = m.group(1)
        assert url, "the dev host did not start"
        assert httpx.get(f"{url}/ping").text == "pong set"
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/ping", timeout=1)


def test_an_app_it_cannot_serve_exits_2_naming_the_function(tmp_path: Path) -> None:
    proc = _start(tmp_path, {"TOY_BROKEN": "1"})
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "devhost: the dev host cannot serve this app:" in err
    assert "function 'typed': route 'items/{id:int}'" in err
    assert "Traceback" not in err


def test_local_settings_never_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "from file", "B": 2, "C": None}}))
    env = {"A": "from env"}
    assert load_local_settings(path, env) == ["B"]
    assert env == {"A": "from env", "B": "2"}
