"""Undeclared attributes as a resource keeps them: which a canonical document holds, how a sent
value is kept, and how much of them one resource may hold.

An undeclared attribute is one no schema of the resource type declares (see
`ResourceType.resolve_undeclared`), kept as sent under a resource type that captures them:
Entra's custom extension attributes before an operator declares them, misspelt names. Nothing
declares what they hold, so any JSON value is kept; the limits stop them from becoming a second
document of unknown data inside each resource.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .errors import DECLARE_HINT, invalid_value
from .schema import ResourceType

# Undeclared attributes one resource may hold, and their values' size as compact JSON: room for
# the few custom attributes an Entra mapping sends.
MAX_UNDECLARED: Final = 50
MAX_UNDECLARED_BYTES: Final = 64 * 1024
# How deeply an undeclared value may nest objects and arrays (bounds the recursion over it).
MAX_UNDECLARED_DEPTH: Final = 16

# Built once (json.dumps with options builds an encoder per call); NaN and Infinity are no JSON.
_strict_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def undeclared_names(doc: dict[str, Any], rtype: ResourceType) -> list[tuple[str, str]]:
    """The undeclared attributes a canonical document holds, as (path as stored, JSON type):
    `("urn:…:CustomExtensionName:2.0:User:CustomAttribute", "string")`, `("fooBar",
    "number")`. The types are string, boolean, number, object and array."""
    return [(path, _json_type(value)) for path, value in _undeclared_values(doc, rtype)]


def kept_value(value: Any, label: str) -> Any:
    """A sent value as an undeclared attribute keeps it: nulls, empty objects and empty arrays
    left out at every level (they mean "no value", as for declared attributes); None when
    nothing is left, or for "" (Entra's "no value"). Anything else is kept exactly as sent.
    `label` names the attribute in the error for a value nested too deeply."""
    return None if value == "" else _without_empties(value, label, 0)


def check_limits(doc: dict[str, Any], rtype: ResourceType) -> None:
    """400 invalidValue, naming the limit and the remedy, for a document holding more
    undeclared attributes or bytes of them than `MAX_UNDECLARED` and `MAX_UNDECLARED_BYTES`."""
    found = _undeclared_values(doc, rtype)
    if len(found) > MAX_UNDECLARED:
        raise invalid_value(
            f"The resource would hold {len(found)} undeclared attributes; at most "
            f"{MAX_UNDECLARED} are kept per resource (MAX_UNDECLARED). Declare the ones you "
            f"need ({DECLARE_HINT}) or stop sending the others."
        )
    size = 0
    for path, value in found:
        try:
            size += len(_strict_json(value).encode("utf-8"))
        except ValueError:
            raise invalid_value(f"{path} must be JSON; NaN and Infinity are not.") from None
    if size > MAX_UNDECLARED_BYTES:
        raise invalid_value(
            f"The resource's undeclared attributes would take {size} bytes as JSON; at most "
            f"{MAX_UNDECLARED_BYTES} bytes are kept per resource (MAX_UNDECLARED_BYTES). "
            f"Declare the attributes ({DECLARE_HINT}) or send shorter values."
        )


def _undeclared_values(doc: dict[str, Any], rtype: ResourceType) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key[:4].lower() == "urn:":
            if isinstance(value, dict):
                schema = rtype.schema_by_urn(key)
                found.extend((f"{key}:{name}", item) for name, item in value.items()
                             if schema is None or schema.attribute(name) is None)
        elif key != "schemas" and rtype.schema.attribute(key) is None:
            found.append((key, value))
    return found


def _without_empties(value: Any, label: str, depth: int) -> Any:
    if isinstance(value, dict | list):
        if depth >= MAX_UNDECLARED_DEPTH:
            raise invalid_value(
                f"{label} nests objects and arrays more than {MAX_UNDECLARED_DEPTH} levels "
                f"deep (MAX_UNDECLARED_DEPTH); declare it ({DECLARE_HINT}) with a flatter shape."
            )
        if isinstance(value, dict):
            out = {k: v for k, v in
                   ((k, _without_empties(v, label, depth + 1)) for k, v in value.items())
                   if v is not None}
            return out or None
        items = [v for v in (_without_empties(v, label, depth + 1) for v in value)
                 if v is not None]
        return items or None
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"
