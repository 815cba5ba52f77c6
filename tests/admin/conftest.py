"""The admin CLI run in-process, as the operator runs it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from shared.admin.__main__ import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(app_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Any:
    """`python -m shared.admin ARGS`, in-process: the exit status and output the operator
    sees (a SystemExit with a message prints it to stderr and exits 1, as Python does)."""
    def run(*argv: str) -> Run:
        message = ""
        try:
            code = main(list(argv))
        except SystemExit as exc:
            if isinstance(exc.code, str):
                code, message = 1, exc.code + "\n"
            else:
                code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err + message)
    return run
