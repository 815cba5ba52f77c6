"""One JSON scalar coerced to the SCIM data type of its attribute (RFC 7643 §2.3), within what
Table Storage can keep.

Lenient where clients are known to be loose: booleans as "true"/"false" text
(`entra_values.as_boolean`), integers and decimals as numeric text, and a number or boolean
sent for a string attribute stored as its JSON text. Strings and dateTimes are otherwise stored
exactly as sent (a dateTime is only validated). Everything else is a ScimError 400
invalidValue whose detail names the attribute and says what to send.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Final

from .entra_values import as_boolean
from .errors import invalid_value, kind_of, show
from .schema import BOOLEAN, DATETIME, DECIMAL, INTEGER, Attribute

# Table Storage keeps a string property as UTF-16 in at most 64 KiB, i.e. 32,767 characters;
# a round, slightly lower limit leaves room for the scalar filter columns built from values.
MAX_VALUE_CHARS: Final = 32_000

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def coerce_scalar(attr: Attribute, value: Any, label: str) -> Any:
    """`value` as `attr`'s type stores it; ScimError 400 invalidValue, naming `label`, for a
    value that cannot be one."""
    if isinstance(value, dict | list):
        raise invalid_value(
            f"{label} must be a single {attr.type} value, not a JSON "
            f"{kind_of(value, article=False)}."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid_value(f"{label} must be a finite number, not {value!r}.")
    if attr.type == BOOLEAN:
        return _to_bool(value, label)
    if attr.type == INTEGER:
        return _to_int(value, label)
    if attr.type == DECIMAL:
        return _to_decimal(value, label)
    if attr.type == DATETIME:
        return _to_datetime(value, label)
    return _to_string(value, label)  # string, reference, binary


def _to_bool(value: Any, label: str) -> bool:
    boolean = as_boolean(value)
    if boolean is not None:
        return boolean
    raise invalid_value(
        f"{label} must be a boolean: send true or false (the strings \"true\"/\"false\" in "
        f"any case are accepted too); got {show(value)}."
    )


def _to_int(value: Any, label: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        try:
            number = int(value.strip())
        except ValueError:  # longer than Python's int-parsing digit limit
            number = None
    if number is not None and _INT64_MIN <= number <= _INT64_MAX:
        return number
    raise invalid_value(
        f"{label} must be a whole number between {_INT64_MIN} and {_INT64_MAX} (Table Storage "
        f"Int64) such as 42; got {show(value)}."
    )


def _to_decimal(value: Any, label: str) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool):
        if _INT64_MIN <= value <= _INT64_MAX:  # what Table Storage and JSON readers keep
            return value
    elif isinstance(value, float):
        return value
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
        if math.isfinite(number):
            return number
    raise invalid_value(f"{label} must be a number such as 4.5; got {show(value)}.")


def _to_datetime(value: Any, label: str) -> str:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return _checked_length(value, label)  # stored as sent, only validated
    raise invalid_value(
        f"{label} must be an ISO 8601 date-time such as \"2025-01-31T09:30:00Z\"; "
        f"got {show(value)}."
    )


def _to_string(value: Any, label: str) -> str:
    if isinstance(value, str):
        return _checked_length(value, label)
    if isinstance(value, bool | int | float):
        # Lenient: a number or boolean sent for a string attribute is kept as its JSON text
        # (5 -> "5", true -> "true"), so a mapping from a numeric source still provisions.
        try:
            return _checked_length(json.dumps(value), label)
        except ValueError:  # an integer beyond Python's int-to-text digit limit
            raise invalid_value(
                f"{label} is a number too long to store; send a string of at most "
                f"{MAX_VALUE_CHARS} characters."
            ) from None
    raise invalid_value(f"{label} must be a string; got {show(value)}.")


def _checked_length(text: str, label: str) -> str:
    if len(text) > MAX_VALUE_CHARS:
        raise invalid_value(
            f"{label} is {len(text)} characters long; Table Storage cannot store a value longer "
            f"than {MAX_VALUE_CHARS} characters. Send a shorter value."
        )
    return text
