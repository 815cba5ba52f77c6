"""Each kind of SCIM write commits exactly its change events (outbox rows in the same
transaction); a write that fails commits none."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared.feed import events
from shared.settings import DEFAULT_EVENT_TYPE_PREFIX
from shared.store.outbox import Outbox
from tests.support.webhooks import events_of, short

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(client: httpx.Client, name: str, **attrs: Any) -> dict[str, Any]:
    r = client.post("/Users", json={"schemas": [USER], "userName": name, "active": True,
                                    **attrs})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _patch(client: httpx.Client, url: str, *ops: dict[str, Any],
           headers: dict[str, str] | None = None) -> httpx.Response:
    return client.patch(url, json={"schemas": [PATCH], "Operations": list(ops)},
                        headers=headers or {})


@pytest.fixture
def tenant_id(tenant: tuple[str, str]) -> str:
    return tenant[0]


def test_user_lifecycle_events(client: httpx.Client, outbox: Outbox, tenant_id: str) -> None:
    user = _user(client, "ada@example.com", title="Engineer")
    uid = user["id"]
    url = f"/Users/{uid}"
    assert _patch(client, url, {"op": "replace", "path": "title", "value": "Lead"}
                  ).status_code == 200
    assert _patch(client, url, {"op": "replace", "path": "title", "value": "Lead"}
                  ).status_code == 200  # no change: no event
    assert _patch(client, url, {"op": "Replace", "path": "active", "value": "False"}
                  ).status_code == 200
    assert _patch(client, url, {"op": "replace", "path": "active", "value": True}
                  ).status_code == 200
    put = client.put(url, json={"schemas": [USER], "userName": "ada@example.com",
                                "active": True, "displayName": "Ada"})
    assert put.status_code == 200
    assert client.delete(url).status_code == 204

    got = events_of(outbox, tenant_id)
    assert [short(e) for e in got] == ["created", "updated", "deactivated", "reactivated",
                                       "updated", "deleted"]
    created, title, off, on, replaced, deleted = got
    assert created["specversion"] == "1.0"
    assert created["type"] == f"{DEFAULT_EVENT_TYPE_PREFIX}.{events.USER_CREATED}"
    assert created["subject"] == f"Users/{uid}"
    assert created["tenant"] == tenant_id == created["data"]["tenant"]
    assert created["source"].endswith(f"/scim/v2/{tenant_id}")
    assert created["data"]["id"] == uid
    assert set(created["data"]["attributes"]) == {"userName", "active", "title"}
    resource = created["data"]["resource"]
    assert (resource["id"], resource["userName"], resource["title"]) == (
        uid, "ada@example.com", "Engineer")
    assert resource["meta"]["resourceType"] == "User"
    assert title["data"]["attributes"] == ["title"]
    assert title["data"]["resource"]["title"] == "Lead"
    assert off["data"]["attributes"] == ["active"]
    assert off["data"]["resource"]["active"] is False
    assert on["data"]["resource"]["active"] is True
    assert sorted(replaced["data"]["attributes"]) == ["displayName", "title"]
    assert deleted["data"] == {"tenant": tenant_id, "resourceType": "User", "id": uid,
                               "attributes": [], "resource": None}
    ids = [e["id"] for e in got]
    assert ids == sorted(ids)  # commit order is id order
    assert len(set(ids)) == len(ids)


def test_group_events_and_member_events(client: httpx.Client, outbox: Outbox,
                                        tenant_id: str) -> None:
    a, b, c = (_user(client, f"{n}@example.com")["id"] for n in "abc")
    r = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Staff",
                                     "members": [{"value": a}]})
    assert r.status_code == 201
    gid = r.json()["id"]
    url = f"/Groups/{gid}"
    assert _patch(client, url, {"op": "add", "path": "members", "value": [{"value": b}]},
                  {"op": "remove", "path": f'members[value eq "{a}"]'}).status_code == 204
    assert _patch(client, url, {"op": "replace", "path": "displayName", "value": "Team"}
                  ).status_code == 204
    put = client.put(url, json={"schemas": [GROUP], "displayName": "Team",
                                "members": [{"value": b}, {"value": c}]})
    assert put.status_code == 200
    assert client.delete(url).status_code == 204

    got = [e for e in events_of(outbox, tenant_id) if e["subject"].startswith("Groups/")]
    assert [short(e) for e in got] == ["created", "members.added", "members.added",
                                       "members.removed", "updated", "members.added",
                                       "deleted"]
    created, first, added, removed, renamed, put_added, deleted = got
    assert created["data"]["resource"]["displayName"] == "Staff"
    assert "members" not in created["data"]["resource"]  # members are their own events
    assert first["data"]["members"] == [a]
    assert (added["data"]["members"], removed["data"]["members"]) == ([b], [a])
    assert added["data"]["attributes"] == ["members"]
    assert (added["data"]["part"], added["data"]["parts"]) == (1, 1)
    assert renamed["data"]["attributes"] == ["displayName"]
    assert put_added["data"]["members"] == [c]  # b was already a member: exact for PUT
    assert deleted["type"] == f"{DEFAULT_EVENT_TYPE_PREFIX}.{events.GROUP_DELETED}"
    assert {e["subject"] for e in got} == {f"Groups/{gid}"}


def test_large_member_patch_is_one_event_with_every_id(client: httpx.Client, outbox: Outbox,
                                                       tenant_id: str) -> None:
    gid = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Big"}).json()["id"]
    ids = [f"member-{n:04d}" for n in range(180)]  # > one transaction: journalled
    r = _patch(client, f"/Groups/{gid}",
               {"op": "add", "path": "members", "value": [{"value": i} for i in ids]})
    assert r.status_code == 204
    got = [e for e in events_of(outbox, tenant_id) if short(e) == "members.added"]
    assert len(got) == 1
    assert got[0]["data"]["members"] == ids


@pytest.mark.parametrize("case", ["409", "412", "400-value", "400-immutable", "404"])
def test_failed_writes_emit_nothing(client: httpx.Client, outbox: Outbox, tenant_id: str,
                                    case: str) -> None:
    user = _user(client, "grace@example.com",
                 **{"urn:ietf:params:scim:schemas:extension:8x8:1.1:User": {"site": "Paris"}})
    gid = client.post("/Groups", json={"schemas": [GROUP], "displayName": "G"}).json()["id"]
    before = [e["id"] for e in events_of(outbox, tenant_id)]
    url = f"/Users/{user['id']}"
    if case == "409":
        r = client.post("/Users", json={"schemas": [USER], "userName": "GRACE@example.com"})
        r2 = client.post("/Groups", json={"schemas": [GROUP], "displayName": "g"})
        assert r2.status_code == 409
    elif case == "412":
        r = _patch(client, url, {"op": "replace", "path": "title", "value": "x"},
                   headers={"If-Match": 'W/"stale"'})
        r2 = client.request("DELETE", f"/Groups/{gid}", headers={"If-Match": 'W/"stale"'})
        assert r2.status_code == 412
    elif case == "400-value":
        r = _patch(client, url, {"op": "replace", "path": "active", "value": "maybe"})
    elif case == "400-immutable":
        r = _patch(client, url, {"op": "replace", "path":
                                 "urn:ietf:params:scim:schemas:extension:8x8:1.1:User:site",
                                 "value": "Berlin"})
    else:
        r = _patch(client, "/Groups/0000", {"op": "add", "path": "members",
                                            "value": [{"value": user["id"]}]})
    assert r.status_code == int(case[:3]), r.text
    assert [e["id"] for e in events_of(outbox, tenant_id)] == before


def test_oversized_resource_is_referenced_not_copied() -> None:
    big = {"id": "u1", "title": "x" * (events.MAX_EVENT_CHARS + 10)}
    event = events.resource_event(events.USER_UPDATED, tenant="t", source="s",
                                  resource_type="User", rid="u1", attributes=["title"],
                                  resource=big, now="2026-01-01T00:00:00Z")
    data = json.loads(event.body)["data"]
    assert data["resource"] is None
    assert data["resourceOmitted"] is True
    assert data["attributes"] == ["title"]


def test_huge_member_lists_are_split_into_parts() -> None:
    ids = [f"{n:036d}" for n in range(6000)]  # ~234,000 characters of ids
    parts = events.member_events(events.MEMBERS_ADDED, tenant="t", source="s", gid="g",
                                 members=ids, now="2026-01-01T00:00:00Z")
    bodies = [json.loads(p.body)["data"] for p in parts]
    assert len(parts) == 3
    assert [b["part"] for b in bodies] == [1, 2, 3]
    assert {b["parts"] for b in bodies} == {3}
    assert [m for b in bodies for m in b["members"]] == ids
    assert all(len(p.body) < events.MAX_EVENT_CHARS for p in parts)
    assert [p.id for p in parts] == sorted(p.id for p in parts)
