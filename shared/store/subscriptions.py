"""The deployment-wide subscription: one endpoint that receives every tenant's events (each
event names its tenant in its `tenant` attribute), signed with a secret of its own, optionally
only the event types its patterns select (feed/filters.py). One row of the tenants table
(layout.SUBSCRIPTIONS_PARTITION / DEPLOYMENT_SUBSCRIPTION_ROW).

The signing secret must be usable to sign, so it is stored as is, like a tenant's webhook
secret (the tenants table is as sensitive as the data); it never appears in a repr.

Writes are conditional on the version read (ETag), so two operator commands at once cannot
undo each other. The delivery path reads through `current`, a per-instance cache of 30 s: a
change reaches every instance within that time without a storage read per pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydantic import BaseModel, Field, PrivateAttr

from . import layout
from .backend import Backend
from .errors import AlreadyExists, NotFound, PreconditionFailed

CACHE_SECONDS = 30.0


class Subscription(BaseModel):
    url: str
    secret: str = Field(repr=False)
    types: list[str] = Field(default_factory=list)  # event-type patterns; empty: every type
    created: str
    updated: str
    # The version of the row this record was read from (None: not stored yet).
    _etag: str | None = PrivateAttr(default=None)


class SubscriptionTable:
    def __init__(self, table: Backend, *, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table  # the tenants table
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[Subscription | None, float] | None = None  # (value, read at)

    def get(self) -> Subscription | None:
        """The subscription as stored now (None: there is none)."""
        try:
            entity = self.table.get_entity(layout.SUBSCRIPTIONS_PARTITION,
                                           layout.DEPLOYMENT_SUBSCRIPTION_ROW)
        except NotFound:
            return None
        subscription = Subscription.model_validate_json(str(entity["record"]))
        subscription._etag = entity.metadata.get("etag")
        return subscription

    def current(self) -> Subscription | None:
        """The subscription as read at most CACHE_SECONDS ago by this instance: the delivery
        path asks for it on every pass of every tenant."""
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached[1] < self._cache_seconds:
                return self._cached[0]
        value = self.get()
        with self._lock:
            self._cached = (value, now)
        return value

    def save(self, subscription: Subscription) -> None:
        """Create the row (a record never stored) or replace the version it was read from.
        PreconditionFailed when the row changed (or appeared) since: read again, redo."""
        entity = {"PartitionKey": layout.SUBSCRIPTIONS_PARTITION,
                  "RowKey": layout.DEPLOYMENT_SUBSCRIPTION_ROW,
                  "record": subscription.model_dump_json()}
        try:
            if subscription._etag is None:
                written = self.table.create_entity(entity)
            else:
                written = self.table.update_entity(entity, mode="replace",
                                                   etag=subscription._etag)
        except (AlreadyExists, NotFound) as exc:  # created, or cleared, by someone else
            raise PreconditionFailed(layout.DEPLOYMENT_SUBSCRIPTION_ROW) from exc
        subscription._etag = written.get("etag")
        self._forget()

    def clear(self, subscription: Subscription) -> None:
        """Delete the row, only while it is the version `subscription` was read from."""
        self.table.delete_entity(layout.SUBSCRIPTIONS_PARTITION,
                                 layout.DEPLOYMENT_SUBSCRIPTION_ROW, etag=subscription._etag)
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._cached = None
