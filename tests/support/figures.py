"""Figures of the reliability and security suites (requests generated, faults injected, 5xx
seen), printed at the end of the run and written to .pytest_cache/reliability-figures.json,
which docs/testing.md describes."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

FIGURES: Counter[str] = Counter()
_lock = threading.Lock()
OUT = Path(__file__).resolve().parents[2] / ".pytest_cache" / "reliability-figures.json"


def add(name: str, n: int = 1) -> None:
    with _lock:
        FIGURES[name] += n


def merge(other: dict[str, int | float]) -> None:
    """Add another process's figures (a pytest-xdist worker's) to these."""
    with _lock:
        for name, value in other.items():
            FIGURES[name] += value  # type: ignore[assignment]


def write() -> None:
    if FIGURES:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2) + "\n")
