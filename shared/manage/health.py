"""Tenant health: is Entra still calling the tenant, and succeeding, and is its change feed
flowing? From the request counters (shared/service/request_stats.py: every SCIM request per
tenant, hour and instance, written about once a minute) and the outbox of both delivery lanes.

The window is the last 24 hours to the hour: the counters of every hour ending within it.

"Likely quarantined" - Entra's provisioning job runs a cycle about every 40 minutes and puts
a job whose requests mostly fail into quarantine (then retries rarely, up to weeks apart), so
a tenant is flagged when, in order:
- at least MIN_REQUESTS requests came in 24 h and more than half were refused as
  unauthorized (401): the Secret Token Entra holds is wrong, revoked or the tenant disabled;
- at least MIN_REQUESTS requests came in 24 h and more than half failed (status >= 400);
- its last authenticated call is more than QUIET ago, though it had calls in the last 24 h
  or before (a job that called and stopped): about three missed cycles.
A tenant that was never called is not flagged: nothing was set up yet."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from ..store import layout
from ..store.outbox import DEPLOYMENT_LANE, TENANT_LANE
from ..timestamps import iso, parse_iso
from .context import Deployment
from .tenants import list_tenants

WINDOW = timedelta(hours=24)
QUIET = timedelta(hours=2)
MIN_REQUESTS = 10
FAILING_RATE = 0.5
LOOKBACK_ROWS = 5000
# Tenants whose health is read at once by the overview: each is about six small range reads,
# one after the other, so a deployment of hundreds of tenants is read in a fraction of the time
# while storage sees a bounded number of requests in flight.
OVERVIEW_CONCURRENCY = 8


def tenant_health(d: Deployment, tenant_id: str) -> dict[str, Any]:
    tenant = d.tenant(tenant_id)
    return {"tenant_id": tenant.id, **_health(d, tenant.id, datetime.now(UTC))}


def health_overview(d: Deployment) -> list[dict[str, Any]]:
    """Every tenant as `list_tenants` lists it, with its health."""
    now = datetime.now(UTC)
    rows = list_tenants(d)
    with ThreadPoolExecutor(max_workers=OVERVIEW_CONCURRENCY,
                            thread_name_prefix="health") as pool:
        # Each read in a copy of the caller's context (taken here, in the caller's thread), so
        # that its storage deadline applies.
        futures = [pool.submit(contextvars.copy_context().run, _health, d, row["tenant_id"],
                               now) for row in rows]
        healths = [future.result() for future in futures]
    return [{**row, "health": health} for row, health in zip(rows, healths, strict=True)]


def _health(d: Deployment, tenant_id: str, now: datetime) -> dict[str, Any]:
    requests = errors = unauthorized = 0
    last: str | None = None
    window_edge = layout.audit_boundary(now - WINDOW)
    last_hour: str | None = None
    # Newest first: the window's rows, then older ones only until the last call is found
    # (at most LOOKBACK_ROWS of them: a tenant refused for months is not read back to its
    # first day).
    for n, row in enumerate(d.audit.request_counts(tenant_id)):
        hour = str(row.get("hour", ""))
        in_window = str(row["RowKey"]) <= window_edge
        if not in_window and ((last is not None and hour != last_hour) or n >= LOOKBACK_ROWS):
            break
        if in_window:
            requests += int(row.get("requests", 0))
            errors += int(row.get("errors", 0))
            unauthorized += int(row.get("unauthorized", 0))
        seen = str(row.get("lastTime", "")) or None
        if seen is not None and (last is None or (hour == last_hour and seen > last)):
            last, last_hour = seen, hour
    error_rate = round(errors / requests, 3) if requests else 0.0
    unauthorized_rate = round(unauthorized / requests, 3) if requests else 0.0
    reason = quarantine_reason(requests, error_rate, unauthorized_rate,
                               parse_iso(last) if last else None, now)
    return {
        "last_entra_call": last, "requests_24h": requests, "errors_24h": errors,
        "unauthorized_24h": unauthorized, "error_rate": error_rate,
        "unauthorized_rate": unauthorized_rate, "likely_quarantined": reason is not None,
        "quarantine_reason": reason, "feed": _feed(d, tenant_id),
    }


def quarantine_reason(requests: int, error_rate: float, unauthorized_rate: float,
                      last_call: datetime | None, now: datetime) -> str | None:
    """Why the tenant's provisioning job is likely quarantined (the module's heuristic), in a
    sentence for an administrator; None when it does not look so."""
    if requests >= MIN_REQUESTS and unauthorized_rate > FAILING_RATE:
        return (f"{unauthorized_rate:.0%} of the {requests} requests in the last 24 h were "
                "refused as unauthorized: the Secret Token in the Entra provisioning job is "
                "wrong or revoked, or the tenant is disabled. Set a valid token in Entra, then "
                "restart provisioning.")
    if requests >= MIN_REQUESTS and error_rate > FAILING_RATE:
        return (f"{error_rate:.0%} of the {requests} requests in the last 24 h failed; Entra "
                "quarantines a job whose requests mostly fail. Check the audit log for the "
                "errors, fix their cause, then restart provisioning in Entra.")
    if last_call is not None and now - last_call > QUIET:
        hours = (now - last_call).total_seconds() / 3600
        return (f"Entra has not called for {hours:.0f} h (last call {iso(last_call)}), though "
                "its provisioning cycle runs about every 40 minutes: the job is stopped or "
                "quarantined. Check its status in the Entra admin center.")
    return None


def _feed(d: Deployment, tenant_id: str) -> dict[str, Any]:
    outbox = d.outbox
    return {
        "backlog": outbox.count(tenant_id, lane=TENANT_LANE),
        "oldest_pending": outbox.oldest_pending(tenant_id, lane=TENANT_LANE),
        "dead_letters": outbox.dead_count(tenant_id, lane=TENANT_LANE),
        "deployment_backlog": outbox.count(tenant_id, lane=DEPLOYMENT_LANE),
        "deployment_dead_letters": outbox.dead_count(tenant_id, lane=DEPLOYMENT_LANE),
    }
