"""Client-supplied text on its way to a log line, an audit entry or a response header.

A caller controls the request id, the method, every path segment (the tenant id too) and the
headers, all before authentication: echoed as sent they forge log lines (CR/LF, a folded
header continuation), break terminals (ESC) and make entries as large as the request. What
reaches those sinks is therefore one printable line of bounded length."""

from __future__ import annotations

import re
import secrets

# What a request id echoed in X-Request-Id and logged may be; anything else is replaced.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CUT = "..."


def request_id(sent: str | None) -> str:
    """The client's X-Request-Id when it is a short safe token, else a fresh one."""
    if sent and REQUEST_ID.fullmatch(sent):
        return sent
    return secrets.token_hex(16)


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def clean(value: object, limit: int = 100) -> str:
    """`value` as one printable line of at most `limit` characters: control characters, line
    and paragraph separators and lone surrogates are escaped (\\x0a), the rest cut off with
    '...'."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and text.isprintable():
        return text
    text = text[: limit + 1]  # escaping never shortens: the rest would be cut anyway
    return cut("".join(map(_escape, text)), limit)


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in '...' when something was cut off."""
    if len(text) <= limit:
        return text
    # A limit shorter than the marker leaves no room for it: the marker alone would
    # exceed the limit.
    return text[: limit - len(_CUT)] + _CUT if limit >= len(_CUT) else text[: max(0, limit)]
