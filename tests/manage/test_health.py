"""Tenant health over Azurite (`shared.manage.health`): the request counters of the served
app summed across instances, the last authenticated call, the quarantine heuristic in each of
its cases, and the feed's backlog and dead letters of both lanes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.health import (
    MIN_REQUESTS,
    QUIET,
    health_overview,
    quarantine_reason,
    tenant_health,
)
from shared.manage.tenants import create_tenant
from shared.store import layout
from shared.store.directory import Indexes
from shared.store.outbox import DEPLOYMENT_LANE, insert_op
from shared.timestamps import iso

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
KEYS = {"last_entra_call", "requests_24h", "errors_24h", "unauthorized_24h", "error_rate",
        "unauthorized_rate", "likely_quarantined", "quarantine_reason", "feed"}


def _scim(served: str, created: dict[str, Any], token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=f"{served}/scim/v2/{created['tenant_id']}", timeout=30,
                        headers={"Authorization": f"Bearer {token or created['token']}"})


def _counters(d: Deployment, tenant_id: str, hour_end: datetime, instance: str, *,
              requests: int, errors: int = 0, unauthorized: int = 0,
              last: datetime | None = None) -> None:
    d.audit.insert_many([{
        "PartitionKey": layout.stats_partition(tenant_id),
        "RowKey": layout.stats_row_key(hour_end, instance),
        "hour": iso(hour_end - timedelta(hours=1)), "requests": requests, "errors": errors,
        "unauthorized": unauthorized, "lastTime": iso(last) if last else ""}])


def _hour_end(now: datetime, hours_back: int) -> datetime:
    return datetime.fromtimestamp((int(now.timestamp()) // 3600 + 1 - hours_back) * 3600, UTC)


def test_a_healthy_tenant_with_its_feed(served: str, served_deployment: Deployment) -> None:
    d = served_deployment
    created = create_tenant(d, "Healthy")
    tid = created["tenant_id"]
    with _scim(served, created) as scim:
        assert scim.post("/Users", json={"schemas": [USER], "userName": "h@x.test"}
                         ).status_code == 201
        for _ in range(3):
            assert scim.get("/Users").status_code == 200
        assert scim.get("/Users/nosuch").status_code == 404
    assert d.service is not None
    assert d.service.audit.flush()
    health = tenant_health(d, tid)
    assert set(health) == KEYS | {"tenant_id"}
    assert (health["requests_24h"], health["errors_24h"], health["unauthorized_24h"]) == (5, 1, 0)
    assert (health["error_rate"], health["unauthorized_rate"]) == (0.2, 0.0)
    assert health["last_entra_call"] is not None
    assert health["likely_quarantined"] is False
    assert health["quarantine_reason"] is None
    pending = next(iter(d.outbox.pending(tid)))
    assert health["feed"] == {"backlog": 1, "oldest_pending": pending.created,
                              "dead_letters": 0, "deployment_backlog": 0,
                              "deployment_dead_letters": 0}
    d.outbox.dead_letter(tid, pending, attempts=8, error="down", now=pending.created)
    d.outbox.directory.submit([insert_op(tid, "f" * 32, "Users/x", "user.created", "{}",
                                         pending.created, seq=1, lane=DEPLOYMENT_LANE)],
                            Indexes())
    assert tenant_health(d, tid)["feed"] == {
        "backlog": 0, "oldest_pending": None, "dead_letters": 1, "deployment_backlog": 1,
        "deployment_dead_letters": 0}


def test_mostly_unauthorized_calls_flag_the_token(served: str,
                                                 served_deployment: Deployment) -> None:
    d = served_deployment
    created = create_tenant(d, "Wrong token")
    with _scim(served, created, token="scim_" + "B" * 43) as scim:
        for _ in range(MIN_REQUESTS):
            assert scim.get("/Users").status_code == 401
    assert d.service is not None
    assert d.service.audit.flush()
    health = tenant_health(d, created["tenant_id"])
    assert (health["requests_24h"], health["unauthorized_24h"], health["unauthorized_rate"]) == (
        MIN_REQUESTS, MIN_REQUESTS, 1.0)
    assert health["last_entra_call"] is None  # a refused call is nobody's we know
    assert health["likely_quarantined"] is True
    assert "Secret Token" in health["quarantine_reason"]


def test_counters_of_every_instance_are_summed_and_the_last_call_is_the_latest(
        opened_deployment: Deployment) -> None:
    d = opened_deployment
    tid = create_tenant(d, "Two instances")["tenant_id"]
    now = datetime.now(UTC)
    latest = now - timedelta(minutes=1)
    _counters(d, tid, _hour_end(now, 0), "aaaa", requests=4, errors=1,
              last=latest - timedelta(minutes=1))
    _counters(d, tid, _hour_end(now, 0), "bbbb", requests=6, errors=1, last=latest)
    _counters(d, tid, _hour_end(now, 5), "aaaa", requests=10, unauthorized=2,
              last=now - timedelta(hours=5))
    _counters(d, tid, _hour_end(now, 30), "aaaa", requests=99)  # outside the 24 h
    health = tenant_health(d, tid)
    assert (health["requests_24h"], health["errors_24h"], health["unauthorized_24h"]) == (20, 2, 2)
    assert health["last_entra_call"] == iso(latest)
    assert health["likely_quarantined"] is False


def test_a_job_that_stopped_calling_is_flagged_with_when_it_last_called(
        opened_deployment: Deployment) -> None:
    d = opened_deployment
    tid = create_tenant(d, "Stopped")["tenant_id"]
    now = datetime.now(UTC)
    last = now - timedelta(days=3)
    _counters(d, tid, _hour_end(last, 0), "aaaa", requests=40, last=last)
    health = tenant_health(d, tid)
    assert health["requests_24h"] == 0
    assert health["last_entra_call"] == iso(last)  # found beyond the window
    assert health["likely_quarantined"] is True
    assert "has not called for 72 h" in health["quarantine_reason"]


def test_a_tenant_never_called_is_not_flagged(opened_deployment: Deployment) -> None:
    d = opened_deployment
    health = tenant_health(d, create_tenant(d, "New")["tenant_id"])
    assert (health["requests_24h"], health["last_entra_call"], health["likely_quarantined"]) == (
        0, None, False)


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("requests", "errors", "unauthorized", "quiet", "expected"), [
    (MIN_REQUESTS, 0.51, 0.0, None, "failed"),
    (MIN_REQUESTS, 0.9, 0.6, None, "unauthorized"),
    (MIN_REQUESTS - 1, 1.0, 1.0, timedelta(minutes=5), None),  # too few to judge by rates
    (MIN_REQUESTS, 0.5, 0.5, timedelta(minutes=5), None),  # half is not most
    (50, 0.0, 0.0, QUIET + timedelta(minutes=1), "has not called"),
    (50, 0.0, 0.0, QUIET - timedelta(minutes=1), None),
])
def test_the_quarantine_heuristic(requests: int, errors: float, unauthorized: float,
                                  quiet: timedelta | None, expected: str | None) -> None:
    reason = quarantine_reason(requests, errors, unauthorized,
                               NOW - quiet if quiet is not None else None, NOW)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_the_overview_lists_every_tenant_with_its_health(opened_deployment: Deployment) -> None:
    d = opened_deployment
    tid = create_tenant(d, "Listed")["tenant_id"]
    [row] = [r for r in health_overview(d) if r["tenant_id"] == tid]
    assert set(row) == {"tenant_id", "name", "state", "created", "tenant_url", "tokens",
                        "health"}
    assert set(row["health"]) == KEYS


def test_health_of_an_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    with pytest.raises(ManageError) as caught:
        tenant_health(opened_deployment, "nosuchtenant0")
    assert caught.value.status == 404


def test_the_overview_reads_each_tenant_under_the_callers_storage_deadline(
        opened_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview reads tenants on threads of its own: each read carries the deadline of the
    request that asked (a hung storage costs the API call a 503, not a held thread), and each
    tenant gets its own health back, whatever order the threads finish in."""
    from shared.manage import health
    from shared.store import deadline

    d = opened_deployment
    ids = [create_tenant(d, f"Deadline {n}")["tenant_id"] for n in range(3)]
    seen: dict[str, float | None] = {}
    real = health._health

    def observed(d: Deployment, tenant_id: str, now: datetime) -> dict[str, Any]:
        seen[tenant_id] = deadline.expires_at()
        return {**real(d, tenant_id, now), "for": tenant_id}

    monkeypatch.setattr(health, "_health", observed)
    with deadline.within(60):
        expected = deadline.expires_at()
        rows = health_overview(d)
    assert all(row["health"]["for"] == row["tenant_id"] for row in rows)
    assert {tid: seen[tid] for tid in ids} == dict.fromkeys(ids, expected)
