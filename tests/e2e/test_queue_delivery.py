"""Queue-driven delivery end to end: the app in a dev host process of its own with
SCIM_QUEUE_STORAGE set (Azurite's Queue service), its deliver queue trigger listening, the
reconciler's timer never firing (RECONCILE_SCHEDULE once a year). A commit's signal reaches
the loopback receiver within seconds, the tenant's webhook and the deployment-wide
subscription's endpoint alike; a tenant whose endpoint never answers does not hold up another
tenant's delivery."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.service.app import ScimService
from shared.settings import Settings
from shared.store.queues import open_queues
from shared.store.subscriptions import SubscriptionTable
from tests.support.separate_host import SeparateHost, separate_host
from tests.support.webhooks import Receiver, use_subscription, use_webhook

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LATENCY_BOUND_S = 3.0


@pytest.fixture
def queued_host(app_env: dict[str, str], queue_connection_string: str
                ) -> Iterator[SeparateHost]:
    name = f"e{uuid.uuid4().hex[:12]}"
    queues = open_queues(Settings(queue_connection_string=queue_connection_string,
                                  deliver_queue=name, work_queue=f"{name}-work"))
    queues.ensure()
    try:
        with separate_host({**app_env, "SCIM_QUEUE_STORAGE": queue_connection_string,
                            "SCIM_DELIVER_QUEUE": name, "SCIM_WORK_QUEUE": f"{name}-work",
                            "SCIM_WEBHOOK_TIMEOUT_SECONDS": "2",
                            "SCIM_WEBHOOK_BACKOFF_SECONDS": "60"}) as host:
            yield host
    finally:
        for queue in queues.all():
            queue.client.delete_queue()


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A webhook URL that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/scim"


def _new_tenant(service: ScimService) -> tuple[str, str]:
    from shared.auth.tenants import issue_token, new_tenant_id
    from shared.store.tenants import Tenant
    from shared.timestamps import now_iso

    record = Tenant(id=new_tenant_id(), name="queued", created=now_iso())
    token = issue_token(record)
    service.tenants.create(record)
    return record.id, token


def _client(host: SeparateHost, tenant: tuple[str, str]) -> httpx.Client:
    return httpx.Client(base_url=f"{host.base_url}/scim/v2/{tenant[0]}", timeout=30,
                        headers={"Authorization": f"Bearer {tenant[1]}"})


def _arrival(receiver: Receiver, count: int, since: float, bound: float = 15.0) -> float:
    """Seconds from `since` until the receiver has accepted `count` events."""
    while time.monotonic() - since < bound:
        if len(receiver.accepted()) >= count:
            return time.monotonic() - since
        time.sleep(0.01)
    raise AssertionError(f"{len(receiver.accepted())} of {count} events after {bound} s")


def _create(client: httpx.Client, name: str) -> str:
    r = client.post("/Users", json={"schemas": [USER], "userName": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_deactivation_reaches_the_webhook_within_seconds(
        queued_host: SeparateHost, scim_service: ScimService, receiver: Receiver,
        record_property: Any) -> None:
    tenant = _new_tenant(scim_service)
    use_webhook(scim_service, tenant[0], receiver.url)
    last_run = scim_service.runs.last()
    with _client(queued_host, tenant) as client:
        started = time.monotonic()
        uid = _create(client, "leaver@example.com")
        first = _arrival(receiver, 1, started)
        latencies = []
        for n in range(3):  # warm: the queue listener polls at most a second apart
            started = time.monotonic()
            r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "active", "value": n % 2 == 1}]})
            assert r.status_code == 200
            latencies.append(_arrival(receiver, 2 + n, started))
    events = receiver.accepted()
    assert events[1]["type"].endswith(".user.deactivated")
    assert [e["subject"] for e in events] == [f"Users/{uid}"] * 4
    assert all(r.valid for r in receiver.received)
    assert max(latencies) < LATENCY_BOUND_S, latencies
    record_property("commit_to_received_s", [round(x, 3) for x in (first, *latencies)])
    print(f"commit -> received: first {first:.3f} s, then {latencies}")
    assert scim_service.runs.last() == last_run  # no reconciler run delivered them


def test_a_dead_endpoint_of_one_tenant_does_not_delay_another(
        queued_host: SeparateHost, scim_service: ScimService, receiver: Receiver,
        silent_endpoint: str) -> None:
    dead, alive = _new_tenant(scim_service), _new_tenant(scim_service)
    use_webhook(scim_service, dead[0], silent_endpoint)
    use_webhook(scim_service, alive[0], receiver.url)
    with _client(queued_host, dead) as client:
        for n in range(5):  # its pass now waits 2 s per attempt on the silent endpoint
            _create(client, f"d{n}@example.com")
    time.sleep(0.5)
    with _client(queued_host, alive) as client:
        started = time.monotonic()
        _create(client, "a@example.com")
        elapsed = _arrival(receiver, 1, started)
    assert elapsed < LATENCY_BOUND_S, elapsed


def test_a_patch_reaches_the_tenant_webhook_and_the_deployment_endpoint_within_seconds(
        deployment: SubscriptionTable, deployment_receiver: Receiver,
        queued_host: SeparateHost, scim_service: ScimService, receiver: Receiver,
        record_property: Any) -> None:
    use_subscription(deployment, deployment_receiver.url, ["user.*"])
    tenant = _new_tenant(scim_service)
    use_webhook(scim_service, tenant[0], receiver.url)
    with _client(queued_host, tenant) as client:
        uid = _create(client, "both@example.com")
        _arrival(receiver, 1, time.monotonic())
        _arrival(deployment_receiver, 1, time.monotonic())
        started = time.monotonic()
        r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "title", "value": "Engineer"}]})
        assert r.status_code == 200
        to_tenant = _arrival(receiver, 2, started)
        to_deployment = _arrival(deployment_receiver, 2, started)
    assert max(to_tenant, to_deployment) < LATENCY_BOUND_S, (to_tenant, to_deployment)
    record_property("patch_to_both_s", [round(to_tenant, 3), round(to_deployment, 3)])
    print(f"PATCH -> tenant webhook {to_tenant:.3f} s, deployment endpoint {to_deployment:.3f} s")
    for got in (receiver, deployment_receiver):
        assert all(r.valid for r in got.received)  # each with its own secret
        assert [e["type"].rsplit(".", 1)[1] for e in got.accepted()] == ["created", "updated"]
    assert {e["tenant"] for e in deployment_receiver.accepted()} == {tenant[0]}
