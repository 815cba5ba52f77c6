"""Text longer than one Table property holds, stored across several: `name`, `name1`, `name2`,
… (a string property holds at most 64 KiB of UTF-16). Resource documents, journals and outbox
event bodies are stored this way."""

from __future__ import annotations

from typing import Any

PROPERTY_CHARS = 30_000  # characters per property: 60 KB of UTF-16, under the 64 KiB limit


def split_text(text: str, name: str) -> dict[str, str]:
    """`text` as properties name, name1, name2, … of at most PROPERTY_CHARS characters each."""
    parts = [text[i : i + PROPERTY_CHARS] for i in range(0, len(text), PROPERTY_CHARS)] or [""]
    return {(name if n == 0 else f"{name}{n}"): p for n, p in enumerate(parts)}


def join_text(entity: dict[str, Any], name: str) -> str:
    text, n = str(entity.get(name, "")), 1
    while f"{name}{n}" in entity:
        text += entity[f"{name}{n}"]
        n += 1
    return text


def text_size(op: tuple[Any, ...]) -> int:
    """Characters of a transaction operation's string properties: what its share of a
    transaction's 4 MiB is counted by."""
    return sum(len(v) for v in op[1].values() if isinstance(v, str))
