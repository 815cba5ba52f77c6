"""The pull API over HTTP against the served app (timer mode: a pull publishes for itself):
order and resumption with `after` (no duplicate, no gap) and `limit`; a long-poll that returns
as soon as a SCIM write lands; events pullable after the webhook delivered them; credentials
(none, the Secret Token, another tenant's feed token, revoked, a deployment token reading two
tenants) and tenant isolation; a purged cursor is 410; other methods 405."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.auth import feed_tokens
from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.service.reconcile import run
from shared.store.feed_log import FeedLog, Route
from shared.store.feed_tokens import DeploymentFeedTokens
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.webhooks import Receiver, use_feed_token, use_webhook

pytestmark = pytest.mark.served
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def feed(served: str, scim_service: ScimService, tenant: tuple[str, str]) -> Iterator[Any]:
    """httpx client on the test tenant's feed URL with a feed credential of its own."""
    token = use_feed_token(scim_service, tenant[0])
    with httpx.Client(base_url=f"{served}/feed/v1/{tenant[0]}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        c.token = token  # type: ignore[attr-defined]
        yield c


def _user(client: httpx.Client, name: str) -> str:
    r = client.post("/Users", json={"schemas": [USER], "userName": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _walk(feed: httpx.Client, limit: int, after: str | None = None) -> tuple[list[Any], Any]:
    got: list[Any] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        r = feed.get("/events", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert len(body["events"]) <= limit
        got += body["events"]
        after = body["next"]
        if not body["more"]:
            return got, after


def test_events_are_pulled_in_order_resumably_and_in_pages(
        client: httpx.Client, feed: httpx.Client) -> None:
    ids = [_user(client, f"p{n}@x.test") for n in range(7)]
    got, cursor = _walk(feed, limit=3)
    assert [e["data"]["id"] for e in got] == ids
    assert [e["sequence"] for e in got] == list(range(1, 8))
    more = [_user(client, f"q{n}@x.test") for n in range(2)]
    again, _ = _walk(feed, limit=3, after=cursor)
    assert [e["data"]["id"] for e in again] == more  # resumed: nothing twice, nothing skipped
    assert [e["sequence"] for e in again] == [8, 9]


def test_a_long_poll_returns_as_soon_as_a_write_lands(client: httpx.Client,
                                                      feed: httpx.Client) -> None:
    _user(client, "first@x.test")
    _, cursor = _walk(feed, limit=100)
    writer = threading.Timer(1.0, _user, (client, "landed@x.test"))
    writer.start()
    started = time.monotonic()
    r = feed.get("/events", params={"after": cursor, "wait": 15})
    elapsed = time.monotonic() - started
    writer.join()
    assert r.status_code == 200
    assert [e["data"]["resource"]["userName"] for e in r.json()["events"]] == ["landed@x.test"]
    assert elapsed < 5.0, elapsed  # measured: returned on the write, not after 15 s


def test_events_delivered_by_the_webhook_are_still_pullable(
        client: httpx.Client, feed: httpx.Client, scim_service: ScimService,
        feed_service: ScimService, tenant: tuple[str, str], receiver: Receiver) -> None:
    use_webhook(scim_service, tenant[0], receiver.url)
    _user(client, "hooked@x.test")
    assert run(feed_service, tenants=[tenant[0]])["delivered"] == 1
    got, _ = _walk(feed, limit=10)
    assert [e["id"] for e in got] == [r.event["id"] for r in receiver.received]


def test_credentials_and_tenant_isolation(
        served: str, client: httpx.Client, feed: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    other = Tenant(id=new_tenant_id(), name="other", created=now_iso())
    other_secret = issue_token(other)
    scim_service.tenants.create(other)
    other_token = use_feed_token(scim_service, other.id)
    _user(client, "mine@x.test")
    with httpx.Client(base_url=f"{served}/scim/v2/{other.id}", timeout=30,
                      headers={"Authorization": f"Bearer {other_secret}"}) as theirs:
        _user(theirs, "theirs@x.test")
    url = f"{served}/feed/v1/{tenant[0]}/events"
    refusals = [httpx.get(url, headers=headers, timeout=30) for headers in (
        {}, {"Authorization": f"Bearer {tenant[1]}"},  # the Secret Token
        {"Authorization": f"Bearer {other_token}"})]
    assert [r.status_code for r in refusals] == [401, 401, 401]
    assert len({r.text for r in refusals}) == 1
    assert refusals[0].headers["www-authenticate"] == 'Bearer realm="feed"'
    # Tenant A's feed token on tenant B's URL: 401, and never B's events.
    crossed = feed.get(f"{served}/feed/v1/{other.id}/events")
    assert crossed.status_code == 401
    assert "theirs" not in crossed.text

    store = DeploymentFeedTokens(scim_service.tables.tenants)
    row, wide = feed_tokens.issue_deployment([])
    store.create(row)
    try:
        names = []
        for tid in (tenant[0], other.id):
            r = httpx.get(f"{served}/feed/v1/{tid}/events", timeout=30,
                          headers={"Authorization": f"Bearer {wide}"})
            assert r.status_code == 200
            names.append([e["data"]["resource"]["userName"] for e in r.json()["events"]])
        assert names == [["mine@x.test"], ["theirs@x.test"]]
    finally:
        store.revoke(row.id)

    record = scim_service.tenants.get(tenant[0])
    assert record is not None
    record.feed_tokens = []
    scim_service.tenants.save(record)
    scim_service.feed_auth.forget()  # the served app shares this process's service
    assert feed.get("/events").status_code == 401


def test_a_purged_cursor_is_410_and_other_methods_405(
        client: httpx.Client, feed: httpx.Client, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    log = FeedLog(scim_service.directory)
    _user(client, "old@x.test")
    hold = scim_service.settings.feed_hold_days
    log.publish(tenant[0], lambda _t: Route(), now=datetime.now(UTC) - timedelta(days=hold + 1))
    old, _ = _walk(feed, limit=10)
    assert log.purge(tenant[0], datetime.now(UTC) - timedelta(days=hold)) == 1
    r = feed.get("/events", params={"after": old[0]["id"]})
    assert r.status_code == 410
    assert r.json()["error"] == "cursor_expired"
    posted = feed.post("/events", json={})
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET"
    assert feed.get("/events", params={"limit": 5000}).status_code == 400
