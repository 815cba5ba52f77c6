"""The delivery signal and lease (store/signals.py) over Azurite's Table and Queue services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.settings import Settings
from shared.store import layout
from shared.store.connection import Tables
from shared.store.errors import NotFound, TransportFailed
from shared.store.queues import WorkQueue, open_queues
from shared.store.signals import DeliverySignals
from tests.support.storage_faults import hooked


@pytest.fixture
def queue(queue_connection_string: str) -> Iterator[WorkQueue]:
    queues = open_queues(Settings(queue_connection_string=queue_connection_string,
                                  deliver_queue=f"s{uuid.uuid4().hex[:12]}"))
    queues.deliver.create()
    yield queues.deliver
    queues.deliver.client.delete_queue()


@pytest.fixture
def signals(tables: Tables, queue: WorkQueue) -> DeliverySignals:
    return DeliverySignals(tables.data, queue)


def _state(signals: DeliverySignals, tenant: str) -> str | None:
    try:
        return str(signals.table.get_entity(tenant, layout.DELIVERY_MARK)["state"])
    except NotFound:
        return None


def test_concurrent_signals_send_one_message(signals: DeliverySignals, queue: WorkQueue,
                                             tenant_id: str) -> None:
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: signals.signal(tenant_id), range(20)))
    assert results.count(True) == 1
    [message] = queue.receive(32)
    assert message.payload() == {"v": 1, "tenant": tenant_id, "why": "commit"}
    assert _state(signals, tenant_id) == "pending"


def test_two_owners_get_one_lease_and_an_expired_lease_is_taken_over(
        signals: DeliverySignals, tenant_id: str) -> None:
    now = datetime.now(UTC)
    assert signals.signal(tenant_id)
    with ThreadPoolExecutor(2) as pool:
        leases = list(pool.map(lambda o: signals.acquire(tenant_id, o, 60, now), ["a", "b"]))
    held = [lease for lease in leases if lease is not None]
    assert len(held) == 1
    assert _state(signals, tenant_id) == "running"
    # While it runs, nobody else gets it; past its lease, the next one does.
    assert signals.acquire(tenant_id, "c", 60, now + timedelta(seconds=59)) is None
    taken = signals.acquire(tenant_id, "c", 60, now + timedelta(seconds=61))
    assert taken is not None
    assert not signals.release(held[0])  # the old holder's release cannot drop the new lease
    assert _state(signals, tenant_id) == "running"
    assert signals.release(taken)
    assert _state(signals, tenant_id) is None


def test_a_signal_while_a_pass_runs_sends_nothing_and_the_release_lets_the_next_one_in(
        signals: DeliverySignals, queue: WorkQueue, tenant_id: str) -> None:
    """The interleaving the final read relies on: a writer's signal during the pass finds the
    row (False, no message); once released, the pass's re-read sees the writer's events, and
    the next signal sends again."""
    lease = signals.acquire(tenant_id, "pass", 60, datetime.now(UTC))
    assert lease is not None
    assert not signals.signal(tenant_id)
    assert queue.receive(32) == []
    assert signals.release(lease)
    assert signals.signal(tenant_id)
    assert len(queue.receive(32)) == 1


def test_hand_over_leaves_a_pending_row_and_a_continue_message(
        signals: DeliverySignals, queue: WorkQueue, tenant_id: str) -> None:
    now = datetime.now(UTC)
    lease = signals.acquire(tenant_id, "pass", 60, now)
    assert lease is not None
    signals.hand_over(lease, now=now)
    assert _state(signals, tenant_id) == "pending"
    [message] = queue.receive(32)
    assert message.payload()["why"] == "continue"
    assert signals.acquire(tenant_id, "next", 60, now) is not None


def test_clear_stale_removes_only_stale_rows(signals: DeliverySignals,
                                             tenant_id: str) -> None:
    now = datetime.now(UTC)
    assert signals.signal(tenant_id, now=now)
    assert not signals.clear_stale(tenant_id, now + timedelta(seconds=299))
    assert signals.clear_stale(tenant_id, now + timedelta(seconds=301))
    assert _state(signals, tenant_id) is None
    lease = signals.acquire(tenant_id, "pass", 60, now)
    assert lease is not None
    assert not signals.clear_stale(tenant_id, now + timedelta(seconds=59))
    assert signals.clear_stale(tenant_id, now + timedelta(seconds=61))
    assert not signals.clear_stale(tenant_id, now)


def test_a_failed_send_removes_the_row_so_the_next_commit_signals(
        signals: DeliverySignals, queue: WorkQueue, tenant_id: str) -> None:
    def fail_queue(request, send):  # type: ignore[no-untyped-def]
        if f"/{queue.name}/" in request.url:
            raise TransportFailed("reset (injected)")
        return send(request)

    with hooked(fail_queue), pytest.raises(TransportFailed):
        signals.signal(tenant_id)
    assert _state(signals, tenant_id) is None
    assert signals.signal(tenant_id)


def test_a_delayed_retry_holds_no_row(signals: DeliverySignals, queue: WorkQueue,
                                      tenant_id: str) -> None:
    now = datetime.now(UTC)
    signals.delayed(tenant_id, now + timedelta(seconds=30), now)
    assert _state(signals, tenant_id) is None
    assert queue.receive(32) == []  # not visible yet
    assert queue.count() == 1
    assert signals.signal(tenant_id)  # a commit meanwhile still signals at once


def test_without_a_queue_the_row_is_a_lease_only(tables: Tables, tenant_id: str) -> None:
    """Timer mode (the pull API publishing): acquire and release work, sending never does."""
    leases = DeliverySignals(tables.data, None)
    now = datetime.now(UTC)
    lease = leases.acquire(tenant_id, "pull", 30, now)
    assert lease is not None
    assert leases.acquire(tenant_id, "other", 30, now) is None
    assert leases.release(lease)
    with pytest.raises(RuntimeError, match="leases only"):
        leases.delayed(tenant_id, now, now)
