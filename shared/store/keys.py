"""RowKey construction. Table Storage forbids `/ \\ # ?` and control characters in keys and
caps them at 1 KiB; `:` is our separator. Values are percent-escaped so every key is legal
and prefix ranges (`UX:{value}:`) cannot run into each other."""

from __future__ import annotations

import hashlib
import re
import time

# UTF-8 bytes (so also at most 400 UTF-16 code units): a RowKey of two components
# (M:{gid}:{uid}) stays under Table Storage's 1 KiB key limit whatever the script. Counting
# characters instead let 300 emoji (1,200 bytes) through, which storage refused (a 500).
_MAX_COMPONENT = 400
_UNSAFE = frozenset("%/\\#?:'")
# Any character `escape` rewrites; most values (ids, plain userNames) have none.
_NEEDS_ESCAPE = re.compile("[%/\\\\#?:'\x00-\x1f\x7f-\x9f]")


def escape(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        escaped = value
    else:
        out: list[str] = []
        for ch in value:
            code = ord(ch)
            if ch in _UNSAFE or code < 0x20 or 0x7F <= code <= 0x9F:
                out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
            else:
                out.append(ch)
        escaped = "".join(out)
    # At most 4 UTF-8 bytes per character: short keys skip the encoding.
    if len(escaped) * 4 > _MAX_COMPONENT and len(escaped.encode("utf-8")) > _MAX_COMPONENT:
        # Long values are indexed by digest: still unique, still a point read.
        return "~" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return escaped


def fold(value: str) -> str:
    """Case-insensitive key form (caseExact=false attributes such as userName)."""
    return value.casefold()


def resource_key(kind: str, rid: str) -> str:
    return f"{kind}:{escape(rid)}"


def unique_key(index: str, value: str) -> str:
    return f"{index}:{escape(value)}"


def multi_key(index: str, value: str, rid: str) -> str:
    return f"{index}:{escape(value)}:{escape(rid)}"


def multi_prefix(index: str, value: str) -> str:
    return f"{index}:{escape(value)}:"


def member_key(gid: str, uid: str) -> str:
    return f"M:{escape(gid)}:{escape(uid)}"


def reverse_member_key(uid: str, gid: str) -> str:
    return f"R:{escape(uid)}:{escape(gid)}"


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
    return raw.decode("utf-8")


_GENERATED_ID = re.compile(r"[0-9a-f]{32}")
_EPOCH_2024_MS = 1_704_067_200_000


def is_generated_id(value: str) -> bool:
    """Whether `value` has the shape of an id this service issues (a millisecond timestamp
    since 2024, then random bits: shared.service.resources.new_id), as opposed to a member id
    of another system. Ids are never reused, so a missing resource with such an id is gone."""
    if len(value) != 32 or not _GENERATED_ID.fullmatch(value):
        return False
    millis = int(value[:12], 16)
    return _EPOCH_2024_MS <= millis <= int(time.time() * 1000) + 86_400_000
