"""The structured fields of the log records that Azure Monitor's alert rules and workbook query.

A record carries them as plain attributes (`logging`'s `extra=`), so the message text stays as it
was and the fields are testable without any telemetry library. In Azure the Python worker's
OpenTelemetry distro (host.json `telemetryMode`, app setting
PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY; docs/operations.md) turns every attribute of a
record into a custom dimension of its `traces` row, as text. The classic host path does not:
there the worker forwards only the message, so these fields would be lost.

Values are scalars only: OpenTelemetry drops an attribute whose value is a dict or None. The
names below are the contract with infra/modules/alerts.bicep and infra/workbook.json; the infra
tests read them from here.
"""

from __future__ import annotations

from datetime import datetime

from .timestamps import parse_iso

Scalar = str | int | float | bool

# The attribute every structured record has, and its values.
EVENT = "event"
SCIM_REQUEST = "scim.request"  # a SCIM request answered with a refusal or an error (>= 400)
AUTH_FAILURE = "scim.auth_failure"  # a SCIM request refused by authentication (401/403)
DEAD_LETTER = "delivery.dead_letter"  # an event moved to the dead letters after its last attempt
DELIVERY_PASS = "delivery.pass"  # noqa: S105 - an event name: one queued delivery pass
RECONCILE_RUN = "reconcile.run"  # the reconciler timer's run (inline or scheduling work items)
RECONCILE_TENANT = "reconcile.tenant"  # one tenant's work item of a queued run

EVENTS = (SCIM_REQUEST, AUTH_FAILURE, DEAD_LETTER, DELIVERY_PASS, RECONCILE_RUN,
          RECONCILE_TENANT)

# Dimension names (customDimensions.<name> in Application Insights).
TENANT = "tenant"
STATUS = "status"
METHOD = "method"
RESOURCE = "resource"
DURATION_MS = "duration_ms"
LANE = "lane"
ATTEMPTS = "attempts"
BACKLOG = "backlog"
BACKLOG_AGE_S = "backlog_age_s"  # seconds since the oldest event still pending was created
DEAD_LETTERED = "dead_lettered"
FAILED = "failed"
ERRORS = "errors"
INCOMPLETE = "incomplete"
MODE = "mode"
POISON_DELIVER = "poison_deliver"
POISON_WORK = "poison_work"
TENANTS = "tenants"

# The tenant dimension of a refusal whose tenant id names no tenant: the id is the caller's
# text, and one dimension value per guess would split an alert rule without bound.
UNKNOWN_TENANT = "(unknown)"


def fields(event: str, **values: Scalar | None) -> dict[str, Scalar]:
    """`extra=` for a structured record: the event and its values, None left out."""
    if event not in EVENTS:
        raise ValueError(f"unknown telemetry event {event!r}")
    out: dict[str, Scalar] = {EVENT: event}
    out.update({name: value for name, value in values.items() if value is not None})
    return out


def age_seconds(created: str | None, now: datetime) -> int | None:
    """Whole seconds from an ISO timestamp (shared.timestamps) to `now`; None when there is
    none or it cannot be read (an outbox row written without one)."""
    if not created:
        return None
    try:
        return max(0, int((now - parse_iso(created)).total_seconds()))
    except ValueError:
        return None
