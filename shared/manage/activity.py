"""A tenant's provisioning activity over time, from its audit log: per time bucket, how many
users and groups were created, updated, deactivated and deleted, and how many requests failed.

What counts as what (audit entries record every authenticated write, shared/service/audit.py):
- creates: POST answered 201;
- updates: PUT or PATCH answered 2xx that did not deactivate a user (a reactivation counts as
  an update; entries written before `change` was recorded all count as updates);
- deactivations: PUT or PATCH whose entry says `change: deactivated`;
- deletes: DELETE answered 204;
- errors: any entry with status >= 400, and the authentication failures counted per minute
  (each such row adds its `count`).
Reads are not audited, so they are not here (tenant health counts them). Buckets are aligned
to multiples of `bucket_minutes` since the epoch; the last one holds the present."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..timestamps import iso, parse_iso
from .context import Deployment
from .errors import invalid

KINDS = ("creates", "updates", "deactivations", "deletes", "errors")
MAX_HOURS = 24 * 90
MAX_BUCKETS = 2000


def activity(d: Deployment, tenant_id: str, *, hours: int = 24,
             bucket_minutes: int = 60) -> dict[str, Any]:
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        raise invalid(f"hours is a whole number from 1 to {MAX_HOURS}")
    if (isinstance(bucket_minutes, bool) or not isinstance(bucket_minutes, int)
            or not 1 <= bucket_minutes <= 24 * 60):
        raise invalid("bucket minutes is a whole number from 1 to 1440 (a day)")
    count = -(-hours * 60 // bucket_minutes)
    if count > MAX_BUCKETS:
        raise invalid(f"{hours} h in buckets of {bucket_minutes} min is {count} buckets; at "
                      f"most {MAX_BUCKETS}: choose larger buckets")
    tenant = d.tenant(tenant_id)
    first = first_bucket(datetime.now(UTC), bucket_minutes, count)
    entries = d.audit.query(tenant.id, since=first)
    return {"tenant_id": tenant.id, "bucket_minutes": bucket_minutes,
            "series": series(entries, first, bucket_minutes, count)}


def first_bucket(now: datetime, bucket_minutes: int, count: int) -> datetime:
    """The start of the first of `count` buckets whose last one holds `now`."""
    width = bucket_minutes * 60
    last = int(now.timestamp()) // width * width
    return datetime.fromtimestamp(last - (count - 1) * width, UTC)


def series(entries: Iterable[Mapping[str, Any]], first: datetime, bucket_minutes: int,
           count: int) -> list[dict[str, Any]]:
    """`count` buckets from `first`, oldest first, every one present, with the entries
    counted in the bucket their time falls in (entries outside them are left out)."""
    width = timedelta(minutes=bucket_minutes)
    tallies = [dict.fromkeys(KINDS, 0) for _ in range(count)]
    origin, seconds = first.timestamp(), width.total_seconds()
    for entry in entries:
        kind, n = classify(entry)
        if kind is None:
            continue
        try:
            at = parse_iso(str(entry["time"])).timestamp()
        except (KeyError, ValueError):
            continue
        index = int((at - origin) // seconds)
        if 0 <= index < count:
            tallies[index][kind] += n
    return [{"start": iso(first + n * width), **tally} for n, tally in enumerate(tallies)]


def classify(entry: Mapping[str, Any]) -> tuple[str | None, int]:
    """What an audit entry counts as (the module's rules) and how many it counts for."""
    status = int(entry.get("status", 0) or 0)
    if entry.get("count") is not None and not entry.get("method"):
        return "errors", int(entry["count"])  # authentication failures of one minute
    if status >= 400:
        return "errors", 1
    method = str(entry.get("method", ""))
    if method == "POST" and status == 201:
        return "creates", 1
    if method in ("PUT", "PATCH") and 200 <= status < 300:
        return ("deactivations" if entry.get("change") == "deactivated" else "updates"), 1
    if method == "DELETE" and status == 204:
        return "deletes", 1
    return None, 0
