"""Reports the suite's figures (tests/support/figures.py) at the end of the run; skips the long
variants (marker `slow`) unless they are selected with `-m slow`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import figures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long variant: run with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.FIGURES:
        return
    figures.write()
    terminalreporter.section("reliability and security figures")
    for name, value in sorted(figures.FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
