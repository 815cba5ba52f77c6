"""Fixtures for the infrastructure tests.

checkov runs in its own virtual environment, `.venv-checkov/` at the repository root, because it
pins `pycep-parser==0.5.1` (and `packaging<24`) while the test venv has pycep-parser 0.7.1 for the
parse tests. The session fixture creates that venv when it is missing (a fresh clone in CI) and
reuses it otherwise; creating it downloads checkov from PyPI once (about a minute here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".venv-checkov"
STAMP = CHECKOV_VENV / "checkov-version.txt"
INSTALL_TIMEOUT_S = 900
SCAN_TIMEOUT_S = 300


@contextlib.contextmanager
def _terminal(config: pytest.Config) -> Iterator[Any]:
    """Write to the real terminal even while pytest captures output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    ctx = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with ctx:
        yield sys.stderr


def _say(config: pytest.Config, message: str) -> None:
    with _terminal(config) as out:
        out.write(f"\n[infra] {message}\n")
        out.flush()


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _checkov_ready() -> bool:
    return (
        _venv_python(CHECKOV_VENV).exists()
        and STAMP.is_file()
        and STAMP.read_text(encoding="utf-8").strip() == CHECKOV_VERSION
    )


def _create_checkov_venv(config: pytest.Config) -> None:
    """Build the venv in a temporary folder and move it into place only when complete, so an
    interrupted install is never mistaken for a usable one."""
    staging = ROOT / f".venv-checkov.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    started = time.monotonic()
    _say(
        config,
        f"creating {CHECKOV_VENV.name}/ with checkov=={CHECKOV_VERSION} "
        "(first run only; downloads from PyPI, usually about a minute)",
    )
    subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True)
    command = [
        str(_venv_python(staging)),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        f"checkov=={CHECKOV_VERSION}",
    ]
    with _terminal(config) as out:
        # pip's own "Collecting ..." / "Installing ..." lines are the progress report
        proc = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False
        )
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(
            f"could not install checkov=={CHECKOV_VERSION} into {CHECKOV_VENV.name}/ "
            f"(pip exited {proc.returncode}; see the output above)"
        )
    (staging / STAMP.name).write_text(CHECKOV_VERSION + "\n", encoding="utf-8")
    shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
    staging.rename(CHECKOV_VENV)
    _say(config, f"{CHECKOV_VENV.name}/ ready in {time.monotonic() - started:.0f} s")


@pytest.fixture(scope="session")
def checkov_python(pytestconfig: pytest.Config) -> Path:
    """The Python interpreter of `.venv-checkov/`, created on first use."""
    if not _checkov_ready():
        _create_checkov_venv(pytestconfig)
    return _venv_python(CHECKOV_VENV)


@pytest.fixture(scope="session")
def checkov_report(checkov_python: Path, pytestconfig: pytest.Config) -> dict[str, Any]:
    """One `checkov --framework bicep` scan of infra/ (JSON report), shared by the checkov tests.

    No checks are skipped on the command line: failures are compared with
    infra/checkov-skips.toml by the tests, so the report itself stays complete.
    """
    _say(pytestconfig, "running checkov --framework bicep on infra/")
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            str(checkov_python),
            "-m",
            "checkov.main",
            "--directory",
            str(ROOT / "infra"),
            "--framework",
            "bicep",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_S,
        cwd=ROOT,
        env=env,
        check=False,
    )
    # exit code 1 just means "some check failed"; anything else, or no JSON, is a broken run
    if proc.returncode not in (0, 1):
        pytest.fail(f"checkov exited {proc.returncode}\n{proc.stderr[-4000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON report\nstdout: {proc.stdout[-2000:]}\n"
            f"stderr: {proc.stderr[-2000:]}"
        )
    if isinstance(report, list):  # one entry per framework
        (report,) = [r for r in report if r.get("check_type") == "bicep"]
    return report
