"""Storage faults at every storage call of create, PATCH, member PATCH (small and journalled)
and delete, for each fault kind: first a counting pass finds how many storage calls the
operation makes, then for each call i the operation runs again with a fault at call i.

- one fault (`once`): the SDK's or our own bounded retries absorb it: the exact success status;
- an outage from call i on (`outage`): success, or a SCIM 503 with Retry-After;

never another 5xx. Afterwards the next request on the resource answers without a 5xx, the
store invariants hold (only the pending journal of a cut multi-chunk change may remain, and
the reconciler finishes it), and the resource is wholly in its old or its new state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.auth.tenants import issue_token, new_tenant_id
from shared.scim.errors import ERROR_SCHEMA
from shared.service.app import ScimService
from shared.service.kinds import stored_indexes
from shared.service.messages import ScimRequest, ScimResponse
from shared.store import connection, invariants, wire
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support import figures
from tests.support.storage_faults import KINDS, Injector, hooked

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BIG = 60  # members in one PATCH: 120 membership rows, more than one transaction (journalled)


@pytest.fixture(scope="module")
def service(app_env: dict[str, str]) -> Iterator[ScimService]:
    """The app's service with the storage retry back-off shortened while this module runs (the
    same retry rules and counts, milliseconds instead of seconds between attempts), so an
    outage at each of ~80 calls runs in seconds."""
    from shared.settings import current

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wire, "BACKOFF_FACTOR", 0.001)
        tables = connection.open_tables(current())
        tables.ensure()
        yield ScimService(current(), tables)


@dataclass
class Ctx:
    service: ScimService
    tenant: str
    token: str

    def call(self, method: str, resource: str, rid: str | None = None,
             body: Any = None) -> ScimResponse:
        # Forget the cached authentication so that the tenant read is storage call 1 of
        # every request: a fault there is injected too.
        self.service.auth.forget(self.tenant)
        return self.service.handle(ScimRequest(
            method, self.tenant, resource, rid,
            headers={"authorization": f"Bearer {self.token}",
                     "content-type": "application/scim+json"},
            body=json.dumps(body).encode() if body is not None else b""))

    def ok(self, method: str, resource: str, rid: str | None = None,
           body: Any = None) -> dict[str, Any]:
        r = self.call(method, resource, rid, body)
        assert r.status < 300, r.body
        return r.body or {}

    def user(self) -> str:
        n = uuid.uuid4().hex[:10]
        return str(self.ok("POST", "Users", body={
            "userName": f"u{n}@example.com", "externalId": f"x{n}",
            "emails": [{"type": "work", "value": f"u{n}@example.com"}]})["id"])

    def group(self, members: list[str]) -> str:
        return str(self.ok("POST", "Groups", body={
            "displayName": f"g{uuid.uuid4().hex[:10]}",
            "members": [{"value": m} for m in members]})["id"])

    def members(self, gid: str) -> set[str]:
        return {m["value"] for m in self.ok("GET", "Groups", gid).get("members", [])}


@dataclass
class Operation:
    """One faulted request, its success status, and what state may follow it."""

    run: Callable[[], ScimResponse]
    status: int
    # Called after the reconciler with whether the request succeeded; asserts the resource
    # is in its new state (success) or wholly in its old or new state (503).
    verify: Callable[[bool], None]


def create_user(ctx: Ctx) -> Operation:
    name = f"new{uuid.uuid4().hex[:10]}@example.com"
    body = {"userName": name, "externalId": "e", "emails": [{"type": "work", "value": name}]}

    def verify(succeeded: bool) -> None:
        found = ctx.service.handle(ScimRequest(
            "GET", ctx.tenant, "Users", params={"filter": f'userName eq "{name}"'},
            headers={"authorization": f"Bearer {ctx.token}"})).body or {}
        assert found["totalResults"] in ((1,) if succeeded else (0, 1))

    return Operation(lambda: ctx.call("POST", "Users", body=body), 201, verify)


def patch_user(ctx: Ctx) -> Operation:
    uid = ctx.user()
    before = ctx.ok("GET", "Users", uid)["userName"]
    after = f"renamed{uuid.uuid4().hex[:10]}@example.com"
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "userName", "value": after},
        {"op": "replace", "path": "title", "value": "Engineer"}]}

    def verify(succeeded: bool) -> None:
        doc = ctx.ok("GET", "Users", uid)
        assert doc["userName"] in ((after,) if succeeded else (before, after))
        assert (doc.get("title") == "Engineer") == (doc["userName"] == after)

    return Operation(lambda: ctx.call("PATCH", "Users", uid, body), 200, verify)


def member_patch(ctx: Ctx) -> Operation:
    u1, u2, u3 = ctx.user(), ctx.user(), ctx.user()
    gid = ctx.group([u1, u2])
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": u3}]},
        {"op": "remove", "path": f'members[value eq "{u1}"]'}]}

    def verify(succeeded: bool) -> None:
        now = ctx.members(gid)
        assert now == {u2, u3} if succeeded else now in ({u1, u2}, {u2, u3})

    return Operation(lambda: ctx.call("PATCH", "Groups", gid, body), 204, verify)


def big_member_patch(ctx: Ctx) -> Operation:
    gid = ctx.group([])
    # Ids this service did not issue (Entra may send such ids; they are stored as given).
    ids = [f"member-{uuid.uuid4().hex[:8]}-{n}" for n in range(BIG)]
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]}

    def verify(succeeded: bool) -> None:
        now = ctx.members(gid)
        assert now == set(ids) if succeeded else now in (set(), set(ids))

    return Operation(lambda: ctx.call("PATCH", "Groups", gid, body), 204, verify)


def delete_user(ctx: Ctx) -> Operation:
    uid, other = ctx.user(), ctx.user()
    gid = ctx.group([uid, other])

    def verify(succeeded: bool) -> None:
        gone = ctx.call("GET", "Users", uid).status == 404
        assert gone if succeeded else True
        assert ctx.members(gid) == ({other} if gone else {uid, other})

    return Operation(lambda: ctx.call("DELETE", "Users", uid), 204, verify)


OPERATIONS = {"create_user": create_user, "patch_user": patch_user,
              "member_patch": member_patch, "big_member_patch": big_member_patch,
              "delete_user": delete_user}


@pytest.fixture
def ctx(service: ScimService) -> Ctx:
    record = Tenant(id=new_tenant_id(), name="faults", created=now_iso())
    token = issue_token(record)
    service.tenants.create(record)
    return Ctx(service, record.id, token)


def _assert_answer(r: ScimResponse, expected: int, outage: bool) -> None:
    if r.status == 503 and outage:
        assert r.headers.get("Retry-After"), r.headers
        assert r.body is not None
        assert r.body["schemas"] == [ERROR_SCHEMA]
        assert r.body["status"] == "503"
        return
    assert r.status == expected, r.body


def _assert_invariants(ctx: Ctx, allow_pending: bool) -> None:
    found = invariants.check(ctx.service.directory, ctx.tenant, indexer=stored_indexes)
    if allow_pending:
        found = [v for v in found if v.kind != invariants.PENDING_CHANGE]
    assert not found, [str(v) for v in found]


@pytest.mark.parametrize("outage", [False, True], ids=["once", "outage"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_fault_at_every_storage_call(ctx: Ctx, name: str, kind: str, outage: bool) -> None:
    injector = Injector()
    with hooked(injector):
        operation = OPERATIONS[name](ctx)
        injector.arm(None)
        _assert_answer(operation.run(), operation.status, outage=False)
        calls = injector.calls
        assert calls >= 1
        figures.FIGURES[f"storage calls of {name}"] = calls
        for at in range(1, calls + 1):
            operation = OPERATIONS[name](ctx)
            injector.arm(kind, at, outage)
            response = operation.run()
            injector.arm(None)
            figures.add("faulted requests")
            figures.add("5xx other than 503 + Retry-After",
                        int(response.status >= 500 and not (
                            response.status == 503 and response.headers.get("Retry-After"))))
            _assert_answer(response, operation.status, outage)
            succeeded = response.status == operation.status
            # The next request sees a consistent resource (or a report), never a 5xx; every
            # invariant but a pending journal holds before the reconciler runs.
            _assert_invariants(ctx, allow_pending=True)
            ctx.service.directory.complete_pending(ctx.tenant)
            _assert_invariants(ctx, allow_pending=False)
            operation.verify(succeeded)
    figures.add("storage faults injected", injector.injected)
