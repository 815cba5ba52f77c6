"""Offboarding over Azurite (`shared.manage.tenants.delete_tenant`): a tenant with users,
groups, memberships, events (pending, published, dead-lettered), audit entries, request
counters, token last use, undeclared attributes and repair progress is deleted without a
trace in any table while another tenant's rows stay as they were; SCIM with its token is
refused from the mark on; a budget-cut deletion resumes; rows written before the settle time
are purged too; progress is told every 1000 rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.manage import tenants as tenant_ops
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant, delete_tenant, show_tenant
from shared.store import layout
from shared.store.backend import upsert
from shared.store.feed_log import FeedLog, Route
from shared.store.invariants import Progress
from shared.store.outbox import Outbox
from shared.timestamps import now_iso

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No wait for other instances' cached sessions (a test has no other instance)."""
    monkeypatch.setattr(tenant_ops, "SETTLE_SECONDS", 0.0)


def _scim(served: str, created: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=f"{served}/scim/v2/{created['tenant_id']}", timeout=30,
                        headers={"Authorization": f"Bearer {created['token']}"})


def _populate(d: Deployment, served: str, created: dict[str, Any]) -> None:
    """Every kind of row a tenant gets in normal use."""
    tid = created["tenant_id"]
    with _scim(served, created) as scim:
        users = [scim.post("/Users", json={
            "schemas": [USER], "userName": f"u{n}@x.test", "externalId": f"e{n}",
            "emails": [{"value": f"u{n}@x.test", "type": "work"}]}).json()["id"]
            for n in range(3)]
        assert scim.post("/Groups", json={"schemas": [GROUP], "displayName": "Staff",
                                          "members": [{"value": u} for u in users]}
                         ).status_code == 201
        assert scim.delete(f"/Users/{users[0]}").status_code == 204
        assert scim.get("/Users").status_code == 200
    assert d.service is not None
    d.tenants.record_undeclared(tid, [("badgeColour", "User", "string")], now_iso())
    FeedLog(d.service.directory).publish(tid, lambda _t: Route(tenant=True),
                                         now=datetime.now(UTC), limit=2)
    outbox = Outbox(d.service.directory)
    dead = next(iter(outbox.pending(tid)))
    outbox.dead_letter(tid, dead, attempts=8, error="down", now=dead.created)
    d.runs.save_repair_progress(tid, Progress(after="U:x"), etag=None, owner="t",
                                lease_until="2026-01-01T00:00:00.000Z")
    d.runs.mark(layout.repair_mark(tid), "2026-01-01T00:00:00.000Z")
    assert d.service.audit.flush()


def _rows(d: Deployment, tenant_id: str) -> dict[str, list[str]]:
    """Every row keyed by the tenant, by table (RowKeys; runs rows as partition/row)."""
    def keys(table: Any, partition: str) -> list[str]:
        return [str(e["RowKey"]) for e in table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"])]

    runs = [f"{e['PartitionKey']}/{e['RowKey']}" for e in d.tables.runs.query_entities(
        "RowKey eq @t or RowKey eq @mark",
        parameters={"t": tenant_id, "mark": layout.repair_mark(tenant_id)},
        select=["PartitionKey", "RowKey"])]
    return {"data": keys(d.tables.data, tenant_id),
            "audit": keys(d.tables.audit, layout.audit_partition(tenant_id)),
            "stats": keys(d.tables.audit, layout.stats_partition(tenant_id)),
            "tenants": keys(d.tables.tenants, tenant_id), "runs": runs}


def _tags(row_keys: list[str]) -> set[str]:
    return {layout.tag(k) for k in row_keys}


@pytest.fixture
def neighbour(served: str, served_deployment: Deployment) -> Iterator[dict[str, Any]]:
    created = create_tenant(served_deployment, "Neighbour")
    _populate(served_deployment, served, created)
    return created


def test_deletion_leaves_no_row_of_the_tenant_and_every_row_of_another(
        served: str, served_deployment: Deployment, neighbour: dict[str, Any],
        settled: None) -> None:
    d = served_deployment
    created = create_tenant(d, "Leaving")
    tid = created["tenant_id"]
    _populate(d, served, created)
    before = _rows(d, tid)
    # What it had: the test covers each kind of row, or it could pass on an empty tenant.
    assert {"U", "G", "UN", "UX", "UE", "GN", "M", "R", "E", "DL", "P", "PX", "C"} <= _tags(
        before["data"])
    assert before["audit"]
    assert before["stats"]
    assert len(before["runs"]) == 2
    assert {"tenant", "use"} <= {k.partition(":")[0] for k in before["tenants"]}
    assert any(k.startswith(layout.UNDECLARED_PREFIX) for k in before["tenants"])
    theirs = _rows(d, neighbour["tenant_id"])

    lines: list[str] = []
    outcome = delete_tenant(d, tid, progress=lines.append)

    assert outcome == {"tenant_id": tid, "complete": True, "removed": {
        "data_rows": len(before["data"]),
        "audit_rows": len(before["audit"]) + len(before["stats"]),
        "other_rows": len(before["tenants"]) + len(before["runs"])}}
    assert _rows(d, tid) == {"data": [], "audit": [], "stats": [], "tenants": [], "runs": []}
    assert _rows(d, neighbour["tenant_id"]) == theirs
    assert lines[0].endswith("its requests are refused")
    assert "deleted" in lines[-1]
    with pytest.raises(ManageError) as caught:
        show_tenant(d, tid)
    assert caught.value.status == 404
    with _scim(served, created) as scim:
        assert scim.get("/Users").status_code == 401
    with _scim(served, neighbour) as scim:
        assert scim.get("/Users").status_code == 200


def test_a_budget_cut_deletion_refuses_scim_at_once_and_resumes(
        served: str, served_deployment: Deployment, settled: None) -> None:
    d = served_deployment
    created = create_tenant(d, "Large")
    tid = created["tenant_id"]
    with _scim(served, created) as scim:
        assert scim.get("/Users").status_code == 200  # its session is cached now
    d.tables.data.submit_transaction([upsert({"PartitionKey": tid, "RowKey": f"Z:{n:04d}"})
                                      for n in range(100)])
    d.tables.data.submit_transaction([upsert({"PartitionKey": tid, "RowKey": f"Z:{n:04d}"})
                                      for n in range(100, 150)])
    first = delete_tenant(d, tid, budget_seconds=0.0)
    assert first == {"tenant_id": tid, "complete": False,
                     "removed": {"data_rows": 100, "audit_rows": 0, "other_rows": 0}}
    assert show_tenant(d, tid)["state"] == "deleting"
    with _scim(served, created) as scim:
        assert scim.get("/Users").status_code == 401
    rest = delete_tenant(d, tid, budget_seconds=30.0)
    assert rest["complete"] is True
    # Other rows: the token's last use (the GET above) and the record itself.
    assert rest["removed"]["data_rows"] == 50
    assert rest["removed"]["other_rows"] == 2
    assert _rows(d, tid)["data"] == []
    assert d.tenants.get(tid) is None


def test_a_write_that_slipped_in_before_the_settle_time_is_purged_too(
        opened_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    d = opened_deployment
    monkeypatch.setattr(tenant_ops, "SETTLE_SECONDS", 1.5)
    tid = create_tenant(d, "Racing")["tenant_id"]
    d.tables.data.upsert_entity({"PartitionKey": tid, "RowKey": "U:early"})
    short = delete_tenant(d, tid, budget_seconds=0.5)
    assert short["complete"] is False
    assert short["removed"]["data_rows"] == 1
    lines: list[str] = []

    def late_write(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting"):  # an instance's request accepted before the mark
            d.tables.data.upsert_entity({"PartitionKey": tid, "RowKey": "U:late"})

    done = delete_tenant(d, tid, progress=late_write)
    assert done["complete"] is True
    assert done["removed"]["data_rows"] == 1
    assert any(line.startswith("waiting") for line in lines)
    assert _rows(d, tid)["data"] == []


def test_progress_is_told_per_thousand_rows(opened_deployment: Deployment,
                                            settled: None) -> None:
    d = opened_deployment
    tid = create_tenant(d, "Chatty")["tenant_id"]
    for start in range(0, 2300, 100):
        d.tables.data.submit_transaction([upsert({"PartitionKey": tid, "RowKey": f"Z:{n:05d}"})
                                          for n in range(start, start + 100)])
    lines: list[str] = []
    assert delete_tenant(d, tid, progress=lines.append)["removed"]["data_rows"] == 2300
    assert [line for line in lines if line.endswith("rows deleted")] == [
        "1000 rows deleted", "2000 rows deleted"]


def test_deleting_an_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    with pytest.raises(ManageError) as caught:
        delete_tenant(opened_deployment, "nosuchtenant0")
    assert caught.value.status == 404
