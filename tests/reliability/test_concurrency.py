"""Concurrency over HTTP against Azurite (issue acceptance): racing creates, parallel member
PATCHes of one group, parallel attribute PATCHes of one user, stale and racing If-Match, rename
races on userName uniqueness — nothing lost, no 5xx, and the store invariants hold after each
test (shared.store.invariants.check)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.service.kinds import stored_indexes
from shared.store import invariants

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

pytestmark = pytest.mark.served


@pytest.fixture(autouse=True)
def invariants_hold_after(scim_service: Any, tenant: tuple[str, str]) -> Iterator[None]:
    yield
    found = invariants.check(scim_service.directory, tenant[0], indexer=stored_indexes)
    assert not found, [str(v) for v in found]


def _fan_out(n: int, fn: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def _client(client: httpx.Client) -> httpx.Client:
    return httpx.Client(base_url=client.base_url, headers=client.headers, timeout=60)


def test_100_concurrent_creates_of_one_username(client: httpx.Client) -> None:
    def post(n: int) -> int:
        with _client(client) as c:
            return c.post("/Users", json={"userName": "race@example.com",
                                          "externalId": f"e{n}"}).status_code

    statuses = _fan_out(100, post)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 99, statuses
    listed = client.get("/Users", params={"filter": 'userName eq "RACE@example.com"'}).json()
    assert listed["totalResults"] == 1


def test_20_concurrent_member_adds_to_one_group(client: httpx.Client) -> None:
    gid = client.post("/Groups", json={"displayName": "crowd"}).json()["id"]
    uids = [client.post("/Users", json={"userName": f"m{n}"}).json()["id"] for n in range(20)]

    def add(n: int) -> int:
        with _client(client) as c:
            return c.patch(f"/Groups/{gid}", json={"schemas": [PATCH_OP], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": uids[n]}]}]}).status_code

    assert _fan_out(20, add) == [204] * 20
    members = {m["value"] for m in client.get(f"/Groups/{gid}").json()["members"]}
    assert members == set(uids)


def test_concurrent_member_adds_and_removes_end_exact(client: httpx.Client) -> None:
    gid = client.post("/Groups", json={"displayName": "churn"}).json()["id"]
    uids = [client.post("/Users", json={"userName": f"c{n}"}).json()["id"] for n in range(20)]
    client.patch(f"/Groups/{gid}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": u} for u in uids[:10]]}]})

    def change(n: int) -> int:
        op = ({"op": "Remove", "path": "members", "value": [{"value": uids[n]}]} if n < 10
              else {"op": "Add", "path": "members", "value": [{"value": uids[n]}]})
        with _client(client) as c:
            return c.patch(f"/Groups/{gid}", json={"schemas": [PATCH_OP],
                                                   "Operations": [op]}).status_code

    assert _fan_out(20, change) == [204] * 20
    members = {m["value"] for m in client.get(f"/Groups/{gid}").json()["members"]}
    assert members == set(uids[10:])


ATTRIBUTES = [
    "title", "nickName", "displayName", "userType", "preferredLanguage", "locale", "timezone",
    "profileUrl", "name.givenName", "name.familyName", "name.middleName", "name.honorificPrefix",
    "name.honorificSuffix", "name.formatted", "externalId",
    f"{ENTERPRISE}:employeeNumber", f"{ENTERPRISE}:costCenter", f"{ENTERPRISE}:organization",
    f"{ENTERPRISE}:division", f"{ENTERPRISE}:department",
]


def test_20_concurrent_patches_of_different_attributes(client: httpx.Client) -> None:
    uid = client.post("/Users", json={"userName": "busy@example.com"}).json()["id"]

    def set_one(n: int) -> int:
        with _client(client) as c:
            return c.patch(f"/Users/{uid}", json={"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": ATTRIBUTES[n], "value": f"v{n}"}]}).status_code

    assert _fan_out(20, set_one) == [200] * 20
    doc = client.get(f"/Users/{uid}").json()
    for n, path in enumerate(ATTRIBUTES):
        if path.startswith(ENTERPRISE):
            assert doc[ENTERPRISE][path.rsplit(":", 1)[1]] == f"v{n}", path
        elif "." in path:
            head, sub = path.split(".")
            assert doc[head][sub] == f"v{n}", path
        else:
            assert doc[path] == f"v{n}", path


def test_concurrent_renames_onto_one_username(client: httpx.Client) -> None:
    uids = [client.post("/Users", json={"userName": f"r{n}"}).json()["id"] for n in range(10)]

    def rename(n: int) -> int:
        with _client(client) as c:
            return c.patch(f"/Users/{uids[n]}", json={"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "userName", "value": "wanted"}]}).status_code

    statuses = _fan_out(10, rename)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 9, statuses
    assert client.get("/Users", params={"filter": 'userName eq "wanted"'}).json()[
        "totalResults"] == 1


def test_stale_if_match_is_412_for_patch_put_and_delete(client: httpx.Client) -> None:
    created = client.post("/Users", json={"userName": "etag@example.com"})
    uid, first = created.json()["id"], created.headers["ETag"]
    changed = client.patch(f"/Users/{uid}", headers={"If-Match": first}, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "a"}]})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != first
    stale = {"If-Match": first}
    r = client.patch(f"/Users/{uid}", headers=stale, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "b"}]})
    assert r.status_code == 412
    r = client.put(f"/Users/{uid}", headers=stale, json={"userName": "etag@example.com"})
    assert r.status_code == 412
    assert client.delete(f"/Users/{uid}", headers=stale).status_code == 412
    assert client.get(f"/Users/{uid}").json()["title"] == "a"  # nothing stale was applied


def test_concurrent_patches_with_one_if_match_let_exactly_one_win(client: httpx.Client) -> None:
    created = client.post("/Users", json={"userName": "one-winner@example.com"})
    uid, etag = created.json()["id"], created.headers["ETag"]

    def set_title(n: int) -> int:
        with _client(client) as c:
            return c.patch(f"/Users/{uid}", headers={"If-Match": etag}, json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "title", "value": f"t{n}"}]}).status_code

    statuses = _fan_out(10, set_title)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == 9, statuses


def test_concurrent_renames_swapping_usernames_keep_the_index_exact(
        client: httpx.Client) -> None:
    """Ten users rename themselves in a ring (r0 -> r1's name, ...) while the names are taken:
    each rename either wins or gets 409, and every userName index row points at the user who
    holds that name afterwards."""
    uids = [client.post("/Users", json={"userName": f"ring{n}"}).json()["id"] for n in range(10)]

    def rename(n: int) -> int:
        with _client(client) as c:
            return c.patch(f"/Users/{uids[n]}", json={"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "userName", "value": f"ring{(n + 1) % 10}"}]}
                          ).status_code

    statuses = _fan_out(10, rename)
    assert set(statuses) <= {200, 409}, statuses
    names = {u: client.get(f"/Users/{u}").json()["userName"] for u in uids}
    assert len(set(names.values())) == 10  # still unique
    for uid, name in names.items():
        found = client.get("/Users", params={"filter": f'userName eq "{name}"'}).json()
        assert [r["id"] for r in found["Resources"]] == [uid]
