"""Queue-driven delivery in process: a service with SCIM_QUEUE_STORAGE set (Azurite's Queue
service, a queue per test), writes through `ScimService.handle`, and the deliver queue
drained here as the host drains it: each message to `on_message`, deleted when it returns,
left for a retry when it raises."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import telemetry
from shared.service.app import ScimService
from shared.service.deliver import on_message
from shared.service.messages import ScimRequest
from shared.service.reconcile import run
from shared.store import layout
from shared.store.errors import TransportFailed, Unavailable
from shared.store.outbox import Outbox
from shared.store.queues import WorkQueue
from shared.timestamps import iso
from tests.support.storage_faults import hooked
from tests.support.webhooks import Receiver, use_webhook

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def queued(scim_service: ScimService, queue_connection_string: str) -> Iterator[ScimService]:
    settings = scim_service.settings.model_copy(update={
        "queue_connection_string": queue_connection_string,
        "deliver_queue": f"d{uuid.uuid4().hex[:12]}",
        "webhook_backoff_seconds": 0.2, "webhook_backoff_max_seconds": 0.4,
        "webhook_max_attempts": 3, "webhook_timeout_seconds": 1.0,
        "delivery_budget_seconds": 10.0, "repair_interval_hours": 24.0})
    service = ScimService(settings, scim_service.tables)
    assert service.delivery_signals is not None
    service.delivery_signals.queue.create()
    yield service
    service.delivery_signals.queue.client.delete_queue()


def _queue(service: ScimService) -> WorkQueue:
    assert service.delivery_signals is not None
    return service.delivery_signals.queue


def _request(service: ScimService, tenant: tuple[str, str], method: str, rid: str | None,
             body: dict[str, Any]) -> dict[str, Any]:
    response = service.handle(ScimRequest(
        method=method, tenant=tenant[0], resource="Users", id=rid,
        headers={"authorization": f"Bearer {tenant[1]}",
                 "content-type": "application/scim+json"},
        body=json.dumps(body).encode()))
    assert response.status in (200, 201), response.body
    assert response.body is not None
    return response.body


def _create(service: ScimService, tenant: tuple[str, str], name: str) -> str:
    return str(_request(service, tenant, "POST", None, {"schemas": [USER],
                                                        "userName": name})["id"])


def _title(service: ScimService, tenant: tuple[str, str], uid: str, title: str) -> None:
    _request(service, tenant, "PATCH", uid, {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": title}]})


def drain(service: ScimService, *, idle: float = 1.5, stop: threading.Event | None = None
          ) -> int:
    """Consume the deliver queue as the host does until it stays empty for `idle` seconds
    (and `stop` is set, when given); the number of messages handled."""
    queue, handled, quiet_since = _queue(service), 0, time.monotonic()
    while True:
        messages = queue.receive(1, visibility=30)
        if not messages:
            if time.monotonic() - quiet_since >= idle and (stop is None or stop.is_set()):
                return handled
            time.sleep(0.05)
            continue
        for message in messages:
            on_message(service, message.text, dequeue_count=message.dequeue_count)
            queue.delete(message)
            handled += 1
        quiet_since = time.monotonic()


def _webhook_ids(receiver: Receiver) -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.received
            if r.headers.get("x-answer") == "2xx"]


def test_many_commits_send_one_message_until_it_is_consumed(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(queued, tenant[0], receiver.url)
    uid = _create(queued, tenant, "dedup@example.com")
    for n in range(30):
        _title(queued, tenant, uid, f"t{n}")
    assert queued.signaller.flush()
    assert _queue(queued).count() == 1
    assert drain(queued) == 1
    assert len(_webhook_ids(receiver)) == 31
    assert _webhook_ids(receiver) == sorted(_webhook_ids(receiver))  # commit order
    assert Outbox(queued.directory).count(tenant[0]) == 0
    # Consumed: the next commit signals again.
    _title(queued, tenant, uid, "again")
    assert queued.signaller.flush()
    assert _queue(queued).count() == 1


def test_a_crash_between_commit_and_signal_is_delivered_by_the_timer(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(queued, tenant[0], receiver.url)
    queued.directory.on_events = None  # the process died before signalling
    uid = _create(queued, tenant, "crash@example.com")
    _title(queued, tenant, uid, "x")
    assert _queue(queued).count() == 0
    summary = run(queued, tenants=[tenant[0]])
    assert summary["delivered"] == 2
    assert len(_webhook_ids(receiver)) == 2


def test_a_signal_row_whose_message_was_never_sent_is_cleared_by_the_timer(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    """A crash between the row and the send: commits find the row and send nothing; the
    timer clears the row once stale and delivers."""
    use_webhook(queued, tenant[0], receiver.url)
    stale = iso(datetime.now(UTC) - timedelta(minutes=10))
    queued.tables.data.create_entity({"PartitionKey": tenant[0],
                                      "RowKey": layout.DELIVERY_MARK, "state": "pending",
                                      "since": stale})
    _create(queued, tenant, "stale@example.com")
    assert queued.signaller.flush()
    assert _queue(queued).count() == 0
    assert run(queued, tenants=[tenant[0]])["delivered"] == 1
    # The row is gone: the next commit signals again.
    _create(queued, tenant, "next@example.com")
    assert queued.signaller.flush()
    assert _queue(queued).count() == 1


def test_per_resource_order_holds_with_concurrent_writers_and_consumers(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(queued, tenant[0], receiver.url)
    a, b = _create(queued, tenant, "a@example.com"), _create(queued, tenant, "b@example.com")
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def write(uid: str, tag: str) -> None:
        try:
            for n in range(12):
                try:
                    _title(queued, tenant, uid, f"{tag}{n}")
                except AssertionError:  # a 412 race between the two writers of `a`: retry
                    _title(queued, tenant, uid, f"{tag}{n}r")
        except BaseException as exc:
            errors.append(exc)

    def consume() -> None:
        try:
            drain(queued, idle=2.0, stop=writers_done)
        except BaseException as exc:
            errors.append(exc)

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    writers = [threading.Thread(target=write, args=args)
               for args in ((a, "x"), (a, "y"), (b, "z"))]
    for thread in consumers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    queued.signaller.flush()
    writers_done.set()
    for thread in consumers:
        thread.join()
    assert errors == []
    assert Outbox(queued.directory).count(tenant[0]) == 0
    by_subject: dict[str, list[str]] = {}
    for got in receiver.received:
        if got.headers.get("x-answer") == "2xx":
            by_subject.setdefault(got.event["subject"], []).append(got.headers["webhook-id"])
    assert set(by_subject) == {f"Users/{a}", f"Users/{b}"}
    for ids in by_subject.values():
        firsts = list(dict.fromkeys(ids))
        assert firsts == sorted(firsts), "a resource's events overtook each other"
    assert len(by_subject[f"Users/{b}"]) >= 13  # created + 12 titles, at least once


def test_a_retry_comes_due_without_the_timer(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([503])
    receiver.answer = lambda _: next(answers, 204)
    use_webhook(queued, tenant[0], receiver.url)
    _create(queued, tenant, "retry@example.com")
    assert queued.signaller.flush()
    [message] = _queue(queued).receive(1)
    with caplog.at_level(logging.INFO, logger="scim.feed"):
        outcome = on_message(queued, message.text)
    _queue(queued).delete(message)
    assert outcome is not None
    assert outcome.wake_at is not None
    assert outcome.stats.failed == 1
    # the pass's record, as Azure Monitor's backlog alert reads it (shared/telemetry.py)
    (passed,) = [r for r in caplog.records
                 if getattr(r, telemetry.EVENT, None) == telemetry.DELIVERY_PASS]
    assert getattr(passed, telemetry.TENANT) == tenant[0]
    assert (getattr(passed, telemetry.FAILED), getattr(passed, telemetry.BACKLOG)) == (1, 1)
    assert getattr(passed, telemetry.BACKLOG_AGE_S) >= 0
    assert _webhook_ids(receiver) == []
    assert drain(queued, idle=3.0) >= 1  # the delayed `retry` message
    assert len(_webhook_ids(receiver)) == 1


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"v": 2, "tenant": "t", "why": "commit"}',
                                  b'{"v": 1, "why": "commit"}', b'{"v": 1, "tenant": "t"}',
                                  b"\xff\xfe"])
def test_a_malformed_message_is_acknowledged(queued: ScimService, body: bytes,
                                             caplog: pytest.LogCaptureFixture) -> None:
    assert on_message(queued, body) is None
    assert "not understood" in caplog.text


def test_a_message_for_an_unknown_tenant_is_acknowledged(queued: ScimService) -> None:
    assert on_message(queued, b'{"v": 1, "tenant": "tnosuchtenant", "why": "commit"}') is None


def test_a_storage_outage_propagates_so_the_host_retries(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(queued, tenant[0], receiver.url)
    _create(queued, tenant, "outage@example.com")
    assert queued.signaller.flush()
    [message] = _queue(queued).receive(1)

    def down(request, send):  # type: ignore[no-untyped-def]
        if "/scimdata" in request.url or "/scimtenants" in request.url:
            raise TransportFailed("storage down (injected)")
        return send(request)

    with hooked(down), pytest.raises(Unavailable):
        on_message(queued, message.text, dequeue_count=message.dequeue_count)
    # Storage back: the host's next attempt delivers.
    assert on_message(queued, message.text, dequeue_count=2) is not None
    assert len(_webhook_ids(receiver)) == 1


def test_the_reconcilers_pass_holds_the_lease_until_its_own_deadline(
        queued: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    """The timer's pass may run for SCIM_RECONCILE_BUDGET_SECONDS, far longer than a queue
    pass's budget: its lease must not end first, or a queue pass would run beside it."""
    from shared.timestamps import parse_iso

    leases: list[datetime] = []

    def answer(_: object) -> int:
        row = queued.tables.data.get_entity(tenant[0], layout.DELIVERY_MARK)
        leases.append(parse_iso(str(row["leaseUntil"])))
        return 204

    receiver.answer = answer  # type: ignore[assignment]
    use_webhook(queued, tenant[0], receiver.url)
    _create(queued, tenant, "long@example.com")
    started = datetime.now(UTC)
    assert run(queued, tenants=[tenant[0]])["delivered"] == 1
    budget = queued.settings.reconcile_budget_seconds
    assert budget > queued.settings.delivery_budget_seconds * 2
    assert leases[0] >= started + timedelta(seconds=budget - 5)


def test_the_timers_publish_takes_batch_after_batch_until_none_is_left(
        scim_service: ScimService, tenant: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.service import deliver
    from shared.store.directory import Indexes
    from shared.store.feed_log import FeedLog
    from shared.store.outbox import insert_op

    tid = tenant[0]
    scim_service.directory.submit([insert_op(tid, f"{n:032x}", f"Users/u{n}", "t", "{}", "c")
                                   for n in range(25)], Indexes())
    monkeypatch.setattr(deliver, "PUBLISH_LIMIT", 10)
    record = scim_service.tenants.get(tid)
    assert record is not None
    assert deliver.publish(scim_service, record, datetime.now(UTC)) == 25
    assert [e.seq for e in FeedLog(scim_service.directory).read(tid, 0, 100)] == list(
        range(1, 26))
    calls = iter([False, True])
    scim_service.directory.submit([insert_op(tid, f"{n:032x}", f"Users/u{n}", "t", "{}", "c")
                                   for n in range(100, 130)], Indexes())
    assert deliver.publish(scim_service, record, datetime.now(UTC),
                           over=lambda: next(calls)) == 20  # out of time after two batches


def test_with_queues_the_pass_publishes_for_the_pull_api_webhook_or_not(
        queued: ScimService, tenant: tuple[str, str]) -> None:
    """Queue mode: a pull never publishes itself (the signalled pass does, within seconds),
    and a tenant without a webhook is published all the same."""
    from shared.auth import feed_tokens
    from shared.service.messages import FeedRequest

    record = queued.tenants.get(tenant[0])
    assert record is not None
    reader = feed_tokens.issue(record)
    queued.tenants.save(record)

    def pulled() -> list[str]:
        page = queued.feed_api.handle(FeedRequest("GET", tenant[0], headers={
            "authorization": f"Bearer {reader}"}))
        assert page.status == 200
        return [e["data"]["id"] for e in page.body["events"]]

    uid = _create(queued, tenant, "pulled@example.com")
    assert queued.feed_api.leases is None
    assert pulled() == []  # committed, not yet published: the pass has not run
    assert queued.signaller.flush()
    assert drain(queued) == 1
    assert pulled() == [uid]
