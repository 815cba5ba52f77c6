"""`shared.store.subscriptions`: the deployment-wide subscription's row, each test on a table of
its own (Azurite): round trip, ETag-conditional save and clear, the per-instance cache."""

from __future__ import annotations

import pytest

from shared.store import layout
from shared.store.backend import Backend
from shared.store.errors import PreconditionFailed
from shared.store.subscriptions import Subscription, SubscriptionTable

NOW = "2026-01-01T00:00:00.000Z"
SECRET = "whsec_" + "A" * 44


def _subscription(**fields: object) -> Subscription:
    return Subscription.model_validate({"url": "https://hooks.example.com/all",
                                        "secret": SECRET, "types": ["user.*"],
                                        "created": NOW, "updated": NOW, **fields})


def _fields(subscription: Subscription | None) -> dict[str, object] | None:
    """What is stored, without the version read (each read has its own ETag)."""
    return None if subscription is None else subscription.model_dump()


def test_none_until_saved_then_read_back(empty_table: Backend) -> None:
    table = SubscriptionTable(empty_table)
    assert table.get() is None
    table.save(_subscription())
    assert _fields(table.get()) == _fields(_subscription())
    row = empty_table.get_entity(layout.SUBSCRIPTIONS_PARTITION,
                                 layout.DEPLOYMENT_SUBSCRIPTION_ROW)
    assert row["PartitionKey"].startswith("~")  # never a tenant id


def test_the_secret_stays_out_of_the_repr() -> None:
    assert SECRET not in repr(_subscription())


def test_a_save_over_a_changed_row_is_refused(empty_table: Backend) -> None:
    table = SubscriptionTable(empty_table)
    table.save(_subscription())
    first, second = table.get(), table.get()
    assert first is not None
    assert second is not None
    first.types = ["group.*"]
    table.save(first)
    second.url = "https://other.example.com/"
    with pytest.raises(PreconditionFailed):
        table.save(second)  # would undo the types change
    assert _fields(table.get()) == _fields(_subscription(types=["group.*"]))


def test_two_creates_at_once_keep_the_first(empty_table: Backend) -> None:
    table = SubscriptionTable(empty_table)
    table.save(_subscription(url="https://one.example.com/"))
    with pytest.raises(PreconditionFailed):
        table.save(_subscription(url="https://two.example.com/"))  # never read: a create
    stored = table.get()
    assert stored is not None
    assert stored.url == "https://one.example.com/"


def test_clear_is_conditional(empty_table: Backend) -> None:
    table = SubscriptionTable(empty_table)
    table.save(_subscription())
    stale, fresh = table.get(), table.get()
    assert stale is not None
    assert fresh is not None
    fresh.types = []
    table.save(fresh)
    with pytest.raises(PreconditionFailed):
        table.clear(stale)
    table.clear(fresh)
    assert table.get() is None


def test_current_is_cached_for_thirty_seconds_per_instance(empty_table: Backend) -> None:
    now = [0.0]
    reader = SubscriptionTable(empty_table, clock=lambda: now[0])
    writer = SubscriptionTable(empty_table)  # another instance
    assert reader.current() is None
    writer.save(_subscription())
    now[0] = 29.0
    assert reader.current() is None  # still the cached answer
    now[0] = 30.0
    assert _fields(reader.current()) == _fields(_subscription())
    stored = writer.get()
    assert stored is not None
    writer.clear(stored)
    assert _fields(reader.current()) == _fields(_subscription())
    own = SubscriptionTable(empty_table, clock=lambda: now[0])
    own.save(_subscription(url="https://own.example.com/"))
    current = own.current()
    assert current is not None
    assert current.url == "https://own.example.com/"
    assert _fields(own.get()) == _fields(current)
