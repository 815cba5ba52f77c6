"""Reports the suite's figures (see figures.py) at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.reliability import figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.FIGURES:
        return
    figures.write()
    terminalreporter.section("reliability and security figures")
    for name, value in sorted(figures.FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
