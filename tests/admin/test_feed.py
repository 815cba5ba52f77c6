"""shared.admin.feed: the operator commands for webhooks, dead letters, the audit log and the
reconciler, run in-process through `main(argv)` against Azurite and a real webhook receiver.
(The input checks - webhook URLs, since, status - are shared/manage's: tests/manage.)"""

from __future__ import annotations

import argparse
import json
import uuid

import pytest

from shared.admin import feed
from shared.admin.__main__ import main
from shared.feed import signing
from shared.service.app import ScimService
from shared.service.kinds import USERS
from shared.service.messages import ScimRequest
from shared.settings import DEFAULT_EVENT_TYPE_PREFIX, Settings, from_environ
from shared.store.outbox import Outbox
from shared.store.queues import open_queues
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.webhooks import SECRET, Receiver, use_webhook

PREFIX = "com.contoso.identity.scim"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.admin")
    feed.add_parsers(parser.add_subparsers(dest="area", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def settings(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI's settings, as `load_settings` reads them, with this deployment's prefix."""
    monkeypatch.setenv("SCIM_EVENT_TYPE_PREFIX", PREFIX)
    return from_environ({**app_env, "SCIM_EVENT_TYPE_PREFIX": PREFIX})


@pytest.fixture
def service(scim_service: ScimService, settings: Settings) -> ScimService:
    return ScimService(settings, scim_service.tables)


@pytest.fixture
def tenant_id(tenant: tuple[str, str]) -> str:
    return tenant[0]


def run(settings: Settings, *argv: str) -> int:
    """The command as `python -m shared.admin` runs it, with `settings`' event type prefix and
    queues (the environment gives the rest); a refusal is SystemExit with its message."""
    env = {"SCIM_EVENT_TYPE_PREFIX": settings.event_type_prefix}
    if settings.queue_connection_string:
        env |= {"SCIM_QUEUE_STORAGE": settings.queue_connection_string,
                "SCIM_DELIVER_QUEUE": settings.deliver_queue,
                "SCIM_WORK_QUEUE": settings.work_queue}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return main(list(argv))


def record(service: ScimService, tenant_id: str) -> Tenant:
    found = service.tenants.get(tenant_id)
    assert found is not None
    return found


def test_each_area_needs_its_action() -> None:
    for argv in (["webhook"], ["deadletter"], ["reconcile"], ["webhook", "set", "t"],
                 ["audit"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    assert parse("audit", "t1").limit == 100


# --------------------------------------------------------------------------------------------
# Tenants and webhooks
# --------------------------------------------------------------------------------------------


def test_an_unknown_tenant_points_to_tenant_list(settings: Settings) -> None:
    with pytest.raises(SystemExit, match=r"no tenant 'nope0000'; .*`python -m shared.admin "
                                         r"tenant list`"):
        run(settings, "webhook", "show", "nope0000")


def test_webhook_set_show_and_clear(settings: Settings, service: ScimService, tenant_id: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://hooks.contoso.example/scim"
    assert run(settings, "webhook", "set", tenant_id, url, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["tenant_id"], out["url"]) == (tenant_id, url)
    secret = out["secret"]
    assert out["secret_prefix"] == secret[:10]
    assert signing.is_secret(secret)
    stored = record(service, tenant_id)
    assert (stored.webhook_url, stored.webhook_secret) == (url, secret)

    assert run(settings, "webhook", "show", tenant_id) == 0
    shown = capsys.readouterr().out
    # Never the whole secret again.
    assert shown == f"url: {url}\nsecret: {secret[:10]}…\ntypes: * (every type)\n"

    assert run(settings, "webhook", "clear", tenant_id) == 0
    assert "cleared" in capsys.readouterr().out
    stored = record(service, tenant_id)
    assert (stored.webhook_url, stored.webhook_secret) == (None, None)
    assert run(settings, "webhook", "show", tenant_id) == 0
    assert capsys.readouterr().out == (f"tenant {tenant_id} has no webhook (add one: webhook "
                                       f"set {tenant_id} URL)\n")
    assert run(settings, "webhook", "show", tenant_id, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"tenant_id": tenant_id, "url": None,
                                                   "secret_prefix": None, "types": []}
    with pytest.raises(SystemExit, match=r"has no webhook; set one first \(`webhook set`"):
        run(settings, "webhook", "test", tenant_id)


def test_webhook_types_are_set_kept_changed_and_shown(
        settings: Settings, service: ScimService, tenant_id: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://hooks.contoso.example/scim"
    assert run(settings, "webhook", "set", tenant_id, url, "--types",
               "user.*, group.members.added", "--json") == 0
    assert json.loads(capsys.readouterr().out)["types"] == [
        "user.*", "group.members.added"]
    assert record(service, tenant_id).webhook_types == ["user.*", "group.members.added"]
    assert run(settings, "webhook", "set", tenant_id, url) == 0  # no --types: kept
    assert record(service, tenant_id).webhook_types == ["user.*", "group.members.added"]
    capsys.readouterr()
    assert run(settings, "webhook", "show", tenant_id) == 0
    assert "types: user.*,group.members.added\n" in capsys.readouterr().out
    secret = record(service, tenant_id).webhook_secret
    assert run(settings, "webhook", "types", tenant_id, "group.*") == 0
    stored = record(service, tenant_id)
    assert (stored.webhook_types, stored.webhook_secret) == (["group.*"], secret)
    assert run(settings, "webhook", "types", tenant_id, "*") == 0
    assert record(service, tenant_id).webhook_types == []


def test_webhook_types_refuses_unknown_types_naming_the_known_ones(
        settings: Settings, service: ScimService, tenant_id: str) -> None:
    with pytest.raises(SystemExit, match=r"types: unknown event type pattern 'users\.\*'; "
                                         r"known types: user\.created"):
        run(settings, "webhook", "set", tenant_id, "https://hooks.contoso.example/scim",
            "--types", "users.*")
    assert record(service, tenant_id).webhook_url is None
    with pytest.raises(SystemExit, match=r"group\.members\.\*"):
        run(settings, "webhook", "types", tenant_id, "user.created,nope")
    assert record(service, tenant_id).webhook_types == []


@pytest.mark.parametrize(("argv", "message"), [
    (["http://hooks.contoso.example/scim"], "must be https://"),
    (["https://hooks.contoso.example/scim", "--secret", "not-a-secret"],
     r"the secret must be whsec_ followed by base64"),
    (["https://hooks.contoso.example/scim", "--secret", "whsec_c2hvcnQ="],  # 5 bytes
     r"\(≥ 16 bytes\)"),
])
def test_webhook_set_refuses_bad_input_and_changes_nothing(
        settings: Settings, service: ScimService, tenant_id: str, argv: list[str],
        message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        run(settings, "webhook", "set", tenant_id, *argv)
    assert record(service, tenant_id).webhook_url is None


def test_webhook_test_sends_a_signed_event_with_the_configured_type(
        settings: Settings, service: ScimService, tenant_id: str, receiver: Receiver,
        outbox: Outbox, capsys: pytest.CaptureFixture[str]) -> None:
    use_webhook(service, tenant_id, receiver.url)
    assert run(settings, "webhook", "test", tenant_id) == 0
    [got] = receiver.received
    assert got.valid  # signed with the tenant's secret (Standard Webhooks)
    event = got.event
    assert event["type"] == f"{PREFIX}.webhook.test"
    assert (event["subject"], event["tenant"]) == ("test", tenant_id)
    assert event["source"] == settings.tenant_url(tenant_id)
    assert got.headers["webhook-id"] == event["id"]
    assert capsys.readouterr().out == f"test event {event['id']}: delivered\n"
    assert list(outbox.pending(tenant_id)) == []  # sent, never stored

    receiver.answer = lambda _: 500
    assert run(settings, "webhook", "test", tenant_id) == 1
    assert capsys.readouterr().out.endswith(": failed: HTTP 500\n")


# --------------------------------------------------------------------------------------------
# Dead letters
# --------------------------------------------------------------------------------------------


def dead_letters(service: ScimService, outbox: Outbox, tenant_id: str, n: int) -> list[str]:
    """n users created (one event each), then each event dead-lettered; their user ids."""
    made = [service.resources.create(USERS, tenant_id, {"schemas": [USER],
                                                        "userName": f"d{i}@contoso.example"})
            [0].id for i in range(n)]
    for row in list(outbox.pending(tenant_id)):
        outbox.dead_letter(tenant_id, row, attempts=3, error="HTTP 500", now=now_iso())
    return made


def test_deadletter_list_shows_types_without_this_deployments_prefix(
        settings: Settings, service: ScimService, scim_service: ScimService, outbox: Outbox,
        tenant_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(settings, "deadletter", "list", tenant_id) == 0
    assert capsys.readouterr().out.split() == ["event", "id", "type", "subject", "attempts",
                                               "dead", "since", "last", "error"]
    [uid] = dead_letters(service, outbox, tenant_id, 1)
    # An event written under the default prefix (before the setting changed) keeps it whole.
    scim_service.resources.create(USERS, tenant_id, {"schemas": [USER],
                                                     "userName": "old@contoso.example"})
    for row in list(outbox.pending(tenant_id)):
        outbox.dead_letter(tenant_id, row, attempts=5, error="timeout", now=now_iso())
    dead = outbox.dead_letters(tenant_id)
    assert run(settings, "deadletter", "list", tenant_id) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert [r.split()[:5] for r in rows] == [
        [dead[0].id, "user.created", f"Users/{uid}", "3", dead[0].dead_at],
        [dead[1].id, f"{DEFAULT_EVENT_TYPE_PREFIX}.user.created", dead[1].subject, "5",
         dead[1].dead_at]]
    assert [r.split()[-2:] for r in rows] == [["HTTP", "500"], [dead[1].dead_at, "timeout"]]
    # Columns line up under their headings; no trailing blanks.
    for heading in ("type", "subject", "attempts", "last error"):
        at = header.index(heading)
        assert all(r[at - 1] == " " and r[at] != " " for r in rows), heading
    assert all(line == line.rstrip() for line in lines)


def test_deadletter_show_and_replay(settings: Settings, service: ScimService, outbox: Outbox,
                                   tenant_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = dead_letters(service, outbox, tenant_id, 2)
    dead = outbox.dead_letters(tenant_id)
    assert run(settings, "deadletter", "show", tenant_id, dead[0].id) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["event_id"], shown["type"], shown["attempts"], shown["error"]) == (
        dead[0].id, f"{PREFIX}.user.created", 3, "HTTP 500")
    assert (shown["lane"], shown["resource_id"]) == ("tenant", first)
    assert shown["event"]["data"]["id"] == first
    assert run(settings, "deadletter", "list", tenant_id, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["event_id"], r["attempts"], r["lane"]) for r in listed] == [
        (dead[0].id, 3, "tenant"), (dead[1].id, 3, "tenant")]
    assert run(settings, "deadletter", "list", tenant_id, "--deployment", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    with pytest.raises(SystemExit, match=r"no dead letter 'nope' in tenant"):
        run(settings, "deadletter", "show", tenant_id, "nope")
    with pytest.raises(SystemExit, match=r"name EVENT_IDs or pass --all"):
        run(settings, "deadletter", "replay", tenant_id)

    assert run(settings, "deadletter", "replay", tenant_id, dead[1].id) == 0
    assert capsys.readouterr().out == (
        "1 event(s) back in the outbox: delivered by the next reconciler run\n")
    pending = list(outbox.pending(tenant_id))
    assert [(p.id, p.attempts, p.next_attempt) for p in pending] == [(dead[1].id, 0, "")]
    assert json.loads(pending[0].body)["data"]["id"] == second
    assert [d.id for d in outbox.dead_letters(tenant_id)] == [dead[0].id]
    with pytest.raises(SystemExit, match="no dead letter"):
        run(settings, "deadletter", "replay", tenant_id, dead[1].id)

    assert run(settings, "deadletter", "replay", tenant_id, "--all", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "tenant_id": tenant_id, "lane": "tenant", "replayed": 1, "signalled": False}
    assert outbox.dead_letters(tenant_id) == []
    assert [p.id for p in outbox.pending(tenant_id)] == [d.id for d in dead]


# --------------------------------------------------------------------------------------------
# Audit and reconcile
# --------------------------------------------------------------------------------------------


def test_audit_limit_json_fields_and_failure_rows(
        settings: Settings, service: ScimService, tenant: tuple[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    tid, token = tenant
    auth = {"authorization": f"Bearer {token}", "content-type": "application/scim+json"}
    for n in range(3):
        body = json.dumps({"schemas": [USER], "userName": f"a{n}@contoso.example"}).encode()
        assert service.handle(ScimRequest("POST", tid, "Users", headers=auth,
                                          body=body)).status == 201
    assert service.handle(ScimRequest("GET", tid, "Users")).status == 401  # no token
    assert service.audit.flush()

    assert run(settings, "audit", tid, "--limit", "2", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    assert all(set(r) == {"time", "method", "path", "resourceId", "status", "scimType",
                          "latencyMs", "requestId", "count"} for r in rows)
    assert run(settings, "audit", tid, "--status", "401", "--json") == 0
    [failure] = json.loads(capsys.readouterr().out)
    assert (failure["status"], failure["count"]) == (401, 1)
    assert run(settings, "audit", tid, "--status", "2xx") == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 1 + 3
    assert [line.split()[1:3] for line in table[1:]] == [["POST", "/Users"]] * 3


def test_reconcile_run_delivers_and_prints_its_summary(
        settings: Settings, service: ScimService, tenant_id: str, receiver: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    uid = service.resources.create(USERS, tenant_id, {"schemas": [USER],
                                                      "userName": "r@contoso.example"})[0].id
    use_webhook(service, tenant_id, receiver.url, SECRET)
    assert run(settings, "reconcile", "run", "--tenant", tenant_id, "--json") == 0
    printed = capsys.readouterr()
    summary = json.loads(printed.out)
    # Progress on stderr, one line per tenant, so stdout holds the summary alone.
    assert f"tenant {tenant_id} done (1 so far)" in printed.err.splitlines()
    assert (summary["delivered"], summary["failed"], summary["errors"]) == (1, 0, 0)
    [got] = receiver.received
    assert got.valid
    assert (got.event["type"], got.event["data"]["id"]) == (f"{PREFIX}.user.created", uid)


def test_a_replay_signals_the_deliver_queue_so_the_events_go_out_in_seconds(
        app_env: dict[str, str], service: ScimService, outbox: Outbox, tenant_id: str,
        queue_connection_string: str, capsys: pytest.CaptureFixture[str]) -> None:
    name = uuid.uuid4().hex[:12]
    queued = from_environ({**app_env, "SCIM_EVENT_TYPE_PREFIX": PREFIX,
                           "SCIM_QUEUE_STORAGE": queue_connection_string,
                           "SCIM_DELIVER_QUEUE": f"d{name}", "SCIM_WORK_QUEUE": f"w{name}"})
    queues = open_queues(queued)
    queues.ensure()
    try:
        dead_letters(service, outbox, tenant_id, 2)
        assert run(queued, "deadletter", "replay", tenant_id, "--all") == 0
        assert capsys.readouterr().out.endswith(
            "2 event(s) back in the outbox: delivered within seconds by the deliver queue\n")
        sent = queues.deliver.receive(32)
        assert [json.loads(m.text) for m in sent] == [
            {"v": 1, "tenant": tenant_id, "why": "commit"}]
    finally:
        for queue in queues.all():
            queue.client.delete_queue()

