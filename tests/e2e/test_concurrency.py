"""Concurrency over HTTP against Azurite (issue acceptance): racing creates, parallel member
PATCHes of one group, parallel attribute PATCHes of one user — nothing lost, no 5xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

pytestmark = pytest.mark.served


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
