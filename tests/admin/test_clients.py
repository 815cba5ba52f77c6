"""shared/admin/clients.py, the OAuth commands of the operator CLI, run in-process through
`main(argv)` against Azurite: `client add` (a secret shown once that authenticates, stored as
its digest; a second for rotation, no third; `--expires`), `client federate`, `client list`
(expiry flags, last use), `client revoke`, `tenant auth` and `signing-key list|rotate` - and
every mistake is one `error:` line saying what to do, with exit status 1
(tests/e2e/test_admin_cli.py runs `client add` and `client list` as a subprocess)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import clients
from shared.auth.signing_keys import PUBLISH_LEAD
from shared.auth.tenants import issue_token
from shared.service.app import ScimService
from shared.settings import from_environ
from shared.store.connection import open_tables
from shared.store.tenants import OAuthClient, Tenant
from shared.timestamps import iso, now_iso, parse_iso
from tests.admin.conftest import Run

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ADD_FIELDS = {"tenant_id", "tenant_url", "token_endpoint", "client_id", "client_secret",
              "secret_id", "expires"}


@pytest.fixture
def tid(scim_service: ScimService, tenant_id: str) -> str:
    record = Tenant(id=tenant_id, name="Contoso", created=now_iso())
    issue_token(record)  # as `tenant create` does
    scim_service.tenants.create(record)
    return tenant_id


def stored(service: ScimService, tid: str) -> Tenant:
    record = service.tenants.get(tid)
    assert record is not None
    return record


def stored_client(service: ScimService, tid: str, client_id: str) -> OAuthClient:
    client = stored(service, tid).client(client_id)
    assert client is not None
    return client


def one_error_line(run: Run, *expected: str) -> None:
    """Exit status 1 and a single `error: …` line holding each of `expected`; no traceback."""
    assert run.code == 1, run
    assert run.err.startswith("error: "), run.err
    assert run.err.count("\n") == 1, run.err
    for text in expected:
        assert text in run.err, (text, run.err)


def added(cli: Any, tid: str, *options: str) -> dict[str, str]:
    run = cli("client", "add", tid, "--json", *options)
    assert run.code == 0, run.err
    return dict(run.json())


def authenticates(service: ScimService, tid: str, client_id: str, secret: str) -> bool:
    return clients.check_secret(stored_client(service, tid, client_id), secret,
                                datetime.now(UTC)).ok


# --------------------------------------------------------------------------------------------
# client add
# --------------------------------------------------------------------------------------------


def test_add_prints_a_secret_that_authenticates_and_stores_only_its_digest(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    before = datetime.now(UTC)
    info = added(cli, tid, "--name", "Entra gallery")
    assert set(info) == ADD_FIELDS
    settings = scim_service.settings
    assert (info["tenant_id"], info["tenant_url"], info["token_endpoint"]) == (
        tid, settings.tenant_url(tid), f"{settings.public_base_url}/oauth2/token")
    assert clients.tenant_of(info["client_id"]) == tid
    secret = info["client_secret"]
    assert secret.startswith(clients.SECRET_PREFIX)
    assert len(secret) >= len(clients.SECRET_PREFIX) + 43  # 256 random bits, base64url
    client = stored_client(scim_service, tid, info["client_id"])
    assert client.name == "Entra gallery"
    [record] = client.secrets
    assert record.id == info["secret_id"]
    assert record.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored(scim_service, tid).model_dump_json()
    assert authenticates(scim_service, tid, client.id, secret)
    assert not authenticates(scim_service, tid, client.id, secret[:-1] + "x")
    expires = parse_iso(info["expires"])
    assert before + timedelta(days=365) <= expires <= datetime.now(UTC) + timedelta(days=365)
    assert record.expires == info["expires"]


def test_add_prints_fields_for_people_and_notes_when_the_tenant_refuses_oauth(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    run = cli("client", "add", tid)
    assert run.code == 0, run.err
    lines = dict(line.split(": ", 1) for line in run.out.splitlines())
    assert set(lines) == ADD_FIELDS
    assert authenticates(scim_service, tid, lines["client_id"], lines["client_secret"])
    assert run.err == ""
    assert cli("tenant", "auth", tid, "--allow", "secret-token").code == 0
    refused = cli("client", "add", tid)
    assert refused.code == 0
    assert "does not accept OAuth" in refused.err
    assert f"tenant auth {tid} --allow secret-token,oauth" in refused.err


def test_a_second_secret_for_rotation_and_no_third(cli: Any, tid: str,
                                                   scim_service: ScimService) -> None:
    first = added(cli, tid)
    second = added(cli, tid, "--client", first["client_id"])
    assert second["client_id"] == first["client_id"]
    assert second["secret_id"] != first["secret_id"]
    assert second["client_secret"] != first["client_secret"]
    for info in (first, second):
        assert authenticates(scim_service, tid, info["client_id"], info["client_secret"])
    third = cli("client", "add", tid, "--client", first["client_id"])
    one_error_line(third, "already has 2 secrets", first["secret_id"], second["secret_id"],
                   f"client revoke {tid} {first['client_id']} --secret SECRET_ID")
    assert third.out == ""
    assert len(stored_client(scim_service, tid, first["client_id"]).secrets) == 2


def test_add_to_an_unknown_client_or_renaming_one_is_refused(cli: Any, tid: str,
                                                             scim_service: ScimService) -> None:
    one_error_line(cli("client", "add", tid, "--client", f"{tid}.0123456789abcdef"),
                   "has no client", f"client list {tid}")
    existing = added(cli, tid)["client_id"]
    one_error_line(cli("client", "add", tid, "--client", existing, "--name", "x"),
                   "--name names a new client")
    assert len(stored_client(scim_service, tid, existing).secrets) == 1


@pytest.mark.parametrize(("expires", "days"), [
    ("1d", 1), ("90d", 90), ("1y", 365), ("2Y", 730), (" 3y ", 1095), ("1095d", 1095)])
def test_expires_in_days_or_years(cli: Any, tid: str, expires: str, days: int) -> None:
    before = datetime.now(UTC)
    info = added(cli, tid, "--expires", expires)
    expiry = parse_iso(info["expires"])
    assert before + timedelta(days=days) <= expiry <= datetime.now(UTC) + timedelta(days=days)


@pytest.mark.parametrize(("expires", "says"), [
    ("0d", "is 0 days; a client secret lives 1 to 1095 days"),
    ("1096d", "is 1096 days"), ("4y", "is 1460 days"), ("99999d", "is 99999 days"),
    ("90", "write days or years as 90d or 2y"), ("d", "is not a lifetime"),
    ("1.5y", "is not a lifetime"), ("-1d", "is not a lifetime"), ("12m", "is not a lifetime"),
    ("", "is not a lifetime")])
def test_expires_out_of_bounds_or_unreadable_stores_nothing(
        cli: Any, tid: str, scim_service: ScimService, expires: str, says: str) -> None:
    one_error_line(cli("client", "add", tid, f"--expires={expires}"),
                   f"--expires {expires!r}", says)
    assert stored(scim_service, tid).clients == []


# --------------------------------------------------------------------------------------------
# client federate
# --------------------------------------------------------------------------------------------


def test_federate_creates_a_client_trusting_the_workload_identity(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    run = cli("client", "federate", tid, "--entra-tenant", GUID.upper(), "--subject",
              " 0b5c9f1e-subject ", "--audience", "api://scim-connector/.default", "--json")
    assert run.code == 0, run.err
    info = run.json()
    assert set(info) == {"tenant_id", "tenant_url", "token_endpoint", "client_id",
                         "credential"}
    assert info["credential"] == {
        "id": info["credential"]["id"],
        "issuer": f"https://login.microsoftonline.com/{GUID}/v2.0",
        "subject": "0b5c9f1e-subject", "audience": "api://scim-connector"}
    client = stored_client(scim_service, tid, info["client_id"])
    assert client.secrets == []
    assert client.federation is not None
    assert (client.federation.id, client.federation.entra_tenant_id, client.federation.subject,
            client.federation.audience) == (info["credential"]["id"], GUID,
                                            "0b5c9f1e-subject", "api://scim-connector")


def test_federate_an_existing_client_replaces_its_credential(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    info = added(cli, tid)
    args = ("client", "federate", tid, "--entra-tenant", GUID, "--audience", "api://a",
            "--client", info["client_id"])
    run = cli(*args, "--subject", "first")
    assert run.code == 0, run.err
    lines = dict(line.split(": ", 1) for line in run.out.splitlines())
    assert lines["client_id"] == info["client_id"]
    assert lines["subject"] == "first"
    assert run.err == ""
    again = cli(*args, "--subject", "second")
    assert again.code == 0, again.err
    assert f"replaced federated credential {lines['credential_id']} (subject first)" in again.err
    client = stored_client(scim_service, tid, info["client_id"])
    assert client.federation is not None
    assert client.federation.subject == "second"
    assert len(client.secrets) == 1  # the secret stays beside the federation


@pytest.mark.parametrize(("options", "says"), [
    (["--entra-tenant", "contoso.onmicrosoft.com"], "is not an Entra tenant id (a GUID"),
    (["--subject", "  "], "--subject must be one line"),
    (["--subject", "a\nb"], "--subject must be one line"),
    (["--audience", "x" * 1025], "--audience must be one line of 1 to 1024 characters"),
    (["--audience", "/.default"], "needs the subject and audience"),
    (["--client", "nope.0123456789abcdef"], "has no client 'nope.0123456789abcdef'"),
])
def test_federate_refuses_what_entra_cannot_match(cli: Any, tid: str, scim_service: ScimService,
                                                  options: list[str], says: str) -> None:
    given = {"--entra-tenant": GUID, "--subject": "s", "--audience": "api://a"}
    given.update(dict(zip(options[::2], options[1::2], strict=True)))
    one_error_line(cli("client", "federate", tid, *(x for kv in given.items() for x in kv)),
                   says)
    assert stored(scim_service, tid).clients == []


# --------------------------------------------------------------------------------------------
# client list
# --------------------------------------------------------------------------------------------


def _expire(service: ScimService, tid: str, client_id: str, secret_id: str,
            at: datetime) -> None:
    record = stored(service, tid)
    client = record.client(client_id)
    assert client is not None
    next(s for s in client.secrets if s.id == secret_id).expires = iso(at)
    service.tenants.save(record)


def test_list_shows_expiry_flags_last_use_and_federation_never_a_secret(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    soon = added(cli, tid, "--expires", "10d", "--name", "rotating")
    fine = added(cli, tid, "--client", soon["client_id"])
    other = added(cli, tid)
    _expire(scim_service, tid, other["client_id"], other["secret_id"],
            datetime.now(UTC) - timedelta(days=3, hours=1))
    fed = cli("client", "federate", tid, "--entra-tenant", GUID, "--subject", "s",
              "--audience", "api://a", "--client", other["client_id"], "--json").json()
    scim_service.tenants.record_use(tid, fine["secret_id"], "2026-12-01T10:00:00.000Z")
    scim_service.tenants.record_use(tid, fed["credential"]["id"], "2026-12-02T10:00:00.000Z")

    listed = cli("client", "list", tid, "--json").json()
    assert (listed["tenant_id"], listed["auth_methods"]) == (tid, ["secret-token", "oauth"])
    by_id = {c["client_id"]: c for c in listed["clients"]}
    assert list(by_id) == [soon["client_id"], other["client_id"]]
    rotating = by_id[soon["client_id"]]
    assert rotating["name"] == "rotating"
    assert [(s["secret_id"], s["expires_soon"], s["expired"], s["last_used"])
            for s in rotating["secrets"]] == [
        (soon["secret_id"], True, False, None),
        (fine["secret_id"], False, False, "2026-12-01T10:00:00.000Z")]
    assert 9.9 <= rotating["secrets"][0]["days_left"] <= 10
    assert rotating["secrets"][0]["prefix"] == soon["client_secret"][:13]
    assert rotating["federation"] is None
    [expired] = by_id[other["client_id"]]["secrets"]
    assert (expired["expired"], expired["expires_soon"]) == (True, False)
    assert -3.1 <= expired["days_left"] <= -3
    assert by_id[other["client_id"]]["federation"] == {
        "id": fed["credential"]["id"], "entra_tenant_id": GUID,
        "issuer": f"https://login.microsoftonline.com/{GUID}/v2.0", "subject": "s",
        "audience": "api://a", "created": by_id[other["client_id"]]["federation"]["created"],
        "last_used": "2026-12-02T10:00:00.000Z"}

    run = cli("client", "list", tid)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == (f"tenant {tid}: accepts secret-token, oauth; token endpoint "
                        f"{scim_service.settings.token_endpoint}")
    assert lines[1].startswith(f"client {soon['client_id']}  rotating  created ")
    assert lines[2].split()[:3] == ["secret", soon["secret_id"], soon["client_secret"][:13] + "…"]
    assert lines[2].endswith("10 day(s) left EXPIRES SOON  last used never")
    assert lines[3].endswith("last used 2026-12-01T10:00:00.000Z")
    assert "EXPIRES SOON" not in lines[3]
    assert lines[5].split()[1] == other["secret_id"]
    assert "EXPIRED 3 day(s) ago" in lines[5]
    assert lines[6] == (f"  federation {fed['credential']['id']}  issuer "
                        f"https://login.microsoftonline.com/{GUID}/v2.0  subject s  audience "
                        "api://a  last used 2026-12-02T10:00:00.000Z")
    for secret in (soon, fine, other):
        assert secret["client_secret"] not in run.out + json.dumps(listed)


def test_list_of_a_tenant_without_clients_says_how_to_add_one(cli: Any, tid: str) -> None:
    run = cli("client", "list", tid)
    assert run.out.splitlines()[1] == f"no OAuth clients; add one: python -m shared.admin " \
                                      f"client add {tid}"
    assert cli("client", "list", tid, "--json").json()["clients"] == []


# --------------------------------------------------------------------------------------------
# client revoke
# --------------------------------------------------------------------------------------------


def test_revoke_one_secret_keeps_the_other(cli: Any, tid: str,
                                           scim_service: ScimService) -> None:
    first = added(cli, tid)
    second = added(cli, tid, "--client", first["client_id"])
    run = cli("client", "revoke", tid, first["client_id"], "--secret", first["secret_id"])
    assert run.code == 0, run.err
    assert run.out.startswith(f"revoked secret {first['secret_id']} of client "
                              f"{first['client_id']} (tenant {tid}): the token endpoint "
                              "refuses it at once")
    assert not authenticates(scim_service, tid, first["client_id"], first["client_secret"])
    assert authenticates(scim_service, tid, first["client_id"], second["client_secret"])
    one_error_line(cli("client", "revoke", tid, first["client_id"], "--secret",
                       first["secret_id"]), f"has no secret {first['secret_id']!r}",
                   f"its secrets: {second['secret_id']}")
    last = cli("client", "revoke", tid, first["client_id"], "--secret", second["secret_id"])
    assert last.code == 0
    assert f"client {first['client_id']} has no credential left" in last.err
    assert stored_client(scim_service, tid, first["client_id"]).secrets == []


def test_revoke_the_federation_or_the_whole_client(cli: Any, tid: str,
                                                   scim_service: ScimService) -> None:
    info = added(cli, tid)
    client_id = info["client_id"]
    one_error_line(cli("client", "revoke", tid, client_id, "--federation"),
                   "has no federated credential")
    assert cli("client", "federate", tid, "--entra-tenant", GUID, "--subject", "s",
               "--audience", "api://a", "--client", client_id).code == 0
    run = cli("client", "revoke", tid, client_id, "--federation")
    assert run.code == 0, run.err
    assert run.out.startswith("revoked federated credential ")
    client = stored_client(scim_service, tid, client_id)
    assert (client.federation, len(client.secrets)) == (None, 1)
    whole = cli("client", "revoke", tid, client_id)
    assert whole.code == 0, whole.err
    assert whole.out.startswith(f"revoked client {client_id} (tenant {tid})")
    assert stored(scim_service, tid).clients == []
    one_error_line(cli("client", "revoke", tid, client_id), f"has no client {client_id!r}")
    usage = cli("client", "revoke", tid, client_id, "--secret", "x", "--federation")
    assert usage.code == 2
    assert "not allowed with argument" in usage.err


def test_revoking_the_last_client_of_an_oauth_only_tenant_warns(
        cli: Any, tid: str, scim_service: ScimService) -> None:
    info = added(cli, tid)
    assert cli("tenant", "auth", tid, "--allow", "oauth").code == 0
    run = cli("client", "revoke", tid, info["client_id"])
    assert run.code == 0
    assert "no SCIM request can authenticate" in run.err
    assert f"python -m shared.admin client add {tid}" in run.err


# --------------------------------------------------------------------------------------------
# tenant auth
# --------------------------------------------------------------------------------------------


def test_tenant_auth_shows_and_sets_the_methods(cli: Any, tid: str,
                                                scim_service: ScimService) -> None:
    shown = cli("tenant", "auth", tid)
    assert shown.code == 0, shown.err
    assert shown.out == (f"tenant {tid}: SCIM requests authenticate with secret-token, oauth "
                         "(1 secret token(s), 0 OAuth client(s) with a valid credential)\n")
    assert shown.err == ""
    added(cli, tid)
    run = cli("tenant", "auth", tid, "--allow", " OAuth ")
    assert run.code == 0, run.err
    assert run.out.startswith(f"tenant {tid}: SCIM requests authenticate with oauth (1 secret "
                              "token(s), 1 OAuth client(s) with a valid credential); instances "
                              "apply it within 30 s")
    assert "does not accept Secret Tokens: requests with its 1 token(s) get 401" in run.err
    assert stored(scim_service, tid).auth_methods == ["oauth"]
    both = cli("tenant", "auth", tid, "--allow", "oauth,secret-token,oauth")
    assert both.code == 0
    assert both.err == ""
    assert stored(scim_service, tid).auth_methods == ["secret-token", "oauth"]


def test_tenant_auth_warns_when_nothing_can_authenticate(cli: Any, tid: str,
                                                         scim_service: ScimService) -> None:
    run = cli("tenant", "auth", tid, "--allow", "oauth")
    assert run.code == 0
    assert (f"tenant {tid} accepts oauth but holds no usable credential for it: no SCIM "
            f"request can authenticate; python -m shared.admin client add {tid}") in run.err
    info = added(cli, tid)
    _expire(scim_service, tid, info["client_id"], info["secret_id"],
            datetime.now(UTC) - timedelta(minutes=1))
    assert "holds no usable credential" in cli("tenant", "auth", tid).err
    secret_only = cli("tenant", "auth", tid, "--allow", "secret-token")
    assert "the token endpoint refuses its 1 client(s)" in secret_only.err
    assert "no usable credential" not in secret_only.err


def test_tenant_auth_mentions_entra_jwts_and_a_disabled_tenant(cli: Any, tid: str) -> None:
    assert cli("tenant", "jwt-enable", tid, GUID).code == 0
    assert cli("tenant", "disable", tid).code == 0
    run = cli("tenant", "auth", tid)
    assert f"Entra-issued JWTs are also accepted, for Entra tenant {GUID}" in run.out
    assert f"tenant {tid} is disabled" in run.err


@pytest.mark.parametrize(("allow", "says"), [
    ("oath", "unknown method(s) oath; choose from secret-token,oauth"),
    ("oauth,jwt", "unknown method(s) jwt"), ("", "needs at least one of"),
    (" , ", "needs at least one of")])
def test_tenant_auth_refuses_unknown_methods(cli: Any, tid: str, scim_service: ScimService,
                                             allow: str, says: str) -> None:
    one_error_line(cli("tenant", "auth", tid, "--allow", allow), says)
    assert stored(scim_service, tid).auth_methods == ["secret-token", "oauth"]


# --------------------------------------------------------------------------------------------
# Unknown tenants and help
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["client", "add", "{t}"], ["client", "list", "{t}"],
    ["client", "revoke", "{t}", "{t}.0123456789abcdef"],
    ["client", "federate", "{t}", "--entra-tenant", GUID, "--subject", "s", "--audience", "a"],
    ["tenant", "auth", "{t}"], ["tenant", "auth", "{t}", "--allow", "oauth"]])
def test_an_unknown_tenant_points_to_tenant_list(cli: Any, argv: list[str]) -> None:
    run = cli(*(a.replace("{t}", "nope0000") for a in argv))
    assert (run.code, run.out) == (1, "")
    one_error_line(run, "no tenant 'nope0000'", "python -m shared.admin tenant list")


def test_help_lists_the_oauth_commands(cli: Any) -> None:
    out = cli("--help").out
    for command in ("client add|federate|list|revoke", "tenant auth TENANT",
                    "signing-key list|rotate"):
        assert command in out


# --------------------------------------------------------------------------------------------
# signing-key
# --------------------------------------------------------------------------------------------


@pytest.fixture
def own_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables of this test's own: the deployment's signing keys are one set, and an immediate
    rotation deletes every other key (the session's app signs with those). Created here, as
    `tenant create` would on a fresh deployment: the key commands create no table."""
    prefix = "k" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("SCIM_TABLE_PREFIX", prefix)
    open_tables(from_environ(dict(os.environ))).ensure()


KEY_FIELDS = {"kid", "created", "activates", "state", "retires"}


def test_signing_key_rotation_through_the_cli(cli: Any, own_tables: None) -> None:
    empty = cli("signing-key", "list")
    assert empty.out.startswith("no signing keys yet")
    assert cli("signing-key", "list", "--json").json() == []
    first = cli("signing-key", "rotate", "--immediately")
    assert first.code == 0, first.err
    assert first.out.endswith(" signs now (the deployment's first key)\n")
    [key] = cli("signing-key", "list", "--json").json()
    assert set(key) == KEY_FIELDS
    assert (key["state"], key["retires"]) == ("signing", None)
    assert first.out.startswith(f"signing key {key['kid']} signs now")

    before = datetime.now(UTC)
    scheduled = cli("signing-key", "rotate")
    assert scheduled.code == 0, scheduled.err
    keys = cli("signing-key", "list", "--json").json()
    assert [k["state"] for k in keys] == ["signing", "pending"]
    assert keys[0]["kid"] == key["kid"]
    assert before + PUBLISH_LEAD <= parse_iso(keys[1]["activates"]) <= (
        datetime.now(UTC) + PUBLISH_LEAD)
    assert scheduled.out.startswith(f"signing key {keys[1]['kid']} published; it signs from "
                                    f"{keys[1]['activates']}")
    assert "the current key signs until then" in scheduled.out
    one_error_line(cli("signing-key", "rotate"), f"key {keys[1]['kid']} is already waiting",
                   "signing-key rotate --immediately")

    leaked = cli("signing-key", "rotate", "--immediately")
    assert leaked.code == 0
    assert leaked.out.endswith(" signs now; 2 other key(s) deleted: access tokens they signed "
                               "are refused within 5 min (instances re-read the key set that "
                               "often)\n")
    [only] = cli("signing-key", "list", "--json").json()
    assert only["state"] == "signing"
    assert only["kid"] not in {k["kid"] for k in keys}
    listing = cli("signing-key", "list")
    assert listing.out.splitlines()[0].split() == ["KID", "CREATED", "ACTIVATES", "STATE"]
    assert listing.out.splitlines()[1].split() == [only["kid"], only["created"],
                                                   only["activates"], "signing"]
    assert "PRIVATE" not in listing.out + json.dumps(only)
