"""The pull API: `GET /feed/v1/{tenant}/events?after={event id}&limit={n}&wait={seconds}`, for
apps that cannot receive webhooks.

It reads the tenant's published feed (store/feed_log.py): events in the order they were
published, each the CloudEvent a webhook receives plus its `sequence`. `after` is the id of the
last event the reader saw (`next` of the previous answer); the feed resumes right after that
event's sequence, so an event whose write committed late (under a lower id) is still read, and
nothing is read twice. An `after` that is unknown, or whose event was purged after the hold
period (SCIM_FEED_HOLD_DAYS), is 410 `cursor_expired`: the reader starts again without it.

With `wait`, a request that finds nothing re-reads every second until an event arrives or the
wait ends (at most SCIM_FEED_MAX_WAIT_SECONDS). With queues off (timer mode) nothing publishes
between timer ticks, so each read first publishes the tenant's new events itself when it can
take the tenant's delivery lease at once (and leaves them to the holder otherwise).

Authentication is a feed credential (auth/feed_tokens.py), never a Secret Token. Nothing
escapes `handle` as an exception: refusals are JSON `{"error", "detail"}` answers, a storage
outage a 503 with Retry-After - never a 500 or a traceback."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import sanitize
from ..auth.feed_tokens import FeedAuthenticator
from ..scim.errors import ScimError
from ..settings import Settings
from ..store import deadline
from ..store.errors import StoreError
from ..store.feed_log import FeedLog, PublishedEvent, Route
from ..store.signals import DeliverySignals
from ..store.tenants import Tenant
from .messages import FeedRequest, FeedResponse

log = logging.getLogger("scim.feed")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
POLL_INTERVAL_SECONDS = 1.0
# Event bodies are up to 300,000 characters: an answer stops adding events beyond this (the
# first event always goes) and says `more`, so a page of large events stays a sane size.
MAX_RESPONSE_CHARS = 4_000_000
# What an event id (`after`) may look like: ids are hex; anything else cannot name one.
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")
_NO_STORE = {"Cache-Control": "no-store"}
# The lease the pull API takes to publish in timer mode: publishing takes well under this, and
# a holder that died frees the tenant after it.
_PUBLISH_LEASE_S = 30.0


class FeedError(Exception):
    """A refusal: HTTP status, a stable `error` code and an actionable detail."""

    def __init__(self, status: int, error: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> FeedResponse:
        return FeedResponse(self.status, {"error": self.error, "detail": self.detail},
                            {**self.headers, **_NO_STORE})


class FeedApi:
    def __init__(self, settings: Settings, feed: FeedLog, auth: FeedAuthenticator, *,
                 leases: DeliverySignals | None,
                 route_of: Callable[[Tenant], Callable[[str], Route]],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`leases`: the tenants' delivery leases, given in timer mode only (queues off), when
        a pull publishes for itself; `route_of`: the lanes a tenant's events are published
        to (as the delivery pass publishes them)."""
        self.settings = settings
        self.feed = feed
        self.auth = auth
        self.leases = leases
        self.route_of = route_of
        self.sleep = sleep

    def handle(self, request: FeedRequest) -> FeedResponse:
        request_id = sanitize.request_id(request.request_id)
        try:
            response = self._handle(request)
        except FeedError as err:
            if err.status == 401:
                log.info("feed request refused tenant=%s request_id=%s",
                         sanitize.clean(request.tenant, 64), request_id)
            response = err.response()
        except StoreError as exc:
            log.warning("feed storage unavailable (%s) request_id=%s", type(exc).__name__,
                        request_id)
            response = _unavailable("Storage is temporarily unavailable").response()
        except Exception:
            log.exception("feed request failed request_id=%s", request_id)
            response = _unavailable(f"The feed could not be read (request id {request_id}, "
                                    "logged)").response()
        response.headers.setdefault("X-Request-Id", request_id)
        return response

    def _handle(self, request: FeedRequest) -> FeedResponse:
        if request.method.upper() != "GET":
            raise FeedError(405, "method_not_allowed",
                            f"{sanitize.clean(request.method, 16)} is not allowed here; the "
                            "feed is read with GET.", {"Allow": "GET"})
        with deadline.within(self.settings.storage_deadline_seconds):
            try:
                tenant = self.auth.authenticate(request.tenant, request.header("authorization"))
            except ScimError as err:
                raise FeedError(err.status, "unauthorized", err.detail, err.headers) from None
        after = _after(request.params.get("after"))
        limit = _integer(request.params.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
        wait = _integer(request.params.get("wait"), "wait", 0,
                        self.settings.feed_max_wait_seconds, 0)
        ends = time.monotonic() + wait
        after_seq: int | None = None if after is not None else 0
        while True:
            with deadline.within(self.settings.storage_deadline_seconds):
                self._publish(tenant)
                if after_seq is None:  # resolved once: an event keeps its sequence
                    after_seq = self.feed.seq_of(tenant.id, str(after))
                    if after_seq is None:
                        raise _expired()
                found = self.feed.read(tenant.id, after_seq, limit + 1,
                                       max_chars=MAX_RESPONSE_CHARS)
            left = ends - time.monotonic()
            if found or left <= 0:
                return _page(found, limit, after)
            self.sleep(min(POLL_INTERVAL_SECONDS, left))

    def _publish(self, tenant: Tenant) -> None:
        """Timer mode: publish the tenant's new events now if its lease is free (a pass
        holding it publishes them itself)."""
        # One keys-only read when nothing is new (a long-poll's usual second) instead of the
        # lease's writes.
        if self.leases is None or not self.feed.unpublished(tenant.id):
            return
        now = datetime.now(UTC)
        lease = self.leases.acquire(tenant.id, "pull-" + uuid.uuid4().hex, _PUBLISH_LEASE_S,
                                    now)
        if lease is None:
            return
        try:
            self.feed.publish(tenant.id, self.route_of(tenant), now=now)
        finally:
            self.leases.release(lease)


def _page(found: list[PublishedEvent], limit: int, after: str | None) -> FeedResponse:
    events: list[dict[str, Any]] = []
    size = 0
    for event in found[:limit]:
        if events and size + len(event.body) > MAX_RESPONSE_CHARS:
            break
        events.append(_rendered(event))
        size += len(event.body)
    more = len(found) > len(events)
    nxt = str(events[-1]["id"]) if events else after
    return FeedResponse(200, {"events": events, "next": nxt, "more": more}, dict(_NO_STORE))


def _rendered(event: PublishedEvent) -> dict[str, Any]:
    """The CloudEvent as a webhook receives it, with its place in the feed."""
    try:
        body = json.loads(event.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):  # never written so; still an answer, not an error
        body = {"id": event.id, "type": event.type, "subject": event.subject}
    body["id"] = event.id
    body["sequence"] = event.seq
    return body


def _after(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _EVENT_ID.fullmatch(value):
        raise FeedError(400, "invalid_parameter",
                        "after must be an event id as returned in `next` (up to 64 letters, "
                        "digits, '-' and '_'); omit it to read from the oldest event held.")
    return value


def _integer(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None or value == "":
        return default
    text = value.strip()
    number = int(text) if _WHOLE_NUMBER.fullmatch(text) else None
    if number is None or not low <= number <= high:
        raise FeedError(400, "invalid_parameter",
                        f"{name} must be a whole number from {low} to {high} "
                        f"(got {sanitize.clean(value, 20)!r}).")
    return number


def _expired() -> FeedError:
    return FeedError(410, "cursor_expired",
                     "No event with the id given in `after` is held: it was purged after the "
                     "hold period (SCIM_FEED_HOLD_DAYS) or never existed. Start again without "
                     "`after` (from the oldest event held) and reconcile your copy if events "
                     "may have been missed.")


def _unavailable(what: str) -> FeedError:
    return FeedError(503, "unavailable", f"{what}; retry after the indicated delay.",
                     {"Retry-After": "5"})
