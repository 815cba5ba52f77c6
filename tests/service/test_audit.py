"""The audit log: authenticated writes (whatever their outcome) are recorded, newest first, with
ids but no tokens or attribute values; authentication failures are counted per existing tenant
and minute, and leave no trace in the partitions of tenant ids that do not exist; recording
never fails or slows a request; the CLI shows it; the reconciler purges old entries."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.admin.__main__ import main as admin
from shared.service import audit
from shared.service.app import ScimService
from shared.service.reconcile import run
from shared.store import audit as audit_store
from shared.store.audit import AuditTable
from shared.store.layout import audit_partition, audit_row_key
from tests.support.storage_faults import hooked, inject

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _entries(service: ScimService, tenant: str) -> list[dict[str, Any]]:
    assert service.audit.flush()
    return list(AuditTable(service.tables.audit).query(tenant))


def _create_users(client: httpx.Client, prefix: str, count: int) -> None:
    for n in range(count):
        assert client.post("/Users", json={"schemas": [USER], "userName": f"{prefix}{n}@x.test"}
                           ).status_code == 201


def test_writes_and_auth_failures_are_recorded_without_secrets_or_values(
        served: str, client: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    tid, token = tenant
    r = client.post("/Users", json={"schemas": [USER], "userName": "secret.name@x.test",
                                    "title": "Secret Title"})
    uid = r.json()["id"]
    assert client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": "Other Secret"}]}).status_code == 200
    assert client.post("/Users", json={"schemas": [USER], "userName": "secret.name@x.test"}
                       ).status_code == 409
    assert client.get("/Users", params={"filter": 'userName eq "secret.name@x.test"'}
                      ).status_code == 200  # a read: not audited
    assert client.post("/Users/.search", json={"filter": 'userName eq "x"'}).status_code == 200
    assert client.delete(f"/Users/{uid}").status_code == 204
    base = f"{served}/scim/v2/{tid}"
    wrong = "scim_" + "A" * 43
    assert httpx.get(f"{base}/Users", headers={"Authorization": f"Bearer {wrong}"}
                     ).status_code == 401
    assert httpx.post(f"{base}/Users", json={"userName": "nobody@x.test"}).status_code == 401

    everything = got = _entries(scim_service, tid)
    failures = [e for e in got if "count" in e]
    assert [(f["status"], f["count"], json.loads(f["reasons"])) for f in failures] == [
        (401, 2, {"no authorization header": 1, "wrong token": 1})]
    assert failures[0]["firstTime"] <= failures[0]["lastTime"]
    got = [e for e in got if "count" not in e]
    assert [(e["method"], e["status"]) for e in got] == [
        ("DELETE", 204), ("POST", 409), ("PATCH", 200), ("POST", 201)]
    created = got[-1]
    assert created["resourceId"] == uid  # the new id, though the URL had none
    assert created["path"] == "/Users"
    assert got[0]["path"] == f"/Users/{uid}"
    assert got[1]["scimType"] == "uniqueness"
    assert all(e["requestId"] and e["latencyMs"] >= 0 and e["time"] for e in got)
    assert [e["time"] for e in got] == sorted((e["time"] for e in got), reverse=True)
    text = json.dumps(everything)
    for secret in (token, wrong, "secret.name", "Secret Title", "Other Secret", "Bearer"):
        assert secret not in text


def test_an_audit_batch_whose_response_was_lost_is_sent_again_and_lands_once(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's batch reaches storage and commits, then its response is lost (a timeout,
    or a pooled connection the server closed): the batch is retried, not dropped, and the
    retry of rows that already landed neither fails nor duplicates them."""
    tid, _ = tenant
    monkeypatch.setattr(audit_store, "_RETRY_DELAY", 0.01)
    lost: list[str] = []
    dropped_before = scim_service.audit.dropped

    def lose_first_response(request: Any, send: Any) -> Any:
        if threading.current_thread().name == "audit-writer" and not lost:
            lost.append(request.method)
            return inject("timeout", request, send)
        return send(request)

    with hooked(lose_first_response):
        _create_users(client, "lost", 3)
        got = _entries(scim_service, tid)
    assert lost == ["POST"]
    assert scim_service.audit.dropped == dropped_before
    assert sorted((e["method"], e["status"]) for e in got) == [("POST", 201)] * 3
    assert len({e["RowKey"] for e in got}) == 3


def test_entries_of_requests_in_quick_succession_share_one_batch(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequential requests (Entra's cycle is mostly that) must not cost the writer a storage
    transaction each: it lingers after the first entry of a batch and collects the rest.
    (A linger of a second here, so that a slow machine cannot split the five requests.)"""
    tid, _ = tenant
    assert scim_service.audit.flush()
    assert audit.AuditWriter(lambda batch: None)._linger > 0  # the default lingers too
    monkeypatch.setattr(scim_service, "audit", audit.AuditWriter(
        AuditTable(scim_service.tables.audit).insert_many, linger=1.0))
    batches: list[str] = []

    def count_audit_batches(request: Any, send: Any) -> Any:
        if threading.current_thread().name == "audit-writer":
            batches.append(request.method)
        return send(request)

    with hooked(count_audit_batches):
        _create_users(client, "quick", 5)
        got = _entries(scim_service, tid)
    assert sorted((e["method"], e["status"]) for e in got) == [("POST", 201)] * 5
    # One transaction for the five entries, one for the tenant's request counters (a
    # partition of their own) that the flush writes.
    assert batches == ["POST", "POST"]


def _partitions_from(service: ScimService, prefix: str) -> list[str]:
    rows = service.tables.audit.query_entities(
        "PartitionKey ge @lo and PartitionKey lt @hi",
        parameters={"lo": prefix, "hi": prefix + "~"}, select=["PartitionKey"])
    return sorted({r["PartitionKey"] for r in rows})


_UNKNOWN_REPORT = re.compile(r"(\d+) for unknown tenant ids")


def test_failures_for_tenant_ids_that_do_not_exist_create_no_audit_partition(
        served: str, scim_service: ScimService, caplog: pytest.LogCaptureFixture) -> None:
    """500 refused requests, each under a tenant id of its own that names no tenant (with no
    token, a wrong one, a JWT-shaped one; reads and writes): not one audit row for them."""
    prefix = f"nx{uuid.uuid4().hex[:8]}"
    bearers = [None, "Bearer scim_guess", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "Basic eA=="]
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    caplog.set_level(logging.WARNING, logger="scim.audit")
    assert scim_service.audit.flush()  # reports (and resets) earlier tests' failures
    caplog.clear()
    with httpx.Client(base_url=f"{served}/scim/v2", timeout=30) as anon:
        for n in range(500):
            bearer = bearers[n % len(bearers)]
            r = anon.request(methods[n % len(methods)], f"/{prefix}{n:04d}/Users/abc",
                             headers={"Authorization": bearer} if bearer else {})
            assert r.status_code == 401
    assert scim_service.audit.flush()
    assert _partitions_from(scim_service, prefix) == []
    # Still counted, all 500: the writer reports once a minute, so perhaps in two lines.
    reported = [int(m.group(1)) for m in map(_UNKNOWN_REPORT.search, caplog.messages) if m]
    assert sum(reported) == 500, caplog.messages
    assert not any(prefix in m for m in caplog.messages)  # without their (client's) ids


def test_failures_for_an_existing_tenant_are_one_counted_row_per_minute(
        served: str, scim_service: ScimService, tenant: tuple[str, str]) -> None:
    """(Half without any token: this instance knows the tenant exists because Entra's calls
    made it read the tenant, as the first request here does.)"""
    tid, token = tenant
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/Users").status_code == 200  # a read: not audited
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30) as anon:
        for n in range(500):
            headers = {"Authorization": f"Bearer scim_wrong{n}"} if n % 2 else {}
            assert anon.request("DELETE" if n % 3 else "GET", f"/Users/u{n}",
                                headers=headers).status_code == 401
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.delete("/Users/nobody").status_code == 404  # authenticated: an entry
    got = _entries(scim_service, tid)
    failures = [e for e in got if "count" in e]
    assert 1 <= len(failures) <= 2  # 2 when the requests straddle a minute
    assert sum(f["count"] for f in failures) == 500
    assert all(f["status"] == 401 and f["method"] == "" for f in failures)
    reasons: dict[str, int] = {}
    for f in failures:
        for reason, count in json.loads(f["reasons"]).items():
            reasons[reason] = reasons.get(reason, 0) + count
    assert reasons == {"no authorization header": 250, "wrong token": 250}
    assert [(e["method"], e["path"], e["status"]) for e in got if "count" not in e] == [
        ("DELETE", "/Users/nobody", 404)]


def test_failure_counters_are_bounded_and_written_once_their_minute_is_over() -> None:
    counts = audit.FailureCounts(max_keys=10)
    at = datetime.now(UTC)
    for n in range(1000):
        counts.add(f"tenant{n}", 401, f"reason{n % 20}", at, known=True)
        counts.add(f"random{n}", 401, "unknown tenant", at, known=False)
    for n in range(100):
        counts.add("tenant0", 401, f"reason{n}", at, known=True)
    assert counts.report() == (1000, 990)
    rows = counts.take(None)
    assert len(rows) == 10
    first = next(r for r in rows if r["tenant"] == "tenant0")
    assert first["count"] == 101
    assert len(json.loads(first["reasons"])) <= 9  # 8 reasons and "other"

    written: list[dict[str, Any]] = []
    writer = audit.AuditWriter(written.extend, linger=0, tick=0.05)
    writer.failure("t1", 401, "wrong token", known=True, at=at - timedelta(minutes=2))
    writer.failure("t1", 401, "wrong token", known=True)  # this minute: not yet
    deadline = time.monotonic() + 5
    while not written and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(r["tenant"], r["count"]) for r in written] == [("t1", 1)]  # without a flush


def test_audit_failures_never_fail_or_slow_the_request(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scim")

    def slow_and_broken(entries: Sequence[dict[str, Any]]) -> None:
        time.sleep(0.5)
        raise RuntimeError("storage down")

    monkeypatch.setattr(scim_service.audit, "_write", slow_and_broken)
    started = time.perf_counter()
    r = client.post("/Users", json={"schemas": [USER], "userName": "a@x.test"})
    assert r.status_code == 201
    assert time.perf_counter() - started < 0.4  # the write is off the request path
    assert scim_service.audit.flush()
    assert any("audit write failed" in m for m in caplog.messages)

    def broken_entry(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError("bug")

    monkeypatch.setattr(audit, "entry", broken_entry)
    r = client.post("/Users", json={"schemas": [USER], "userName": "b@x.test"})
    assert r.status_code == 201
    assert any("audit entry not recorded" in m for m in caplog.messages)


def test_cli_shows_the_audit_log_as_a_table(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    tid = tenant[0]
    client.post("/Users", json={"schemas": [USER], "userName": "c@x.test"})
    client.post("/Users", json={"schemas": [USER], "userName": "c@x.test"})
    client.delete("/Users/0000")
    assert scim_service.audit.flush()
    capsys.readouterr()
    assert admin(["audit", tid]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:5] == ["time", "method", "path", "resource", "id"]
    assert [line.split()[1] for line in lines[1:]] == ["DELETE", "POST", "POST"]
    assert admin(["audit", tid, "--status", "4xx", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["status"] for r in rows) == [404, 409]
    assert admin(["audit", tid, "--status", "201", "--since", "1h"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert admin(["audit", tid, "--since", future, "--json"]) == 0
    assert capsys.readouterr().out == "[]\n"


def test_reconciler_purges_entries_past_retention(
        client: httpx.Client, scim_service: ScimService, feed_service: ScimService,
        tenant: tuple[str, str]) -> None:
    tid = tenant[0]
    client.post("/Users", json={"schemas": [USER], "userName": "keep@x.test"})
    assert scim_service.audit.flush()
    old = datetime.now(UTC) - timedelta(days=31)
    AuditTable(scim_service.tables.audit).insert_many([
        {"PartitionKey": audit_partition(tid), "RowKey": audit_row_key(old), "method": "POST",
         "status": 201} for _ in range(3)])
    assert len(_entries(scim_service, tid)) == 4
    service = ScimService(feed_service.settings.model_copy(
        update={"audit_retention_days": 30.0}), feed_service.tables)
    assert run(service, tenants=[tid])["audit_purged"] == 3
    assert [e["status"] for e in _entries(scim_service, tid)] == [201]


def test_issued_tokens_are_recorded_and_refused_token_requests_counted(
        served: str, scim_service: ScimService) -> None:
    """The token endpoint: an issued token is an entry (the client as the resource, no secret,
    no token); refusals whose client id names an existing tenant are counted under it; a client
    id naming no tenant writes nothing."""
    from datetime import UTC, datetime

    from shared.auth import clients
    from shared.auth.tenants import new_tenant_id
    from shared.store.tenants import Tenant
    from shared.timestamps import now_iso

    record = Tenant(id=new_tenant_id(), name="oauth-audit", created=now_iso())
    client = clients.add_client(record, datetime.now(UTC))
    secret = clients.add_secret(client, datetime.now(UTC))
    scim_service.tenants.create(record)
    grant = {"grant_type": "client_credentials"}

    def token(client_id: str, given: str) -> httpx.Response:
        return httpx.post(f"{served}/oauth2/token", data=grant, auth=(client_id, given),
                          timeout=30)

    issued = token(client.id, secret)
    assert issued.status_code == 200, issued.text
    for n in range(3):
        assert token(client.id, f"{secret}{n}").status_code == 401
    assert token(f"{record.id}.0123456789abcdef", secret).status_code == 401
    nobody = f"nx{uuid.uuid4().hex[:10]}"
    assert token(f"{nobody}.0123456789abcdef", secret).status_code == 401
    got = _entries(scim_service, record.id)
    assert [(e["method"], e["path"], e["resourceId"], e["status"]) for e in got
            if "count" not in e] == [("POST", "/oauth2/token", client.id, 200)]
    failures = [e for e in got if "count" in e]
    reasons: dict[str, int] = {}
    for f in failures:
        for reason, count in json.loads(f["reasons"]).items():
            reasons[reason] = reasons.get(reason, 0) + count
    assert reasons == {"token: wrong secret": 3, "token: unknown client": 1}
    text = json.dumps(got)
    assert secret not in text
    assert issued.json()["access_token"] not in text
    assert _partitions_from(scim_service, nobody) == []


def test_a_users_deactivation_and_reactivation_are_told_apart_from_updates(
        client: httpx.Client, scim_service: ScimService, tenant: tuple[str, str]) -> None:
    tid, _ = tenant
    uid = client.post("/Users", json={"schemas": [USER], "userName": "flip@x.test"}).json()["id"]

    def patch(path: str, value: Any) -> None:
        assert client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": path, "value": value}]}).status_code == 200

    patch("title", "Engineer")
    patch("active", False)
    patch("title", "Former engineer")  # still inactive: an update, not a deactivation
    patch("active", False)  # no change at all
    assert client.put(f"/Users/{uid}", json={"schemas": [USER], "userName": "flip@x.test",
                                             "active": True}).status_code == 200
    changes = [(e["method"], e.get("change")) for e in reversed(_entries(scim_service, tid))]
    assert changes == [("POST", None), ("PATCH", None), ("PATCH", "deactivated"),
                       ("PATCH", None), ("PATCH", None), ("PUT", "reactivated")]


def test_every_request_of_an_existing_tenant_is_counted_reads_and_refusals_too(
        served: str, client: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    tid, _ = tenant
    assert client.get("/Users").status_code == 200
    assert client.get("/Users/nosuchuser").status_code == 404
    assert client.post("/Users", json={"schemas": [USER], "userName": "n@x.test"}
                       ).status_code == 201
    wrong = {"Authorization": "Bearer scim_" + "A" * 43}
    assert httpx.get(f"{served}/scim/v2/{tid}/Users", headers=wrong).status_code == 401
    nobody = "t" + uuid.uuid4().hex[:12]
    assert httpx.get(f"{served}/scim/v2/{nobody}/Users", headers=wrong).status_code == 401
    assert scim_service.audit.flush()
    table = AuditTable(scim_service.tables.audit)
    rows = list(table.request_counts(tid))
    assert (sum(r["requests"] for r in rows), sum(r["errors"] for r in rows),
            sum(r["unauthorized"] for r in rows)) == (4, 2, 1)
    assert max(r["lastTime"] for r in rows) > ""
    assert list(table.request_counts(nobody)) == []  # no partition for a tenant that is not
