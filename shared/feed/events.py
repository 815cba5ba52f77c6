"""Change events as CloudEvents 1.0 in structured JSON mode, built from a write's before and
after. Pure: no I/O. The service hands them to the store as outbox rows (`E:{id}`) in the
write's own entity-group transaction, so an event exists exactly when its change committed.

One event per resource change; member changes are one event per request and direction
(`group.members.added` / `.removed`) listing the member ids, split into parts when the list
is too long for one row. Events carry the resource as stored after the change (no
`meta.version`: the ETag is only known once the transaction committed), except member events
(the group document did not change; members are rows, never part of the document) and deletes
(there is nothing stored after them).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

# What changed: the end of an event's CloudEvents `type`, after the deployment's prefix
# (SCIM_EVENT_TYPE_PREFIX, passed in by the service): `{prefix}.user.created`.
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_DELETED = "user.deleted"
GROUP_CREATED = "group.created"
GROUP_UPDATED = "group.updated"
GROUP_DELETED = "group.deleted"
MEMBERS_ADDED = "group.members.added"
MEMBERS_REMOVED = "group.members.removed"
WEBHOOK_TEST = "webhook.test"

# A whole event is one outbox row split into 30,000-character properties; an entity holds at
# most 1 MiB (UTF-16), and the write's transaction at most 4 MiB. Larger resources are
# referenced by id (the receiver GETs them) instead of copied.
MAX_EVENT_CHARS = 300_000
MEMBER_IDS_PER_EVENT_CHARS = 100_000
# Built once: json.dumps with options builds a new encoder per call.
_event_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class ChangeEvent:
    id: str  # sortable (creation order); the outbox RowKey and the webhook-id
    type: str
    subject: str  # "Users/{id}" / "Groups/{id}": events of one subject are delivered in order
    body: str  # the JSON delivered and signed, byte for byte as stored


_id_lock = threading.Lock()
_last = [0, 0]  # millisecond, sequence within it


def new_event_id() -> str:
    """32 hex characters: milliseconds, a per-process sequence, random bits. Strictly
    increasing within a process; across instances, ordered by their clocks. A write that
    follows another on the same resource read it first (ETag), so it is also later in time."""
    with _id_lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, seq = _last[0], _last[1] + 1
        else:
            seq = 0
        _last[0], _last[1] = millis, seq
    return f"{millis:012x}{seq:06x}{secrets.token_hex(7)}"


def event_type(prefix: str, change: str) -> str:
    """The CloudEvents `type` of a change (`USER_CREATED`...) under a deployment's prefix."""
    return f"{prefix}.{change}"


def _event(etype: str, tenant: str | None, source: str, subject: str, now: str,
           data: dict[str, Any]) -> ChangeEvent:
    eid = new_event_id()
    envelope = {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": etype,
        "subject": subject,
        "time": now,
        "datacontenttype": "application/json",
        "tenant": tenant,  # CloudEvents extension attribute: routing without parsing data
        "data": data,
    }
    return ChangeEvent(eid, etype, subject, _event_json(envelope))


def resource_event(etype: str, *, tenant: str, source: str, resource_type: str, rid: str,
                   attributes: list[str], resource: dict[str, Any] | None,
                   now: str) -> ChangeEvent:
    """A created/updated/deactivated/reactivated/deleted event. `etype` is the whole CloudEvents
    type (`event_type`); `resource_type` the SCIM name ("User", "Group"); `attributes` the
    canonical names of what changed."""
    subject = f"{resource_type}s/{rid}"
    data: dict[str, Any] = {"tenant": tenant, "resourceType": resource_type, "id": rid,
                            "attributes": attributes, "resource": resource}
    event = _event(etype, tenant, source, subject, now, data)
    if len(event.body) > MAX_EVENT_CHARS:
        data = {**data, "resource": None, "resourceOmitted": True}
        event = _event(etype, tenant, source, subject, now, data)
    return event


def member_events(etype: str, *, tenant: str, source: str, gid: str, members: list[str],
                  now: str) -> list[ChangeEvent]:
    """One members.added / members.removed event for a request's member ids, in parts when
    the id list is long (`part`/`parts` number them; all share the group's subject)."""
    if not members:
        return []
    chunks: list[list[str]] = [[]]
    size = 0
    for mid in members:
        if chunks[-1] and size + len(mid) + 3 > MEMBER_IDS_PER_EVENT_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(mid)
        size += len(mid) + 3
    return [
        _event(etype, tenant, source, f"Groups/{gid}", now,
               {"tenant": tenant, "resourceType": "Group", "id": gid,
                "attributes": ["members"], "members": chunk,
                "part": n + 1, "parts": len(chunks)})
        for n, chunk in enumerate(chunks)
    ]


def user_change_type(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The change a user update is: deactivated / reactivated when `active` flips (absent
    counts as active, RFC 7643's reading of a user without the attribute), otherwise
    updated."""
    was, now = old.get("active", True) is not False, new.get("active", True) is not False
    if was and not now:
        return USER_DEACTIVATED
    if now and not was:
        return USER_REACTIVATED
    return USER_UPDATED


def webhook_test_event(tenant: str | None, source: str, now: str, *,
                       type_prefix: str) -> ChangeEvent:
    """What `shared.admin webhook test` (and `subscription test`, `tenant` None: no tenant's
    event) sends: signed like any event, never stored."""
    return _event(event_type(type_prefix, WEBHOOK_TEST), tenant, source, "test", now,
                  {"tenant": tenant, "message": "Test event from the SCIM connector."})
