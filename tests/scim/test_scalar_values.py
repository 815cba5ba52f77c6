"""shared.scim.scalar_values: one JSON scalar coerced to its attribute's SCIM type, with the
leniencies clients rely on and Table Storage's limits. How whole bodies use it is in
test_resource.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.scalar_values import MAX_VALUE_CHARS, coerce_scalar
from shared.scim.schema import (
    BINARY,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    INTEGER,
    REFERENCE,
    STRING,
    Attribute,
)

FAST = settings(max_examples=200, deadline=None)


def of(kind: str) -> Attribute:
    return Attribute("thing", type=kind)


def refused(kind: str, value: Any) -> ScimError:
    with pytest.raises(ScimError) as info:
        coerce_scalar(of(kind), value, "label.thing")
    assert (info.value.status, info.value.scim_type) == (400, "invalidValue")
    assert "label.thing" in info.value.detail
    return info.value


@pytest.mark.parametrize(("sent", "stored"), [
    (True, True), (False, False), ("True", True), (" false ", False), ("TRUE", True),
])
def test_boolean_values(sent: Any, stored: bool) -> None:
    assert coerce_scalar(of(BOOLEAN), sent, "x") is stored


@pytest.mark.parametrize("sent", ["yes", 1, 0, "", "t"])
def test_boolean_rejects_non_booleans(sent: Any) -> None:
    assert "must be a boolean" in refused(BOOLEAN, sent).detail


@pytest.mark.parametrize(("sent", "stored"), [(3, 3), ("42", 42), (" -7 ", -7), (2.0, 2)])
def test_integer_values(sent: Any, stored: int) -> None:
    assert coerce_scalar(of(INTEGER), sent, "x") == stored


@pytest.mark.parametrize("sent", ["4.5", 4.5, "x", True, "1_000", "١٢", 2**63, "-" + "9" * 30])
def test_integer_rejects_non_integers(sent: Any) -> None:
    assert "whole number" in refused(INTEGER, sent).detail


@pytest.mark.parametrize(("sent", "stored"), [(4.5, 4.5), (4, 4), ("4.5", 4.5), ("1e3", 1000.0)])
def test_decimal_values(sent: Any, stored: float) -> None:
    assert coerce_scalar(of(DECIMAL), sent, "x") == stored


@pytest.mark.parametrize("sent", ["abc", "inf", "nan", False, "1e999", 10**30, float("inf")])
def test_decimal_rejects_non_numbers(sent: Any) -> None:
    refused(DECIMAL, sent)


@pytest.mark.parametrize(
    "sent", ["2015-10-10T14:38:21.8617979-07:00", "2018-03-27T19:59:26.000Z", "2024-01-01"]
)
def test_datetime_values_are_validated_and_kept_as_sent(sent: str) -> None:
    assert coerce_scalar(of(DATETIME), sent, "x") == sent


@pytest.mark.parametrize("sent", ["yesterday", "2024-13-01T00:00:00Z", 20240101])
def test_datetime_rejects_non_dates(sent: Any) -> None:
    assert "ISO 8601" in refused(DATETIME, sent).detail


@pytest.mark.parametrize("kind", [STRING, REFERENCE, BINARY])
@pytest.mark.parametrize(("sent", "stored"), [
    (" As sent ", " As sent "), (5, "5"), (1.5, "1.5"), (True, "true"), (False, "false"),
])
def test_text_types_keep_strings_and_store_numbers_as_json_text(
    kind: str, sent: Any, stored: str
) -> None:
    assert coerce_scalar(of(kind), sent, "x") == stored


@pytest.mark.parametrize("kind", [STRING, BOOLEAN, INTEGER, DECIMAL, DATETIME])
@pytest.mark.parametrize("sent", [{"value": "x"}, ["x"]])
def test_objects_and_arrays_are_not_scalars(kind: str, sent: Any) -> None:
    assert f"must be a single {kind} value" in refused(kind, sent).detail


def test_strings_up_to_the_storage_limit() -> None:
    longest = "x" * MAX_VALUE_CHARS
    assert coerce_scalar(of(STRING), longest, "x") == longest
    assert "Table Storage" in refused(STRING, longest + "x").detail


def test_integer_beyond_the_text_conversion_limit_is_invalid_value() -> None:
    assert "too long to store" in refused(STRING, 10**5000).detail


@FAST
@given(st.text(max_size=20))
def test_any_storable_string_is_kept_exactly(text: str) -> None:
    assert coerce_scalar(of(STRING), text, "x") == text


@FAST
@given(st.integers(-(2**63), 2**63 - 1))
def test_integers_round_trip_through_their_text(number: int) -> None:
    assert coerce_scalar(of(INTEGER), str(number), "x") == number
    assert coerce_scalar(of(INTEGER), number, "x") == number
