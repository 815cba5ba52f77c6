"""Skips the long variants (marker `slow`) unless they are selected with `-m slow`. The suite's
figures (tests/support/figures.py) are reported by tests/conftest.py, which a pytest-xdist
controller loads (this file it does not)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long variant: run with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
