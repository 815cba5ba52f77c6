"""The load generator: Entra-shaped SCIM requests from a pool of threads, in its own process
(so the app process's CPU and the client's never mix). Used by `benchmarks/entra_bench.py`.

Every request carries `X-Bench-Op: <kind>` so the app process can attribute its storage round
trips and CPU to the operation kind; servers ignore unknown headers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Entra's Create Group carries this second schema URI (Microsoft's documented "Create Group"
# request)
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
COUNTER: Any = None  # a multiprocessing.Value shared with the harness: requests sent (progress)


@dataclass
class Outcome:
    """Client-side figures of one phase: latencies (ms) and failures per operation kind."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    wall_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def ops(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Session:
    """One thread's HTTP client; records each request under its operation kind."""

    def __init__(self, base: str, token: str, outcome: Outcome, lock: threading.Lock) -> None:
        self.http = httpx.Client(base_url=base, timeout=120,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/scim+json"})
        self.outcome, self.lock = outcome, lock

    def call(self, kind: str, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> httpx.Response:
        started = time.perf_counter()
        response = self.http.request(method, path, params=params, json=body,
                                     headers={"X-Bench-Op": kind})
        elapsed = (time.perf_counter() - started) * 1000
        if COUNTER is not None:
            with COUNTER.get_lock():
                COUNTER.value += 1
        with self.lock:
            self.outcome.latencies.setdefault(kind, []).append(elapsed)
            if response.status_code not in ok:
                self.outcome.errors.setdefault(kind, []).append(
                    f"{response.status_code} {response.text[:200]}")
        return response


def _user(n: int, prefix: str) -> dict[str, Any]:
    """A user as Entra creates it for the 8x8 profile (Microsoft's documented "Create User")."""
    return {
        "schemas": [USER_URN, ENTERPRISE],
        "externalId": f"{prefix}-ext-{n}",
        "userName": f"{prefix}.user{n}@contoso.example",
        "active": True,
        "displayName": f"User {n}",
        "emails": [{"primary": True, "type": "work", "value": f"{prefix}.user{n}@contoso.example"}],
        "name": {"formatted": f"Given{n} Family{n}", "familyName": f"Family{n}",
                 "givenName": f"Given{n}"},
        "title": "Engineer",
        "phoneNumbers": [{"type": "mobile", "value": f"+1 555 {n:07d}"}],
        ENTERPRISE: {"department": f"Dept {n % 17}", "employeeNumber": str(n)},
    }


def _members_patch(ids: list[str], op: str = "Add") -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [
        {"op": op, "path": "members", "value": [{"$ref": None, "value": i} for i in ids]}]}


def _run(base: str, token: str, concurrency: int, items: list[Any],
         work: Callable[[Session, Any], Any]) -> tuple[Outcome, list[Any]]:
    outcome, lock = Outcome(), threading.Lock()
    local = threading.local()
    sessions: list[Session] = []

    def run_one(item: Any) -> Any:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = Session(base, token, outcome, lock)
            with lock:
                sessions.append(session)
        return work(session, item)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(run_one, items))
    outcome.wall_s = time.perf_counter() - started
    for s in sessions:
        s.http.close()
    return outcome, results


# -- phases (each runs in the client process; arguments and results are picklable) ---------

def initial_users(base: str, token: str, concurrency: int, prefix: str, first: int,
                  last: int) -> Outcome:
    """Entra's initial cycle for users: match by userName (no hit), then POST."""
    def work(s: Session, n: int) -> str | None:
        body = _user(n, prefix)
        s.call("match_user_miss", "GET", "/Users",
               params={"filter": f'userName eq "{body["userName"]}"'})
        created = s.call("create_user", "POST", "/Users", body=body, ok=(201,))
        return str(created.json()["id"]) if created.status_code == 201 else None

    outcome, ids = _run(base, token, concurrency, list(range(first, last)), work)
    outcome.data["ids"] = ids  # in input order, None where the create failed
    return outcome


def initial_groups(base: str, token: str, concurrency: int, prefix: str, names: list[str],
                   member_ids: list[list[str]], batch: int) -> Outcome:
    """Entra's initial cycle for groups: match by displayName (members excluded), create
    empty, then member PATCHes of `batch` members each (the batches of all groups run in
    parallel)."""
    def create(s: Session, name: str) -> str | None:
        s.call("match_group_miss", "GET", "/Groups",
               params={"filter": f'displayName eq "{name}"', "excludedAttributes": "members"})
        body = {"schemas": [GROUP_URN, ENTRA_GROUP], "displayName": name,
                "externalId": f"{name}-ext"}
        created = s.call("create_group", "POST", "/Groups", ok=(201,), body=body)
        if created.status_code == 400:  # a server refusing Entra's extra schema URI (the
            body["schemas"] = [GROUP_URN]  # peer does): counted as an error, then retried
            created = s.call("create_group_retry", "POST", "/Groups", ok=(201,), body=body)
        return str(created.json()["id"]) if created.status_code == 201 else None

    outcome, gids = _run(base, token, concurrency, names, create)
    chunks = [(gid, ids[i : i + batch]) for gid, ids in zip(gids, member_ids, strict=True)
              if gid for i in range(0, len(ids), batch)]
    fill, _ = _run(base, token, concurrency, chunks,
                   lambda s, c: s.call(f"member_add_{batch}", "PATCH", f"/Groups/{c[0]}",
                                       body=_members_patch(c[1])))
    _merge(outcome, fill)
    outcome.data["ids"] = [g for g in gids if g]
    return outcome


def incremental(base: str, token: str, concurrency: int, prefix: str,
                users: list[tuple[int, str]], deletes: list[str], groups: list[str],
                removals: list[tuple[str, list[str]]]) -> Outcome:
    """Entra's incremental cycle: a GET precedes each change (match by userName), then one of
    the documented PATCH shapes ("Update User", "Disable User"), deactivations with the string
    "False", deletes, group matches and legacy member removes."""
    def user_work(s: Session, item: tuple[int, int, str]) -> None:
        turn, n, uid = item
        name = f"{prefix}.user{n}@contoso.example"
        s.call("match_user_hit", "GET", "/Users", params={"filter": f'userName eq "{name}"'})
        if turn % 3 == 0:  # Update User [Multi-valued properties], no feature flag
            body = {"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": name},
                {"op": "Replace", "path": "name.familyName", "value": f"Changed{n}"},
                {"op": "Add", "path": "nickName", "value": f"Nick{n}"}]}
            s.call("patch_user", "PATCH", f"/Users/{uid}", body=body)
        elif turn % 3 == 1:  # aadOptscim062020: path-less replace with dotted/URN keys
            body = {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "value": {"displayName": f"Renamed {n}",
                                            "name.givenName": f"G{n}",
                                            f"{ENTERPRISE}:department": "Sales"}}]}
            s.call("patch_user", "PATCH", f"/Users/{uid}", body=body)
        else:  # Disable User without the flag: the string "False"
            body = {"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"}]}
            s.call("deactivate_user", "PATCH", f"/Users/{uid}", body=body)

    items = [(t, n, uid) for t, (n, uid) in enumerate(users)]
    outcome, _ = _run(base, token, concurrency, items, user_work)
    gets, _ = _run(base, token, concurrency, [uid for _, uid in users[: len(users) // 4]],
                   lambda s, uid: s.call("get_user", "GET", f"/Users/{uid}"))
    _merge(outcome, gets)
    dels, _ = _run(base, token, concurrency, deletes,
                   lambda s, uid: s.call("delete_user", "DELETE", f"/Users/{uid}"))
    _merge(outcome, dels)
    gm, _ = _run(base, token, concurrency, groups,
                 lambda s, name: s.call("match_group_hit", "GET", "/Groups", params={
                     "filter": f'displayName eq "{name}"', "excludedAttributes": "members"}))
    _merge(outcome, gm)
    rm, _ = _run(base, token, concurrency, removals,
                 lambda s, r: s.call("member_remove_2", "PATCH", f"/Groups/{r[0]}",
                                     body=_members_patch(r[1], "Remove")))
    _merge(outcome, rm)
    return outcome


def cursor_walk(base: str, token: str, page: int, cursor_param: bool) -> Outcome:
    """Walk every user: RFC 9865 cursors when the server offers them, else startIndex."""
    outcome, lock = Outcome(), threading.Lock()
    session = Session(base, token, outcome, lock)
    seen: list[str] = []
    started = time.perf_counter()
    params: dict[str, Any] = {"count": page, "startIndex": 1, "attributes": "userName"}
    while True:
        kind = "list_cursor_page" if "cursor" in params else "list_index_page"
        body = session.call(kind, "GET", "/Users", params=params).json()
        got = [r["id"] for r in body.get("Resources", [])]
        seen += got
        if cursor_param and body.get("nextCursor"):
            params = {"count": page, "cursor": body["nextCursor"], "attributes": "userName"}
        elif not cursor_param and got and len(got) == page:
            params = {"count": page, "startIndex": len(seen) + 1, "attributes": "userName"}
        else:
            break
    outcome.wall_s = time.perf_counter() - started
    outcome.data = {"listed": len(seen), "distinct": len(set(seen))}
    session.http.close()
    return outcome


def big_group(base: str, token: str, concurrency: int, name: str, member_ids: list[str],
              batch: int, reads: int) -> Outcome:
    """A large group: created empty, filled by member PATCHes of `batch`, then read with
    `excludedAttributes=members` and in full."""
    outcome = initial_groups(base, token, concurrency, name, [name], [member_ids], batch)
    gid = outcome.data["ids"][0]
    for kind, params in (("get_big_group_excluded", {"excludedAttributes": "members"}),
                         ("get_big_group_full", {})):
        def read(s: Session, _n: int, kind: str = kind, params: dict[str, str] = params) -> int:
            body = s.call(kind, "GET", f"/Groups/{gid}", params=params).json()
            return len(body.get("members", []))

        got, sizes = _run(base, token, 1, list(range(reads)), read)
        _merge(outcome, got)
        outcome.data[f"{kind}_members"] = sizes[0] if sizes else None
    return outcome


def _merge(into: Outcome, other: Outcome) -> None:
    for k, v in other.latencies.items():
        into.latencies.setdefault(k, []).extend(v)
    for k, e in other.errors.items():
        into.errors.setdefault(k, []).extend(e)
    into.wall_s += other.wall_s
