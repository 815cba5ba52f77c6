"""shared.telemetry: the structured fields of the records Azure Monitor queries. Their use on
the real log calls is tested beside each caller (tests/service/test_app.py, test_deliver.py,
test_reconcile.py, tests/feed/test_delivery.py); the Bicep side in tests/infra."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from shared import telemetry
from shared.timestamps import iso


def test_fields_carry_the_event_and_leave_out_none() -> None:
    assert telemetry.fields(telemetry.DEAD_LETTER, tenant="t1", attempts=3, lane=None) == {
        "event": "delivery.dead_letter", "tenant": "t1", "attempts": 3}


def test_an_unknown_event_is_refused() -> None:
    """A typo would silently never match an alert rule's query."""
    with pytest.raises(ValueError, match="unknown telemetry event"):
        telemetry.fields("scim.requets")


def test_every_event_name_is_distinct() -> None:
    assert len(set(telemetry.EVENTS)) == len(telemetry.EVENTS)


def test_the_fields_become_plain_record_attributes(caplog: pytest.LogCaptureFixture) -> None:
    """What OpenTelemetry's logging handler turns into attributes (custom dimensions): every
    value a scalar, none of them clashing with LogRecord's own attributes (logging raises
    KeyError on such a clash)."""
    log = logging.getLogger("scim.test")
    extra = telemetry.fields(telemetry.RECONCILE_RUN, tenants=2, errors=1, incomplete=True,
                             backlog_age_s=30, mode="inline")
    with caplog.at_level(logging.INFO, logger="scim.test"):
        log.info("reconcile run", extra=extra)
    (record,) = caplog.records
    for name, value in extra.items():
        assert getattr(record, name) == value
        assert isinstance(value, str | int | float | bool)
    assert record.getMessage() == "reconcile run"


def test_age_seconds() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert telemetry.age_seconds(iso(now - timedelta(minutes=90)), now) == 5400
    assert telemetry.age_seconds(iso(now + timedelta(seconds=5)), now) == 0  # clock skew
    assert telemetry.age_seconds("", now) is None
    assert telemetry.age_seconds(None, now) is None
    assert telemetry.age_seconds("not a time", now) is None
