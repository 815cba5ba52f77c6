"""Filter parameters as OData literals: what `Backend.query_entities` does with `@name`.

Values reach a filter's text only through here, typed and quoted, whichever backend sends it.
The SDK's own substitution is not used: it finds parameters only between spaces (so
`(RowKey ge @lo)` fails), and writes integers of exactly 32 bits (2**31 to 2**32 - 1)
without the Int64 suffix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# A quoted literal (left as it is: '@' in it is text) or a parameter.
_LITERAL_OR_PARAMETER = re.compile(r"'(?:[^']|'')*'|@(\w+)")
_INT32 = 2**31
_INT64 = 2**63


def substitute(query_filter: str, parameters: Mapping[str, Any]) -> str:
    """`query_filter` with each `@name` outside quoted literals replaced by the literal of
    `parameters[name]`: strings quoted (quotes doubled), booleans `true`/`false`, integers
    beyond 32 bits with the `L` (Edm.Int64) suffix, floats as Python writes them. ValueError
    for a name without a value, TypeError for a value of another type or an integer beyond 64
    bits."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in parameters:
            raise ValueError(f"filter parameter @{name} has no value")
        return _literal(name, parameters[name])

    return _LITERAL_OR_PARAMETER.sub(literal, query_filter)


def _literal(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise TypeError(f"filter parameter {name!r}: {value} does not fit in 64 bits")
        return str(value) if -_INT32 <= value < _INT32 else f"{value}L"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"filter parameter {name!r} has unsupported type {type(value).__name__}")
