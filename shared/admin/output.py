"""How admin commands print a result: one JSON object for scripts (`--json`), or `key: value`
lines for a person."""

from __future__ import annotations

import json
from typing import Any


def show(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload))
        return
    for key, value in payload.items():
        print(f"{key}: {value}")
