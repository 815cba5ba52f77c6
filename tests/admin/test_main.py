"""shared/admin/__main__.py, the operator CLI, run in-process through `main(argv)` against
Azurite: tenants (create, list, disable/enable, jwt-enable/-disable), tokens (add, list,
revoke), the feed commands it hands on, where it reads its settings from - and every mistake
an operator can make ends with an exit status and a message that says what to do, never a
traceback. (tests/e2e/test_admin_cli.py runs it as a subprocess against the served app.)"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.settings import from_environ
from shared.store import connection
from shared.store.connection import DEV_ACCOUNT_KEY, open_tables
from shared.store.errors import NotFound
from shared.store.tenants import Tenant
from tests.support import storage_faults

ROOT = Path(__file__).resolve().parents[2]
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


# --------------------------------------------------------------------------------------------
# Storage that cannot be used: one line on stderr that says what to do, exit status 1, fast
# --------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused at once
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(env: dict[str, str], *argv: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                  float]:
    """`python -m shared.admin ARGV` in a process of its own, with exactly `env` (and PATH),
    from `cwd` (no local.settings.json there); its result and how long it took."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "shared.admin", *argv], cwd=cwd,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                               "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120, check=False)
    return done, time.monotonic() - started


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert done.stderr.endswith("\n"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert done.stdout == ""
    return done.stderr.rstrip("\n")


def test_storage_down_is_one_line(tmp_path: Path) -> None:
    """Azurite's connection string with nothing listening at its table port."""
    port = closed_port()
    dead = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            f"{DEV_ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    for argv in (["tenant", "list"], ["tenant", "list", "--json"], ["webhook", "show", "t1"],
                 ["tenant", "create", "X"]):
        done, took = run_cli({"SCIM_STORAGE_CONNECTION_STRING": dead, "HOME": str(tmp_path)},
                             *argv, cwd=tmp_path)
        line = one_line_error(done)
        assert line.startswith("error: storage did not answer (")
        assert "check that it is running and reachable" in line
        assert took < 60


class _MetadataEndpoint(BaseHTTPRequestHandler):
    """Answers every request 404, as a proxy in front of the instance metadata address may:
    azure-identity retries those for about half a minute. Counts what reaches it."""

    hits: list[str] = []

    def do_GET(self) -> None:
        _MetadataEndpoint.hits.append(self.path)
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_not_signed_in_is_one_line_and_fast(tmp_path: Path) -> None:
    """Against Azure (SCIM_STORAGE_TABLE_ENDPOINT, no connection string) with no credential to
    be found: no AZURE_* variable, no hosted identity (IDENTITY_ENDPOINT, MSI_ENDPOINT), a HOME
    of its own (no az, azd or PowerShell sign-in), and the metadata address pointed at a local
    endpoint that answers 404 (what makes the managed identity's probe slow): the operator's
    credential never asks it, and the command ends at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MetadataEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _MetadataEndpoint.hits.clear()
    try:
        env = {"SCIM_STORAGE_TABLE_ENDPOINT": f"https://127.0.0.1:{closed_port()}/acct",
               "HOME": str(tmp_path),
               "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{server.server_port}"}
        for client, argv in (("direct", ["tenant", "list"]),
                             ("direct", ["deadletter", "list", "t1", "--json"]),
                             ("sdk", ["tenant", "list"])):  # both storage backends
            done, took = run_cli({**env, "SCIM_STORAGE_CLIENT": client}, *argv, cwd=tmp_path)
            assert one_line_error(done) == (
                "error: not signed in to Azure: run `az login` (or set "
                "SCIM_STORAGE_CONNECTION_STRING)")
            assert took < 30
    finally:
        server.shutdown()
        server.server_close()
    assert _MetadataEndpoint.hits == []


def test_an_identity_without_the_data_role_is_told_which_role(
        cli: Any, monkeypatch: pytest.MonkeyPatch, without_storage_settings: dict[str, str]
) -> None:
    """Storage answers 403 AuthorizationPermissionMismatch to a signed-in identity that lacks
    a data role (here answered in the store's transport, as Table Storage words it)."""
    endpoint = "https://acct.table.core.windows.net"
    monkeypatch.setenv("SCIM_STORAGE_TABLE_ENDPOINT", endpoint)
    monkeypatch.setattr(connection, "_managed_identity",
                        lambda settings, operator=False: _SignedIn())
    refused = lambda request, send: storage_faults.synthesized(  # noqa: E731
        request, 403, "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.")
    with storage_faults.own_thread_hooks() as hooks:
        hooks.append(refused)
        for argv in (["tenant", "list"], ["tenant", "create", "X"], ["audit", "t1"]):
            run = cli(*argv)
            assert run.code == 1
            assert run.err == (
                "error: your identity lacks the Storage Table Data Contributor role on "
                f"{endpoint}: assign it (docs/deploy.md, \"Create the first tenant\"), then "
                "allow a few minutes for it to apply\n")


class _SignedIn:
    """An `az login` that gives a token (storage then refuses what it may do)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return SimpleNamespace(token="eyJ.token", expires_on=int(time.time()) + 3600)


@pytest.mark.app_connection_string
def test_a_wrong_account_key_says_so(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Azurite refuses a signature made with another key (403 AuthorizationFailure)."""
    conn = os.environ["SCIM_STORAGE_CONNECTION_STRING"]
    wrong = base64.b64encode(b"x" * 64).decode()
    monkeypatch.setenv("SCIM_STORAGE_CONNECTION_STRING", ";".join(
        f"AccountKey={wrong}" if p.startswith("AccountKey=") else p for p in conn.split(";")))
    run = cli("tenant", "list")
    assert (run.code, run.out) == (1, "")
    assert run.err == ("error: storage refused the account key of "
                       "SCIM_STORAGE_CONNECTION_STRING: check that it is the account's current "
                       "key\n")


# --------------------------------------------------------------------------------------------
# Only `tenant create` creates tables
# --------------------------------------------------------------------------------------------


READ_COMMANDS = [
    ["tenant", "list"], ["tenant", "list", "--json"], ["tenant", "show", "t1"],
    ["token", "list", "t1"], ["webhook", "show", "t1"], ["deadletter", "list", "t1"],
    ["audit", "t1"], ["schema", "list", "t1"], ["schema", "undeclared", "t1"],
    ["feed", "tokens", "--deployment"], ["signing-key", "list"], ["subscription", "show"],
    ["client", "list", "t1"], ["tenant", "auth", "t1"]]


def test_read_commands_create_no_table(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = "r" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("SCIM_TABLE_PREFIX", prefix)
    settings = from_environ(dict(os.environ))
    for argv in READ_COMMANDS:
        run = cli(*argv)  # nothing to read: "no such tenant", "no tables yet" or nothing
        assert run.code in (0, 1), (argv, run)
        assert run.err.count("\n") == run.code, (argv, run.err)  # a failure is one line
        assert "Traceback" not in run.err
    tables = open_tables(settings)
    for table in (tables.data, tables.tenants, tables.audit, tables.runs):
        with pytest.raises(NotFound, match="TableNotFound"):
            list(table.query_entities("PartitionKey eq 'x'"))
    created = cli("tenant", "create", "First", "--json")
    assert created.code == 0, created.err
    assert [r["tenant_id"] for r in cli("tenant", "list", "--json").json()] == [
        created.json()["tenant_id"]]
    for table in (tables.data, tables.audit, tables.runs):
        assert list(table.query_entities("PartitionKey eq 'x'")) == []


def test_before_the_first_tenant_a_read_says_to_create_it(
        cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_TABLE_PREFIX", "r" + uuid.uuid4().hex[:12])
    run = cli("tenant", "list")
    assert run.err == ("error: the tables do not exist yet: create the first tenant (`python -m "
                       "shared.admin tenant create NAME`), which creates them\n")


# --------------------------------------------------------------------------------------------
# tenant show, tenant delete
# --------------------------------------------------------------------------------------------


def test_tenant_show(cli: Any) -> None:
    info = created(cli, "Shown")
    shown = cli("tenant", "show", info["tenant_id"], "--json").json()
    assert (shown["tenant_id"], shown["name"], shown["state"], shown["webhook"]) == (
        info["tenant_id"], "Shown", "active", None)
    assert [t["token_id"] for t in shown["tokens"]] == [info["token_id"]]
    text = cli("tenant", "show", info["tenant_id"]).out
    assert f"tenant_url: {info['tenant_url']}\n" in text
    assert "webhook: none\n" in text
    assert info["token"] not in text + json.dumps(shown)


def test_tenant_delete_needs_yes_then_reports_progress_on_stderr(
        cli: Any, scim_service: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.manage import tenants

    monkeypatch.setattr(tenants, "SETTLE_SECONDS", 0.0)  # no request of these tenants is open
    info = created(cli, "Leaving")
    tenant_id = info["tenant_id"]
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "u@x.test"}
    scim_service.handle(ScimRequest("POST", tenant_id, "Users", headers={
        "authorization": f"Bearer {info['token']}", "content-type": "application/scim+json"},
        body=json.dumps(user).encode()))
    refused = cli("tenant", "delete", tenant_id)
    assert (refused.code, refused.out) == (1, "")
    assert refused.err.count("\n") == 1
    assert refused.err.startswith(f"error: `tenant delete` removes tenant {tenant_id} with all")
    assert "add --yes" in refused.err
    assert record(scim_service, tenant_id).name == "Leaving"  # untouched

    done = cli("tenant", "delete", tenant_id, "--yes")
    assert done.code == 0, done.err
    assert done.out.startswith(f"tenant {tenant_id} deleted (")
    assert done.out.count("\n") == 1
    progress = done.err.splitlines()
    assert progress[0] == f"tenant {tenant_id} marked deleting: its requests are refused"
    assert scim_service.tenants.get(tenant_id) is None
    gone = cli("tenant", "show", tenant_id)
    assert (gone.code, gone.err.startswith(f"error: no tenant '{tenant_id}'")) == (1, True)

    other = created(cli, "Leaving too")["tenant_id"]
    as_json = cli("tenant", "delete", other, "--yes", "--json")
    assert as_json.code == 0, as_json.err
    assert as_json.json()["complete"] is True
    assert as_json.json()["tenant_id"] == other


def test_every_kind_of_command_prints_one_json_document(cli: Any, tmp_path: Path) -> None:
    """The commands with --json, in an order that gives each something to act on: stdout is
    one JSON document (one line), whatever the command does."""
    info = created(cli, "Json")
    t = info["tenant_id"]
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"id": "urn:acme:json:2.0:User",
                                  "attributes": [{"name": "a"}]}))

    def doc(*argv: str) -> Any:
        run = cli(*argv, "--json")
        assert run.code == 0, (argv, run)
        assert run.out.count("\n") == 1, (argv, run.out)
        return json.loads(run.out)

    assert doc("tenant", "disable", t)["state"] == "disabled"
    assert doc("tenant", "enable", t)["state"] == "active"
    token_id = doc("token", "add", t)["token_id"]
    assert len(doc("token", "list", t)) == 2
    assert doc("token", "revoke", t, token_id) == {"tenant_id": t, "token_id": token_id,
                                                    "revoked": True}
    assert doc("webhook", "set", t, "https://hooks.contoso.example/j")["url"]
    assert doc("webhook", "types", t, "user.*")["types"] == ["user.*"]
    assert doc("webhook", "show", t)["secret_prefix"].startswith("whsec_")
    assert doc("webhook", "clear", t)["url"] is None
    assert doc("deadletter", "list", t) == []
    assert doc("deadletter", "replay", t, "--all")["replayed"] == 0
    assert isinstance(doc("audit", t), list)
    assert doc("schema", "add", t, str(schema))["urn"] == "urn:acme:json:2.0:User"
    assert [s["urn"] for s in doc("schema", "list", t)["schemas"]] == ["urn:acme:json:2.0:User"]
    assert doc("schema", "undeclared", t) == []
    assert doc("schema", "policy", t, "reject")["undeclared_policy"] == "reject"
    assert doc("schema", "remove", t, "urn:acme:json:2.0:User")["removed"] is True
    feed = doc("feed", "token", t)
    assert [r["token_id"] for r in doc("feed", "tokens", t)] == [feed["token_id"]]
    assert doc("feed", "revoke", t, feed["token_id"])["revoked"] is True
    client = doc("client", "add", t)
    assert doc("client", "list", t)["clients"][0]["client_id"] == client["client_id"]
    assert doc("client", "revoke", t, client["client_id"])["client_id"] == client["client_id"]
    assert doc("tenant", "auth", t)["auth_methods"] == ["secret-token", "oauth"]
    assert doc("tenant", "jwt-enable", t, GUID)["entra_tenant_id"] == GUID
    assert doc("tenant", "jwt-disable", t)["entra_tenant_id"] is None
    assert isinstance(doc("signing-key", "list"), list)
    assert "url" in doc("subscription", "show")
    assert doc("reconcile", "run", "--tenant", t)["tenants"] == 1
    assert t in [row["tenant_id"] for row in doc("tenant", "list")]
    assert doc("tenant", "show", t)["undeclared_policy"] == "reject"
