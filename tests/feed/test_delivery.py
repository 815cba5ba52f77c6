"""Delivery to a real HTTP receiver on loopback: signatures, order per resource, retries with
backoff after 500s and timeouts, dead letters and their replay with the CLI, time budget."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from shared.admin.__main__ import main as admin
from shared.feed import signing
from shared.service.app import ScimService
from shared.service.reconcile import run
from shared.store.outbox import Outbox
from tests.support.webhooks import SECRET, Received, Receiver, events_of, use_webhook

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def tenant_id(tenant: tuple[str, str]) -> str:
    return tenant[0]


def _user(client: httpx.Client, name: str) -> str:
    r = client.post("/Users", json={"schemas": [USER], "userName": name})
    assert r.status_code == 201
    return str(r.json()["id"])


def _title(client: httpx.Client, uid: str, title: str) -> None:
    r = client.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": title}]})
    assert r.status_code == 200


def _wait_until_due(outbox: Outbox, tenant: str) -> None:
    from shared.timestamps import parse_iso

    due = [parse_iso(r.next_attempt).timestamp() for r in outbox.pending(tenant)
           if r.next_attempt]
    if due:
        time.sleep(max(0.0, max(due) - time.time()) + 0.01)


def test_every_event_arrives_signed_and_in_order(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str) -> None:
    a, b = _user(client, "a@example.com"), _user(client, "b@example.com")
    for n in range(3):
        _title(client, a, f"a{n}")
        _title(client, b, f"b{n}")
    expected = [e["id"] for e in events_of(outbox, tenant_id)]
    assert len(expected) == 8
    use_webhook(feed_service, tenant_id, receiver.url)
    summary = run(feed_service, tenants=[tenant_id])
    assert (summary["delivered"], summary["failed"], summary["backlog"]) == (8, 0, 0)
    assert all(r.valid for r in receiver.received)
    assert [r.event["id"] for r in receiver.received] == expected
    first = receiver.received[0]
    assert first.headers["webhook-id"] == first.event["id"]
    assert first.headers["content-type"].startswith("application/cloudevents+json")
    assert first.headers["webhook-signature"].startswith("v1,")
    assert list(outbox.pending(tenant_id)) == []
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 0  # nothing twice


def test_a_failing_event_blocks_only_its_resource_then_is_retried_with_backoff(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str) -> None:
    a = _user(client, "a@example.com")
    b = _user(client, "b@example.com")
    _title(client, a, "later")
    refused: list[str] = []

    def refuse_a_once(got: Received) -> int:
        if got.event["subject"] == f"Users/{a}" and not refused:
            refused.append(got.event["id"])
            return 500
        return 204

    receiver.answer = refuse_a_once
    use_webhook(feed_service, tenant_id, receiver.url)
    # A backoff long enough that the immediate second run certainly finds it not due.
    feed_service = ScimService(feed_service.settings.model_copy(update={
        "webhook_backoff_seconds": 1.5, "webhook_backoff_max_seconds": 1.5}),
        feed_service.tables)
    first = run(feed_service, tenants=[tenant_id])
    assert (first["delivered"], first["failed"], first["backlog"]) == (1, 1, 2)
    assert [e["subject"] for e in receiver.accepted()] == [f"Users/{b}"]
    row = next(outbox.pending(tenant_id))
    assert (row.id, row.attempts, row.last_error) == (refused[0], 1, "HTTP 500")
    assert row.next_attempt > row.created

    assert run(feed_service, tenants=[tenant_id])["delivered"] == 0  # backoff not over
    _wait_until_due(outbox, tenant_id)
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 2
    accepted_a = [e for e in receiver.accepted() if e["subject"] == f"Users/{a}"]
    assert [e["type"].rsplit(".", 1)[1] for e in accepted_a] == ["created", "updated"]
    assert accepted_a[0]["id"] == refused[0]  # same id on retry: receivers deduplicate on it


def test_a_timeout_is_retried(client: httpx.Client, feed_service: ScimService,
                              receiver: Receiver, outbox: Outbox, tenant_id: str) -> None:
    service = ScimService(feed_service.settings.model_copy(
        update={"webhook_timeout_seconds": 0.3}), feed_service.tables)
    receiver.stall_seconds = 0.6
    _user(client, "slow@example.com")
    receiver.answer = lambda got: None if len(receiver.received) == 1 else 204
    use_webhook(service, tenant_id, receiver.url)
    first = run(service, tenants=[tenant_id])
    assert (first["delivered"], first["failed"]) == (0, 1)
    assert next(outbox.pending(tenant_id)).last_error == "timeout"
    _wait_until_due(outbox, tenant_id)
    assert run(service, tenants=[tenant_id])["delivered"] == 1
    assert len(receiver.received) == 2


def test_dead_letter_after_max_attempts_then_replay_with_the_cli(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    uid = _user(client, "doomed@example.com")
    receiver.answer = lambda got: 500
    use_webhook(feed_service, tenant_id, receiver.url)
    for _ in range(feed_service.settings.webhook_max_attempts):
        _wait_until_due(outbox, tenant_id)
        summary = run(feed_service, tenants=[tenant_id])
    assert summary["dead_lettered"] == 1
    assert list(outbox.pending(tenant_id)) == []
    dead = outbox.dead_letters(tenant_id)
    assert [(d.attempts, d.last_error) for d in dead] == [(3, "HTTP 500")]
    assert len(receiver.received) == 3

    # A dead letter no longer blocks its resource: the next event of the user goes out.
    receiver.answer = lambda got: 204
    _title(client, uid, "next")
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 1

    capsys.readouterr()
    assert admin(["deadletter", "list", tenant_id]) == 0
    listing = capsys.readouterr().out
    assert dead[0].id in listing
    assert "HTTP 500" in listing
    assert admin(["deadletter", "show", tenant_id, dead[0].id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["event"]["data"]["id"] == uid
    assert admin(["deadletter", "replay", tenant_id, "--all"]) == 0
    assert outbox.dead_letters(tenant_id) == []
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 1
    assert receiver.received[-1].event["id"] == dead[0].id
    assert receiver.received[-1].valid
    with pytest.raises(SystemExit):
        admin(["deadletter", "replay", tenant_id, dead[0].id])  # nothing left to replay


def test_webhook_cli_set_show_and_test_event(receiver: Receiver, tenant_id: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(["webhook", "set", tenant_id, receiver.url, "--json"]) == 0
    generated = json.loads(capsys.readouterr().out)["webhook_secret"]
    assert signing.is_secret(generated)
    assert admin(["webhook", "show", tenant_id]) == 0
    assert generated not in capsys.readouterr().out  # shown once, at creation only
    assert admin(["webhook", "set", tenant_id, receiver.url, "--secret", SECRET]) == 0
    assert "webhook_secret" not in capsys.readouterr().out
    assert admin(["webhook", "test", tenant_id]) == 0
    assert "delivered" in capsys.readouterr().out
    assert receiver.received[-1].valid
    assert receiver.received[-1].event["type"].endswith("webhook.test")
    with pytest.raises(SystemExit):
        admin(["webhook", "set", tenant_id, "http://example.com/hook"])  # https only
    receiver.answer = lambda got: 503
    assert admin(["webhook", "test", tenant_id]) == 1


def test_without_a_webhook_events_are_held_then_discarded(
        client: httpx.Client, feed_service: ScimService, outbox: Outbox,
        tenant_id: str) -> None:
    _user(client, "held@example.com")
    assert run(feed_service, tenants=[tenant_id])["backlog"] == 1
    assert len(list(outbox.pending(tenant_id))) == 1
    service = ScimService(feed_service.settings.model_copy(update={"feed_hold_days": 0.0}),
                          feed_service.tables)
    assert run(service, tenants=[tenant_id])["discarded"] == 1
    assert list(outbox.pending(tenant_id)) == []


def test_a_run_stops_at_its_budget_and_the_next_resumes(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver,
        tenant_id: str) -> None:
    _user(client, "budget@example.com")
    use_webhook(feed_service, tenant_id, receiver.url)
    tight = ScimService(feed_service.settings.model_copy(
        update={"reconcile_budget_seconds": 0.5}), feed_service.tables)  # < one timeout
    summary = run(tight, tenants=[tenant_id])
    assert summary["incomplete"] is True
    assert (summary["delivered"], summary["backlog"]) == (0, 1)
    assert receiver.received == []
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 1
