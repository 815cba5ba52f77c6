"""Text longer than one Table property holds, stored across several: `name`, `name1`, `name2`,
… (a string property holds at most 64 KiB of UTF-16). Resource documents, journals and outbox
event bodies are stored this way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# UTF-16 code units per property: 60 KB, under the 64 KiB limit. A character outside the Basic
# Multilingual Plane (an emoji, a CJK extension ideograph) takes two units, the others one.
PROPERTY_CHARS = 30_000


def split_text(text: str, name: str) -> dict[str, str]:
    """`text` as properties name, name1, name2, … of at most PROPERTY_CHARS UTF-16 code units
    each."""
    parts: list[str] = []
    start = 0
    while start < len(text):
        part = text[start : start + PROPERTY_CHARS]
        if not part.isascii():
            part = _within_property(part)
        parts.append(part)
        start += len(part)
    return {(name if n == 0 else f"{name}{n}"): p for n, p in enumerate(parts or [""])}


def _within_property(part: str) -> str:
    """The longest start of `part` (up to one unit short) that fits a property: each step
    drops half the excess in characters, as each dropped character takes one or two units."""
    while (excess := len(part.encode("utf-16-le", "surrogatepass")) // 2 - PROPERTY_CHARS) > 0:
        part = part[: len(part) - (excess + 1) // 2]
    return part


def join_text(entity: dict[str, Any], name: str) -> str:
    text, n = str(entity.get(name, "")), 1
    while f"{name}{n}" in entity:
        text += entity[f"{name}{n}"]
        n += 1
    return text


def text_size(entity: Mapping[str, Any]) -> int:
    """Characters of an entity's string properties: what a transaction operation's share of
    the transaction's 4 MiB is counted by."""
    return sum(len(v) for v in entity.values() if isinstance(v, str))
