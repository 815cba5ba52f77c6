"""shared.timestamps: RFC 3339 UTC timestamps with milliseconds and a `Z`, which read back as
the instant they were written from and sort as text in time order (the store's range filters
compare them as strings)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.timestamps import iso, now_iso, parse_iso

FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
# Aware instants whose UTC year has four digits either side of any offset.
INSTANTS = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=OFFSETS)


def to_ms(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def test_the_documented_example() -> None:
    at = datetime(2026, 11, 27, 5, 45, 44, 614_000, tzinfo=UTC)
    assert iso(at) == "2026-11-27T05:45:44.614Z"
    assert parse_iso("2026-11-27T05:45:44.614Z") == at


@pytest.mark.parametrize(("micro", "shown"), [(0, "000"), (999, "000"), (1_000, "001"),
                                              (614_999, "614"), (999_999, "999")])
def test_milliseconds_are_cut_not_rounded(micro: int, shown: str) -> None:
    # Rounding 59.9995 s up would carry into the next second (or year) and reorder events.
    at = datetime(2026, 12, 31, 23, 59, 59, micro, tzinfo=UTC)
    assert iso(at) == f"2026-12-31T23:59:59.{shown}Z"


def test_other_offsets_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 1, 1, 0, tzinfo=paris)) == "2025-12-31T23:00:00.000Z"
    behind = timezone(-timedelta(hours=5, minutes=30))
    assert iso(datetime(2026, 1, 1, 20, 0, tzinfo=behind)) == "2026-01-02T01:30:00.000Z"


@pytest.mark.parametrize("text", ["2026-11-27T05:45:44.614Z", "2026-11-27T05:45:44.614+00:00",
                                  "2026-11-27T07:45:44.614+02:00"])
def test_parse_iso_reads_z_and_offsets_as_one_instant(text: str) -> None:
    parsed = parse_iso(text)
    assert parsed.utcoffset() is not None
    assert parsed == datetime(2026, 11, 27, 5, 45, 44, 614_000, tzinfo=UTC)


def test_parse_iso_reads_a_time_without_milliseconds() -> None:
    assert parse_iso("2018-03-27T19:59:26Z") == datetime(2018, 3, 27, 19, 59, 26, tzinfo=UTC)


def test_now_iso_is_now_in_the_format() -> None:
    before = datetime.now(UTC)
    now = now_iso()
    after = datetime.now(UTC)
    assert FORMAT.fullmatch(now)
    assert iso(before) <= now <= iso(after)


@given(INSTANTS)
def test_every_instant_is_written_in_the_format_and_reads_back(at: datetime) -> None:
    text = iso(at)
    assert FORMAT.fullmatch(text), text
    back = parse_iso(text)
    assert back == to_ms(at)
    assert back.utcoffset() == timedelta(0)
    assert iso(back) == text


@given(INSTANTS, INSTANTS)
def test_text_order_is_time_order(a: datetime, b: datetime) -> None:
    assert (iso(a) < iso(b)) is (to_ms(a) < to_ms(b))
    assert (iso(a) == iso(b)) is (to_ms(a) == to_ms(b))
