"""The scripted operator interface, exactly as documented:
`.venv/bin/python -m shared.admin tenant create NAME --json`, then the printed Tenant URL and
token work against the served app; token rotation and revocation behave."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.served


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.admin", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=False)


def test_tenant_create_json_then_connect(served: str, app_env: dict[str, str]) -> None:
    run = admin(app_env, "tenant", "create", "Contoso", "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert set(info) == {"tenant_id", "name", "tenant_url", "token", "token_id", "created"}
    assert info["tenant_url"] == f"{app_env['SCIM_PUBLIC_BASE_URL']}/scim/v2/{info['tenant_id']}"
    assert info["token"].startswith("scim_")
    assert len(info["token"]) >= 5 + 43  # 256 random bits, base64url
    auth = {"Authorization": f"Bearer {info['token']}"}
    r = httpx.get(f"{info['tenant_url']}/Users", params={"filter": 'userName eq "x"'},
                  headers=auth)
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0


def test_token_rotation_and_revocation(served: str, app_env: dict[str, str],
                                       scim_service: object) -> None:
    info = json.loads(admin(app_env, "tenant", "create", "Rotate", "--json").stdout)
    tenant = info["tenant_id"]
    second = json.loads(admin(app_env, "token", "add", tenant, "--json").stdout)
    assert second["token"] != info["token"]
    listing = admin(app_env, "token", "list", tenant).stdout
    assert info["token"] not in listing  # only ids and short prefixes are ever shown
    assert second["token"] not in listing
    assert len(listing.strip().splitlines()) == 2
    third = admin(app_env, "token", "add", tenant)
    assert third.returncode != 0
    assert "revoke one first" in third.stderr
    first_id = listing.split()[0]
    assert admin(app_env, "token", "revoke", tenant, first_id).returncode == 0
    # The served process caches successful checks for 30 s; a fresh process sees the change.
    scim_service.auth.forget(tenant)  # type: ignore[attr-defined]
    url = f"{info['tenant_url']}/Users"
    assert httpx.get(url, headers={"Authorization": f"Bearer {info['token']}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization":
                                   f"Bearer {second['token']}"}).status_code == 200


def test_tenant_disable_blocks_requests(served: str, app_env: dict[str, str],
                                        scim_service: object) -> None:
    info = json.loads(admin(app_env, "tenant", "create", "Paused", "--json").stdout)
    assert admin(app_env, "tenant", "disable", info["tenant_id"]).returncode == 0
    scim_service.auth.forget(info["tenant_id"])  # type: ignore[attr-defined]
    r = httpx.get(f"{info['tenant_url']}/Users",
                  headers={"Authorization": f"Bearer {info['token']}"})
    assert r.status_code == 401
    assert info["tenant_id"] in admin(app_env, "tenant", "list").stdout


def test_unknown_tenant_is_an_actionable_error(app_env: dict[str, str]) -> None:
    run = admin(app_env, "token", "list", "nope")
    assert run.returncode != 0
    assert "tenant list" in run.stderr


def test_custom_attribute_commands(app_env: dict[str, str]) -> None:
    """The documented path (docs/entra-admin.md): declare Microsoft's example extension, see
    it listed, set the policy, withdraw it; mistakes are one line on stderr."""
    custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
    example = "schemas/examples/custom-extension-name.json"
    tenant = json.loads(admin(app_env, "tenant", "create", "Custom", "--json").stdout)[
        "tenant_id"]
    added = admin(app_env, "schema", "add", tenant, example)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"tenant {tenant}: declared {custom} for User")
    assert f"{custom}:CustomAttribute" in added.stdout
    listed = json.loads(admin(app_env, "schema", "list", tenant, "--json").stdout)
    assert [(s["urn"], s["resource_type"], s["origin"]) for s in listed["schemas"]] == [
        (custom, "User", "tenant")]
    again = admin(app_env, "schema", "add", tenant, example)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "schema remove" in again.stderr
    assert json.loads(admin(app_env, "schema", "undeclared", tenant, "--json").stdout) == []
    assert admin(app_env, "schema", "policy", tenant, "reject").returncode == 0
    assert json.loads(admin(app_env, "schema", "list", tenant, "--json").stdout)[
        "undeclared_policy"] == "reject"
    assert admin(app_env, "schema", "remove", tenant, custom).returncode == 0
    gone = admin(app_env, "schema", "remove", tenant, custom)
    assert gone.returncode == 1
    assert "it declares: none" in gone.stderr


def test_oauth_client_add_then_list(app_env: dict[str, str]) -> None:
    """`client add --json` prints the secret once; `client list --json` shows the client with
    that secret's id and prefix, never the secret."""
    tenant = json.loads(admin(app_env, "tenant", "create", "OAuth", "--json").stdout)[
        "tenant_id"]
    run = admin(app_env, "client", "add", tenant, "--name", "Entra", "--expires", "2y",
                "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["token_endpoint"] == f"{app_env['SCIM_PUBLIC_BASE_URL']}/oauth2/token"
    assert info["client_id"].startswith(f"{tenant}.")
    assert info["client_secret"].startswith("scimcs_")
    listing = admin(app_env, "client", "list", tenant, "--json")
    assert listing.returncode == 0, listing.stderr
    assert info["client_secret"] not in listing.stdout
    [client] = json.loads(listing.stdout)["clients"]
    assert (client["client_id"], client["name"]) == (info["client_id"], "Entra")
    [secret] = client["secrets"]
    assert (secret["secret_id"], secret["expires"], secret["last_used"]) == (
        info["secret_id"], info["expires"], None)
    assert info["client_secret"].startswith(secret["prefix"])
    assert (secret["expired"], secret["expires_soon"]) == (False, False)
