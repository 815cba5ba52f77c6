"""A tenant's audit log (shared/service/audit.py writes it): its entries, newest first,
filtered by time and HTTP status."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .context import Deployment
from .errors import invalid

# The entry's fields, as the audit writer stores them (count: a row of authentication failures).
FIELDS = ("time", "method", "path", "resourceId", "status", "scimType", "latencyMs",
          "requestId", "count")
MAX_LIMIT = 1000
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_STATUS_PART = re.compile(r"[1-5](xx|\d\d)")


def parse_since(value: str, now: datetime) -> datetime:
    """An ISO time (naive: UTC), or a duration back from now: 90m, 2h, 7d."""
    match = _RELATIVE.fullmatch(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"since {value!r} is neither an ISO time nor a duration like 90m, 2h, "
                      "7d") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def check_status(spec: str) -> str:
    """A status filter: statuses and classes, comma-separated (401, 4xx, 409,412)."""
    parts = [part.strip().lower() for part in spec.split(",")]
    if not all(_STATUS_PART.fullmatch(part) for part in parts):
        raise invalid(f"status {spec!r} is not a status filter: write 401, 4xx or a comma "
                      "list such as 409,412")
    return spec


def status_matches(spec: str | None, status: int) -> bool:
    if not spec:
        return True
    for part in spec.split(","):
        part = part.strip().lower()
        if part.endswith("xx") and part[:1].isdigit() and str(status)[:1] == part[0]:
            return True
        if part.isdigit() and int(part) == status:
            return True
    return False


def query_audit(d: Deployment, tenant_id: str, *, since: str | None = None,
                status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The tenant's entries, newest first: at most `limit`, at or after `since`, with a
    status `status` matches."""
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
    after = parse_since(since, datetime.now(UTC)) if since else None
    if status:
        check_status(status)
    tenant = d.tenant(tenant_id)
    rows: list[dict[str, Any]] = []
    for entry in d.audit.query(tenant.id, since=after):
        if status_matches(status, int(entry.get("status", 0))):
            rows.append({field: entry.get(field) for field in FIELDS})
            if len(rows) >= limit:
                break
    return rows
