"""Storage that hangs: Azurite frozen with SIGSTOP accepts connections (the kernel completes
them) and never answers. Every SCIM request then answers 503 + Retry-After by its storage
deadline (SCIM_STORAGE_DEADLINE_SECONDS, short here) and /health 503 "unreachable" within its
own ~2 s; after SIGCONT the same requests succeed on the same service (no restart), and the
store invariants hold.

This module runs its own Azurite, so a frozen one cannot hold any other test. Each request
runs on a thread joined with the bound, so a request that does hang fails the test at once
(the process is always continued in a `finally`, which lets such a thread finish)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import azurite  # tools/, on sys.path via tests/conftest.py
import httpx
import pytest

from shared.auth.tenants import issue_token, new_tenant_id
from shared.scim.errors import ERROR_SCHEMA
from shared.service.app import ScimService
from shared.service.kinds import stored_indexes
from shared.service.messages import ScimRequest, ScimResponse
from shared.settings import Settings
from shared.store import connection, invariants
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.conftest import ROOT

DEADLINE = 2.0  # SCIM_STORAGE_DEADLINE_SECONDS of this module (default 10)
REQUEST_BOUND = DEADLINE + 3.0
HEALTH_BOUND = 3.0
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Hung:
    service: ScimService
    process: subprocess.Popen[bytes]
    tenant: str
    token: str

    @contextmanager
    def frozen(self) -> Iterator[None]:
        os.killpg(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self.process.pid, signal.SIGCONT)

    def request(self, method: str, resource: str, rid: str | None = None, body: Any = None,
                params: dict[str, str] | None = None) -> ScimRequest:
        return ScimRequest(method, self.tenant, resource, rid, params=params or {},
                           headers={"authorization": f"Bearer {self.token}",
                                    "content-type": "application/scim+json"},
                           body=json.dumps(body).encode() if body is not None else b"")

    def ok(self, method: str, resource: str, rid: str | None = None,
           body: Any = None) -> dict[str, Any]:
        r = self.service.handle(self.request(method, resource, rid, body))
        assert r.status < 300, (r.status, r.body)
        return r.body or {}

    def user(self) -> str:
        n = uuid.uuid4().hex[:10]
        return str(self.ok("POST", "Users", body={"userName": f"u{n}@example.com"})["id"])


@pytest.fixture(scope="module")
def hung(app_env: dict[str, str]) -> Iterator[Hung]:
    log = ROOT / ".pytest_cache" / "azurite-hang.log"
    with azurite.process(log=log) as (conn, process):
        try:
            settings = Settings(storage_connection_string=conn, storage_deadline_seconds=DEADLINE,
                                public_base_url=app_env["SCIM_PUBLIC_BASE_URL"])
            tables = connection.open_tables(settings)
            tables.ensure()
            service = ScimService(settings, tables)
            record = Tenant(id=new_tenant_id(), name="hang", created=now_iso())
            token = issue_token(record)
            service.tenants.create(record)
            yield Hung(service, process, record.id, token)
        finally:
            os.killpg(process.pid, signal.SIGCONT)  # never leave it stopped: it must exit


def _bounded(call: Callable[[], Any], bound: float) -> tuple[Any, float]:
    """call()'s result and duration; fails when it has not returned within `bound`."""
    out: list[Any] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(bound)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"no answer within {bound} s"
    assert out, "the call raised (see the thread's traceback)"
    return out[0], elapsed


def _assert_503(r: ScimResponse) -> None:
    assert r.status == 503, (r.status, r.body)
    assert r.headers.get("Retry-After"), r.headers
    assert r.body is not None
    assert r.body["schemas"] == [ERROR_SCHEMA]


def _wait_until_healthy(service: ScimService, within: float = 30.0) -> None:
    """Azurite first works through what queued up while it was stopped."""
    stop = time.monotonic() + within
    while service.health()[0] != 200:
        assert time.monotonic() < stop, "storage did not come back"
        time.sleep(0.2)


def test_requests_and_health_answer_by_the_deadline_while_storage_hangs(hung: Hung) -> None:
    readable, patched, deleted = hung.user(), hung.user(), hung.user()
    group = str(hung.ok("POST", "Groups", body={
        "displayName": f"g{uuid.uuid4().hex[:10]}", "members": [{"value": readable}]})["id"])
    newcomer = {"userName": f"new{uuid.uuid4().hex[:10]}@example.com", "active": True}
    rename = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": "Engineer"}]}
    add_member = {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": patched}]}]}
    requests: dict[str, Callable[[], ScimRequest]] = {
        "GET": lambda: hung.request("GET", "Users", readable),
        "POST": lambda: hung.request("POST", "Users", body=newcomer),
        "PATCH": lambda: hung.request("PATCH", "Users", patched, rename),
        "member PATCH": lambda: hung.request("PATCH", "Groups", group, add_member),
        "DELETE": lambda: hung.request("DELETE", "Users", deleted),
        "filter": lambda: hung.request("GET", "Users", params={
            "filter": f'userName eq "{newcomer["userName"]}"'}),
    }
    with hung.frozen():
        for name, make in requests.items():
            if name == "GET":  # one request also authenticates against the frozen storage
                hung.service.auth.forget(hung.tenant)
            response, elapsed = _bounded(lambda m=make: hung.service.handle(m()),
                                         REQUEST_BOUND)
            _assert_503(response)
            assert elapsed <= REQUEST_BOUND, (name, elapsed)
        (status, body), elapsed = _bounded(hung.service.health, HEALTH_BOUND)
        assert status == 503, body
        assert body["storage"].startswith("unreachable"), body
        assert elapsed <= HEALTH_BOUND

    # Thawed: the same service answers the same requests (no restart).
    _wait_until_healthy(hung.service)
    assert hung.service.handle(requests["GET"]()).status == 200
    # The POST sent while frozen may have been applied once storage resumed: then the
    # retry is a uniqueness conflict, and either way exactly one such user exists.
    assert hung.service.handle(requests["POST"]()).status in (201, 409)
    found = hung.service.handle(requests["filter"]()).body or {}
    assert found["totalResults"] == 1, found
    assert hung.ok("PATCH", "Users", patched, rename)["title"] == "Engineer"
    assert hung.service.handle(requests["member PATCH"]()).status == 204
    assert hung.service.handle(requests["DELETE"]()).status == 204
    assert hung.service.handle(requests["GET"]()).status == 200
    members = {m["value"] for m in hung.ok("GET", "Groups", group).get("members", [])}
    assert members == {readable, patched}
    # Nothing half-written (journals are the reconciler's to finish; none are left here).
    hung.service.directory.complete_pending(hung.tenant)
    found_violations = invariants.check(hung.service.directory, hung.tenant, indexer=stored_indexes)
    assert not found_violations, [str(v) for v in found_violations]


def test_served_app_answers_by_the_deadline_while_storage_hangs(
        hung: Hung, served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP through function_app (the local Functions host), with this module's service
    behind it."""
    from shared.adapter import runtime

    monkeypatch.setattr(runtime, "_service", hung.service)
    uid = hung.user()
    headers = {"Authorization": f"Bearer {hung.token}"}
    with httpx.Client(base_url=served, headers=headers, timeout=REQUEST_BOUND + 5) as http:
        url = f"/scim/v2/{hung.tenant}/Users/{uid}"
        with hung.frozen():
            started = time.monotonic()
            r = http.get(url)
            elapsed = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After"), r.headers
            assert elapsed <= REQUEST_BOUND
            started = time.monotonic()
            h = http.get("/health", timeout=HEALTH_BOUND + 5)
            elapsed = time.monotonic() - started
            assert h.status_code == 503
            assert h.json()["storage"].startswith("unreachable")
            assert elapsed <= HEALTH_BOUND
        _wait_until_healthy(hung.service)
        assert http.get(url).status_code == 200
        assert http.get("/health").status_code == 200
