"""shared.service.changes: the change events a write emits, as outbox operations for the
write's own transaction - committed here to Azurite as the Directory would and read back
from the outbox. What each kind of change is called (under the deployment's type prefix),
what it carries, and when there is none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.scim.schemas import GROUP_URN, USER_URN
from shared.service.app import ScimService
from shared.service.changes import ChangeFeed
from shared.service.kinds import GROUPS, USERS
from shared.store.backend import Operation
from shared.store.directory import Indexes, Stored
from shared.store.outbox import Outbox

PREFIX = "com.contoso.scim"
BASE = "https://scim.contoso.example"
NOW = "2026-03-01T10:00:00.000Z"
CREATED = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def feed() -> ChangeFeed:
    return ChangeFeed(BASE + "/", PREFIX)


@pytest.fixture
def commit(scim_service: ScimService, tenant_id: str) -> Any:
    """Commit operations in one transaction and return the events now in the outbox."""
    def run(ops: list[Operation]) -> list[dict[str, Any]]:
        if ops:
            scim_service.directory.submit(ops, Indexes())
        rows = Outbox(scim_service.directory).pending(tenant_id)
        return [{**json.loads(r.body), "_row": r} for r in rows]
    return run


def test_the_source_is_the_tenant_url(feed: ChangeFeed) -> None:
    assert feed.source("t1") == f"{BASE}/scim/v2/t1"


def test_a_created_user_is_one_event_with_its_snapshot(feed: ChangeFeed, tenant_id: str,
                                                       commit: Any) -> None:
    doc = {"userName": "ada", "active": True, "name": {"givenName": "Ada"}}
    (event,) = commit(feed.created(USERS, tenant_id, "u1", doc, NOW))
    assert event["type"] == f"{PREFIX}.user.created"
    assert event["subject"] == "Users/u1"
    assert event["source"] == f"{BASE}/scim/v2/{tenant_id}"
    assert (event["time"], event["tenant"]) == (NOW, tenant_id)
    assert sorted(event["data"]["attributes"]) == ["active", "name", "userName"]
    assert event["data"]["resource"] == {
        "schemas": [USER_URN], "id": "u1", "userName": "ada", "active": True,
        "name": {"givenName": "Ada"},
        "meta": {"resourceType": "User", "created": NOW, "lastModified": NOW,
                 "location": f"{BASE}/scim/v2/{tenant_id}/Users/u1"}}  # no version yet
    row = event["_row"]
    assert (row.subject, row.type, row.created, row.attempts) == (
        "Users/u1", f"{PREFIX}.user.created", NOW, 0)


def test_a_created_group_keeps_its_own_schemas(feed: ChangeFeed, tenant_id: str,
                                               commit: Any) -> None:
    doc = {"schemas": [GROUP_URN, "urn:example:ext"], "displayName": "Staff"}
    (event,) = commit(feed.created(GROUPS, tenant_id, "g1", doc, NOW))
    assert event["type"] == f"{PREFIX}.group.created"
    assert event["subject"] == "Groups/g1"
    assert event["data"]["resource"]["schemas"] == [GROUP_URN, "urn:example:ext"]
    assert event["data"]["resource"]["meta"]["resourceType"] == "Group"


@pytest.mark.parametrize(("before", "after", "change", "attributes"), [
    ({"userName": "a", "active": True}, {"userName": "a", "active": False},
     "user.deactivated", ["active"]),
    ({"userName": "a", "active": False}, {"userName": "a", "active": True},
     "user.reactivated", ["active"]),
    ({"userName": "a", "active": False}, {"userName": "a"}, "user.reactivated", ["active"]),
    ({"userName": "a"}, {"userName": "b", "title": "t"}, "user.updated", ["title", "userName"]),
])
def test_a_user_update_is_named_by_what_changed(feed: ChangeFeed, tenant_id: str,
                                                commit: Any, before: dict[str, Any],
                                                after: dict[str, Any], change: str,
                                                attributes: list[str]) -> None:
    current = Stored("u1", before, 'W/"1"', CREATED, CREATED)
    (event,) = commit(feed.updated(USERS, tenant_id, current, after, NOW))
    assert event["type"] == f"{PREFIX}.{change}"
    assert sorted(event["data"]["attributes"]) == attributes
    meta = event["data"]["resource"]["meta"]
    assert (meta["created"], meta["lastModified"]) == (CREATED, NOW)


def test_a_group_update_is_group_updated(feed: ChangeFeed, tenant_id: str,
                                         commit: Any) -> None:
    current = Stored("g1", {"displayName": "A"}, 'W/"1"', CREATED, CREATED)
    (event,) = commit(feed.updated(GROUPS, tenant_id, current, {"displayName": "B"}, NOW))
    assert event["type"] == f"{PREFIX}.group.updated"
    assert event["data"]["attributes"] == ["displayName"]


def test_an_update_that_changes_nothing_has_no_event(feed: ChangeFeed, tenant_id: str,
                                                     commit: Any) -> None:
    doc = {"userName": "a", "emails": [{"value": "a@x", "type": "work"}]}
    current = Stored("u1", doc, 'W/"1"', CREATED, CREATED)
    assert feed.updated(USERS, tenant_id, current, json.loads(json.dumps(doc)), NOW) == []
    assert commit([]) == []


@pytest.mark.parametrize(("kind", "change", "subject"), [
    (USERS, "user.deleted", "Users/x1"), (GROUPS, "group.deleted", "Groups/x1")])
def test_a_delete_names_the_resource_without_a_snapshot(feed: ChangeFeed, tenant_id: str,
                                                        commit: Any, kind: Any, change: str,
                                                        subject: str) -> None:
    (event,) = commit(feed.deleted(kind, tenant_id, "x1", NOW))
    assert (event["type"], event["subject"]) == (f"{PREFIX}.{change}", subject)
    assert event["data"] == {"tenant": tenant_id, "resourceType": kind.rtype.name, "id": "x1",
                             "attributes": [], "resource": None}


def test_member_changes_are_one_event_per_direction_each_id_once(
        feed: ChangeFeed, tenant_id: str, commit: Any) -> None:
    ops = feed.members(tenant_id, "g1", added=["u2", "u1", "u2"], removed=["u3", "u3"],
                       now=NOW)
    added, removed = commit(ops)
    assert added["type"] == f"{PREFIX}.group.members.added"
    assert added["data"]["members"] == ["u2", "u1"]
    assert removed["type"] == f"{PREFIX}.group.members.removed"
    assert removed["data"]["members"] == ["u3"]
    assert {added["subject"], removed["subject"]} == {"Groups/g1"}


def test_no_member_change_has_no_event(feed: ChangeFeed, tenant_id: str) -> None:
    assert feed.members(tenant_id, "g1", added=[], removed=[], now=NOW) == []
    only_added = feed.members(tenant_id, "g1", added=["u1"], removed=[], now=NOW)
    assert len(only_added) == 1


def test_a_write_retried_after_its_commit_stays_one_event(feed: ChangeFeed, tenant_id: str,
                                                          commit: Any) -> None:
    """The store sends a transaction again when its response was lost: the same operations,
    committed twice, leave one event."""
    ops = feed.created(USERS, tenant_id, "u1", {"userName": "a"}, NOW)
    commit(ops)
    assert len(commit(ops)) == 1


def test_the_type_prefix_is_the_deployments(tenant_id: str, commit: Any) -> None:
    other = ChangeFeed(BASE, "org.example.idm")
    (event,) = commit(other.deleted(USERS, tenant_id, "u1", NOW))
    assert event["type"] == event["_row"].type == "org.example.idm.user.deleted"
