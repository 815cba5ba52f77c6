"""How admin commands print a result: one JSON document for scripts (`--json`), or lines for a
person (`key: value` lines, or a table with aligned columns). Progress and warnings go to
stderr, so stdout holds the result alone."""

from __future__ import annotations

import json
import sys
from typing import Any


def show(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(payload)
        return
    for key, value in payload.items():
        print(f"{key}: {value}")


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False))


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two blanks apart, no trailing blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def progress(line: str) -> None:
    """One line of progress on long work, on stderr."""
    print(line, file=sys.stderr, flush=True)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)
