"""shared/admin/__main__.py, the operator CLI, run in-process through `main(argv)` against
Azurite: tenants (create, list, disable/enable, jwt-enable/-disable), tokens (add, list,
revoke), the feed commands it hands on, where it reads its settings from - and every mistake
an operator can make ends with an exit status and a message that says what to do, never a
traceback. (tests/e2e/test_admin_cli.py runs it as a subprocess against the served app.)"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.settings import from_environ
from shared.store.tenants import Tenant

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def created(cli: Any, name: str = "Contoso") -> dict[str, str]:
    run = cli("tenant", "create", name, "--json")
    assert run.code == 0, run.err
    return dict(run.json())


def record(service: ScimService, tenant_id: str) -> Tenant:
    found = service.tenants.get(tenant_id)
    assert found is not None
    return found


def status_with(service: ScimService, tenant_id: str, token: str) -> int:
    service.auth.forget(tenant_id)  # this process's 30 s cache: the CLI changed the record
    return service.handle(ScimRequest("GET", tenant_id, "Users", headers={
        "authorization": f"Bearer {token}"})).status


# --------------------------------------------------------------------------------------------
# Tenants
# --------------------------------------------------------------------------------------------


def test_tenant_create_prints_the_url_and_a_working_token(cli: Any,
                                                         scim_service: ScimService) -> None:
    run = cli("tenant", "create", "Fabrikam")
    assert run.code == 0, run.err
    lines = dict(line.split(": ", 1) for line in run.out.splitlines())
    assert set(lines) == {"tenant_id", "tenant_url", "token"}
    tenant_id = lines["tenant_id"]
    assert lines["tenant_url"] == scim_service.settings.tenant_url(tenant_id)
    assert record(scim_service, tenant_id).name == "Fabrikam"
    assert status_with(scim_service, tenant_id, lines["token"]) == 200


def test_tenant_create_json(cli: Any, scim_service: ScimService) -> None:
    info = created(cli)
    assert set(info) == {"tenant_id", "name", "tenant_url", "token", "token_id", "created"}
    assert info["token"].startswith("scim_")
    assert record(scim_service, info["tenant_id"]).tokens[0].id == info["token_id"]
    assert [t.prefix for t in record(scim_service, info["tenant_id"]).tokens] == [
        info["token"][: len(record(scim_service, info["tenant_id"]).tokens[0].prefix)]]


def test_tenant_list_disable_and_enable(cli: Any, scim_service: ScimService) -> None:
    info = created(cli, "Listed Co")
    tenant_id = info["tenant_id"]

    def listed() -> str:
        run = cli("tenant", "list")
        assert run.code == 0
        (line,) = [ln for ln in run.out.splitlines() if ln.startswith(tenant_id)]
        return line

    assert listed().split() == [tenant_id, "active", "tokens=1", "Listed", "Co",
                                info["tenant_url"]]
    assert cli("tenant", "disable", tenant_id).out == f"tenant {tenant_id} disabled\n"
    assert record(scim_service, tenant_id).disabled
    assert listed().split()[1] == "disabled"
    assert status_with(scim_service, tenant_id, info["token"]) == 401
    assert cli("tenant", "enable", tenant_id).out == f"tenant {tenant_id} enabled\n"
    assert not record(scim_service, tenant_id).disabled
    assert status_with(scim_service, tenant_id, info["token"]) == 200


@pytest.mark.parametrize("given", [GUID, GUID.upper(), "{" + GUID + "}", GUID.replace("-", "")])
def test_jwt_enable_takes_the_entra_tenant_id_in_any_guid_spelling(
        cli: Any, scim_service: ScimService, given: str) -> None:
    tenant_id = created(cli)["tenant_id"]
    run = cli("tenant", "jwt-enable", tenant_id, given)
    assert run.code == 0, run.err
    assert run.out == (f"tenant {tenant_id}: Entra-issued JWTs accepted for Entra tenant "
                       f"{GUID}\n")
    assert record(scim_service, tenant_id).entra_tenant_id == GUID
    run = cli("tenant", "jwt-disable", tenant_id)
    assert run.out == f"tenant {tenant_id}: Entra-issued JWTs not accepted\n"
    assert record(scim_service, tenant_id).entra_tenant_id is None


@pytest.mark.parametrize("given", ["not-a-guid", "contoso.onmicrosoft.com", ""])
def test_jwt_enable_refuses_what_is_not_a_tenant_id(cli: Any, scim_service: ScimService,
                                                    given: str) -> None:
    tenant_id = created(cli)["tenant_id"]
    run = cli("tenant", "jwt-enable", tenant_id, given)
    assert run.code == 1
    assert f"error: {given!r} is not an Entra tenant id" in run.err
    assert "Overview > Tenant ID" in run.err
    assert record(scim_service, tenant_id).entra_tenant_id is None


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


def test_token_add_issues_a_second_working_token_and_no_third(
        cli: Any, scim_service: ScimService) -> None:
    info = created(cli)
    tenant_id = info["tenant_id"]
    run = cli("token", "add", tenant_id, "--json")
    assert run.code == 0, run.err
    second = run.json()
    assert set(second) == {"tenant_id", "tenant_url", "token", "token_id", "prefix", "created"}
    assert second["token"].startswith(second["prefix"])
    assert second["token"] != info["token"]
    assert [t.id for t in record(scim_service, tenant_id).tokens][-1] == second["token_id"]
    assert status_with(scim_service, tenant_id, second["token"]) == 200
    assert status_with(scim_service, tenant_id, info["token"]) == 200
    third = cli("token", "add", tenant_id)
    assert third.code == 1
    assert "already has two active tokens; revoke one first" in third.err
    assert third.out == ""  # no token printed that was never stored
    assert len(record(scim_service, tenant_id).tokens) == 2


def test_token_list_shows_prefixes_and_last_use_never_a_token(
        cli: Any, scim_service: ScimService) -> None:
    info = created(cli)
    tenant_id = info["tenant_id"]
    second = cli("token", "add", tenant_id, "--json").json()
    assert status_with(scim_service, tenant_id, second["token"]) == 200  # records its use
    rows = cli("token", "list", tenant_id, "--json").json()
    by_id = {r["token_id"]: r for r in rows}
    assert set(by_id) == {t.id for t in record(scim_service, tenant_id).tokens}
    assert by_id[second["token_id"]]["last_used"]
    (first_id,) = set(by_id) - {second["token_id"]}
    assert by_id[first_id]["last_used"] is None
    assert second["token"].startswith(by_id[second["token_id"]]["prefix"])
    text = cli("token", "list", tenant_id).out
    assert f"{first_id}  {by_id[first_id]['prefix']}…  created " in text
    assert "last used never" in text
    assert info["token"] not in text
    assert second["token"] not in text
    only = cli("token", "list", tenant_id, "--prefix", second["token"][:12], "--json").json()
    assert [r["token_id"] for r in only] == [second["token_id"]]


def test_token_revoke_ends_that_token_only(cli: Any, scim_service: ScimService) -> None:
    info = created(cli)
    tenant_id = info["tenant_id"]
    second = cli("token", "add", tenant_id, "--json").json()
    first_id = record(scim_service, tenant_id).tokens[0].id
    run = cli("token", "revoke", tenant_id, first_id)
    assert run.code == 0, run.err
    assert f"revoked token {first_id} of tenant {tenant_id}" in run.out
    assert [t.id for t in record(scim_service, tenant_id).tokens] == [second["token_id"]]
    assert status_with(scim_service, tenant_id, info["token"]) == 401
    assert status_with(scim_service, tenant_id, second["token"]) == 200


def test_revoking_an_unknown_token_changes_nothing(cli: Any, scim_service: ScimService) -> None:
    tenant_id = created(cli)["tenant_id"]
    run = cli("token", "revoke", tenant_id, "deadbeef")
    assert run.code == 1
    assert f"error: tenant {tenant_id} has no token 'deadbeef'" in run.err
    assert len(record(scim_service, tenant_id).tokens) == 1


# --------------------------------------------------------------------------------------------
# The feed commands go through the same entry point
# --------------------------------------------------------------------------------------------


def test_webhook_configuration_through_main(cli: Any, scim_service: ScimService) -> None:
    tenant_id = created(cli)["tenant_id"]
    url = "https://hooks.contoso.example/scim"
    run = cli("webhook", "set", tenant_id, url, "--json")
    assert run.code == 0, run.err
    assert run.json()["url"] == url
    assert record(scim_service, tenant_id).webhook_url == url
    assert cli("webhook", "clear", tenant_id).code == 0
    assert record(scim_service, tenant_id).webhook_url is None


# --------------------------------------------------------------------------------------------
# Mistakes: an exit status and what to do
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["tenant", "disable", "{t}"], ["tenant", "enable", "{t}"], ["tenant", "jwt-disable", "{t}"],
    ["tenant", "jwt-enable", "{t}", GUID], ["token", "add", "{t}"], ["token", "list", "{t}"],
    ["token", "revoke", "{t}", "abc"], ["webhook", "show", "{t}"]])
def test_an_unknown_tenant_points_to_tenant_list(cli: Any, argv: list[str]) -> None:
    run = cli(*(a.replace("{t}", "nope0000") for a in argv))
    assert run.code == 1
    assert run.err.startswith("error: no tenant 'nope0000'; ")
    assert "`python -m shared.admin tenant list`" in run.err
    assert run.err.count("\n") == 1
    assert run.out == ""


@pytest.mark.parametrize(("argv", "says"), [
    ([], "the following arguments are required: area"),
    (["tenants", "list"], "invalid choice: 'tenants'"),
    (["tenant"], "the following arguments are required: action"),
    (["tenant", "frobnicate"], "invalid choice: 'frobnicate'"),
    (["tenant", "create"], "the following arguments are required: name"),
    (["token", "revoke", "t1"], "the following arguments are required: token_id"),
    (["tenant", "jwt-enable", "t1"], "the following arguments are required: entra_tenant_id"),
    (["token", "list", "t1", "--since", "1h"], "unrecognized arguments: --since 1h"),
])
def test_bad_arguments_exit_2_with_the_usage(cli: Any, argv: list[str], says: str) -> None:
    run = cli(*argv)
    assert run.code == 2
    assert run.err.startswith("usage: python -m shared.admin")
    assert says in run.err
    assert "Traceback" not in run.err


def test_help_lists_the_commands(cli: Any) -> None:
    run = cli("--help")
    assert run.code == 0
    for command in ("tenant create NAME", "tenant jwt-enable TENANT ENTRA_TENANT_ID",
                    "token revoke TENANT TOKEN_ID", "tenant show TENANT",
                    "webhook set|types|show|clear|test", "deadletter list|show|replay",
                    "reconcile run", "Every command has --help and --json"):
        assert command in run.out


# --------------------------------------------------------------------------------------------
# Settings and storage
# --------------------------------------------------------------------------------------------


def test_the_admin_cli_reports_an_unusable_setting_without_a_traceback(
        cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    monkeypatch.setenv("SCIM_WEBHOOK_MAX_ATTEMPTS", "lots")
    run = cli("tenant", "list")
    assert run.code == 1
    assert run.err.startswith("error: Invalid app settings:")
    assert "SCIM_WEBHOOK_MAX_ATTEMPTS='lots'" in run.err


@pytest.fixture
def without_storage_settings(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> dict[str, str]:
    """No storage variable in the environment, in a directory of the test's own."""
    monkeypatch.delenv("SCIM_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("SCIM_STORAGE_TABLE_ENDPOINT", raising=False)
    monkeypatch.delenv("SCIM_PUBLIC_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return app_env


@pytest.mark.app_connection_string
def test_settings_come_from_local_settings_json_when_the_environment_has_none(
        cli: Any, without_storage_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        scim_service: ScimService) -> None:
    Path("local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": {
        "SCIM_STORAGE_CONNECTION_STRING":
            without_storage_settings["SCIM_STORAGE_CONNECTION_STRING"],
        "SCIM_PUBLIC_BASE_URL": "https://from-file.example", "SCIM_MAX_RESULTS": 50}}))
    info = created(cli)
    assert info["tenant_url"] == f"https://from-file.example/scim/v2/{info['tenant_id']}"
    assert record(scim_service, info["tenant_id"]).name == "Contoso"  # in the file's storage
    monkeypatch.setenv("SCIM_PUBLIC_BASE_URL", "https://from-env.example")
    assert created(cli)["tenant_url"].startswith("https://from-env.example/")  # env wins


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"Values": [1]}'])
def test_an_unreadable_local_settings_json_is_an_error_message(
        cli: Any, without_storage_settings: dict[str, str], text: str) -> None:
    Path("local.settings.json").write_text(text)
    run = cli("tenant", "list")
    assert run.code == 1
    assert run.err.startswith("error: local.settings.json is not a readable settings file")
    assert "local.settings.example.json" in run.err


@pytest.mark.app_connection_string
def test_unreachable_storage_is_an_error_message(cli: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on: connections are refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = os.environ["SCIM_STORAGE_CONNECTION_STRING"]
    dead = ";".join(f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
                    if p.startswith("TableEndpoint=") else p for p in conn.split(";"))
    assert from_environ({"SCIM_STORAGE_CONNECTION_STRING": dead})  # a usable setting
    monkeypatch.setenv("SCIM_STORAGE_CONNECTION_STRING", dead)
    for argv in (["tenant", "list"], ["tenant", "create", "X"], ["webhook", "show", "t1"]):
        run = cli(*argv)
        assert run.code == 1
        assert run.err.startswith("error: storage did not answer")
        assert "SCIM_STORAGE_CONNECTION_STRING" in run.err
        assert run.out == ""


def test_an_unusable_connection_string_is_an_error_message(
        cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_STORAGE_CONNECTION_STRING", "AccountName=only")
    run = cli("tenant", "list")
    assert run.code == 1
    assert run.err.startswith("error: SCIM_STORAGE_CONNECTION_STRING needs AccountName and "
                              "AccountKey")
