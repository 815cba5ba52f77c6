"""RowKey components: any text as a legal part of a key. Table Storage forbids `/ \\ # ?` and
control characters in keys and caps them at 1 KiB; `:` separates components. Values are
percent-escaped so every key is legal and prefix ranges (`{index}:{value}:`) cannot run into
each other. Which rows exist and how their keys are put together is layout.py."""

from __future__ import annotations

import hashlib
import re

from .. import caseless

# UTF-8 bytes (so also at most 400 UTF-16 code units): a RowKey of two components
# (M:{gid}:{uid}) stays under Table Storage's 1 KiB key limit whatever the script. Counting
# characters instead let 300 emoji (1,200 bytes) through, which storage refused (a 500).
MAX_COMPONENT_BYTES = 400
_UNSAFE = frozenset("%/\\#?:'")
# Any character `escape` rewrites; most values (ids, plain userNames) have none. Half of a
# UTF-16 surrogate pair (U+D800-U+DFFF: an id in a path, say) has no UTF-8 form, so
# it is escaped as the bytes "surrogatepass" gives: a legal key no stored value can have, where
# using it raw failed the request's storage call (a 500).
_NEEDS_ESCAPE = re.compile("[%/\\\\#?:'\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def escape(value: str) -> str:
    escaped = _escape_chars(value)
    if not _fits(escaped):
        # Long values are indexed by digest: still unique, still a point read, but the value
        # cannot be read back from the key (see `round_trips`).
        return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return escaped


def _escape_chars(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    out: list[str] = []
    for ch in value:
        code = ord(ch)
        if ch in _UNSAFE or code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    return "".join(out)


def _fits(escaped: str) -> bool:
    # At most 4 UTF-8 bytes per character: short keys skip the encoding.
    return len(escaped) * 4 <= MAX_COMPONENT_BYTES or (
        len(escaped.encode("utf-8")) <= MAX_COMPONENT_BYTES)


def round_trips(value: str) -> bool:
    """Whether `escape` keeps `value` readable (`unescape` gives it back) instead of replacing
    it by its digest: what a value read back from its key, such as a member id in membership
    rows, must satisfy. False beyond MAX_COMPONENT_BYTES UTF-8 bytes once escaped."""
    return _fits(_escape_chars(value))


def fold(value: str) -> str:
    """Case-insensitive key form (caseExact=false attributes such as userName)."""
    return caseless.fold(value)


def legacy_fold(value: str) -> str:
    """The key form index rows were written in before `fold` (full Unicode case folding).
    The repair pass rewrites such rows; until it has run, a lookup that misses may retry
    with this form (and re-check what it finds, as `fold` may tell the values apart)."""
    return value.casefold()


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of every RowKey starting with `prefix` (':' + 1 == ';')."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def unescape(value: str) -> str:
    if "%" not in value:
        return value
    raw = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "%" and i + 2 < len(value) + 0 and len(value) >= i + 3:
            raw.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(value[i].encode("utf-8"))
            i += 1
    return raw.decode("utf-8", "surrogatepass")
