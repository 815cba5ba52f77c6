"""The deployment-wide subscription's lane beside each tenant's webhook lane (feed/delivery.py),
over Azurite and real HTTP receivers on loopback: one receiver gets every tenant's events
signed with the deployment secret, each naming its tenant; a dead endpoint in one lane does
not delay the other; dead letters per lane (and their CLI); order per subject in the
deployment lane under concurrency; the process-wide bound per origin; event-type filters
routing each event at publication (a filtered-out event still published for pulling)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.admin.__main__ import main as admin
from shared.auth.tenants import issue_token, new_tenant_id
from shared.feed import filters
from shared.feed.delivery import Deliverer, Sender
from shared.feed.worker import deliver_tenant
from shared.service.app import ScimService
from shared.service.deliver import publish, route_for
from shared.service.messages import ScimRequest
from shared.service.reconcile import run
from shared.store.feed_log import FeedLog
from shared.store.outbox import DEPLOYMENT_LANE, Outbox
from shared.store.queues import WorkQueue, open_queues
from shared.store.signals import DeliverySignals
from shared.store.subscriptions import SubscriptionTable
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.webhooks import SECRET, Received, Receiver, use_subscription, use_webhook

NewTenant = Callable[[], tuple[str, httpx.Client]]
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def new_tenant(scim_service: ScimService, served: str) -> Iterator[NewTenant]:
    """Makes tenants, each with a SCIM client of the served app."""
    clients: list[httpx.Client] = []

    def make() -> tuple[str, httpx.Client]:
        record = Tenant(id=new_tenant_id(), name="lanes", created=now_iso())
        token = issue_token(record)
        scim_service.tenants.create(record)
        clients.append(httpx.Client(base_url=f"{served}/scim/v2/{record.id}", timeout=30,
                                    headers={"Authorization": f"Bearer {token}"}))
        return record.id, clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def queue(queue_connection_string: str, scim_service: ScimService) -> Iterator[WorkQueue]:
    queues = open_queues(scim_service.settings.model_copy(update={
        "queue_connection_string": queue_connection_string,
        "deliver_queue": f"l{uuid.uuid4().hex[:12]}"}))
    queues.deliver.create()
    yield queues.deliver
    queues.deliver.client.delete_queue()




def _user(client: httpx.Client, name: str) -> str:
    r = client.post("/Users", json={"schemas": [USER], "userName": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _title(client: httpx.Client, uid: str, title: str) -> None:
    r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": title}]})
    assert r.status_code == 200, r.text


def _committed(service: ScimService, tenant: str) -> list[str]:
    """The ids of the tenant's events committed and not yet published, in commit order: the
    next pass publishes them, copying to the `D:` lane those the subscription selects."""
    return [row.id for row in Outbox(service.directory).pending(tenant)]


def _service(feed_service: ScimService, **update: object) -> ScimService:
    """A service of its own: a fresh subscription cache, the settings given."""
    return ScimService(feed_service.settings.model_copy(update=update), feed_service.tables)


def test_one_receiver_gets_every_tenants_events_signed_and_naming_their_tenant(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        deployment_receiver: Receiver) -> None:
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service)
    (a, client_a), (b, client_b) = new_tenant(), new_tenant()
    _user(client_a, "a@example.com")
    _user(client_b, "b1@example.com")
    _user(client_b, "b2@example.com")
    expected = {a: _committed(service, a), b: _committed(service, b)}
    summary = run(service, tenants=[a, b])
    assert (summary["delivered"], summary["deployment_delivered"]) == (3, 3)
    got = deployment_receiver.received
    assert all(r.valid for r in got)  # the deployment secret, not a tenant's
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for r in got:
        assert r.event["data"]["tenant"] == r.event["tenant"]
        by_tenant[r.event["tenant"]].append(r.event["id"])
    # Each event once; the order across resources is free (SCIM_WEBHOOK_CONCURRENCY).
    assert {t: sorted(ids) for t, ids in by_tenant.items()} == expected
    outbox = Outbox(service.directory)
    for tenant in (a, b):
        assert list(outbox.pending(tenant, lane=DEPLOYMENT_LANE)) == []
        # No tenant webhook: its own lane holds its events, as before.
        assert len(list(outbox.pending(tenant))) == len(expected[tenant])


def test_a_dead_deployment_endpoint_does_not_delay_the_tenant_lane(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver,
        deployment_receiver: Receiver) -> None:
    deployment_receiver.answer = lambda _: None  # accepts, never answers (within the timeout)
    deployment_receiver.stall_seconds = 3.0
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service, webhook_concurrency=2, webhook_timeout_seconds=1.0)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    arrived: list[float] = []
    receiver.answer = lambda _: arrived.append(time.monotonic()) or 204  # type: ignore[func-returns-value]
    for n in range(8):
        _user(client, f"u{n}@example.com")
    _committed(service, tenant)
    started = time.monotonic()
    summary = run(service, tenants=[tenant])
    elapsed = time.monotonic() - started
    tenant_lane, deployment_lane = summary_lanes(service, tenant)
    assert len(arrived) == 8
    latest = max(arrived) - started
    print(f"tenant lane: 8 events within {latest:.3f} s; pass {elapsed:.3f} s")  # measurement
    assert latest < 1.0  # the deployment lane's stalled requests took 1 s each
    assert elapsed >= 1.0  # ... and the pass did wait for them
    assert tenant_lane == 0
    assert deployment_lane == 8  # failed once each, retried later
    assert summary["failed"] == summary["deployment_failed"] == 8
    assert (summary["delivered"], summary["deployment_delivered"]) == (8, 0)


def summary_lanes(service: ScimService, tenant: str) -> tuple[int, int]:
    outbox = Outbox(service.directory)
    return (len(list(outbox.pending(tenant))),
            len(list(outbox.pending(tenant, lane=DEPLOYMENT_LANE))))


def test_dead_letters_are_per_lane_and_the_cli_reaches_the_deployment_ones(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver,
        deployment_receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    deployment_receiver.answer = lambda _: 500
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    _user(client, "dead@example.com")
    [event_id] = _committed(service, tenant)
    outbox = Outbox(service.directory)
    for _ in range(service.settings.webhook_max_attempts):
        _wait_until_due(outbox, tenant)
        run(service, tenants=[tenant])
    assert [e["id"] for e in receiver.accepted()] == [event_id]  # the tenant lane: once
    assert outbox.dead_letters(tenant) == []
    dead = outbox.dead_letters(tenant, lane=DEPLOYMENT_LANE)
    assert [(d.id, d.attempts, d.last_error) for d in dead] == [(event_id, 3, "HTTP 500")]
    assert summary_lanes(service, tenant) == (0, 0)

    capsys.readouterr()
    assert admin(["deadletter", "list", tenant]) == 0
    assert event_id not in capsys.readouterr().out  # not the webhook's
    assert admin(["deadletter", "list", tenant, "--deployment"]) == 0
    assert event_id in capsys.readouterr().out
    assert admin(["deadletter", "show", tenant, event_id, "--deployment"]) == 0
    assert event_id in capsys.readouterr().out
    deployment_receiver.answer = lambda _: 204
    assert admin(["deadletter", "replay", tenant, "--all", "--deployment"]) == 0
    assert summary_lanes(service, tenant) == (0, 1)
    assert run(service, tenants=[tenant])["delivered"] == 1
    assert deployment_receiver.received[-1].event["id"] == event_id
    assert receiver.accepted()[-1]["id"] == event_id  # not sent to the tenant again
    assert len(receiver.received) == 1


def _wait_until_due(outbox: Outbox, tenant: str) -> None:
    from shared.timestamps import parse_iso

    due = [parse_iso(r.next_attempt).timestamp()
           for lane_rows in (outbox.pending(tenant), outbox.pending(tenant,
                                                                   lane=DEPLOYMENT_LANE))
           for r in lane_rows if r.next_attempt]
    if due:
        time.sleep(max(0.0, max(due) - time.time()) + 0.01)


def test_the_deployment_lane_keeps_order_per_subject_under_concurrency(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        deployment_receiver: Receiver) -> None:
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service, webhook_concurrency=4)
    tenant, client = new_tenant()
    users = [_user(client, f"order{n}@example.com") for n in range(5)]
    for uid in users:
        for n in range(5):
            _title(client, uid, f"t{n}")
    expected = _committed(service, tenant)
    lock = threading.Lock()
    in_flight: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []

    def watching(got: Received) -> int:
        subject = got.event["subject"]
        with lock:
            in_flight[subject] += 1
            overlaps.extend([subject] if in_flight[subject] > 1 else [])
        time.sleep(0.02)
        with lock:
            in_flight[subject] -= 1
        return 204

    deployment_receiver.answer = watching
    assert run(service, tenants=[tenant])["delivered"] == len(expected) == 30
    assert overlaps == []
    got = [r.event for r in deployment_receiver.received]
    assert sorted(e["id"] for e in got) == expected
    per_subject: dict[str, list[str]] = defaultdict(list)
    for event in got:
        per_subject[event["subject"]].append(event["id"])
    assert all(ids == sorted(ids) for ids in per_subject.values())
    assert 2 <= deployment_receiver.most_in_flight <= 4


def test_requests_to_one_origin_are_bounded_across_tenants(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        deployment_receiver: Receiver) -> None:
    """Two tenants' passes at once, in one process, to the one deployment endpoint: together
    never more than SCIM_WEBHOOK_CONCURRENCY requests in flight."""
    deployment_receiver.delay_seconds = 0.05
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service, webhook_concurrency=3)
    tenants = [new_tenant() for _ in range(2)]
    for tenant, client in tenants:
        for n in range(12):
            _user(client, f"bound{n}@example.com")
        _committed(service, tenant)
    sender = Sender(service.settings.webhook_timeout_seconds)
    outbox = Outbox(service.directory)
    deliverer = Deliverer(outbox, service.settings, sender,
                          subscription=service.subscriptions.current)
    records = [service.tenants.get(t) for t, _ in tenants]
    for r in records:
        assert r is not None
        publish(service, r, datetime.now(UTC))
    threads = [threading.Thread(target=deliverer.deliver, args=(r, time.monotonic() + 20))
               for r in records if r is not None]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.close()
    assert len(deployment_receiver.received) == 24
    assert deployment_receiver.most_in_flight == 3  # 6 workers, one origin


def test_a_failing_lane_rests_while_the_other_goes_on(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver,
        deployment_receiver: Receiver, queue: WorkQueue) -> None:
    """The leased pass (worker.py): the deployment endpoint fails everything, the tenant's
    webhook takes everything; the pass ends with a wake-up for the failed lane, not a loop."""
    deployment_receiver.answer = lambda _: 503
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service, webhook_backoff_seconds=5.0,
                       webhook_backoff_max_seconds=5.0)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    _user(client, "rest@example.com")
    _committed(service, tenant)
    record = service.tenants.get(tenant)
    assert record is not None
    signals = DeliverySignals(service.tables.data, queue)
    sender = Sender(1.0)
    outbox = Outbox(service.directory)
    outcome = deliver_tenant(
        record, deliverer=Deliverer(outbox, service.settings, sender,
                                    subscription=service.subscriptions.current),
        signals=signals, outbox=outbox, owner="test", deadline=time.monotonic() + 10,
        lease_s=60, retry_after_s=5.0, route=route_for(service, record))
    sender.close()
    assert outcome.stats.lane("tenant").delivered == 1
    assert outcome.stats.lane("deployment").failed == 1
    assert len(deployment_receiver.received) == 1
    assert outcome.wake_at is not None
    assert outcome.wake_at > datetime.now(UTC)


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_filters_route_each_event_to_the_lanes_that_select_it_and_all_are_published(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver, deployment_receiver: Receiver) -> None:
    use_subscription(deployment, deployment_receiver.url, ["group.*"])
    service = _service(feed_service)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    record = service.tenants.get(tenant)
    assert record is not None
    record.webhook_types = ["user.deactivated"]
    service.tenants.save(record)
    uid = _user(client, "filtered@example.com")  # user.created: neither lane
    r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})  # the tenant's only
    assert r.status_code == 200, r.text
    r = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Filtered"})
    assert r.status_code == 201, r.text  # group.created: the deployment's only
    committed = _committed(service, tenant)
    publish(service, record, datetime.now(UTC))
    # Routed at publication: the filtered-out event has no pending row in either lane.
    outbox = Outbox(service.directory)
    assert [row.id for row in outbox.pending(tenant)] == [committed[1]]
    assert [row.id for row in outbox.pending(tenant, lane=DEPLOYMENT_LANE)] == [committed[2]]
    summary = run(service, tenants=[tenant])
    assert (summary["delivered"], summary["backlog"]) == (2, 0)
    assert [e["type"].rsplit(".", 1)[1] for e in receiver.accepted()] == ["deactivated"]
    assert [e["type"].split(".")[-2:] for e in deployment_receiver.accepted()] == [
        ["group", "created"]]
    # Every event stays pullable, filtered or not, in commit order here.
    assert [e.id for e in FeedLog(service.directory).read(tenant, 0, 10)] == committed
    assert summary_lanes(service, tenant) == (0, 0)


def test_a_filter_on_the_tenant_webhook_alone(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver) -> None:
    service = _service(feed_service)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    record = service.tenants.get(tenant)
    assert record is not None
    record.webhook_types = ["group.*"]
    service.tenants.save(record)
    _user(client, "ignored@example.com")
    r = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Kept"})
    assert r.status_code == 201, r.text
    committed = _committed(service, tenant)
    assert run(service, tenants=[tenant])["delivered"] == 1
    assert [e["id"] for e in receiver.accepted()] == [committed[1]]
    assert summary_lanes(service, tenant) == (0, 0)  # and no D: rows without a subscription
    assert len(FeedLog(service.directory).read(tenant, 0, 10)) == 2


def test_without_a_subscription_the_deployment_lane_is_held_then_discarded(
        feed_service: ScimService, deployment: SubscriptionTable, new_tenant: NewTenant,
        receiver: Receiver, deployment_receiver: Receiver) -> None:
    use_subscription(deployment, deployment_receiver.url)
    service = _service(feed_service)
    tenant, client = new_tenant()
    use_webhook(service, tenant, receiver.url)
    _user(client, "held@example.com")
    record = service.tenants.get(tenant)
    assert record is not None
    publish(service, record, datetime.now(UTC))  # routed while the subscription existed
    stored = deployment.get()
    assert stored is not None
    deployment.clear(stored)
    cleared = _service(feed_service)  # another instance: no cached subscription
    summary = run(cleared, tenants=[tenant])
    assert (summary["delivered"], summary["backlog"]) == (1, 1)  # the webhook's; D: held
    assert deployment_receiver.received == []
    assert summary_lanes(cleared, tenant) == (0, 1)
    expired = _service(feed_service, feed_hold_days=0.0)
    record = expired.tenants.get(tenant)
    assert record is not None
    sender = Sender(1.0)
    queue_pass = Deliverer(Outbox(expired.directory), expired.settings, sender,
                           subscription=expired.subscriptions.current, sweep_held=False)
    assert queue_pass.deliver(record, time.monotonic() + 5).discarded == 0  # not read
    sender.close()
    assert summary_lanes(cleared, tenant) == (0, 1)
    assert run(expired, tenants=[tenant])["discarded"] == 1  # the reconciler's pass
    assert summary_lanes(cleared, tenant) == (0, 0)


def _every_change(service: ScimService, tenant: str, token: str) -> None:
    """Writes that emit each of the ten change types once."""
    def handle(method: str, resource: str, rid: str | None, body: dict[str, Any] | None,
               *status: int) -> dict[str, Any]:
        response = service.handle(ScimRequest(
            method=method, tenant=tenant, resource=resource, id=rid,
            headers={"authorization": f"Bearer {token}",
                     "content-type": "application/scim+json"},
            body=json.dumps(body).encode() if body is not None else b""))
        assert response.status in status, response.body
        return response.body or {}

    def patch(resource: str, rid: str, op: dict[str, Any]) -> None:
        handle("PATCH", resource, rid, {"schemas": [PATCH], "Operations": [op]}, 200, 204)

    uid = handle("POST", "Users", None, {"schemas": [USER], "userName": "all@example.com"},
                 201)["id"]
    patch("Users", uid, {"op": "replace", "path": "title", "value": "T"})
    patch("Users", uid, {"op": "replace", "path": "active", "value": False})
    patch("Users", uid, {"op": "replace", "path": "active", "value": True})
    gid = handle("POST", "Groups", None, {"schemas": [GROUP], "displayName": "All"}, 201)["id"]
    patch("Groups", gid, {"op": "add", "path": "members", "value": [{"value": uid}]})
    patch("Groups", gid, {"op": "remove", "path": f'members[value eq "{uid}"]'})
    patch("Groups", gid, {"op": "replace", "path": "displayName", "value": "All2"})
    handle("DELETE", "Groups", gid, None, 204)
    handle("DELETE", "Users", uid, None, 204)


PATTERNS = [*filters.KNOWN_TYPES, "user.*", "group.*", "group.members.*"]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant_types=st.lists(st.sampled_from(PATTERNS), max_size=3),
       deployment_types=st.none() | st.lists(st.sampled_from(PATTERNS), max_size=3))
def test_each_lane_receives_exactly_what_its_filter_selects(
        feed_service: ScimService, deployment: SubscriptionTable, receiver: Receiver,
        deployment_receiver: Receiver, tenant_types: list[str],
        deployment_types: list[str] | None) -> None:
    receiver.received.clear()
    deployment_receiver.received.clear()
    stored = deployment.get()
    if stored is not None:
        deployment.clear(stored)
    if deployment_types is not None:
        use_subscription(deployment, deployment_receiver.url,
                         filters.validate(deployment_types) if deployment_types else [])
    service = _service(feed_service)
    record = Tenant(id=new_tenant_id(), name="every", created=now_iso(),
                    webhook_url=receiver.url, webhook_secret=SECRET,
                    webhook_types=filters.validate(tenant_types) if tenant_types else [])
    token = issue_token(record)
    service.tenants.create(record)
    _every_change(service, record.id, token)
    committed = [(row.id, row.type) for row in Outbox(service.directory).pending(record.id)]
    assert len({etype for _, etype in committed}) == 10
    run(_service(feed_service, webhook_concurrency=1), tenants=[record.id])
    prefix = service.settings.event_type_prefix
    for got, chosen in ((receiver, record.webhook_types),
                        (deployment_receiver, None if deployment_types is None else
                         (filters.validate(deployment_types) if deployment_types else []))):
        wanted = [] if chosen is None else [
            eid for eid, etype in committed if filters.matches(chosen, etype, prefix)]
        assert [e["id"] for e in got.accepted()] == wanted  # one at a time: commit order
        assert all(r.valid for r in got.received)
    assert [e.id for e in FeedLog(service.directory).read(record.id, 0, 20)] == [
        eid for eid, _ in committed]
    assert summary_lanes(service, record.id) == (0, 0)
