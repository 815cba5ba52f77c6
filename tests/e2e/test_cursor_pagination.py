"""Cursor pagination (RFC 9865) over HTTP: a walk sees every user exactly once, users created
during the walk show up at the end, invalid cursors are 400 invalidCursor, and startIndex pages
offer a nextCursor to switch to."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.served


def _create_users(client: httpx.Client, names: list[str]) -> list[str]:
    def post(name: str) -> str:
        with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=60) as c:
            response = c.post("/Users", json={"userName": name})
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(post, names))


def test_cursor_walk_of_250_users_with_creates_during_the_walk(client: httpx.Client) -> None:
    ids = _create_users(client, [f"walk{n:03d}@example.com" for n in range(250)])
    seen: list[str] = []
    cursor: str | None = None
    added: list[str] = []
    pages = 0
    while True:
        params: dict[str, str | int] = {"count": 100}
        if cursor is not None:
            params["cursor"] = cursor
        else:
            params["startIndex"] = 1  # first page: the host drops an empty `cursor=`
        response = client.get("/Users", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        seen += [r["id"] for r in body["Resources"]]
        if pages == 1:
            assert body["totalResults"] == 250
            added = _create_users(client, ["late1@example.com", "late2@example.com"])
        else:
            assert "totalResults" not in body  # cursor pages do not count the tenant
        assert len(body["Resources"]) <= 100
        cursor = body.get("nextCursor")
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)), "a user was listed twice"
    assert set(seen) == set(ids) | set(added)
    assert seen[-2:] == sorted(added), "users created during the walk come last"


def test_cursor_first_page_by_post_search_with_empty_cursor(client: httpx.Client) -> None:
    ids = _create_users(client, [f"s{n}@example.com" for n in range(5)])
    first = client.post("/Users/.search", json={"cursor": "", "count": 3}).json()
    assert [r["id"] for r in first["Resources"]] == sorted(ids)[:3]
    rest = client.get("/Users", params={"cursor": first["nextCursor"], "count": 3}).json()
    assert [r["id"] for r in rest["Resources"]] == sorted(ids)[3:]
    assert "nextCursor" not in rest


def test_cursor_with_filter_and_on_groups(client: httpx.Client) -> None:
    gids = []
    for n in range(3):
        response = client.post("/Groups", json={"displayName": f"Team {n}"})
        gids.append(response.json()["id"])
    page = client.get("/Groups", params={"filter": 'displayName sw "Team"', "count": 2,
                                         "excludedAttributes": "members"}).json()
    assert page["totalResults"] == 3
    first = client.post("/Groups/.search", json={"filter": 'displayName sw "Team"',
                                                 "cursor": "", "count": 2}).json()
    second = client.get("/Groups", params={"filter": 'displayName sw "Team"', "count": 2,
                                           "cursor": first["nextCursor"]}).json()
    assert [g["id"] for g in first["Resources"] + second["Resources"]] == sorted(gids)
    assert "nextCursor" not in second


@pytest.mark.parametrize("cursor", [
    "not-a-cursor!!",
    base64.urlsafe_b64encode(b"G:0123").decode().rstrip("="),  # a Groups cursor on /Users
    base64.urlsafe_b64encode(b"U:../../x").decode().rstrip("="),
])
def test_invalid_cursor_is_400_invalid_cursor(client: httpx.Client, cursor: str) -> None:
    response = client.get("/Users", params={"cursor": cursor, "count": 10})
    assert response.status_code == 400
    body = response.json()
    assert body["scimType"] == "invalidCursor"
    assert body["status"] == "400"


def test_start_index_pages_are_stable_and_counted(client: httpx.Client) -> None:
    ids = sorted(_create_users(client, [f"p{n}@example.com" for n in range(7)]))
    body = client.get("/Users", params={"startIndex": 3, "count": 2}).json()
    assert body["totalResults"] == 7
    assert [r["id"] for r in body["Resources"]] == ids[2:4]
    assert body["nextCursor"]
    tail = client.get("/Users", params={"startIndex": 6, "count": 5}).json()
    assert tail["totalResults"] == 7
    assert [r["id"] for r in tail["Resources"]] == ids[5:]
    assert "nextCursor" not in tail
    beyond = client.get("/Users", params={"startIndex": 20, "count": 5}).json()
    assert beyond["totalResults"] == 7
    assert beyond["Resources"] == []
    only_total = client.get("/Users", params={"count": 0}).json()
    assert only_total["totalResults"] == 7
    assert only_total["Resources"] == []
    config = client.get("/ServiceProviderConfig").json()
    assert config["pagination"]["cursor"] is True
