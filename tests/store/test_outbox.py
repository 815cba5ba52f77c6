"""`shared.store.outbox`: change events as rows of the tenant's partition (Azurite). An event
commits with the write it describes; pending events read in id (commit) order; delivered ones
are removed, failed ones rescheduled, and the last failure makes a dead letter that can be
replayed under its own id. (Delivery itself is tests/feed/test_delivery.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import layout
from shared.store.directory import Directory, Indexes
from shared.store.errors import Conflict, NotFound
from shared.store.feed_log import FeedLog, Route
from shared.store.layout import USER
from shared.store.long_text import PROPERTY_CHARS
from shared.store.outbox import DEPLOYMENT_LANE, LANES, TENANT_LANE, Outbox, OutboxRow, insert_op
from shared.store.wire import Request, Response
from tests.support.storage_faults import hooked, own_thread

NOW = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-01T00:05:00.000Z"


@pytest.fixture
def outbox(directory: Directory) -> Outbox:
    return Outbox(directory)


def eid(n: int) -> str:
    """An event id as the feed issues them: 32 hex digits that sort by creation."""
    return f"{n:032x}"


def _append(outbox: Outbox, tenant: str, numbers: Iterable[int], body: str = "{}") -> None:
    ops = [insert_op(tenant, eid(n), f"Users/u{n}", "user.created", body, NOW)
           for n in numbers]
    for i in range(0, len(ops), 100):
        outbox.directory.submit(ops[i : i + 100], Indexes())


def _ids(rows: Iterable[OutboxRow]) -> list[str]:
    return [row.id for row in rows]


def test_an_event_is_read_back_as_appended(outbox: Outbox, tenant_id: str) -> None:
    body = '{"data":"' + "\u00e9\U0001F600x" * PROPERTY_CHARS + '"}'  # several properties
    outbox.directory.submit([insert_op(tenant_id, eid(7), "Groups/g1", "group.updated", body,
                                       NOW)], Indexes())
    [row] = outbox.pending(tenant_id)
    assert (row.id, row.subject, row.type, row.body, row.created) == (
        eid(7), "Groups/g1", "group.updated", body, NOW)
    assert (row.attempts, row.next_attempt, row.last_error, row.dead_at) == (0, "", "", "")
    assert row.etag
    assert outbox.count(tenant_id) == 1


def test_pending_events_read_in_id_order_whatever_the_order_of_commits(
        outbox: Outbox, tenant_id: str) -> None:
    for batch in ([5, 1], [9], [3, 7, 2]):
        _append(outbox, tenant_id, batch)
    assert _ids(outbox.pending(tenant_id)) == [eid(n) for n in (1, 2, 3, 5, 7, 9)]
    assert _ids(outbox.pending(tenant_id + "x")) == []  # another tenant's partition


def test_an_event_commits_with_its_write_and_not_without(outbox: Outbox, directory: Directory,
                                                         tenant_id: str) -> None:
    def create(rid: str, n: int) -> None:
        directory.create(tenant_id, USER, rid, {"userName": "ada"},
                         Indexes(unique={"UN": "ada"}), columns={}, now=NOW,
                         extra=[insert_op(tenant_id, eid(n), f"Users/{rid}", "user.created",
                                          "{}", NOW)])

    create("u1", 1)
    with pytest.raises(Conflict):
        create("u2", 2)  # the userName is taken: the write fails, and its event with it
    assert _ids(outbox.pending(tenant_id)) == [eid(1)]


def test_appending_the_same_event_again_is_not_an_error(outbox: Outbox,
                                                        tenant_id: str) -> None:
    """The store retries a write whose answer was lost; its event must not fail the retry."""
    _append(outbox, tenant_id, [1])
    _append(outbox, tenant_id, [1])
    assert _ids(outbox.pending(tenant_id)) == [eid(1)]


def test_removed_events_are_gone_and_the_rest_keep_their_order(outbox: Outbox,
                                                               tenant_id: str) -> None:
    _append(outbox, tenant_id, range(150))
    outbox.remove(tenant_id, [eid(n) for n in range(0, 150, 2)] + [eid(999)])  # 999: never was
    assert _ids(outbox.pending(tenant_id)) == [eid(n) for n in range(1, 150, 2)]
    assert outbox.count(tenant_id) == 75
    outbox.remove(tenant_id, [eid(n) for n in range(150)])  # some already gone
    assert outbox.count(tenant_id) == 0


def test_pending_events_are_read_page_by_page_as_consumed(outbox: Outbox,
                                                          tenant_id: str) -> None:
    _append(outbox, tenant_id, range(250))
    reads: list[str] = []

    def count(request: Request, send: Callable[[Request], Response]) -> Response:
        reads.append(request.method)
        return send(request)

    with hooked(own_thread(count)):
        assert next(outbox.pending(tenant_id)).id == eid(0)
        first = len(reads)
        assert len(list(outbox.pending(tenant_id))) == 250
    assert first == 1
    assert len(reads) - first > 1


def test_a_failed_attempt_is_recorded_and_the_event_stays_in_its_place(
        outbox: Outbox, tenant_id: str) -> None:
    _append(outbox, tenant_id, [1, 2, 3], body='{"x":1}')
    row = next(r for r in outbox.pending(tenant_id) if r.id == eid(2))
    outbox.record_failure(tenant_id, row, attempts=1, next_attempt=LATER, error="HTTP 503")
    outbox.record_failure(tenant_id, row, attempts=2, next_attempt=LATER, error="e" * 2000)
    rows = list(outbox.pending(tenant_id))
    assert _ids(rows) == [eid(1), eid(2), eid(3)]
    failed = rows[1]
    assert (failed.attempts, failed.next_attempt, failed.last_error) == (2, LATER, "e" * 500)
    assert (failed.body, failed.subject, failed.created) == ('{"x":1}', "Users/u2", NOW)
    assert failed.etag != row.etag


def test_a_dead_letter_leaves_the_pending_events_with_everything_it_was(
        outbox: Outbox, tenant_id: str) -> None:
    body = "b" * (PROPERTY_CHARS + 10)
    _append(outbox, tenant_id, [1, 2, 3], body=body)
    row = next(r for r in outbox.pending(tenant_id) if r.id == eid(2))
    outbox.dead_letter(tenant_id, row, attempts=8, error="x" * 900, now=LATER)
    assert _ids(outbox.pending(tenant_id)) == [eid(1), eid(3)]
    assert outbox.count(tenant_id) == 2
    [dead] = outbox.dead_letters(tenant_id)
    assert dead == outbox.dead_letter_row(tenant_id, eid(2))
    assert (dead.id, dead.subject, dead.type, dead.body, dead.created) == (
        row.id, row.subject, row.type, body, NOW)
    assert (dead.attempts, dead.last_error, dead.dead_at, dead.next_attempt) == (
        8, "x" * 500, LATER, "")


def test_an_unknown_dead_letter_is_not_found(outbox: Outbox, tenant_id: str) -> None:
    _append(outbox, tenant_id, [1])  # pending, not dead
    with pytest.raises(NotFound):
        outbox.dead_letter_row(tenant_id, eid(1))
    with pytest.raises(NotFound):
        outbox.replay(tenant_id, eid(1))
    assert _ids(outbox.pending(tenant_id)) == [eid(1)]


def test_a_replayed_dead_letter_is_pending_again_under_its_own_id(outbox: Outbox,
                                                                  tenant_id: str) -> None:
    _append(outbox, tenant_id, [1, 2], body='{"n":2}')
    row = next(r for r in outbox.pending(tenant_id) if r.id == eid(2))
    outbox.record_failure(tenant_id, row, attempts=3, next_attempt=LATER, error="timeout")
    outbox.dead_letter(tenant_id, row, attempts=4, error="timeout", now=LATER)
    outbox.replay(tenant_id, eid(2))
    assert outbox.dead_letters(tenant_id) == []
    rows = list(outbox.pending(tenant_id))
    assert _ids(rows) == [eid(1), eid(2)]
    again = rows[1]
    assert (again.subject, again.type, again.body, again.created) == (
        row.subject, row.type, '{"n":2}', NOW)
    assert (again.attempts, again.next_attempt, again.last_error, again.dead_at) == (
        0, "", "", "")
    with pytest.raises(NotFound):
        outbox.replay(tenant_id, eid(2))  # no longer a dead letter


def test_racing_replays_of_one_dead_letter_put_it_back_once(outbox: Outbox,
                                                            tenant_id: str) -> None:
    _append(outbox, tenant_id, [1])
    row = next(outbox.pending(tenant_id))
    outbox.dead_letter(tenant_id, row, attempts=5, error="HTTP 500", now=LATER)

    def replay(_: int) -> str:
        try:
            outbox.replay(tenant_id, eid(1))
        except NotFound:
            return "lost"
        return "won"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(replay, range(8)))
    assert outcomes.count("won") == 1
    assert _ids(outbox.pending(tenant_id)) == [eid(1)]
    assert outbox.dead_letters(tenant_id) == []


def test_outbox_rows_are_event_and_dead_letter_rows_only(outbox: Outbox,
                                                         tenant_id: str) -> None:
    """The directory's rows in the same partition are never read as events."""
    outbox.directory.create(tenant_id, USER, "u1", {"userName": "a"},
                            Indexes(unique={"UN": "a"}), columns={}, now=NOW)
    _append(outbox, tenant_id, [1, 2])
    outbox.dead_letter(tenant_id, next(outbox.pending(tenant_id)), attempts=1, error="e",
                       now=LATER)
    assert _ids(outbox.pending(tenant_id)) == [eid(2)]
    assert _ids(outbox.dead_letters(tenant_id)) == [eid(1)]
    assert outbox.count(tenant_id) == 1
    assert outbox.directory.table.get_entity(tenant_id, layout.event_key(eid(2)))


# Each example on a tenant of its own (the directory fixture is stateless).
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=12, unique=True).flatmap(
    lambda ns: st.tuples(st.permutations(ns), st.lists(st.sampled_from(["keep", "ack", "dead"]),
                                                       min_size=len(ns), max_size=len(ns)))))
def test_what_is_appended_acked_and_dead_lettered_in_any_order(
        outbox: Outbox, plan: tuple[list[int], list[str]]) -> None:
    tenant = "t" + uuid.uuid4().hex[:12]
    order, fates = plan
    third = max(1, len(order) // 3)
    for i in range(0, len(order), third):  # several commits, in no particular id order
        _append(outbox, tenant, order[i : i + third])
    fate = dict(zip(order, fates, strict=True))
    outbox.remove(tenant, [eid(n) for n in order if fate[n] == "ack"])
    for row in list(outbox.pending(tenant)):
        if fate[int(row.id, 16)] == "dead":
            outbox.dead_letter(tenant, row, attempts=1, error="e", now=LATER)
    kept = sorted(n for n in order if fate[n] == "keep")
    assert _ids(outbox.pending(tenant)) == [eid(n) for n in kept]
    assert outbox.count(tenant) == len(kept)
    assert _ids(outbox.dead_letters(tenant)) == [eid(n) for n in sorted(order)
                                                 if fate[n] == "dead"]


def test_due_is_the_first_sendable_event_or_the_earliest_waiting_retry(
        outbox: Outbox, tenant_id: str) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.timestamps import iso

    now = datetime.now(UTC)
    assert outbox.due(tenant_id, now) == (False, None)
    for n, subject in ((1, "Users/a"), (2, "Users/a"), (3, "Users/b")):
        outbox.directory.submit([insert_op(tenant_id, eid(n), subject, "t", "{}", "c")],
                                Indexes())
    # Only published events are sent: committed but unpublished ones are not due yet.
    assert outbox.due(tenant_id, now) == (False, None)
    assert FeedLog(outbox.directory).publish(tenant_id, lambda _t: Route(), now=now) == 3
    assert outbox.due(tenant_id, now) == (True, None)
    rows = {r.id: r for r in outbox.pending(tenant_id)}
    soon, later = now + timedelta(seconds=5), now + timedelta(seconds=50)
    outbox.record_failure(tenant_id, rows[eid(1)], attempts=1, next_attempt=iso(later), error="")
    # eid(2) is due but waits behind eid(1) (same subject); eid(3) is due.
    assert outbox.due(tenant_id, now) == (True, None)
    outbox.record_failure(tenant_id, rows[eid(3)], attempts=1, next_attempt=iso(soon), error="")
    due, earliest = outbox.due(tenant_id, now)
    assert not due
    assert earliest is not None
    assert abs((earliest - soon).total_seconds()) < 0.01
    assert outbox.due(tenant_id, later)[0]


def test_each_lane_is_a_range_of_its_own(outbox: Outbox, tenant_id: str) -> None:
    """The deployment lane's rows (D:, DLD:) never show in the tenant lane's reads, nor the
    other way round: same operations, other rows."""
    from datetime import UTC, datetime

    _append(outbox, tenant_id, [1, 2])
    outbox.directory.submit([insert_op(tenant_id, eid(n), f"Users/u{n}", "t", "{}", NOW,
                                       seq=n, lane=DEPLOYMENT_LANE) for n in (2, 3)],
                            Indexes())
    assert _ids(outbox.pending(tenant_id)) == [eid(1), eid(2)]
    assert _ids(outbox.pending(tenant_id, lane=DEPLOYMENT_LANE)) == [eid(2), eid(3)]
    row = next(outbox.pending(tenant_id, lane=DEPLOYMENT_LANE))
    outbox.dead_letter(tenant_id, row, attempts=3, error="HTTP 500", now=LATER,
                       lane=DEPLOYMENT_LANE)
    assert outbox.dead_letters(tenant_id) == []
    assert _ids(outbox.dead_letters(tenant_id, lane=DEPLOYMENT_LANE)) == [eid(2)]
    assert _ids(outbox.pending(tenant_id)) == [eid(1), eid(2)]  # the tenant's copy stays
    outbox.remove(tenant_id, [eid(1), eid(2)])
    assert outbox.count(tenant_id) == 0
    assert outbox.count(tenant_id, lane=DEPLOYMENT_LANE) == 1
    now = datetime.now(UTC)
    assert outbox.due(tenant_id, now) == (False, None)
    assert outbox.due(tenant_id, now, lanes=LANES) == (True, None)
    outbox.replay(tenant_id, eid(2), lane=DEPLOYMENT_LANE)
    assert _ids(outbox.pending(tenant_id, lane=DEPLOYMENT_LANE)) == [eid(2), eid(3)]
    assert _ids(outbox.pending(tenant_id, lane=TENANT_LANE)) == []
    keys = {str(e["RowKey"]) for e in outbox.table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": tenant_id}, select=["RowKey"])}
    assert keys == {layout.deployment_event_key(eid(2)), layout.deployment_event_key(eid(3))}


def test_oldest_pending_and_dead_count_read_each_lane_apart(outbox: Outbox,
                                                            tenant_id: str) -> None:
    assert outbox.oldest_pending(tenant_id) is None
    assert outbox.dead_count(tenant_id) == 0
    first = insert_op(tenant_id, eid(1), "Users/u1", "user.created", "{}", NOW)
    later = insert_op(tenant_id, eid(2), "Users/u2", "user.created", "{}", LATER)
    shared = insert_op(tenant_id, eid(3), "Users/u3", "user.created", "{}", LATER,
                       seq=1, lane=DEPLOYMENT_LANE)
    outbox.directory.submit([first, later, shared], Indexes())
    row = next(r for r in outbox.pending(tenant_id) if r.id == eid(1))
    outbox.dead_letter(tenant_id, row, attempts=8, error="down", now=LATER)
    assert outbox.oldest_pending(tenant_id) == LATER  # the first one is dead now
    assert outbox.dead_count(tenant_id) == 1
    assert outbox.oldest_pending(tenant_id, lane=DEPLOYMENT_LANE) == LATER
    assert outbox.dead_count(tenant_id, lane=DEPLOYMENT_LANE) == 0
