"""Which change events a write emits, as outbox operations for the write's own transaction
(`extra=` of the Directory write). Resources calls these right before each write, so an event
exists exactly when its change committed (the store retries a write whose response was lost;
outbox rows are upserts, so such a retry stays one event)."""

from __future__ import annotations

from typing import Any

from ..feed import events
from ..scim.resource import diff_attributes
from ..store.backend import Operation
from ..store.directory import Stored
from ..store.outbox import insert_op
from .kinds import Kind


def _ops(tenant: str, changes: list[events.ChangeEvent], now: str) -> list[Operation]:
    return [insert_op(tenant, e.id, e.subject, e.type, e.body, now) for e in changes]


class ChangeFeed:
    def __init__(self, base_url: str, type_prefix: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.type_prefix = type_prefix  # SCIM_EVENT_TYPE_PREFIX, validated by the settings

    def _type(self, change: str) -> str:
        return events.event_type(self.type_prefix, change)

    def source(self, tenant: str) -> str:
        return f"{self.base_url}/scim/v2/{tenant}"

    def _snapshot(self, kind: Kind, tenant: str, rid: str, doc: dict[str, Any],
                  created: str, modified: str) -> dict[str, Any]:
        """The resource as stored after the change, in its SCIM shape (members excluded:
        they are rows and have their own events; no meta.version before the commit)."""
        out: dict[str, Any] = {"schemas": doc.get("schemas") or [kind.rtype.schema.id],
                               "id": rid}
        out.update((k, v) for k, v in doc.items() if k != "schemas")
        out["meta"] = {"resourceType": kind.rtype.name, "created": created,
                       "lastModified": modified,
                       "location": f"{self.source(tenant)}{kind.endpoint}/{rid}"}
        return out

    def _resource(self, change: str, kind: Kind, tenant: str, rid: str, attributes: list[str],
                  resource: dict[str, Any] | None, now: str) -> list[Operation]:
        return _ops(tenant, [events.resource_event(
            self._type(change), tenant=tenant, source=self.source(tenant),
            resource_type=kind.rtype.name, rid=rid, attributes=attributes, resource=resource,
            now=now)], now)

    def created(self, kind: Kind, tenant: str, rid: str, doc: dict[str, Any],
                now: str) -> list[Operation]:
        change = events.GROUP_CREATED if kind.is_group else events.USER_CREATED
        return self._resource(change, kind, tenant, rid, diff_attributes({}, doc),
                              self._snapshot(kind, tenant, rid, doc, now, now), now)

    def updated(self, kind: Kind, tenant: str, current: Stored, doc: dict[str, Any],
                now: str) -> list[Operation]:
        """Nothing when no attribute changed (a PUT of the same document)."""
        changed = diff_attributes(current.doc, doc)
        if not changed:
            return []
        change = (events.GROUP_UPDATED if kind.is_group
                  else events.user_change_type(current.doc, doc))
        return self._resource(change, kind, tenant, current.id, changed, self._snapshot(
            kind, tenant, current.id, doc, current.created, now), now)

    def deleted(self, kind: Kind, tenant: str, rid: str, now: str) -> list[Operation]:
        change = events.GROUP_DELETED if kind.is_group else events.USER_DELETED
        return self._resource(change, kind, tenant, rid, [], None, now)

    def members(self, tenant: str, gid: str, *, added: list[str], removed: list[str],
                now: str) -> list[Operation]:
        source = self.source(tenant)
        return _ops(tenant, [
            *events.member_events(self._type(events.MEMBERS_ADDED), tenant=tenant,
                                  source=source, gid=gid,
                                  members=list(dict.fromkeys(added)), now=now),
            *events.member_events(self._type(events.MEMBERS_REMOVED), tenant=tenant,
                                  source=source, gid=gid,
                                  members=list(dict.fromkeys(removed)), now=now),
        ], now)
