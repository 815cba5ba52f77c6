"""Token rotation with the admin CLI, as documented: `token add` a second token, `token list`
shows each by prefix with its last use, `token revoke` ends the old one - with no downtime.
"Last use" costs no write per request: at most one per token per hour and instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth.authenticator import USE_RECORD_INTERVAL, Authenticator
from shared.auth.tenants import issue_token
from shared.store.tenants import Tenant
from shared.timestamps import now_iso

ROOT = Path(__file__).resolve().parents[2]


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.admin", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.served
def test_add_list_by_prefix_and_last_use_then_revoke(served: str, app_env: dict[str, str],
                                                     scim_service: Any) -> None:
    created = json.loads(admin(app_env, "tenant", "create", "Rotation", "--json").stdout)
    tenant_id, old = created["tenant_id"], created["token"]
    added = json.loads(admin(app_env, "token", "add", tenant_id, "--json").stdout)
    new, new_id = added["token"], added["token_id"]
    url = f"{created['tenant_url']}/Users"

    assert httpx.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200
    listed = json.loads(admin(app_env, "token", "list", tenant_id, "--json").stdout)
    assert len(listed) == 2
    by_id = {row["token_id"]: row for row in listed}
    assert by_id[new_id]["prefix"] == new[: len(by_id[new_id]["prefix"])]
    assert by_id[new_id]["last_used"]  # recorded when the auth cache was filled
    old_id = next(i for i in by_id if i != new_id)
    assert by_id[old_id]["last_used"] is None  # never used
    for row in listed:  # the listing never shows a usable token
        assert len(row["prefix"]) < 16
        assert row["prefix"] not in (old, new)

    only = json.loads(admin(app_env, "token", "list", tenant_id, "--prefix", new[:11],
                            "--json").stdout)
    assert [r["token_id"] for r in only] == [new_id]
    text = admin(app_env, "token", "list", tenant_id).stdout
    assert "last used never" in text
    assert new not in text
    assert old not in text

    revoked = admin(app_env, "token", "revoke", tenant_id, old_id)
    assert revoked.returncode == 0, revoked.stderr
    scim_service.auth.forget(tenant_id)  # the 30 s cache of this instance, expired now
    assert httpx.get(url, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200


@pytest.mark.served
def test_jwt_acceptance_is_switched_per_tenant(app_env: dict[str, str], scim_service: Any) -> None:
    tenant_id = json.loads(admin(app_env, "tenant", "create", "Jwt", "--json").stdout)[
        "tenant_id"]
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert admin(app_env, "tenant", "jwt-enable", tenant_id, tid).returncode == 0
    assert scim_service.tenants.get(tenant_id).entra_tenant_id == tid
    bad = admin(app_env, "tenant", "jwt-enable", tenant_id, "not-a-guid")
    assert bad.returncode != 0
    assert "Tenant ID" in bad.stderr
    assert admin(app_env, "tenant", "jwt-disable", tenant_id).returncode == 0
    assert scim_service.tenants.get(tenant_id).entra_tenant_id is None


def test_last_use_is_written_at_most_hourly_per_token() -> None:
    """Two hours of traffic, a request a second: the cache is filled every 30 s, last use is
    recorded twice (once per hour), never per request."""
    record = Tenant(id="t1", name="t", created=now_iso())
    token = issue_token(record)
    writes: list[tuple[str, str]] = []
    loads: list[str] = []
    clock = [0.0]

    def load(tenant_id: str) -> Tenant:
        loads.append(tenant_id)
        return record

    auth = Authenticator(load, clock=lambda: clock[0],
                         record_use=lambda t, k, when: writes.append((t, k)))
    for second in range(2 * 3600):
        clock[0] = float(second)
        auth.authenticate("t1", f"Bearer {token}")
    assert len(loads) == 2 * 3600 // 30
    assert writes == [("t1", record.tokens[0].id)] * int(2 * 3600 / USE_RECORD_INTERVAL)


def test_a_failing_last_use_write_does_not_fail_the_request() -> None:
    record = Tenant(id="t1", name="t", created=now_iso())
    token = issue_token(record)

    def broken(*_: Any) -> None:
        raise RuntimeError("storage down")

    auth = Authenticator(lambda _: record, record_use=broken)
    assert auth.authenticate("t1", f"Bearer {token}") is record
