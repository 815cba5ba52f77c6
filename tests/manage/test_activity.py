"""Activity over Azurite (`shared.manage.activity`): creates, updates, deactivations, deletes
and errors of a tenant's audit log in time buckets, every bucket present; entries written
before deactivations were recorded count as updates; bucketing is exact for any entry times
(hypothesis); parameters out of range are a 400."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.manage.activity import KINDS, activity, classify, first_bucket, series
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from shared.store.layout import audit_partition, audit_row_key
from shared.timestamps import iso, parse_iso

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _totals(result: dict[str, Any]) -> dict[str, int]:
    return {kind: sum(b[kind] for b in result["series"]) for kind in KINDS}


def test_a_provisioning_cycle_is_counted_by_kind(served: str,
                                                 served_deployment: Deployment) -> None:
    d = served_deployment
    created = create_tenant(d, "Active")
    tid = created["tenant_id"]
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30,
                      headers={"Authorization": f"Bearer {created['token']}"}) as scim:
        uid = scim.post("/Users", json={"schemas": [USER], "userName": "a@x.test"}).json()["id"]
        other = scim.post("/Users", json={"schemas": [USER], "userName": "b@x.test"}
                          ).json()["id"]
        for path, value in (("title", "Boss"), ("active", False)):
            assert scim.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": path, "value": value}]}).status_code == 200
        assert scim.post("/Users", json={"schemas": [USER], "userName": "a@x.test"}
                         ).status_code == 409
        assert scim.get("/Users").status_code == 200  # a read: not activity
        assert scim.delete(f"/Users/{other}").status_code == 204
        scim.headers["Authorization"] = "Bearer scim_" + "C" * 43
        assert scim.get("/Users").status_code == 401
        assert scim.get("/Users").status_code == 401
    assert d.service is not None
    assert d.service.audit.flush()
    result = activity(d, tid, hours=2, bucket_minutes=30)
    assert result["tenant_id"] == tid
    assert result["bucket_minutes"] == 30
    assert len(result["series"]) == 4
    starts = [parse_iso(b["start"]) for b in result["series"]]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(starts))
    assert starts[-1] <= datetime.now(UTC) < starts[-1] + timedelta(minutes=30)
    assert _totals(result) == {"creates": 2, "updates": 1, "deactivations": 1, "deletes": 1,
                               "errors": 3}  # the 409 and the two 401s (counted per minute)


def test_entries_before_the_change_field_count_as_updates_and_old_ones_are_left_out(
        opened_deployment: Deployment) -> None:
    d = opened_deployment
    tid = create_tenant(d, "Legacy")["tenant_id"]
    now = datetime.now(UTC)

    def entry(at: datetime, method: str, status: int, **extra: Any) -> dict[str, Any]:
        return {"PartitionKey": audit_partition(tid), "RowKey": audit_row_key(at),
                "time": iso(at), "method": method, "path": "/Users/x", "status": status,
                **extra}

    d.audit.insert_many([
        entry(now - timedelta(minutes=5), "PATCH", 200),  # written before `change` existed
        entry(now - timedelta(minutes=4), "PATCH", 200, change="deactivated"),
        entry(now - timedelta(minutes=3), "PUT", 200, change="reactivated"),
        entry(now - timedelta(hours=3), "POST", 201),  # before the window
    ])
    assert _totals(activity(d, tid, hours=1, bucket_minutes=1)) == {
        "creates": 0, "updates": 2, "deactivations": 1, "deletes": 0, "errors": 0}


@pytest.mark.parametrize(("hours", "bucket"), [(0, 60), (24 * 91, 60), (24, 0), (24, 1441),
                                               (720, 1), (True, 60), (24, 1.5)])
def test_parameters_out_of_range_are_refused(opened_deployment: Deployment, hours: Any,
                                             bucket: Any) -> None:
    with pytest.raises(ManageError) as caught:
        activity(opened_deployment, "any", hours=hours, bucket_minutes=bucket)
    assert caught.value.status == 400


def test_activity_of_an_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    with pytest.raises(ManageError) as caught:
        activity(opened_deployment, "nosuchtenant0")
    assert caught.value.status == 404


@pytest.mark.parametrize(("entry", "expected"), [
    ({"method": "POST", "status": 201}, ("creates", 1)),
    ({"method": "POST", "status": 200, "path": "/oauth2/token"}, (None, 0)),
    ({"method": "PATCH", "status": 204}, ("updates", 1)),
    ({"method": "DELETE", "status": 204}, ("deletes", 1)),
    ({"method": "DELETE", "status": 404}, ("errors", 1)),
    ({"method": "", "status": 401, "count": 7}, ("errors", 7)),
])
def test_classification(entry: dict[str, Any], expected: tuple[str | None, int]) -> None:
    assert classify(entry) == expected


BASE = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(offsets=st.lists(st.integers(-10 * 3600, 40 * 3600), max_size=40),
       bucket=st.sampled_from([1, 5, 15, 60, 90, 1440]), hours=st.integers(1, 30),
       now_offset=st.integers(0, 86_399))
def test_every_entry_in_the_window_lands_in_the_one_bucket_holding_its_time(
        offsets: list[int], bucket: int, hours: int, now_offset: int) -> None:
    now = BASE + timedelta(days=1, seconds=now_offset)
    count = -(-hours * 60 // bucket)
    first = first_bucket(now, bucket, count)
    times = [now - timedelta(seconds=o) for o in offsets]
    entries = [{"time": iso(t), "method": "POST", "status": 201} for t in times]
    buckets = series(entries, first, bucket, count)
    assert len(buckets) == count
    starts = [parse_iso(b["start"]) for b in buckets]
    width = timedelta(minutes=bucket)
    assert starts[-1] <= now < starts[-1] + width
    assert starts[0] <= now - timedelta(hours=hours) + width  # the window is covered
    for start, counted in zip(starts, buckets, strict=True):
        inside = sum(1 for t in times
                     if start <= parse_iso(iso(t)) < start + width)
        assert counted["creates"] == inside
        assert counted["errors"] == counted["updates"] == 0
    assert sum(b["creates"] for b in buckets) == sum(
        1 for t in times if starts[0] <= parse_iso(iso(t)) < starts[-1] + width)
