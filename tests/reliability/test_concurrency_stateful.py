"""Random interleavings of every write, from several threads, against Azurite: afterwards the
store invariants hold as they are, without repair (shared.store.invariants.check finds nothing).

A seeded randomised driver: each thread draws operations from a small pool of names and ids,
so writes collide all the time: creates and renames onto the same userName/displayName, PUTs,
deactivations, member adds and removes (of users being deleted, too), member replaces, group
renames and deletes. No answer may be a 5xx; each must be one the operation can give.
SCIM_STRESS_SEED reruns a failing seed (printed with the failure); SCIM_STRESS_OPS changes the
count (default 3,000)."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shared.service.app import ScimService
from shared.service.kinds import stored_indexes
from shared.service.messages import ScimResponse
from shared.store import invariants
from tests.support import figures
from tests.support.scim_calls import Caller

THREADS = 6
OPERATIONS = int(os.environ.get("SCIM_STRESS_OPS", "3000"))
USER_NAMES = [f"user{n}@example.com" for n in range(8)]
GROUP_NAMES = [f"Group {n}" for n in range(4)]
EXTERNAL_IDS = [f"ext{n}" for n in range(4)]


class Driver:
    def __init__(self, caller: Caller, seed: int) -> None:
        self.caller = caller
        self.seed = seed
        self.lock = threading.Lock()
        self.users: list[str] = []  # every id ever created: deleted ones are still drawn
        self.groups: list[str] = []
        self.outcomes: Counter[str] = Counter()
        self.unexpected: list[str] = []

    # -- drawing -----------------------------------------------------------------------------

    def some(self, rng: random.Random, pool: list[str], k: int) -> list[str]:
        with self.lock:
            return rng.sample(pool, min(k, len(pool))) if pool else []

    def one(self, rng: random.Random, pool: list[str]) -> str | None:
        found = self.some(rng, pool, 1)
        return found[0] if found else None

    def record(self, name: str, response: ScimResponse, allowed: set[int]) -> None:
        with self.lock:
            self.outcomes[f"{name} {response.status}"] += 1
            if response.status not in allowed:
                self.unexpected.append(f"{name}: {response.status} {response.body}")

    # -- operations --------------------------------------------------------------------------

    def create_user(self, rng: random.Random) -> None:
        r = self.caller.call("POST", "Users", body={
            "userName": rng.choice(USER_NAMES), "externalId": rng.choice(EXTERNAL_IDS),
            "emails": [{"type": "work", "value": rng.choice(USER_NAMES)}]})
        self.record("create user", r, {201, 409})
        if r.status == 201 and r.body:
            with self.lock:
                self.users.append(r.body["id"])

    def rename_user(self, rng: random.Random) -> None:
        uid = self.one(rng, self.users)
        if uid:
            self.record("rename user", self.caller.patch("Users", uid, {
                "op": "replace", "path": "userName", "value": rng.choice(USER_NAMES)}),
                {200, 404, 409})

    def put_user(self, rng: random.Random) -> None:
        uid = self.one(rng, self.users)
        if uid:
            self.record("put user", self.caller.call("PUT", "Users", uid, {
                "userName": rng.choice(USER_NAMES), "externalId": rng.choice(EXTERNAL_IDS),
                "active": rng.random() < 0.8,
                "emails": [{"type": "work", "value": rng.choice(USER_NAMES)}]}),
                {200, 404, 409})

    def deactivate_user(self, rng: random.Random) -> None:
        uid = self.one(rng, self.users)
        if uid:
            self.record("deactivate user", self.caller.patch("Users", uid, {
                "op": "replace", "path": "active", "value": "False"}), {200, 404})

    def delete_user(self, rng: random.Random) -> None:
        uid = self.one(rng, self.users)
        if uid:
            self.record("delete user", self.caller.call("DELETE", "Users", uid), {204, 404})

    def create_group(self, rng: random.Random) -> None:
        members = [{"value": u} for u in self.some(rng, self.users, rng.randint(0, 3))]
        r = self.caller.call("POST", "Groups", body={
            "displayName": rng.choice(GROUP_NAMES), "externalId": rng.choice(EXTERNAL_IDS),
            "members": members})
        self.record("create group", r, {201, 409})
        if r.status == 201 and r.body:
            with self.lock:
                self.groups.append(r.body["id"])

    def rename_group(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        if gid:
            self.record("rename group", self.caller.patch("Groups", gid, {
                "op": "replace", "path": "displayName", "value": rng.choice(GROUP_NAMES)}),
                {204, 404, 409})

    def add_members(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        # Now and then a group as a member too (nested groups are members like users).
        pool = self.groups if rng.random() < 0.1 else self.users
        members = self.some(rng, pool, rng.randint(1, 3))
        if gid and members:
            self.record("add members", self.caller.add_members(gid, members), {204, 404})

    def remove_members(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        members = self.some(rng, self.users, rng.randint(1, 2))
        if gid and members:
            self.record("remove members", self.caller.patch("Groups", gid, *[
                {"op": "remove", "path": f'members[value eq "{m}"]'} for m in members]),
                {204, 404})

    def replace_members(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        if gid:
            members = self.some(rng, self.users, rng.randint(0, 4))
            self.record("replace members", self.caller.patch("Groups", gid, {
                "op": "replace", "path": "members", "value": [{"value": m} for m in members]}),
                {204, 404})

    def put_group(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        if gid:
            members = self.some(rng, self.users, rng.randint(0, 3))
            self.record("put group", self.caller.call("PUT", "Groups", gid, {
                "displayName": rng.choice(GROUP_NAMES),
                "members": [{"value": m} for m in members]}), {200, 404, 409})

    def delete_group(self, rng: random.Random) -> None:
        gid = self.one(rng, self.groups)
        if gid:
            self.record("delete group", self.caller.call("DELETE", "Groups", gid), {204, 404})

    def mix(self) -> list[tuple[Callable[[random.Random], None], int]]:
        return [(self.create_user, 14), (self.rename_user, 10), (self.put_user, 6),
                (self.deactivate_user, 4), (self.delete_user, 8), (self.create_group, 6),
                (self.rename_group, 5), (self.add_members, 16), (self.remove_members, 8),
                (self.replace_members, 5), (self.put_group, 3), (self.delete_group, 4)]

    def worker(self, n: int, count: int) -> None:
        rng = random.Random(self.seed * 1000 + n)  # a reproducible draw per thread
        operations, weights = zip(*self.mix(), strict=True)
        for operation in rng.choices(operations, weights, k=count):
            operation(rng)


def test_random_interleavings_leave_no_invariant_broken(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    seed = int(os.environ.get("SCIM_STRESS_SEED") or random.SystemRandom().randrange(10**6))
    driver = Driver(Caller(scim_service, *tenant), seed)
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(driver.worker, n, OPERATIONS // THREADS)
                       for n in range(THREADS)]:
            future.result()
    done = sum(driver.outcomes.values())
    figures.FIGURES["concurrent random operations (one run)"] = done
    context = f"seed {seed} (rerun with SCIM_STRESS_SEED={seed}); outcomes {dict(driver.outcomes)}"
    assert not driver.unexpected, (context, driver.unexpected[:10])
    assert done >= OPERATIONS * 0.95, context  # only draws from an empty pool are skipped
    found = invariants.check(scim_service.directory, tenant[0], indexer=stored_indexes)
    assert not found, (context, [str(v) for v in found])
    # And as Entra sees it: every userName and displayName leads to the one resource holding it.
    caller = driver.caller
    for resource, attribute, names in (("Users", "userName", USER_NAMES),
                                       ("Groups", "displayName", GROUP_NAMES)):
        for name in names:
            for rid in caller.matches(resource, attribute, name):
                r = caller.call("GET", resource, rid)
                assert r.status == 200, context
                assert r.body is not None
                assert r.body[attribute] == name, context
