"""Fixtures for the change feed (registered by tests/conftest.py): a reconciler service with
short backoffs, and real HTTP receivers on loopback that verify Standard Webhooks signatures:
`receiver` (a tenant's webhook, SECRET) and `deployment_receiver` (the deployment-wide
subscription, DEPLOYMENT_SECRET, set for the test by `deployment` and cleared after it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.auth import feed_tokens
from shared.feed import signing
from shared.service.app import ScimService
from shared.store.outbox import Outbox
from shared.store.subscriptions import Subscription, SubscriptionTable
from shared.timestamps import now_iso

SECRET = signing.new_secret()
DEPLOYMENT_SECRET = signing.new_secret()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str
    # Decides the answer to each request: a status code, or None to stall past the timeout.
    answer: Callable[[Received], int | None] = lambda _: 204
    received: list[Received] = field(default_factory=list)
    stall_seconds: float = 1.5
    delay_seconds: float = 0.0  # every request takes at least this long (a slow receiver)
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it was handling at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.headers.get("x-answer") == "2xx"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(SECRET)


@pytest.fixture
def deployment_receiver() -> Iterator[Receiver]:
    yield from _serve(DEPLOYMENT_SECRET)


def _serve(secret: str) -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            valid = signing.verify(secret, headers.get("webhook-id", ""),
                                   headers.get("webhook-timestamp", ""),
                                   headers.get("webhook-signature", ""), body,
                                   now=int(time.time()))
            got = Received(headers, body, valid)
            with state.lock:
                state.received.append(got)
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                time.sleep(state.delay_seconds)
                status = state.answer(got)
                if status is None:
                    time.sleep(state.stall_seconds)
                    status = 204
                elif 200 <= status < 300:
                    got.headers["x-answer"] = "2xx"
            finally:
                # Before the answer leaves: the sender may start its next request on it.
                with state.lock:
                    state.in_flight -= 1
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/scim"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def feed_service(scim_service: ScimService) -> ScimService:
    """The reconciler's service: same tables, settings for a fast test (short backoff, few
    attempts, 1 s webhook timeout, invariants checked every run)."""
    settings = scim_service.settings.model_copy(update={
        "webhook_backoff_seconds": 0.2, "webhook_backoff_max_seconds": 0.4,
        "webhook_max_attempts": 3, "webhook_timeout_seconds": 1.0,
        "repair_interval_hours": 0.0, "reconcile_budget_seconds": 30.0})
    return ScimService(settings, scim_service.tables)


@pytest.fixture
def outbox(scim_service: ScimService) -> Outbox:
    return Outbox(scim_service.directory)


def events_of(outbox: Outbox, tenant: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in outbox.pending(tenant)]


def short(event: dict[str, Any]) -> str:
    return str(event["type"]).rsplit(".", 1)[-1] if ".members." not in event["type"] else (
        "members." + str(event["type"]).rsplit(".", 1)[-1])


def use_webhook(service: ScimService, tenant: str, url: str, secret: str = SECRET) -> None:
    record = service.tenants.get(tenant)
    assert record is not None
    record.webhook_url, record.webhook_secret = url, secret
    service.tenants.save(record)


def use_feed_token(service: ScimService, tenant: str) -> str:
    """A new feed credential of the tenant (the pull API's), saved; its text."""
    record = service.tenants.get(tenant)
    assert record is not None
    token = feed_tokens.issue(record)
    service.tenants.save(record)
    return token


@pytest.fixture
def deployment(scim_service: ScimService) -> Iterator[SubscriptionTable]:
    """The deployment-wide subscription's table; whatever the test sets is cleared after it
    (the row is one for the whole session's storage)."""
    table = SubscriptionTable(scim_service.tables.tenants)
    yield table
    stored = table.get()
    if stored is not None:
        table.clear(stored)


def use_subscription(table: SubscriptionTable, url: str, types: list[str] | None = None,
                     secret: str = DEPLOYMENT_SECRET) -> None:
    """Set the deployment-wide subscription (over whatever is there)."""
    stored = table.get()
    if stored is not None:
        table.clear(stored)
    table.save(Subscription(url=url, secret=secret, types=types or [], created=now_iso(),
                            updated=now_iso()))
