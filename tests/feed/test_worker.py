"""The leased pass (feed/worker.py) over Azurite's Table and Queue services; its use by the
queue trigger is tested end to end in tests/service/test_deliver.py."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.feed.delivery import Deliverer, Sender
from shared.feed.worker import deliver_tenant
from shared.service.app import ScimService
from shared.store.directory import Indexes
from shared.store.feed_log import FeedLog, Route
from shared.store.outbox import Outbox, insert_op
from shared.store.queues import WorkQueue, open_queues
from shared.store.signals import DeliverySignals
from shared.timestamps import now_iso
from tests.support.webhooks import Receiver, use_webhook


@pytest.fixture
def queue(queue_connection_string: str, scim_service: ScimService) -> Iterator[WorkQueue]:
    queues = open_queues(scim_service.settings.model_copy(update={
        "queue_connection_string": queue_connection_string,
        "deliver_queue": f"w{uuid.uuid4().hex[:12]}"}))
    queues.deliver.create()
    yield queues.deliver
    queues.deliver.client.delete_queue()


def _events(service: ScimService, tenant: str, n: int) -> None:
    for i in range(n):
        service.directory.submit([insert_op(tenant, f"{time.time_ns():020d}{i:04d}",
                                            f"Users/u{i}", "t", '{"id":1}', now_iso())],
                                 Indexes())


def _pass(service: ScimService, signals: DeliverySignals, sender: Sender, tenant: str,
          budget: float) -> object:
    record = service.tenants.get(tenant)
    assert record is not None
    outbox = Outbox(service.directory)
    return deliver_tenant(record, deliverer=Deliverer(outbox, service.settings, sender),
                          signals=signals, outbox=outbox, owner="test",
                          deadline=time.monotonic() + budget, lease_s=60, retry_after_s=1)


def test_a_tenant_leased_by_another_pass_is_skipped(
        scim_service: ScimService, queue: WorkQueue, tenant: tuple[str, str],
        receiver: Receiver) -> None:
    signals = DeliverySignals(scim_service.tables.data, queue)
    use_webhook(scim_service, tenant[0], receiver.url)
    _events(scim_service, tenant[0], 2)
    assert signals.acquire(tenant[0], "other", 60, datetime.now(UTC)) is not None
    sender = Sender(1.0)
    outcome = _pass(scim_service, signals, sender, tenant[0], 10)
    sender.close()
    assert outcome.skipped  # type: ignore[attr-defined]
    assert receiver.received == []


def test_out_of_budget_the_pass_hands_over_to_a_continue_message(
        scim_service: ScimService, queue: WorkQueue, tenant: tuple[str, str],
        receiver: Receiver) -> None:
    signals = DeliverySignals(scim_service.tables.data, queue)
    use_webhook(scim_service, tenant[0], receiver.url)
    _events(scim_service, tenant[0], 3)
    sender = Sender(5.0)  # a request could outlast a 1 s budget: nothing is sent
    outcome = _pass(scim_service, signals, sender, tenant[0], 1)
    sender.close()
    assert outcome.continued  # type: ignore[attr-defined]
    [message] = queue.receive(4)
    assert message.payload()["why"] == "continue"
    assert Outbox(scim_service.directory).count(tenant[0]) == 3


def test_events_committed_during_the_pass_are_delivered_by_it(
        scim_service: ScimService, queue: WorkQueue, tenant: tuple[str, str],
        receiver: Receiver) -> None:
    """The final read after the release: a writer that committed while the pass ran (and
    whose signal found the lease) is delivered without a message."""
    signals = DeliverySignals(scim_service.tables.data, queue)
    use_webhook(scim_service, tenant[0], receiver.url)
    _events(scim_service, tenant[0], 1)
    late = iter([True])

    def answer(_: object) -> int:
        if next(late, False):  # the receiver's first request: a writer commits meanwhile
            _events(scim_service, tenant[0], 1)
            assert not signals.signal(tenant[0])  # the lease is held: no message
        return 204

    receiver.answer = answer  # type: ignore[assignment]
    sender = Sender(1.0)
    outcome = _pass(scim_service, signals, sender, tenant[0], 10)
    sender.close()
    assert outcome.stats.delivered == 2  # type: ignore[attr-defined]
    assert queue.receive(4) == []
    assert Outbox(scim_service.directory).count(tenant[0]) == 0


def test_a_pass_publishes_before_it_delivers_and_late_commits_after_its_release(
        scim_service: ScimService, queue: WorkQueue, tenant: tuple[str, str]) -> None:
    """A tenant without a webhook: its events are still published (for the pull API), and
    one committed while the pass held the lease is published by the pass's final re-read,
    not left for the timer."""
    signals = DeliverySignals(scim_service.tables.data, queue)
    feed = FeedLog(scim_service.directory)
    _events(scim_service, tenant[0], 2)
    late = iter([True])

    def route(_type: str) -> Route:
        if next(late, False):  # publishing: a writer commits meanwhile, its signal held off
            _events(scim_service, tenant[0], 1)
            assert not signals.signal(tenant[0])
        return Route()

    record = scim_service.tenants.get(tenant[0])
    assert record is not None
    outbox = Outbox(scim_service.directory)
    sender = Sender(1.0)
    outcome = deliver_tenant(record, deliverer=Deliverer(outbox, scim_service.settings, sender),
                             signals=signals, outbox=outbox, owner="test",
                             deadline=time.monotonic() + 10, lease_s=60, retry_after_s=1,
                             feed_log=feed, route=route)
    sender.close()
    assert outcome.published == 3
    assert [e.seq for e in feed.read(tenant[0], 0, 10)] == [1, 2, 3]
    assert not feed.unpublished(tenant[0])
    assert outbox.count(tenant[0]) == 3  # held for a webhook (today's rule)
    assert queue.receive(4) == []


def test_only_published_events_are_delivered_and_an_unpublished_one_holds_its_subject(
        scim_service: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(scim_service, tenant[0], receiver.url)
    record = scim_service.tenants.get(tenant[0])
    assert record is not None

    def commit(n: int, subject: str) -> None:
        scim_service.directory.submit([insert_op(tenant[0], f"{n:032x}", subject, "t",
                                                 json.dumps({"id": n}), now_iso())], Indexes())

    commit(2, "Users/a")
    commit(3, "Users/b")
    FeedLog(scim_service.directory).publish(tenant[0], lambda _t: Route(),
                                            now=datetime.now(UTC))
    commit(1, "Users/a")  # committed late, under a lower id: not published yet
    outbox = Outbox(scim_service.directory)
    sender = Sender(1.0)
    stats = Deliverer(outbox, scim_service.settings, sender).deliver(record,
                                                                     time.monotonic() + 10)
    sender.close()
    assert [r.event["id"] for r in receiver.received] == [3]  # Users/a waits behind event 1
    assert (stats.delivered, stats.backlog) == (1, 2)
    assert [r.id for r in outbox.pending(tenant[0])] == [f"{n:032x}" for n in (1, 2)]
