"""`shared.store.feed_log`: publishing a tenant's committed events to its pullable feed
(Azurite). Seq order is publication order, so an event committed late under a lower id is
published after higher ones and a reader resuming from the last seq it saw still gets it;
concurrent publishers never publish an event twice nor leave a gap; routes keep, drop or copy
the lane rows; large bodies and many events span several transactions; old events are purged.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import layout
from shared.store.directory import Directory, Indexes
from shared.store.feed_log import FeedLog, PublishedEvent, Route
from shared.store.outbox import Outbox, insert_op
from shared.store.wire import Request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CREATED = "2026-03-01T12:00:00.000Z"
TYPE = "com.example.scim.user.created"


def eid(n: int) -> str:
    """An event id as the feed issues them: 32 hex digits that sort by creation."""
    return f"{n:032x}"


def keep(_type: str) -> Route:
    return Route()


@pytest.fixture
def feed(directory: Directory) -> FeedLog:
    return FeedLog(directory)


def _commit(directory: Directory, tenant: str, numbers: Iterable[int], body: str = "",
            etype: str = TYPE) -> None:
    ops = [insert_op(tenant, eid(n), f"Users/u{n % 7}", etype,
                     body or json.dumps({"id": eid(n), "n": n}), CREATED) for n in numbers]
    for i in range(0, len(ops), 100):
        directory.submit(ops[i : i + 100], Indexes())


def _all(feed: FeedLog, tenant: str, after: int = 0) -> list[PublishedEvent]:
    out: list[PublishedEvent] = []
    while batch := feed.read(tenant, after, 1000):
        out += batch
        after = batch[-1].seq
    return out


def _assert_contiguous(events: list[PublishedEvent]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.id for e in events}) == len(events)


def test_events_are_published_in_id_order_and_marked_for_the_webhook(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    _commit(directory, tenant_id, [3, 1, 2])
    assert feed.unpublished(tenant_id)
    assert feed.publish(tenant_id, keep, now=NOW) == 3
    assert not feed.unpublished(tenant_id)
    events = _all(feed, tenant_id)
    assert [(e.seq, e.id) for e in events] == [(1, eid(1)), (2, eid(2)), (3, eid(3))]
    first = events[0]
    assert (first.subject, first.type, first.created) == ("Users/u1", TYPE, CREATED)
    assert json.loads(first.body) == {"id": eid(1), "n": 1}
    assert first.published.startswith("2026-03-01T12:00:00")
    rows = list(Outbox(directory).pending(tenant_id))
    assert [(r.id, r.published, r.seq) for r in rows] == [
        (eid(1), True, 1), (eid(2), True, 2), (eid(3), True, 3)]
    assert [feed.seq_of(tenant_id, eid(n)) for n in (1, 2, 3, 4)] == [1, 2, 3, None]
    assert feed.publish(tenant_id, keep, now=NOW) == 0  # nothing twice
    assert feed.read(tenant_id, 1, 1)[0].id == eid(2)  # `after` and `limit`
    assert feed.read(tenant_id + "x", 0, 10) == []  # another tenant's partition


def test_a_late_commit_with_a_lower_id_is_not_skipped_by_a_resuming_reader(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    _commit(directory, tenant_id, [10, 20, 30])
    feed.publish(tenant_id, keep, now=NOW)
    seen = _all(feed, tenant_id)
    last = seen[-1].seq
    _commit(directory, tenant_id, [15])  # minted before 20 and 30, committed after them
    _commit(directory, tenant_id, [40])
    assert feed.publish(tenant_id, keep, now=NOW) == 2
    resumed = feed.read(tenant_id, last, 100)
    assert [(e.seq, e.id) for e in resumed] == [(4, eid(15)), (5, eid(40))]
    _assert_contiguous(_all(feed, tenant_id))


def test_concurrent_publishers_never_publish_twice_nor_leave_a_gap(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    counts: list[int] = []
    lock = threading.Lock()
    for wave in range(3):
        _commit(directory, tenant_id, range(wave * 100, wave * 100 + 70))
        start = threading.Barrier(4)

        def publisher(start: threading.Barrier = start) -> None:
            start.wait()
            # Each publisher its own FeedLog, as on separate instances.
            got = FeedLog(directory).publish(tenant_id, keep, now=NOW)
            with lock:
                counts.append(got)

        threads = [threading.Thread(target=publisher) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rest = feed.publish(tenant_id, keep, now=NOW)  # whatever the contention left
    events = _all(feed, tenant_id)
    _assert_contiguous(events)
    assert sorted(e.id for e in events) == sorted(
        eid(n) for wave in range(3) for n in range(wave * 100, wave * 100 + 70))
    assert sum(counts) + rest == 210  # each event counted by the one publisher that won it


def test_routes_drop_the_tenant_row_or_copy_it_to_the_deployment_lane(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    _commit(directory, tenant_id, [1], etype="x.user.created")
    _commit(directory, tenant_id, [2], etype="x.group.created")
    _commit(directory, tenant_id, [3], etype="x.user.deactivated")
    routes = {"x.user.created": Route(tenant=False),
              "x.group.created": Route(deployment=True),
              "x.user.deactivated": Route(tenant=False, deployment=True)}
    asked: list[str] = []

    def route(etype: str) -> Route:
        asked.append(etype)
        return routes[etype]

    assert feed.publish(tenant_id, route, now=NOW) == 3
    assert asked == ["x.user.created", "x.group.created", "x.user.deactivated"]
    assert [e.id for e in _all(feed, tenant_id)] == [eid(1), eid(2), eid(3)]  # all pullable
    assert [r.id for r in Outbox(directory).pending(tenant_id)] == [eid(2)]
    copies = list(directory.rows(tenant_id, layout.DEPLOYMENT_EVENT_PREFIX))
    assert [c["RowKey"] for c in copies] == [layout.deployment_event_key(eid(n))
                                             for n in (2, 3)]
    copy = copies[0]
    assert (copy["subject"], copy["type"], copy["created"], copy["attempts"], copy["next"],
            copy["pub"]) == ("Users/u2", "x.group.created", CREATED, 0, "", 2)
    assert json.loads(copy["body"]) == {"id": eid(2), "n": 2}


def test_large_bodies_and_many_events_span_several_transactions(
        feed: FeedLog, directory: Directory, tenant_id: str, sent: list[Request]) -> None:
    big = json.dumps({"data": "x" * 300_000})
    for n in (1, 2, 3):  # 3 x 300,000 characters (x 2 with their D: copies): not in one
        _commit(directory, tenant_id, [n], body=big)  # transaction
    _commit(directory, tenant_id, range(10, 130))
    sent.clear()
    assert feed.publish(tenant_id, lambda _t: Route(deployment=True), now=NOW) == 123
    batches = [r for r in sent if r.method == "POST" and r.url.endswith("$batch")]
    if sent:  # the `direct` backend's requests are visible to the hook
        assert len(batches) >= 6  # 2 of the large ones each at most, then 24 per 100 ops
    events = _all(feed, tenant_id)
    _assert_contiguous(events)
    assert [e.body for e in events[:3]] == [big] * 3
    assert len(list(directory.rows(tenant_id, layout.DEPLOYMENT_EVENT_PREFIX, ["RowKey"]))) == 123


def test_purge_drops_events_published_before_the_cutoff(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    _commit(directory, tenant_id, range(1, 131))
    feed.publish(tenant_id, keep, now=NOW - timedelta(days=8), limit=120)
    feed.publish(tenant_id, keep, now=NOW)
    assert feed.purge(tenant_id, NOW - timedelta(days=7)) == 120
    events = _all(feed, tenant_id)
    assert [e.seq for e in events] == list(range(121, 131))
    assert feed.seq_of(tenant_id, eid(1)) is None
    assert feed.seq_of(tenant_id, eid(121)) == 121
    assert feed.purge(tenant_id, NOW - timedelta(days=7)) == 0
    assert feed.purge(tenant_id, NOW, over=lambda: True) == 0  # out of time: nothing


def test_an_event_published_before_is_not_published_again(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    """A write retried after its first attempt was published writes its E: row afresh
    (without `pub`), and a replayed dead letter comes back: neither gets a second seq."""
    outbox = Outbox(directory)
    _commit(directory, tenant_id, [1, 2])
    feed.publish(tenant_id, keep, now=NOW)
    _commit(directory, tenant_id, [1, 3])  # the retry of event 1's write, and a new one
    row = next(r for r in outbox.pending(tenant_id) if r.id == eid(2))
    outbox.dead_letter(tenant_id, row, attempts=5, error="HTTP 500", now=CREATED)
    outbox.replay(tenant_id, eid(2))
    assert feed.publish(tenant_id, keep, now=NOW) == 1
    assert [(e.seq, e.id) for e in _all(feed, tenant_id)] == [(1, eid(1)), (2, eid(2)),
                                                              (3, eid(3))]
    assert [(r.id, r.seq) for r in outbox.pending(tenant_id)] == [
        (eid(1), 1), (eid(2), 2), (eid(3), 3)]
    assert not feed.unpublished(tenant_id)


_STEPS = st.lists(st.one_of(
    st.tuples(st.just("commit"), st.lists(st.integers(0, 400), min_size=1, max_size=5),
              st.booleans()),
    # `True`: two publishers at once.
    st.tuples(st.just("publish"), st.just([]), st.booleans())), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_any_interleaving_publishes_every_event_once_in_a_contiguous_seq(
        directory: Directory, steps: list[tuple[str, list[int], bool]]) -> None:
    """Commits of random ids (a `late` one lower than any published so far) between
    publishes (one, or two at once): a reader that resumes after the last seq it saw ends with
    every event exactly once, in seq order."""
    tenant = "h" + uuid.uuid4().hex[:12]
    feed = FeedLog(directory)
    committed: set[int] = set()
    high = 1000
    seen: list[PublishedEvent] = []

    def pull() -> None:
        seen.extend(feed.read(tenant, seen[-1].seq if seen else 0, 1000))

    for action, numbers, late in steps:
        if action == "publish":
            with ThreadPoolExecutor(max_workers=2) as pool:
                runs = [pool.submit(FeedLog(directory).publish, tenant, keep, now=NOW)
                        for _ in range(2 if late else 1)]
                for run in runs:
                    run.result()  # a publisher that lost the race stops without an error
            pull()
            continue
        fresh = [m for m in dict.fromkeys(n if late else high + n for n in numbers)
                 if m not in committed]
        high += 500
        committed.update(fresh)
        _commit(directory, tenant, fresh)
    feed.publish(tenant, keep, now=NOW)
    pull()
    _assert_contiguous(seen)
    assert sorted(e.id for e in seen) == sorted(eid(n) for n in committed)


def test_a_read_bounded_by_size_stops_one_event_past_the_bound(
        feed: FeedLog, directory: Directory, tenant_id: str) -> None:
    _commit(directory, tenant_id, range(1, 8), body="x" * 1000)
    feed.publish(tenant_id, keep, now=NOW)
    assert [e.seq for e in feed.read(tenant_id, 0, 10, max_chars=2500)] == [1, 2, 3]
    assert [e.seq for e in feed.read(tenant_id, 0, 10, max_chars=10)] == [1, 2]
    assert [e.seq for e in feed.read(tenant_id, 6, 10, max_chars=10)] == [7]  # the last
    assert [e.seq for e in feed.read(tenant_id, 0, 10)] == list(range(1, 8))
    assert feed.read(tenant_id, 0, 0) == []
