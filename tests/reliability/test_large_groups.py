"""Every request within the body limit and every group size works: a member change of any
length is journalled (journal rows of any number), and a group of any size can be replaced,
read and deleted. Before, a change of more than about 5,600 members answered 500 (the journal
did not fit one row), and a group grown through legal PATCHes could not be deleted.

Requests go through ScimService.handle (as the Functions adapter calls it) against Azurite;
each test ends with the store invariants holding. Timings are reported as figures."""

from __future__ import annotations

import time
from collections.abc import Iterator

import azurite
import pytest

from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.service.kinds import stored_indexes
from shared.settings import from_environ
from shared.store import invariants
from shared.store.connection import open_tables
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support import figures
from tests.support.scim_calls import Caller


@pytest.fixture(scope="module")
def service(app_env: dict[str, str]) -> Iterator[ScimService]:
    """An Azurite of this module's own: Azurite's in-memory tables move every row on each
    insert and delete, so the 200,000 rows these tests write would slow every later test
    sharing the session's emulator (Table Storage has no such cost)."""
    with azurite.running() as connection_string:
        # The longest storage deadline the settings allow: these tests are about sizes, and on
        # a loaded machine Azurite can take past the default 10 s to stage a 20,000-member
        # change, which then (correctly) answers 503. What a deadline does to a change in
        # flight is tested in tests/store/test_journal.py and tests/store/test_deadline.py.
        settings = from_environ({**app_env,
                                 "SCIM_STORAGE_CONNECTION_STRING": connection_string,
                                 "SCIM_STORAGE_DEADLINE_SECONDS": "50"})
        tables = open_tables(settings)
        tables.ensure()
        yield ScimService(settings, tables)


@pytest.fixture
def caller(service: ScimService) -> Iterator[Caller]:
    record = Tenant(id=new_tenant_id(), name="large", created=now_iso())
    token = issue_token(record)
    service.tenants.create(record)
    yield Caller(service, record.id, token)
    found = invariants.check(service.directory, record.id, indexer=stored_indexes)
    assert not found, [str(v) for v in found[:10]]


def _ids(prefix: str, n: int) -> list[str]:
    # Member ids of another system (Entra may send such ids; they are stored as given).
    return [f"{prefix}-{i:06d}" for i in range(n)]


def _add(caller: Caller, gid: str, ids: list[str]) -> None:
    r = caller.add_members(gid, ids)
    assert r.status == 204, r.body


def _members(caller: Caller, gid: str) -> set[str]:
    """The group's members once its journalled change is finished: a change still running at
    the request's storage deadline is answered and then finished by the background finisher
    (docs/architecture.md, "Deadlines and the background finisher"), which on a loaded machine
    happens to the largest of these."""
    assert caller.service.directory.journal.wait_idle(timeout=300)
    return caller.members(gid)


def _timed(name: str, started: float) -> None:
    figures.FIGURES[f"{name} (s)"] = round(time.perf_counter() - started, 1)


def test_delete_a_50000_member_group_grown_by_legal_patches(caller: Caller) -> None:
    gid = caller.create("Groups", {"displayName": "Fifty thousand"})
    ids = _ids("m", 50_000)
    started = time.perf_counter()
    for i in range(0, len(ids), 2_000):
        _add(caller, gid, ids[i : i + 2_000])
    _timed("grow a group to 50,000 members (25 PATCHes of 2,000)", started)
    started = time.perf_counter()
    r = caller.call("GET", "Groups", gid)
    _timed("read a 50,000-member group", started)
    assert r.body is not None
    assert len(r.body["members"]) == 50_000
    started = time.perf_counter()
    assert caller.call("DELETE", "Groups", gid).status == 204
    answered = time.perf_counter() - started
    figures.FIGURES["DELETE of a 50,000-member group answered (s)"] = round(answered, 1)
    # The answer comes by the request's storage deadline; what the purge has left then is
    # finished in the background (Azurite deletes slowly: every row moves on each delete).
    assert answered < caller.service.settings.storage_deadline_seconds + 5
    assert caller.call("GET", "Groups", gid).status == 404
    assert caller.service.directory.journal.wait_idle(timeout=300)
    _timed("delete a 50,000-member group, purge included", started)
    # Its name is free again, and no membership row is left (the fixture checks invariants).
    caller.create("Groups", {"displayName": "Fifty thousand"})


def test_add_20000_members_in_one_patch(caller: Caller) -> None:
    gid = caller.create("Groups", {"displayName": "Twenty thousand"})
    ids = _ids("a", 20_000)
    started = time.perf_counter()
    _add(caller, gid, ids)
    _timed("add 20,000 members in one PATCH", started)
    assert _members(caller, gid) == set(ids)


def test_replace_members_with_20000(caller: Caller) -> None:
    gid = caller.create("Groups", {"displayName": "Replaced"})
    _add(caller, gid, _ids("old", 3_000))
    wanted = _ids("new", 20_000)
    started = time.perf_counter()
    r = caller.patch("Groups", gid, {"op": "replace", "path": "members",
                                     "value": [{"value": i} for i in wanted]})
    _timed("replace 3,000 members with 20,000 in one PATCH", started)
    assert r.status == 204, r.body
    assert _members(caller, gid) == set(wanted)


def test_put_group_with_20000_members_and_then_none(caller: Caller) -> None:
    gid = caller.create("Groups", {"displayName": "Put"})
    wanted = _ids("p", 20_000)
    r = caller.call("PUT", "Groups", gid, {"displayName": "Put",
                                           "members": [{"value": i} for i in wanted]})
    assert r.status == 200, r.body
    assert _members(caller, gid) == set(wanted)


def test_create_group_with_20000_members(caller: Caller) -> None:
    wanted = _ids("c", 20_000)
    gid = caller.create("Groups", {"displayName": "Created big",
                                   "members": [{"value": i} for i in wanted]})
    assert _members(caller, gid) == set(wanted)


def test_journalled_adds_of_real_users_skip_the_deleted_ones(caller: Caller) -> None:
    """Ids this service issued are guarded (3 operations a member, so other chunk sizes): a
    member deleted before the add is not added, the others are."""
    users = [caller.create("Users", {"userName": f"u{n}@example.com"}) for n in range(160)]
    gone = users[::4]
    for uid in gone:
        assert caller.call("DELETE", "Users", uid).status == 204
    gid = caller.create("Groups", {"displayName": "Guarded"})
    _add(caller, gid, users)
    assert _members(caller, gid) == set(users) - set(gone)
    r = caller.call("GET", "Users", users[1], params={"attributes": "groups"})
    assert r.body is not None
    assert [g["value"] for g in r.body["groups"]] == [gid]
