"""The tenant page with its activity chart, as docs/images/console.png shows it, and the tenant
list with health, for a tenant with a day of Entra's provisioning cycles: its audit log and
request counters for the earlier hours written as the service writes them, with their past
times; this hour real SCIM requests over HTTP; and a dead letter. The test checks what the
pages draw from that data; with CONSOLE_SCREENSHOT=docs it also rewrites
docs/images/console.png (1280 x 1000).

    CONSOLE_SCREENSHOT=docs .venv/bin/pytest tests/console/test_screenshot.py -n 0"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.service import audit
from shared.service.app import ScimService
from shared.service.messages import ScimRequest, ScimResponse
from shared.service.request_stats import RequestStats
from shared.store.audit import AuditTable
from shared.store.outbox import Outbox
from shared.timestamps import now_iso, parse_iso
from tests.console.conftest import Console

pytestmark = pytest.mark.served

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGE = ROOT / "docs" / "images" / "console.png"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def past_day(tenant_id: str) -> list[dict[str, Any]]:
    """Audit entries of 23 hours of Entra cycles (about every 40 minutes), before this hour."""
    rng = random.Random(19)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    entries = []

    def add(method: str, status: int, at: datetime, user: str, change: str = "") -> None:
        request = ScimRequest(method=method, tenant=tenant_id, resource="Users",
                              id=None if method == "POST" else user)
        response = ScimResponse(status=status, body={"id": user} if status == 201 else None)
        entry = audit.entry(request, response, latency_ms=12.0, request_id=f"r{len(entries)}",
                            at=at)
        if change:
            entry["change"] = change  # what the service records for a (de)activating PATCH
        entries.append(entry)

    for minutes in range(23 * 60, 0, -40):
        at = now - timedelta(minutes=minutes)
        morning = 7 <= at.hour <= 10
        for n in range(rng.randint(8, 22) + (rng.randint(10, 25) if morning else 0)):
            add("PATCH", 200, at + timedelta(seconds=n), f"u{rng.randint(1, 400)}")
        for n in range(rng.choice([0, 0, 1, 3, 6]) + (rng.randint(4, 12) if morning else 0)):
            add("POST", 201, at + timedelta(seconds=30 + n), f"new{minutes}-{n}")
        for n in range(rng.choice([0, 0, 1, 2, 4])):
            add("PATCH", 200, at + timedelta(seconds=50 + n), f"u{rng.randint(1, 400)}",
                change="deactivated")
        for n in range(rng.choice([0, 0, 0, 1, 2])):
            add("DELETE", 204, at + timedelta(seconds=60 + n), f"u{rng.randint(1, 400)}")
        for n in range(rng.choice([0, 0, 0, 0, 1, 2])):
            add("PATCH", 409, at + timedelta(seconds=90 + n), f"u{rng.randint(1, 400)}")
    return entries


def test_the_tenant_page_draws_the_days_activity(
        console: Console, admin_credential: str, scim_service: ScimService, client: Any,
        outbox: Outbox, tenant: tuple[str, str]) -> None:
    tenant_id = tenant[0]
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    record.name = "Contoso (production)"
    scim_service.tenants.save(record)
    started = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    entries = past_day(tenant_id)
    AuditTable(scim_service.tables.audit).insert_many(entries)
    # The request counters tenant health reads, for the same day: each write above, and the
    # GET Entra sends before each (its filter on userName or id).
    counters = RequestStats(instance="backfill")
    for entry in entries:
        at = parse_iso(entry["time"])
        counters.add(tenant_id, 200, at - timedelta(seconds=1), authenticated=True)
        counters.add(tenant_id, entry["status"], at, authenticated=True)
    AuditTable(scim_service.tables.audit).insert_many(counters.take(datetime.now(UTC)))
    # This hour: real requests over HTTP (the audit writer records them in the background).
    made = [client.post("/Users", json={"schemas": [USER], "userName": f"s{i}@contoso.example",
                                         "active": True}).json()["id"] for i in range(4)]
    client.patch(f"/Users/{made[0]}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert client.delete(f"/Users/{made[1]}").status_code == 204
    assert scim_service.audit.flush()  # this hour's entries and counters, written now
    [row, *_] = list(outbox.pending(tenant_id))
    outbox.dead_letter(tenant_id, row, attempts=12, error="HTTP 503 from receiver", now=now_iso())

    console.page.set_viewport_size({"width": 1280, "height": 1000})
    console.sign_in(admin_credential)
    console.page.goto(f"{console.base_url}/console/#/tenants/{tenant_id}")
    page = console.page
    chart = page.get_by_role("img", name="Provisioning activity")
    expect(chart).to_be_visible()
    assert page.locator("svg.chart .series polyline").count() == 5
    # What the chart says in words is what the audit log holds.
    creates = sum(1 for e in entries if e["method"] == "POST")
    description = page.locator("svg.chart desc").text_content() or ""
    assert f"{creates + 4} creates" in description or f"{creates} creates" in description
    page.get_by_text("Show the numbers as a table").click()
    expect(page.get_by_role("table").filter(has_text="Activity per bucket")).to_be_visible()
    page.get_by_text("Show the numbers as a table").click()
    assert console.unnamed_controls() == []

    page.evaluate("window.scrollTo(0, 0)")
    shot = console.shot("tenant-page")
    if os.environ.get("CONSOLE_SCREENSHOT") == "docs":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGE), full_page=False,
                        clip={"x": 0, "y": 0, "width": 1280, "height": 1000})
        assert DOCS_IMAGE.stat().st_size < 300_000
    assert shot.stat().st_size > 0

    # The same tenant in the list: its health from the counters of the day.
    page.get_by_role("link", name="Tenants", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text="Contoso (production)").filter(
        has_text=tenant_id)
    expect(row).to_contain_text("Healthy")
    expect(row).to_contain_text("just now")
    # The day's writes and the reads before them, and this hour's six requests over HTTP (unless
    # an hour began meanwhile: the 24 hours then leave the day's first hour out).
    if datetime.now(UTC).replace(minute=0, second=0, microsecond=0) == started:
        expect(row.locator('td[data-label="Requests, 24 h"]')).to_have_text(
            f"{2 * len(entries) + 6:,}")
