"""Timestamps as the service writes them (resources' meta, events, audit entries, outbox
schedules): RFC 3339 in UTC with milliseconds and a `Z`, e.g. `2026-11-27T05:45:44.614Z`.
Strings in this form sort in time order, which the store's filters rely on."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(at: datetime) -> str:
    # isoformat gives the text strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" gave, without a
    # format string to get wrong: "+00:00" (UTC) becomes "Z".
    return at.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
