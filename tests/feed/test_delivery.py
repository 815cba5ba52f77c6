"""Delivery to a real HTTP receiver on loopback: signatures, order per resource, retries with
backoff after 500s and timeouts, dead letters and their replay with the CLI, time budget, and
several requests in flight (SCIM_WEBHOOK_CONCURRENCY) with the order per resource kept."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

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


def _concurrency(service: ScimService, n: int, **update: Any) -> ScimService:
    return ScimService(service.settings.model_copy(update={"webhook_concurrency": n, **update}),
                       service.tables)


def _by_subject(ids_in_order: list[str], events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Event ids per subject, in the order of `ids_in_order`."""
    subject = {e["id"]: e["subject"] for e in events}
    out: dict[str, list[str]] = defaultdict(list)
    for eid in ids_in_order:
        out[subject[eid]].append(eid)
    return dict(out)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_every_event_arrives_signed_and_in_order(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str, concurrency: int) -> None:
    a, b = _user(client, "a@example.com"), _user(client, "b@example.com")
    for n in range(3):
        _title(client, a, f"a{n}")
        _title(client, b, f"b{n}")
    pending = events_of(outbox, tenant_id)
    expected = [e["id"] for e in pending]
    assert len(expected) == 8
    use_webhook(feed_service, tenant_id, receiver.url)
    summary = run(_concurrency(feed_service, concurrency), tenants=[tenant_id])
    assert (summary["delivered"], summary["failed"], summary["backlog"]) == (8, 0, 0)
    assert all(r.valid for r in receiver.received)
    got = [r.event["id"] for r in receiver.received]
    if concurrency == 1:
        assert got == expected  # one request at a time: exactly commit order, as always
    else:
        assert sorted(got) == expected
        assert _by_subject(got, pending) == _by_subject(expected, pending)
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
    generated = json.loads(capsys.readouterr().out)["secret"]
    assert signing.is_secret(generated)
    assert admin(["webhook", "show", tenant_id]) == 0
    assert generated not in capsys.readouterr().out  # shown once, at creation only
    assert admin(["webhook", "set", tenant_id, receiver.url, "--secret", SECRET]) == 0
    assert SECRET not in capsys.readouterr().out  # given: never printed
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


def test_several_subjects_are_sent_at_once_and_much_sooner(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver,
        tenant_id: str) -> None:
    receiver.delay_seconds = 0.2
    use_webhook(feed_service, tenant_id, receiver.url)
    timings: dict[int, float] = {}
    for concurrency in (1, 4):
        for n in range(20):
            _user(client, f"u{concurrency}-{n}@example.com")
        receiver.most_in_flight = 0
        started = time.monotonic()
        summary = run(_concurrency(feed_service, concurrency), tenants=[tenant_id])
        timings[concurrency] = time.monotonic() - started
        assert (summary["delivered"], summary["backlog"]) == (20, 0)
        assert receiver.most_in_flight <= concurrency
    assert timings[1] >= 20 * 0.2
    # Ideally a quarter; the bound leaves room for a loaded machine.
    assert timings[4] < 0.6 * timings[1], timings
    assert receiver.most_in_flight >= 2


def test_order_per_resource_holds_with_many_events_on_few_resources(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str) -> None:
    users = [_user(client, f"few{n}@example.com") for n in range(6)]
    for uid in users:  # each user's events one after another: the oldest rows share a subject
        for n in range(7):
            _title(client, uid, f"t{n}")
    pending = events_of(outbox, tenant_id)
    expected = [e["id"] for e in pending]
    assert len(expected) == 48
    lock = threading.Lock()
    in_flight: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []

    def slow_and_watching(got: Received) -> int:
        subject = got.event["subject"]
        with lock:
            in_flight[subject] += 1
            if in_flight[subject] > 1:
                overlaps.append(subject)
        time.sleep(0.02)
        with lock:
            in_flight[subject] -= 1
        return 204

    receiver.answer = slow_and_watching
    use_webhook(feed_service, tenant_id, receiver.url)
    summary = run(_concurrency(feed_service, 4), tenants=[tenant_id])
    assert (summary["delivered"], summary["backlog"]) == (48, 0)
    assert overlaps == []  # one request at a time per resource
    got = [r.event["id"] for r in receiver.received]
    assert sorted(got) == expected  # each exactly once
    assert _by_subject(got, pending) == _by_subject(expected, pending)
    assert 2 <= receiver.most_in_flight <= 4


def test_a_failing_resource_blocks_only_itself_under_concurrency(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver, outbox: Outbox,
        tenant_id: str) -> None:
    doomed = _user(client, "doomed@example.com")
    others = [_user(client, f"ok{n}@example.com") for n in range(7)]
    for uid in [doomed, *others]:
        _title(client, uid, "later")
        _title(client, uid, "latest")
    pending = events_of(outbox, tenant_id)
    receiver.delay_seconds = 0.05
    receiver.answer = lambda got: 500 if got.event["subject"] == f"Users/{doomed}" else 204
    use_webhook(feed_service, tenant_id, receiver.url)
    summary = run(_concurrency(feed_service, 4), tenants=[tenant_id])
    assert (summary["delivered"], summary["failed"], summary["backlog"]) == (21, 1, 3)
    tried = [r.event for r in receiver.received if r.event["subject"] == f"Users/{doomed}"]
    assert [e["id"] for e in tried] == [pending[0]["id"]]  # its later events waited
    accepted = [e["id"] for e in receiver.accepted()]
    assert _by_subject(accepted, pending) == {
        subject: ids for subject, ids in _by_subject([e["id"] for e in pending], pending).items()
        if subject != f"Users/{doomed}"}
    row = next(outbox.pending(tenant_id))
    assert (row.id, row.attempts, row.last_error) == (pending[0]["id"], 1, "HTTP 500")


def test_a_down_endpoint_is_left_alone_after_ten_failures_across_workers(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver,
        tenant_id: str) -> None:
    for n in range(30):
        _user(client, f"down{n}@example.com")
    receiver.delay_seconds = 0.02
    receiver.answer = lambda got: 503
    use_webhook(feed_service, tenant_id, receiver.url)
    summary = run(_concurrency(feed_service, 4), tenants=[tenant_id])
    # The tenth failure stops new requests; at most three more were already in flight.
    assert 10 <= summary["failed"] <= 13
    assert len(receiver.received) == summary["failed"]
    assert (summary["delivered"], summary["backlog"]) == (0, 30)


def test_concurrent_workers_start_nothing_past_the_budget(
        client: httpx.Client, feed_service: ScimService, receiver: Receiver,
        tenant_id: str) -> None:
    for n in range(40):
        _user(client, f"late{n}@example.com")
    receiver.delay_seconds = 0.25
    use_webhook(feed_service, tenant_id, receiver.url)
    budget = 2.0  # the webhook timeout is 1 s: requests start during the first second only
    started = time.monotonic()
    summary = run(_concurrency(feed_service, 4, reconcile_budget_seconds=budget),
                  tenants=[tenant_id])
    elapsed = time.monotonic() - started
    assert summary["incomplete"] is True
    assert 0 < summary["delivered"] < 40
    assert summary["delivered"] + summary["backlog"] == 40
    assert len(receiver.received) == summary["delivered"]  # nothing cut off in flight
    assert elapsed < budget + 0.5  # every request ended within its timeout of the budget
    assert run(feed_service, tenants=[tenant_id])["delivered"] == 40 - summary["delivered"]
