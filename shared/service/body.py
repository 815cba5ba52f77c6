"""Reading a request body as JSON, with the errors a client can act on."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..scim.errors import ScimError, invalid_syntax, invalid_value, show
from .messages import ScimRequest

# How JSON text spells half of a UTF-16 surrogate pair; a body without it cannot hold one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every object of the body, at any depth. SCIM attribute names (and so every key of a
    SCIM message) are case-insensitive (RFC 7643 §2.1): `userName` and `USERNAME` name one
    attribute, and which of two values wins must not depend on their order."""
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in pairs:
        first = seen.setdefault(key.lower(), key)
        if key in out:
            raise invalid_syntax(f"The JSON body has the key {show(key)} twice; send it once.")
        if first != key:
            raise invalid_syntax(f"The JSON body has the keys {show(first)} and {show(key)} in "
                                 "one object: SCIM attribute names are case-insensitive, so "
                                 "both name the same attribute. Send it once.")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise invalid_value(f"The request body has the number {name}, which JSON does not have; "
                        "send a finite number (or null for no value).")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: valid JSON, but beyond a double (infinite)
        raise invalid_value(f"The request body has the number {show(text, 40)}, too large to "
                            "hold; send numbers of ordinary size.")
    return number


def json_body(request: ScimRequest, max_bytes: int) -> dict[str, Any]:
    if len(request.body) > max_bytes:
        raise ScimError(
            413,
            f"The request body is {len(request.body)} bytes; the limit is {max_bytes} "
            "(ServiceProviderConfig maxPayloadSize). Split the change into smaller requests.",
        )
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype and "json" not in ctype:
        raise ScimError(
            415,
            f"Content-Type {ctype!r} is not supported; send application/scim+json "
            "or application/json.",
            "invalidSyntax",
        )
    if not request.body.strip():
        raise invalid_syntax("The request body is empty; send a JSON object.")
    try:
        text = request.body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid_syntax(
            f"The request body is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON."
        ) from exc
    try:
        # json.loads takes NaN and ±Infinity by default: not JSON (RFC 8259 §6), and no SCIM
        # attribute or paging number can be one.
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                           parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise invalid_syntax(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}."
        ) from exc
    except RecursionError as exc:
        raise invalid_syntax("The JSON body is nested too deeply.") from exc
    except ValueError as exc:  # Python refuses integer literals of more than 4,300 digits
        raise invalid_syntax("The request body has a number with too many digits; send "
                             "numbers of ordinary size.") from exc
    try:
        # JSON may escape half of a UTF-16 surrogate pair ("\ud800"): valid JSON, but not
        # text that can be stored or answered, so refuse it here instead of failing later.
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid_syntax("The JSON body contains an unpaired UTF-16 surrogate escape "
                             "(\\uD800-\\uDFFF); send valid Unicode text.") from exc
    if not isinstance(value, dict):
        raise invalid_syntax(f"The request body must be a JSON object, not {type(value).__name__}.")
    return value
