"""The reconciler run: a chunked change killed midway is completed (and its event delivered),
after which every store invariant holds; a repair pass cut off by its budget goes on run by
run from where it stopped and finishes, and a pass another run holds is left to it;
retention deletes exactly the users past the limit (with DELETE's events); client secrets
about to expire are counted and logged; /health reports the last run. With queues on
(Azurite's Queue service, queues of each test's own), the timer schedules one work item per
tenant, and draining the work queue runs each tenant's steps, alone and within its budget."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared import telemetry
from shared.auth import clients
from shared.service import reconcile, tenant_schemas
from shared.service.app import ScimService
from shared.service.kinds import GROUPS, USERS, stored_indexes
from shared.service.messages import ScimRequest
from shared.service.reconcile import run
from shared.service.repair_slots import latest_slot
from shared.store import connection, invariants, layout
from shared.store.backend import upsert
from shared.store.directory import Indexes
from shared.store.errors import Unavailable
from shared.store.feed_log import FeedLog, Route
from shared.store.invariants import Progress
from shared.store.layout import GROUP, USER, new_id
from shared.store.outbox import DEPLOYMENT_LANE, Outbox, insert_op
from shared.store.queues import Message, Queues, WorkQueue, queues_for
from shared.timestamps import iso, now_iso
from tests.support.webhooks import Receiver, events_of, short, use_webhook

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Killed(BaseException):
    """The process dies: not an Exception, so nothing on the way up handles it."""


@pytest.fixture
def kill_on_batch() -> Iterator[dict[str, int]]:
    """Kill the process at the n-th entity-group transaction that this test's own thread
    sends (set `state["at"]`); the served app's and the audit writer's threads are not
    counted."""
    state = {"at": 0, "seen": 0}
    mine = threading.get_ident()

    def hook(request: Any, send: Any) -> Any:
        if (request.method == "POST" and "$batch" in request.url
                and threading.get_ident() == mine):
            state["seen"] += 1
            if state["seen"] == state["at"]:
                raise Killed
        return send(request)

    connection.TRANSPORT_HOOKS.append(hook)
    yield state
    connection.TRANSPORT_HOOKS.remove(hook)


def _handle(service: ScimService, tenant: tuple[str, str], method: str, resource: str,
            rid: str | None, body: dict[str, Any]) -> int:
    return service.handle(ScimRequest(
        method=method, tenant=tenant[0], resource=resource, id=rid,
        headers={"authorization": f"Bearer {tenant[1]}",
                 "content-type": "application/scim+json"},
        body=json.dumps(body).encode())).status


def test_member_patch_killed_between_chunks_is_completed_by_the_next_run(
        scim_service: ScimService, feed_service: ScimService, tenant: tuple[str, str],
        kill_on_batch: dict[str, int], receiver: Receiver, outbox: Outbox) -> None:
    tid = tenant[0]
    gid = scim_service.resources.create(
        GROUPS, tid, {"schemas": [GROUP_URN], "displayName": "Everyone"})[0].id
    members = [f"m{n:04d}" for n in range(300)]
    kill_on_batch["at"] = kill_on_batch["seen"] + 2  # head + journal commits, 1st chunk dies
    with pytest.raises(Killed):
        _handle(scim_service, tenant, "PATCH", "Groups", gid, {
            "schemas": [PATCH], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": m} for m in members]}]})
    kill_on_batch["at"] = 0
    assert invariants.PENDING_CHANGE in {v.kind for v in invariants.check(
        scim_service.directory, tid, indexer=stored_indexes)}
    assert len(scim_service.directory.members(tid, gid)) < len(members)
    # The change committed (journalled), so its event did too: exactly one.
    assert [short(e) for e in events_of(outbox, tid)] == ["created", "members.added"]

    use_webhook(feed_service, tid, receiver.url)
    summary = run(feed_service, tenants=[tid])
    assert summary["repaired"] >= 1
    assert summary["errors"] == 0
    assert invariants.check(scim_service.directory, tid, indexer=stored_indexes) == []
    assert sorted(scim_service.directory.members(tid, gid)) == members
    assert [short(e) for e in receiver.accepted()] == ["created", "members.added"]
    assert receiver.accepted()[1]["data"]["members"] == members


def test_user_delete_killed_between_chunks_is_completed(
        scim_service: ScimService, feed_service: ScimService, client: httpx.Client,
        tenant: tuple[str, str], kill_on_batch: dict[str, int], outbox: Outbox) -> None:
    tid = tenant[0]
    uid = client.post("/Users", json={"schemas": [USER_URN], "userName": "many@x.test"}
                      ).json()["id"]

    def group(n: int) -> str:
        return str(client.post("/Groups", json={"schemas": [GROUP_URN], "displayName": f"g{n}",
                                                "members": [{"value": uid}]}).json()["id"])

    with ThreadPoolExecutor(8) as pool:  # 104 membership rows: more than one transaction
        groups = list(pool.map(group, range(52)))
    kill_on_batch["at"] = kill_on_batch["seen"] + 2  # head + journal commit, 1st chunk dies
    with pytest.raises(Killed):
        _handle(scim_service, tenant, "DELETE", "Users", uid, {})
    kill_on_batch["at"] = 0
    assert scim_service.directory.get(tid, USER, uid) is None
    assert invariants.check(scim_service.directory, tid, indexer=stored_indexes) != []
    assert run(feed_service, tenants=[tid])["errors"] == 0
    assert invariants.check(scim_service.directory, tid, indexer=stored_indexes) == []
    assert all(scim_service.directory.members(tid, g) == [] for g in groups)
    assert [short(e) for e in events_of(outbox, tid)].count("deleted") == 1


def _deactivate(client: httpx.Client, uid: str) -> None:
    r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    assert r.status_code == 200


def _age(service: ScimService, tid: str, uid: str, days: float, column: str) -> None:
    at = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    service.directory.table.update_entity(
        {"PartitionKey": tid, "RowKey": layout.resource_key(USER, uid), column: at},
        mode="merge")


def test_deactivated_at_is_recorded_kept_and_cleared(
        scim_service: ScimService, client: httpx.Client, tenant: tuple[str, str]) -> None:
    tid = tenant[0]
    uid = client.post("/Users", json={"schemas": [USER_URN], "userName": "d@x.test"}
                      ).json()["id"]
    assert scim_service.directory.get(tid, USER, uid).deactivated_at is None  # type: ignore[union-attr]
    _deactivate(client, uid)
    since = scim_service.directory.get(tid, USER, uid).deactivated_at  # type: ignore[union-attr]
    assert since is not None
    assert since <= now_iso()
    client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": "still off"}]})
    assert scim_service.directory.get(tid, USER, uid).deactivated_at == since  # type: ignore[union-attr]
    client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": True}]})
    assert scim_service.directory.get(tid, USER, uid).deactivated_at is None  # type: ignore[union-attr]


def test_retention_deletes_exactly_the_users_past_the_limit(
        scim_service: ScimService, feed_service: ScimService, client: httpx.Client,
        tenant: tuple[str, str], outbox: Outbox) -> None:
    tid = tenant[0]

    def user(name: str) -> str:
        return str(client.post("/Users", json={"schemas": [USER_URN], "userName": name}
                               ).json()["id"])

    old, legacy, recent, active = (user(f"{n}@x.test") for n in
                                   ("old", "legacy", "recent", "active"))
    gid = client.post("/Groups", json={"schemas": [GROUP_URN], "displayName": "G",
                                       "members": [{"value": old}, {"value": active}]}
                      ).json()["id"]
    for uid in (old, legacy, recent):
        _deactivate(client, uid)
    _age(scim_service, tid, old, 31, "deactivatedAt")
    _age(scim_service, tid, recent, 29, "deactivatedAt")
    _age(scim_service, tid, active, 400, "lastModified")
    # A row deactivated before deactivatedAt existed: its lastModified stands in.
    row = dict(scim_service.directory.table.get_entity(tid, layout.resource_key(USER, legacy)))
    del row["deactivatedAt"]
    scim_service.directory.table.update_entity(row, mode="replace")
    _age(scim_service, tid, legacy, 45, "lastModified")
    before = len(events_of(outbox, tid))

    off = run(feed_service, tenants=[tid])
    assert off["retention_deleted"] == 0  # off by default
    service = ScimService(feed_service.settings.model_copy(update={"retention_days": 30.0}),
                          feed_service.tables)
    summary = run(service, tenants=[tid])
    assert summary["retention_deleted"] == 2
    left = sorted(scim_service.directory.ids(tid, USER))
    assert left == sorted([recent, active])
    assert scim_service.directory.members(tid, gid) == [active]
    new = events_of(outbox, tid)[before:]
    assert sorted((short(e), e["data"]["id"]) for e in new) == sorted(
        [("deleted", old), ("deleted", legacy)])
    assert invariants.check(scim_service.directory, tid, indexer=stored_indexes) == []
    assert run(service, tenants=[tid])["retention_deleted"] == 0


def test_the_run_publishes_new_events_and_purges_those_past_the_hold(
        feed_service: ScimService, client: httpx.Client, tenant: tuple[str, str]) -> None:
    """Timer mode: the run publishes a tenant's events (no webhook needed), and drops those
    published longer than SCIM_FEED_HOLD_DAYS ago - whether or not a webhook had them."""
    tid = tenant[0]
    feed = FeedLog(feed_service.directory)
    for name in ("a", "b"):
        assert client.post("/Users", json={"schemas": [USER_URN], "userName": f"{name}@x.test"}
                           ).status_code == 201
    # Published long ago, by hand: the hold has passed for these two.
    feed.publish(tid, lambda _t: Route(), now=datetime.now(UTC) - timedelta(
        days=feed_service.settings.feed_hold_days + 1))
    assert client.post("/Users", json={"schemas": [USER_URN], "userName": "c@x.test"}
                       ).status_code == 201
    summary = run(feed_service, tenants=[tid])
    assert summary["feed_purged"] == 2
    events = feed.read(tid, 0, 10)
    assert [e.seq for e in events] == [3]
    assert json.loads(events[0].body)["data"]["resource"]["userName"] == "c@x.test"
    assert run(feed_service, tenants=[tid])["feed_purged"] == 0


BADGES = "urn:ietf:params:scim:schemas:extension:Badges:2.0:User"


def test_a_tenants_declared_unique_rows_are_repaired_and_purged_with_its_own_kinds(
        scim_service: ScimService, feed_service: ScimService, client: httpx.Client,
        tenant: tuple[str, str]) -> None:
    """The reconciler repairs and purges with the tenant's indexer: the rows of an attribute
    it declared unique are restored when lost, never taken for stale ones, and go with a
    purged user."""
    tid = tenant[0]
    tenant_schemas.add_schema(scim_service.tenants, tid, {
        "id": BADGES, "name": "Badges", "attributes": [
            {"name": "badge", "type": "string", "uniqueness": "server"}]})
    scim_service.auth.forget(tid)

    def user(name: str, badge: str) -> str:
        r = client.post("/Users", json={"schemas": [USER_URN], "userName": name,
                                        BADGES: {"badge": badge}})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    kept, purged = user("kept@x.test", "B-1"), user("purged@x.test", "B-2")
    _deactivate(client, purged)
    _age(scim_service, tid, purged, 31, "deactivatedAt")
    kinds = ScimService.kinds_for(scim_service.tenants.get(tid))  # type: ignore[arg-type]
    index = kinds.users.declared_unique[0].index
    rows = {b: layout.unique_key(index, b) for b in ("b-1", "b-2")}
    scim_service.directory.table.delete_entity(tid, rows["b-1"])  # lost

    service = ScimService(feed_service.settings.model_copy(update={"retention_days": 30.0}),
                          feed_service.tables)
    summary = run(service, tenants=[tid])
    assert (summary["errors"], summary["retention_deleted"]) == (0, 1)
    assert summary["repaired"] >= 1
    assert scim_service.directory.lookup_unique(tid, index, "b-1") == kept
    assert scim_service.directory.lookup_unique(tid, index, "b-2") is None
    assert invariants.check(scim_service.directory, tid, indexer=kinds.stored_indexes) == []
    # The deployment's indexer would have taken B-1's row for a stale one.
    assert [v.row for v in invariants.check(scim_service.directory, tid,
                                            indexer=stored_indexes)] == [rows["b-1"]]
    user("again@x.test", "B-2")  # the purged user's value is free


def test_health_reports_the_last_run(served: str, feed_service: ScimService,
                                     tenant: tuple[str, str]) -> None:
    summary = run(feed_service, tenants=[tenant[0]])
    body = httpx.get(f"{served}/health").json()
    last = body["reconcile"]
    assert last["time"] == summary["time"]
    shown = ("delivered", "failed", "repaired", "backlog", "expiring_secrets")
    assert {k: last[k] for k in shown} == {k: summary[k] for k in shown}


def test_client_secrets_about_to_expire_are_counted_and_logged(
        scim_service: ScimService, tenant: tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    tid = tenant[0]
    record = scim_service.tenants.get(tid)
    assert record is not None
    now = datetime.now(UTC)
    rotating = clients.add_client(record, now, name="rotating")
    secret = clients.add_secret(rotating, now, days=10)
    clients.add_secret(rotating, now, days=31)  # beyond the warning: not counted
    lapsed = clients.add_client(record, now)
    clients.add_secret(lapsed, now, days=1)
    lapsed.secrets[0].expires = iso(now - timedelta(days=2))
    scim_service.tenants.save(record)
    soon_id, lapsed_id = rotating.secrets[0].id, lapsed.secrets[0].id

    with caplog.at_level(logging.WARNING, logger="scim.reconcile"):
        summary = run(scim_service, tenants=[tid])
    assert (summary["expiring_secrets"], summary["errors"]) == (2, 0)
    warned = [r.getMessage() for r in caplog.records if "client secret" in r.getMessage()]
    assert len(warned) == 2
    assert warned[0].startswith(f"client secret expires soon tenant={tid} client={rotating.id} "
                                f"secret={soon_id} days_left=")
    assert 9.9 <= float(warned[0].split("days_left=")[1].split()[0]) <= 10.0
    assert warned[1].startswith(f"client secret expired tenant={tid} client={lapsed.id} "
                                f"secret={lapsed_id} days_left=-2.0")
    assert f"client revoke {tid} {lapsed.id} --secret {lapsed_id}" in warned[1]
    for message in warned:  # ids only: no secret, no digest, not even the display prefix
        for text in (secret, rotating.secrets[0].digest, rotating.secrets[0].prefix):
            assert text not in message
    assert scim_service.health()[1]["reconcile"]["expiring_secrets"] == 2
    assert run(scim_service, tenants=[])["expiring_secrets"] == 0
    assert scim_service.health()[1]["reconcile"]["expiring_secrets"] == 0


# -- repair passes over several runs --------------------------------------------------------------

def _daily(service: ScimService, **changes: Any) -> ScimService:
    """The reconciler with the default repair interval (a day): a finished pass sets the
    tenant's mark, and the next run starts none."""
    return ScimService(service.settings.model_copy(update={"repair_interval_hours": 24.0,
                                                           **changes}), service.tables)


def _damaged_tenant(service: ScimService, tid: str, users: int = 6) -> None:
    directory = service.directory
    ids = []
    for n in range(users):
        rid, doc = new_id(), {"userName": f"u{n}@x.test"}
        directory.create(tid, USER, rid, doc, USERS.indexes(doc), columns={}, now=now_iso())
        ids.append(rid)
    gid, doc = new_id(), {"displayName": "Staff"}
    directory.create(tid, GROUP, gid, doc, GROUPS.indexes(doc), columns={}, now=now_iso())
    directory.change_members(tid, gid, add=ids, now=now_iso())
    directory.table.delete_entity(tid, layout.unique_key("UN", "u0@x.test"))  # early rows
    directory.table.delete_entity(tid, layout.reverse_member_key(ids[-1], gid))
    directory.table.upsert_entity({"PartitionKey": tid, "RowKey": layout.unique_key(
        "UN", "zz@x.test"), "ref": new_id()})  # the partition's last row


def _memberships(service: ScimService, tid: str, count: int) -> None:
    gid, doc = new_id(), {"displayName": "Everyone"}
    service.directory.create(tid, GROUP, gid, doc, GROUPS.indexes(doc), columns={},
                             now=now_iso())
    rows = [k for n in range(count) for k in (layout.member_key(gid, f"ext-{n:05d}"),
                                              layout.reverse_member_key(f"ext-{n:05d}", gid))]
    for start in range(0, len(rows), 100):
        service.directory.table.submit_transaction(
            [upsert({"PartitionKey": tid, "RowKey": k}) for k in rows[start:start + 100]])


def test_a_repair_cut_by_its_budget_goes_on_run_by_run_and_finishes(
        scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    tid = tenant[0]
    service = _daily(scim_service)
    _damaged_tenant(service, tid)
    assert len(invariants.check(service.directory, tid, indexer=stored_indexes)) == 3
    mark = layout.repair_mark(tid)
    # A budget that leaves the repair step no time: it still handles one row per run.
    monkeypatch.setattr(reconcile, "_REPAIR_SHARE", 0.0)
    positions: list[str] = []
    for _ in range(4):
        summary = run(service, tenants=[tid])
        assert (summary["repair_incomplete"], summary["errors"]) == (1, 0)
        held = service.runs.repair_progress(tid)
        assert held is not None
        positions.append(held[0].after)
        assert held[2] <= now_iso()  # released: the next run goes on at once
    assert positions == sorted(set(positions))  # one row further each run
    assert mark not in service.runs.marks()
    assert scim_service.health()[1]["reconcile"]["repair_incomplete"] == 1
    started = held[0].started
    found_so_far = held[0].found

    monkeypatch.setattr(reconcile, "_REPAIR_SHARE", 0.5)
    summary = run(service, tenants=[tid])
    assert (summary["repair_incomplete"], summary["errors"]) == (0, 0)
    assert summary["repaired"] == 3 - found_so_far
    assert service.runs.repair_progress(tid) is None
    assert service.runs.marks()[mark] == summary["time"]
    assert started < summary["time"]
    assert invariants.check(service.directory, tid, indexer=stored_indexes) == []
    assert run(service, tenants=[tid])["repair_incomplete"] == 0  # done for the day
    assert service.runs.repair_progress(tid) is None


def test_a_small_budget_cuts_a_large_tenants_repair(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    tid = tenant[0]
    _memberships(scim_service, tid, 6_000)  # 12,000 rows: seconds of point reads
    summary = run(_daily(scim_service, reconcile_budget_seconds=1.0), tenants=[tid])
    assert (summary["repair_incomplete"], summary["tenants"]) == (1, 1)
    held = scim_service.runs.repair_progress(tid)
    assert held is not None
    assert held[0].after.startswith(("M:", "R:"))
    summary = run(_daily(scim_service), tenants=[tid])
    assert summary["repair_incomplete"] == 0
    assert scim_service.runs.repair_progress(tid) is None
    assert layout.repair_mark(tid) in scim_service.runs.marks()


def test_a_daily_pass_comes_due_at_the_tenants_own_time(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    """Not one interval after the last pass (every tenant that first ran together would come
    due together again) but at the tenant's slot at least half an interval after it."""
    tid, every = tenant[0], timedelta(hours=24)
    service, mark = _daily(scim_service), layout.repair_mark(tid)
    now = datetime.now(UTC)
    if latest_slot(tid, every, now) + every - now < timedelta(seconds=30):
        time.sleep(30)  # the slot moves on within the test: start after it
    slot = latest_slot(tid, every, datetime.now(UTC))
    service.runs.mark(mark, iso(slot - every / 2))  # less than a day ago, half before the slot
    summary = run(service, tenants=[tid])
    assert service.runs.marks()[mark] == summary["time"]  # a pass ran and finished
    late = iso(slot - every / 2 + timedelta(seconds=1))
    service.runs.mark(mark, late)
    run(service, tenants=[tid])
    assert service.runs.marks()[mark] == late  # not due until its next slot


def test_a_pass_another_run_holds_is_left_to_it_until_its_lease_ends(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    tid = tenant[0]
    service = _daily(scim_service)
    _damaged_tenant(service, tid)
    soon = iso(datetime.now(UTC) + timedelta(minutes=4))
    theirs = Progress(started=now_iso())
    etag = service.runs.save_repair_progress(tid, theirs, etag=None, owner="other-run",
                                             lease_until=soon)
    summary = run(service, tenants=[tid])
    assert (summary["repaired"], summary["repair_incomplete"]) == (0, 0)
    assert service.runs.repair_progress(tid) == (theirs, etag, soon)
    # The other run died: once its lease ends, the next run takes the pass over.
    service.runs.save_repair_progress(tid, theirs, etag=etag, owner="other-run",
                                      lease_until=now_iso())
    assert run(service, tenants=[tid])["repaired"] == 3
    assert service.runs.repair_progress(tid) is None


def test_a_run_whose_pass_is_taken_over_stops_without_an_error(
        scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    tid = tenant[0]
    service = _daily(scim_service)
    _memberships(service, tid, 400)  # more than a page: the step saves its progress on the way
    real = service.runs.save_repair_progress

    def then_another_run_saves(tenant_id: str, progress: Progress, **kwargs: Any) -> str:
        etag = real(tenant_id, progress, **kwargs)
        if kwargs["etag"] is None:  # this run started the pass; another saves it at once
            real(tenant_id, progress, etag=etag, owner="other-run", lease_until=now_iso())
        return etag

    monkeypatch.setattr(service.runs, "save_repair_progress", then_another_run_saves)
    with caplog.at_level(logging.INFO, logger="scim.reconcile"):
        summary = run(service, tenants=[tid])
    assert (summary["errors"], summary["repair_incomplete"]) == (0, 0)
    assert any("taken over" in r.getMessage() for r in caplog.records)
    assert service.runs.table.get_entity(layout.REPAIR_PARTITION, tid)["owner"] == "other-run"
    assert layout.repair_mark(tid) not in service.runs.marks()


# -- queues on: the timer fans out one work item per tenant ---------------------------------------

@pytest.fixture
def fanned(scim_service: ScimService, queue_connection_string: str) -> Iterator[ScimService]:
    """The service with queues on (Azurite's Queue service, four queues of this test's own)."""
    name = uuid.uuid4().hex[:12]
    settings = scim_service.settings.model_copy(update={
        "queue_connection_string": queue_connection_string,
        "deliver_queue": f"d{name}", "work_queue": f"w{name}", "repair_interval_hours": 24.0})
    queues = queues_for(settings)
    assert queues is not None
    queues.ensure()
    yield ScimService(settings, scim_service.tables)
    for queue in queues.all():
        queue.client.delete_queue()


def _queues(service: ScimService) -> Queues:
    queues = queues_for(service.settings)
    assert queues is not None
    return queues


def _drain_work(service: ScimService, mine: set[str], *, idle: float = 1.0
                ) -> list[dict[str, Any]]:
    """Consume the work queue as the host does (deleted when the handler returns, left for a
    retry when it raises) until it stays empty for `idle` seconds; other tests' tenants on the
    shared tables are acknowledged unrun. The summaries of this test's tenants' items."""
    queue, done = _queues(service).work, []
    quiet_since = time.monotonic()
    while True:
        messages = queue.receive(8, visibility=2)
        if not messages:
            if time.monotonic() - quiet_since >= idle:
                return done
            time.sleep(0.05)
            continue
        quiet_since = time.monotonic()
        for message in messages:
            if message.payload().get("tenant") in mine:
                try:
                    summary = reconcile.tenant_work(service, message.text,
                                                    dequeue_count=message.dequeue_count)
                except RuntimeError:
                    continue  # the host retries it after its visibility timeout
                assert summary is not None
                done.append(summary)
            queue.delete(message)


def _items(service: ScimService) -> list[dict[str, Any]]:
    return [m.payload() for m in _peek_all(_queues(service).work)]


def _peek_all(queue: WorkQueue) -> list[Message]:
    seen, found = set(), []
    while batch := queue.receive(32, visibility=5):
        for message in batch:
            if message.id not in seen:
                seen.add(message.id)
                found.append(message)
    return found


def test_the_timer_schedules_one_item_per_tenant(fanned: ScimService) -> None:
    created = [_new_tenant(fanned) for _ in range(3)]
    summary = reconcile.schedule(fanned)
    tenants = {t.id for t in fanned.tenants.all() if not t.deleting}  # deleting: skipped
    assert set(created) <= tenants
    assert (summary["mode"], summary["tenants"], summary["scheduled"], summary["errors"]) == (
        "queued", len(tenants), len(tenants), 0)
    assert (summary["poison_deliver"], summary["poison_work"]) == (0, 0)
    items = _items(fanned)
    by_tenant = [i["tenant"] for i in items if i["task"] == "tenant"]
    assert sorted(by_tenant) == sorted(tenants)  # one each
    assert {i["tick"] for i in items} == {summary["time"]}
    assert all(i["v"] == 1 for i in items)
    assert fanned.runs.last() == summary


def _new_tenant(service: ScimService) -> str:
    from shared.auth.tenants import new_tenant_id
    from shared.store.tenants import Tenant

    record = Tenant(id=new_tenant_id(), name="fanout", created=now_iso())
    service.tenants.create(record)
    return record.id


def test_draining_the_work_runs_each_tenants_journals_repair_retention_and_signals(
        fanned: ScimService, tenant: tuple[str, str], outbox: Outbox,
        caplog: pytest.LogCaptureFixture) -> None:
    damaged, quiet = _new_tenant(fanned), tenant[0]
    _damaged_tenant(fanned, damaged)
    # An event in the quiet tenant's outbox, its signal lost (no row, no message).
    assert _handle(fanned, tenant, "POST", "Users", None,
                   {"schemas": [USER_URN], "userName": "late@x.test"}) == 201
    assert fanned.signaller.flush()
    fanned.delivery_signals.table.delete_entity(quiet, layout.DELIVERY_MARK)  # type: ignore[union-attr]
    _queues(fanned).deliver.clear()
    reconcile.schedule(fanned)
    with caplog.at_level(logging.INFO, logger="scim.reconcile"):
        done = {s["tenant"]: s for s in _drain_work(fanned, {damaged, quiet})}
    assert done[damaged]["repaired"] == 3
    items = {getattr(r, telemetry.TENANT): getattr(r, telemetry.INCOMPLETE)
             for r in caplog.records
             if getattr(r, telemetry.EVENT, None) == telemetry.RECONCILE_TENANT}
    assert items == {damaged: False, quiet: False}
    assert invariants.check(fanned.directory, damaged, indexer=stored_indexes) == []
    assert layout.repair_mark(damaged) in fanned.runs.marks()
    assert done[quiet]["signalled"] is True
    assert done[damaged]["signalled"] is False
    assert [m.payload() for m in _peek_all(_queues(fanned).deliver)] == [
        {"v": 1, "tenant": quiet, "why": "sweep"}]  # the deliver trigger's to deliver
    assert outbox.count(quiet) == 1  # not delivered inline


def test_retention_runs_in_the_tenants_item(
        fanned: ScimService, tenant: tuple[str, str]) -> None:
    tid = tenant[0]
    service = ScimService(fanned.settings.model_copy(update={"retention_days": 30.0}),
                          fanned.tables)
    uid = _create_deactivated(service, tenant)
    _age(service, tid, uid, 31, "deactivatedAt")
    reconcile.schedule(service)
    done = {s["tenant"]: s for s in _drain_work(service, {tid})}
    assert done[tid]["retention_deleted"] == 1
    assert uid not in service.directory.ids(tid, USER)


def _create_deactivated(service: ScimService, tenant: tuple[str, str]) -> str:
    response = service.handle(ScimRequest(
        method="POST", tenant=tenant[0], resource="Users", id=None,
        headers={"authorization": f"Bearer {tenant[1]}",
                 "content-type": "application/scim+json"},
        body=json.dumps({"schemas": [USER_URN], "userName": "gone@x.test",
                         "active": False}).encode()))
    assert response.status == 201
    assert response.body is not None
    return str(response.body["id"])


def test_a_raising_tenant_does_not_stop_the_others(
        fanned: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    broken, fine = _new_tenant(fanned), _new_tenant(fanned)
    _damaged_tenant(fanned, fine)
    complete = fanned.directory.complete_pending

    def failing(tid: str) -> int:
        if tid == broken:
            raise RuntimeError("this tenant's storage call failed")
        return complete(tid)

    monkeypatch.setattr(fanned.directory, "complete_pending", failing)
    reconcile.schedule(fanned)
    done = {s["tenant"]: s for s in _drain_work(fanned, {broken, fine}, idle=0.5)}
    assert set(done) == {fine}
    assert done[fine]["repaired"] == 3
    # the broken tenant's item is still there, for the host's next attempt (then poison)
    time.sleep(2.2)  # the drain's visibility timeout
    left = [m for m in _peek_all(_queues(fanned).work) if m.payload().get("tenant") == broken]
    assert len(left) == 1
    assert left[0].dequeue_count >= 1


def test_a_repair_cut_by_the_budget_continues_in_new_items_and_finishes(
        fanned: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    tid = _new_tenant(fanned)
    _damaged_tenant(fanned, tid)
    # A budget that leaves each step one row: the pass takes many items.
    service = ScimService(fanned.settings.model_copy(update={"work_budget_seconds": 0.001}),
                          fanned.tables)
    monkeypatch.setattr(reconcile, "_CONTINUE_DELAY_S", 0.0)
    reconcile.schedule(service)
    done = _drain_work(service, {tid})
    tasks = [s["task"] for s in done]
    assert tasks[0] == "tenant"
    assert len(tasks) > 2
    assert set(tasks[1:]) == {"repair"}
    assert [s["repair_continues"] for s in done] == [True] * (len(done) - 1) + [False]
    assert sum(s["repaired"] for s in done) == 3
    assert invariants.check(service.directory, tid, indexer=stored_indexes) == []
    assert service.runs.repair_progress(tid) is None
    assert layout.repair_mark(tid) in service.runs.marks()


def test_poisoned_messages_show_in_the_next_summary_and_health(
        fanned: ScimService, scim_service: ScimService, caplog: pytest.LogCaptureFixture
) -> None:
    queues = _queues(fanned)
    queues.deliver_poison.send({"v": 1, "tenant": "t1", "why": "commit"})
    for _ in range(2):
        queues.work_poison.send({"v": 1, "tenant": "t1", "task": "tenant", "tick": "x"})
    with caplog.at_level(logging.INFO, logger="scim.reconcile"):
        summary = reconcile.schedule(fanned)
    assert (summary["poison_deliver"], summary["poison_work"]) == (1, 2)
    # the run's record, as Azure Monitor's reconciler alert reads it (shared/telemetry.py)
    (record,) = [r for r in caplog.records
                 if getattr(r, telemetry.EVENT, None) == telemetry.RECONCILE_RUN]
    assert getattr(record, telemetry.MODE) == "queued"
    assert (getattr(record, telemetry.POISON_DELIVER), getattr(record, telemetry.POISON_WORK),
            getattr(record, telemetry.ERRORS)) == (1, 2, 0)
    shown = scim_service.health()[1]["reconcile"]
    assert {k: shown[k] for k in ("mode", "poison_deliver", "poison_work", "scheduled")} == {
        "mode": "queued", "poison_deliver": 1, "poison_work": 2,
        "scheduled": summary["scheduled"]}
    assert (f"queue poison {queues.work_poison.name}=2: python -m shared.admin queue poison "
            f"list {queues.work_poison.name}") in caplog.text


def test_malformed_items_and_unknown_tenants_are_acknowledged(
        fanned: ScimService, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scim.reconcile"):
        for body in (b"not json", b'{"v": 2, "task": "tenant", "tenant": "t", "tick": "x"}',
                     b'{"v": 1, "task": "dance", "tenant": "t", "tick": "x"}',
                     b'{"v": 1, "task": "tenant", "tick": "x"}'):
            assert reconcile.tenant_work(fanned, body) is None
        assert reconcile.tenant_work(
            fanned, '{"v": 1, "task": "tenant", "tenant": "tnobody", "tick": "x"}') is None
    assert caplog.text.count("not understood") == 4
    assert "unknown tenant=tnobody" in caplog.text


def test_storage_unavailable_raises_so_the_host_retries(
        fanned: ScimService, tenant: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def down(tid: str) -> int:
        raise Unavailable("storage is down")

    monkeypatch.setattr(fanned.directory, "complete_pending", down)
    with pytest.raises(Unavailable):
        reconcile.tenant_work(fanned, json.dumps(reconcile.work_item("tenant", "x", tenant[0])))


def test_the_audit_sweep_is_scheduled_when_due_and_marks_when_done(fanned: ScimService) -> None:
    fanned.runs.mark(layout.AUDIT_SWEEP_MARK, iso(datetime.now(UTC) - timedelta(days=2)))
    summary = reconcile.schedule(fanned)
    assert summary["audit_sweep"] is True
    sweep = [m for m in _peek_all(_queues(fanned).work)
             if m.payload()["task"] == "audit-sweep"]
    assert len(sweep) == 1
    result = reconcile.tenant_work(fanned, sweep[0].text)
    assert result is not None
    assert result["incomplete"] is False
    assert fanned.runs.marks()[layout.AUDIT_SWEEP_MARK] >= summary["time"]
    assert reconcile.schedule(fanned)["audit_sweep"] is False  # done for the day


def test_an_item_failing_max_dequeue_count_times_under_the_host_is_poisoned_and_reported(
        app_env: dict[str, str], fanned: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real app under the local host (its work queue trigger listening; retries fast):
    a tenant whose storage calls keep failing has its item retried, then moved to the poison
    queue; the next tick's summary and /health count it."""
    import function_app
    from devhost import running
    from shared import settings as app_settings
    from shared.adapter import runtime
    from tests.support.storage_faults import busy

    broken = _new_tenant(fanned)
    attempts: list[float] = []

    def storage_down_for_broken(request: Any, send: Any) -> Any:
        if broken in str(request.url) and "tenants" not in str(request.url):
            attempts.append(time.monotonic())
            return busy(request, send)
        return send(request)

    queues = _queues(fanned)
    env = {"SCIM_QUEUE_STORAGE": fanned.settings.queue_connection_string or "",
           "SCIM_DELIVER_QUEUE": queues.deliver.name, "SCIM_WORK_QUEUE": queues.work.name}
    host_json = {"version": "2.0", "extensions": {"http": {"routePrefix": ""}, "queues": {
        "maxPollingInterval": "00:00:00.200", "visibilityTimeout": "00:00:01",
        "maxDequeueCount": 2}}}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app_settings.current.cache_clear()
    # A service of its own for this host, and the session's back afterwards (undo): the
    # session's dev host and `scim_service` must stay one instance for the tests after this.
    monkeypatch.setattr(runtime, "_service", None)
    connection.TRANSPORT_HOOKS.append(storage_down_for_broken)
    try:
        with running(function_app.app, host_json=host_json, start_timers=False):
            queues.work.send(reconcile.work_item("tenant", now_iso(), broken))
            deadline = time.monotonic() + 20
            while queues.work_poison.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        connection.TRANSPORT_HOOKS.remove(storage_down_for_broken)
        monkeypatch.undo()
        app_settings.current.cache_clear()
    assert len(attempts) >= 2  # the handler reached storage and failed, and again
    summary = reconcile.schedule(fanned)  # the next tick
    health = fanned.health()[1]
    (poisoned,) = [m.payload() for m in _peek_all(queues.work_poison)]
    assert (poisoned["tenant"], poisoned["task"]) == (broken, "tenant")
    assert summary["poison_work"] == 1
    assert health["reconcile"]["poison_work"] == 1


def test_a_signal_row_stuck_pending_is_cleared_and_the_tenant_signalled_again(
        fanned: ScimService, tenant: tuple[str, str]) -> None:
    """A crash between the signal row and its message: the row stays `pending` and blocks
    every later signal of the tenant until the tenant's work item clears it."""
    tid = tenant[0]
    assert _handle(fanned, tenant, "POST", "Users", None,
                   {"schemas": [USER_URN], "userName": "stuck@x.test"}) == 201
    assert fanned.signaller.flush()
    signals = fanned.delivery_signals
    assert signals is not None
    _queues(fanned).deliver.clear()  # the message never got out
    row = dict(signals.table.get_entity(tid, layout.DELIVERY_MARK))
    row["since"] = iso(datetime.now(UTC) - timedelta(minutes=10))
    signals.table.update_entity(row, mode="replace")
    assert signals.signal(tid) is False  # blocked by the stuck row
    summary = reconcile.tenant_work(fanned, json.dumps(reconcile.work_item("tenant", "x", tid)))
    assert summary is not None
    assert summary["signalled"] is True
    assert [m.payload() for m in _peek_all(_queues(fanned).deliver)] == [
        {"v": 1, "tenant": tid, "why": "sweep"}]


def test_a_tenant_with_events_in_the_deployment_lane_only_is_signalled(
        fanned: ScimService) -> None:
    """The work item's safety net reads both lanes: a `D:` row alone is work."""
    tid = _new_tenant(fanned)
    assert reconcile.tenant_work(fanned, json.dumps(
        reconcile.work_item("tenant", "x", tid)))["signalled"] is False  # type: ignore[index]
    event_id = f"{time.time_ns():032x}"
    # As publication leaves it: published (its seq), in the D: lane only.
    fanned.directory.submit([insert_op(tid, event_id, "Users/u1", "t", "{}", now_iso(),
                                       seq=1, lane=DEPLOYMENT_LANE)], Indexes())
    summary = reconcile.tenant_work(fanned, json.dumps(reconcile.work_item("tenant", "y", tid)))
    assert summary is not None
    assert summary["signalled"] is True
    assert {"v": 1, "tenant": tid, "why": "sweep"} in [
        m.payload() for m in _peek_all(_queues(fanned).deliver)]
