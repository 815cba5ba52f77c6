"""shared/service/feed_api.py through the service (Azurite; the session's app is in timer
mode, so a pull publishes for itself): events come in publication order, resume after
`after` with no duplicate and no gap, `limit` pages them; a long-poll returns as soon as a
write lands; events stay pullable after a webhook delivered them and without any webhook;
only a feed credential of the tenant (or the deployment's) reads it, every other one gets the
same 401 and never another tenant's events; a purged cursor is 410; an event committed late
by a journal, under an id lower than events already read, is still pulled; bad parameters are
400s naming the parameter, a storage outage a 503."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import feed_tokens
from shared.feed import events as feed_events
from shared.service.app import ScimService
from shared.service.messages import FeedRequest, FeedResponse, ScimRequest
from shared.service.reconcile import run
from shared.store import connection, layout
from shared.store.directory import Indexes
from shared.store.feed_log import FeedLog, Route
from shared.store.feed_tokens import DeploymentFeedTokens
from shared.store.layout import GROUP
from shared.store.outbox import insert_op
from shared.store.wire import Request, Response
from shared.timestamps import now_iso
from tests.support.storage_faults import busy, own_thread
from tests.support.webhooks import Receiver, use_feed_token, use_webhook

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class Killed(BaseException):
    """The process dies mid-change: nothing on the way up handles it."""


@pytest.fixture
def reader(scim_service: ScimService, tenant: tuple[str, str]) -> str:
    """A feed credential of the test's tenant."""
    return use_feed_token(scim_service, tenant[0])


@pytest.fixture
def deployment_token(scim_service: ScimService) -> Iterator[str]:
    store = DeploymentFeedTokens(scim_service.tables.tenants)
    row, token = feed_tokens.issue_deployment([])
    store.create(row)
    yield token
    store.revoke(row.id)


def pull(service: ScimService, tenant_id: str, token: str | None, **params: Any
         ) -> FeedResponse:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return service.feed_api.handle(FeedRequest("GET", tenant_id, {
        k: str(v) for k, v in params.items()}, headers))


def _user(service: ScimService, tenant: tuple[str, str], name: str) -> str:
    response = service.handle(ScimRequest(
        "POST", tenant[0], "Users", headers={"authorization": f"Bearer {tenant[1]}",
                                             "content-type": "application/scim+json"},
        body=json.dumps({"schemas": [USER], "userName": name}).encode()))
    assert response.status == 201
    return str(response.body["id"])  # type: ignore[index]


def _names(response: FeedResponse) -> list[str]:
    return [e["data"]["resource"]["userName"] for e in response.body["events"]]


def test_events_are_pulled_in_order_and_resume_after_the_last_one_seen(
        scim_service: ScimService, tenant: tuple[str, str], reader: str) -> None:
    names = [f"u{n}@x.test" for n in range(5)]
    for name in names:
        _user(scim_service, tenant, name)
    first = pull(scim_service, tenant[0], reader, limit=2)
    assert first.status == 200
    assert first.headers["Cache-Control"] == "no-store"
    assert (_names(first), first.body["more"]) == (names[:2], True)
    assert [e["sequence"] for e in first.body["events"]] == [1, 2]
    assert first.body["next"] == first.body["events"][-1]["id"]
    event = first.body["events"][0]
    assert (event["specversion"], event["tenant"], event["subject"]) == (
        "1.0", tenant[0], f"Users/{event['data']['id']}")
    got = list(first.body["events"])
    cursor = first.body["next"]
    while True:
        page = pull(scim_service, tenant[0], reader, after=cursor, limit=2)
        got += page.body["events"]
        cursor = page.body["next"]
        if not page.body["more"]:
            break
    assert [e["sequence"] for e in got] == [1, 2, 3, 4, 5]  # no gap, no duplicate
    assert [e["data"]["resource"]["userName"] for e in got] == names
    idle = pull(scim_service, tenant[0], reader, after=cursor)
    assert idle.body == {"events": [], "next": cursor, "more": False}
    _user(scim_service, tenant, "late@x.test")
    assert _names(pull(scim_service, tenant[0], reader, after=cursor)) == ["late@x.test"]


def test_a_long_poll_returns_as_soon_as_a_write_lands(
        scim_service: ScimService, tenant: tuple[str, str], reader: str) -> None:
    _user(scim_service, tenant, "a@x.test")
    cursor = pull(scim_service, tenant[0], reader).body["next"]
    started = time.monotonic()
    nothing = pull(scim_service, tenant[0], reader, after=cursor, wait=1)
    assert nothing.body["events"] == []
    assert 0.9 <= time.monotonic() - started < 3  # the wait is bounded
    writer = threading.Timer(1.5, _user, (scim_service, tenant, "b@x.test"))
    writer.start()
    started = time.monotonic()
    answer = pull(scim_service, tenant[0], reader, after=cursor, wait=15)
    elapsed = time.monotonic() - started
    writer.join()
    assert _names(answer) == ["b@x.test"]
    assert 1.4 <= elapsed < 4.0, elapsed  # well before the 15 s asked for


def test_events_stay_pullable_after_the_webhook_delivered_them(
        scim_service: ScimService, feed_service: ScimService, tenant: tuple[str, str],
        reader: str, receiver: Receiver) -> None:
    use_webhook(scim_service, tenant[0], receiver.url)
    for name in ("a@x.test", "b@x.test"):
        _user(scim_service, tenant, name)
    assert run(feed_service, tenants=[tenant[0]])["delivered"] == 2
    pulled = pull(scim_service, tenant[0], reader).body["events"]
    # The webhook sends different resources side by side (SCIM_WEBHOOK_CONCURRENCY), so only
    # the feed has one order: the one they were published in.
    assert sorted(r.event["id"] for r in receiver.received) == sorted(e["id"] for e in pulled)
    assert [e["sequence"] for e in pulled] == sorted(e["sequence"] for e in pulled)
    assert len(pulled) == 2


def test_only_a_feed_credential_of_the_tenant_or_the_deployment_reads_it(
        scim_service: ScimService, tenant: tuple[str, str], reader: str,
        deployment_token: str) -> None:
    from shared.auth.tenants import issue_token, new_tenant_id
    from shared.store.tenants import Tenant

    other = Tenant(id=new_tenant_id(), name="other", created=now_iso())
    other_secret = issue_token(other)
    scim_service.tenants.create(other)
    other_reader = use_feed_token(scim_service, other.id)
    _user(scim_service, tenant, "mine@x.test")
    _user(scim_service, (other.id, other_secret), "theirs@x.test")

    refusals = [pull(scim_service, tenant[0], token) for token in (
        None, tenant[1], other_reader, other_secret, "feed_" + "A" * 43)]
    assert {r.status for r in refusals} == {401}
    assert len({json.dumps(r.body, sort_keys=True) for r in refusals}) == 1  # identical
    assert refusals[0].headers["WWW-Authenticate"] == 'Bearer realm="feed"'
    assert all("theirs" not in json.dumps(r.body) and "mine" not in json.dumps(r.body)
               for r in refusals)
    # Tenant A's credential on tenant B's URL: the same 401, never B's events.
    crossed = pull(scim_service, other.id, reader)
    assert crossed.status == 401
    assert "theirs" not in json.dumps(crossed.body)

    assert _names(pull(scim_service, tenant[0], reader)) == ["mine@x.test"]
    assert _names(pull(scim_service, tenant[0], deployment_token)) == ["mine@x.test"]
    assert _names(pull(scim_service, other.id, deployment_token)) == ["theirs@x.test"]

    record = scim_service.tenants.get(tenant[0])
    assert record is not None
    record.feed_tokens = []  # revoked
    scim_service.tenants.save(record)
    scim_service.feed_auth.forget()
    assert pull(scim_service, tenant[0], reader).status == 401


def test_a_purged_cursor_is_410_and_reading_starts_again_from_the_oldest_held(
        scim_service: ScimService, tenant: tuple[str, str], reader: str) -> None:
    feed = FeedLog(scim_service.directory)
    for name in ("old@x.test", "older@x.test"):
        _user(scim_service, tenant, name)
    held = scim_service.settings.feed_hold_days
    feed.publish(tenant[0], lambda _t: Route(),
                 now=datetime.now(UTC) - timedelta(days=held + 1))
    old = pull(scim_service, tenant[0], reader).body["events"]
    _user(scim_service, tenant, "new@x.test")
    assert feed.purge(tenant[0], datetime.now(UTC) - timedelta(days=held)) == 2
    expired = pull(scim_service, tenant[0], reader, after=old[0]["id"])
    assert expired.status == 410
    assert expired.body["error"] == "cursor_expired"
    assert "without `after`" in expired.body["detail"]
    unknown = pull(scim_service, tenant[0], reader, after="f" * 32)
    assert (unknown.status, unknown.body["error"]) == (410, "cursor_expired")
    restart = pull(scim_service, tenant[0], reader)
    assert _names(restart) == ["new@x.test"]
    assert restart.body["events"][0]["sequence"] == 3


@pytest.mark.parametrize(("params", "named"), [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "\u00b2"}, "limit"), ({"wait": "-1"}, "wait"), ({"wait": "21"}, "wait"),
    ({"wait": "1.5"}, "wait"), ({"after": "../x"}, "after"), ({"after": "a" * 65}, "after"),
])
def test_bad_parameters_are_400s_naming_the_parameter_and_its_range(
        scim_service: ScimService, tenant: tuple[str, str], reader: str,
        params: dict[str, str], named: str) -> None:
    response = pull(scim_service, tenant[0], reader, **params)
    assert response.status == 400
    assert response.body["error"] == "invalid_parameter"
    assert response.body["detail"].startswith(named)
    assert "\n" not in response.body["detail"]
    assert len(response.body["detail"]) < 300


def test_other_methods_are_405_with_allow_get(scim_service: ScimService,
                                               tenant: tuple[str, str], reader: str) -> None:
    response = scim_service.feed_api.handle(FeedRequest(
        "DELETE", tenant[0], headers={"authorization": f"Bearer {reader}"}))
    assert (response.status, response.headers["Allow"]) == (405, "GET")


def test_a_storage_outage_is_a_503_with_retry_after(
        scim_service: ScimService, tenant: tuple[str, str], reader: str) -> None:
    pull(scim_service, tenant[0], reader)  # authenticated once: cached
    hook = own_thread(busy)
    connection.TRANSPORT_HOOKS.append(hook)
    try:
        response = pull(scim_service, tenant[0], reader)
    finally:
        connection.TRANSPORT_HOOKS.remove(hook)
    assert (response.status, response.headers["Retry-After"]) == (503, "5")
    assert response.body["error"] == "unavailable"


def test_an_event_a_journal_commits_late_under_a_lower_id_is_pulled(
        scim_service: ScimService, tenant: tuple[str, str], reader: str) -> None:
    """A member change too large for one transaction journals its overflow events; the
    process dies before its chunks run. Writes after it are pulled (the reader's cursor
    passes their ids), then the reconciler completes the journal: its events, minted before
    those writes, still reach the reader, after them."""
    directory = scim_service.directory
    tid = tenant[0]
    directory.create(tid, GROUP, "g1", {"displayName": "G"}, Indexes(unique={"GN": "g"}),
                     columns={}, now=now_iso())
    minted = [feed_events.new_event_id() for _ in range(45)]
    big = [insert_op(tid, eid, "Groups/g1", "t.group.members.added",
                     json.dumps({"id": eid, "pad": "x" * 100_000}), now_iso())
           for eid in minted]

    def die_at_first_chunk(request: Request, send: Any) -> Response:
        if request.method == "POST" and b'"done":1' in request.body:
            raise Killed
        return send(request)

    hook = own_thread(die_at_first_chunk)
    connection.TRANSPORT_HOOKS.append(hook)
    try:
        with pytest.raises(Killed):
            directory.change_members(tid, "g1", add=["m1"], now=now_iso(), extra=big)
    finally:
        connection.TRANSPORT_HOOKS.remove(hook)
    assert list(directory.rows(tid, layout.JOURNAL_PREFIX, ["RowKey"]))  # left to complete
    _user(scim_service, tenant, "after@x.test")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = pull(scim_service, tid, reader, **({"after": cursor} if cursor else {}))
        seen += page.body["events"]
        cursor = page.body["next"]
        if not page.body["more"]:
            break
    head_ids = {e["id"] for e in seen if e["id"] in minted}
    assert 0 < len(head_ids) < 45  # the head's events only; the rest wait in the journal
    assert max(minted) < seen[-1]["id"]  # the reader is past every journalled id
    assert directory.complete_pending(tid) == 1
    late = []
    while True:
        page = pull(scim_service, tid, reader, after=cursor)
        late += page.body["events"]
        cursor = page.body["next"]
        if not page.body["more"]:
            break
    assert sorted(head_ids | {e["id"] for e in late}) == sorted(minted)
    every = seen + late
    assert [e["sequence"] for e in every] == list(range(1, len(every) + 1))


def test_a_page_of_large_events_is_bounded_in_size_and_resumes_without_a_gap(
        scim_service: ScimService, tenant: tuple[str, str], reader: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.service import feed_api

    tid = tenant[0]
    body = json.dumps({"specversion": "1.0", "data": {"pad": "x" * 1000}})
    scim_service.directory.submit(
        [insert_op(tid, f"{n:032x}", f"Users/u{n}", "t", body, now_iso()) for n in range(7)],
        Indexes())
    monkeypatch.setattr(feed_api, "MAX_RESPONSE_CHARS", 2500)
    got: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = pull(scim_service, tid, reader, limit=100, **({"after": cursor} if cursor else {}))
        pages += 1
        assert 1 <= len(page.body["events"]) <= 2
        got += [e["sequence"] for e in page.body["events"]]
        cursor = page.body["next"]
        if not page.body["more"]:
            break
    assert got == list(range(1, 8))
    assert pages == 4


_hostile_text = st.one_of(st.text(max_size=80), st.text(min_size=1000, max_size=5000),
                          st.sampled_from(["", " ", "0", "-0", "1e3", "\x00", "\u0661",
                                           "\ufeff1", "99999999999999999999"]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(after=_hostile_text, limit=_hostile_text, wait=_hostile_text, tenant_text=_hostile_text,
       authorization=_hostile_text, own_tenant=st.booleans(), own_token=st.booleans())
def test_any_query_tenant_or_credential_gets_an_answer_never_a_500(
        scim_service: ScimService, tenant: tuple[str, str], reader: str, after: str,
        limit: str, wait: str, tenant_text: str, authorization: str, own_tenant: bool,
        own_token: bool) -> None:
    """Hostile parameters (oversized, control characters, non-ASCII digits), tenants and
    credentials: each gets 200, 400, 401 or 410 with a bounded one-line JSON detail."""
    headers = {"authorization": f"Bearer {reader}" if own_token else authorization}
    response = scim_service.feed_api.handle(FeedRequest(
        "GET", tenant[0] if own_tenant else tenant_text,
        {"after": after, "limit": limit, "wait": wait}, headers))
    assert response.status in (200, 400, 401, 410), response.body
    if response.status != 200:
        detail = response.body["detail"]
        assert "\n" not in detail
        assert len(detail) < 600
