"""A DELETE that read a resource, then lost a race to a change of it, must not delete from the
stale read: it is refused by its ETag and reads again. Before, a DELETE racing a rename left the
new userName's index row behind (the name was then refused with 409 and `filter=userName eq`
found nothing), and a group DELETE racing a displayName or member PATCH left the displayName
blocked and users listing the deleted group.

Each race is forced deterministically (the change runs right after the DELETE's read), then
run for real from two threads over HTTP. The invariants hold afterwards, without repair."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.service.app import ScimService
from shared.service.kinds import stored_indexes
from shared.store import invariants
from shared.store.directory import Directory
from tests.support.scim_calls import PATCH_OP, Caller


@pytest.fixture
def caller(scim_service: ScimService, tenant: tuple[str, str]) -> Iterator[Caller]:
    yield Caller(scim_service, *tenant)
    found = invariants.check(scim_service.directory, tenant[0], indexer=stored_indexes)
    assert not found, [str(v) for v in found]


def _after_delete_reads(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Run `change` once, when the DELETE has read the resource and lists its memberships
    (the first thing the store's delete does, for users and groups alike)."""
    real = Directory.memberships
    pending = [change]

    def racing(self: Directory, tenant: str, kind: str, rid: str) -> list[tuple[str, str]]:
        if pending:
            pending.pop()()
        return real(self, tenant, kind, rid)

    monkeypatch.setattr(Directory, "memberships", racing)


def test_delete_racing_a_rename_deletes_the_new_name(caller: Caller,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    uid = caller.create("Users", {"userName": "before@example.com"})
    _after_delete_reads(monkeypatch, lambda: _ok(caller.patch(
        "Users", uid, {"op": "replace", "path": "userName", "value": "after@example.com"})))
    assert caller.call("DELETE", "Users", uid).status == 204
    assert caller.call("GET", "Users", uid).status == 404
    assert caller.matches("Users", "userName", "after@example.com") == []
    # The name is free again: Entra can create the user it now means.
    caller.create("Users", {"userName": "after@example.com"})


def test_delete_racing_a_put_deletes_the_new_external_id(
        caller: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = caller.create("Users", {"userName": "put@example.com", "externalId": "old"})
    _after_delete_reads(monkeypatch, lambda: _ok(caller.call("PUT", "Users", uid, {
        "userName": "put2@example.com", "externalId": "new"})))
    assert caller.call("DELETE", "Users", uid).status == 204
    assert caller.matches("Users", "externalId", "new") == []
    assert caller.matches("Users", "userName", "put2@example.com") == []


def test_group_delete_racing_a_display_name_patch(caller: Caller,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    gid = caller.create("Groups", {"displayName": "Old name"})
    _after_delete_reads(monkeypatch, lambda: _ok(caller.patch(
        "Groups", gid, {"op": "replace", "path": "displayName", "value": "New name"})))
    assert caller.call("DELETE", "Groups", gid).status == 204
    assert caller.matches("Groups", "displayName", "New name") == []
    caller.create("Groups", {"displayName": "New name"})  # not blocked


def test_group_delete_racing_a_member_add(caller: Caller,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    uid = caller.create("Users", {"userName": "member@example.com"})
    gid = caller.create("Groups", {"displayName": "Team"})
    _after_delete_reads(monkeypatch, lambda: _ok(caller.add_members(gid, [uid])))
    assert caller.call("DELETE", "Groups", gid).status == 204
    r = caller.call("GET", "Users", uid, params={"attributes": "groups"})
    assert r.body is not None
    assert r.body.get("groups", []) == []  # the deleted group is not listed


def test_user_delete_racing_its_addition_to_a_group(caller: Caller,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    uid = caller.create("Users", {"userName": "leaving@example.com"})
    gid = caller.create("Groups", {"displayName": "Team"})
    _after_delete_reads(monkeypatch, lambda: _ok(caller.add_members(gid, [uid])))
    assert caller.call("DELETE", "Users", uid).status == 204
    assert caller.members(gid) == set()


def test_member_add_of_a_deleted_user_adds_nothing(caller: Caller) -> None:
    uid = caller.create("Users", {"userName": "gone@example.com"})
    gid = caller.create("Groups", {"displayName": "Team"})
    assert caller.call("DELETE", "Users", uid).status == 204
    assert caller.add_members(gid, [uid]).status == 204
    assert caller.members(gid) == set()


def test_nested_group_member_is_guarded_as_a_group(caller: Caller) -> None:
    child = caller.create("Groups", {"displayName": "Child"})
    parent = caller.create("Groups", {"displayName": "Parent"})
    assert caller.add_members(parent, [child]).status == 204
    assert caller.members(parent) == {child}
    assert caller.call("DELETE", "Groups", child).status == 204
    assert caller.members(parent) == set()


def _ok(response: Any) -> None:
    assert response.status < 300, response.body


# -- the same races, for real ------------------------------------------------------------------

def _race(*calls: Callable[[], int]) -> list[int]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


@pytest.mark.served
def test_delete_and_rename_race_over_http(client: httpx.Client, scim_service: ScimService,
                                          tenant: tuple[str, str]) -> None:
    def fresh() -> httpx.Client:
        return httpx.Client(base_url=client.base_url, headers=client.headers, timeout=60)

    with fresh() as a, fresh() as b, fresh() as c:
        for n in range(30):
            uid = client.post("/Users", json={"userName": f"race{n}"}).json()["id"]
            statuses = _race(
                lambda uid=uid: a.delete(f"/Users/{uid}").status_code,
                lambda uid=uid, n=n: b.patch(f"/Users/{uid}", json={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "path": "userName", "value": f"renamed{n}"}]}
                ).status_code)
            assert statuses[0] == 204, statuses
            assert statuses[1] in (200, 404), statuses
            assert client.get("/Users", params={"filter": f'userName eq "renamed{n}"'}
                              ).json()["totalResults"] == 0
        for n in range(20):
            uid = client.post("/Users", json={"userName": f"m{n}"}).json()["id"]
            gid = client.post("/Groups", json={"displayName": f"g{n}"}).json()["id"]
            statuses = _race(
                lambda gid=gid: a.delete(f"/Groups/{gid}").status_code,
                lambda gid=gid, n=n: b.patch(f"/Groups/{gid}", json={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "path": "displayName", "value": f"h{n}"}]}
                ).status_code,
                lambda gid=gid, uid=uid: c.patch(f"/Groups/{gid}", json={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "add", "path": "members", "value": [{"value": uid}]}]}
                ).status_code)
            assert statuses[0] == 204, statuses
            assert set(statuses[1:]) <= {200, 204, 404}, statuses
            assert client.get(f"/Users/{uid}", params={"attributes": "groups"}
                              ).json().get("groups", []) == []
    found = invariants.check(scim_service.directory, tenant[0], indexer=stored_indexes)
    assert not found, [str(v) for v in found]


def test_group_that_is_its_own_member_can_be_deleted(caller: Caller) -> None:
    gid = caller.create("Groups", {"displayName": "Ouroboros"})
    assert caller.add_members(gid, [gid]).status == 204
    assert caller.members(gid) == {gid}
    assert caller.call("DELETE", "Groups", gid).status == 204
    assert caller.call("GET", "Groups", gid).status == 404
