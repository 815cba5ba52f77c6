"""shared/admin/subscriptions.py, the deployment-wide subscription's operator commands, run
in-process through `main(argv)` against Azurite and a real receiver: set (a generated secret
shown once, types), types, show (never the secret), test (a signed event naming no tenant),
clear; bad input changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.feed import signing
from shared.store.subscriptions import SubscriptionTable
from tests.support.webhooks import DEPLOYMENT_SECRET, Receiver

URL = "https://hooks.contoso.example/all"


def test_set_show_types_and_clear(cli: Any, deployment: SubscriptionTable) -> None:
    done = cli("subscription", "set", URL, "--types", "user.*,group.members.*", "--json")
    assert done.code == 0, done.err
    out = done.json()
    assert (out["url"], out["types"]) == (URL, ["user.*", "group.members.*"])
    assert signing.is_secret(out["secret"])
    stored = deployment.get()
    assert stored is not None
    assert (stored.url, stored.secret, stored.types) == (URL, out["secret"],
                                                         ["user.*", "group.members.*"])

    shown = cli("subscription", "show")
    assert shown.code == 0
    assert out["secret"] not in shown.out  # shown once, at creation only
    assert f"secret: {out['secret'][:10]}…" in shown.out
    assert "types: user.*,group.members.*" in shown.out
    as_json = cli("subscription", "show", "--json").json()
    assert (as_json["url"], as_json["secret_prefix"], as_json["types"]) == (
        URL, out["secret"][:10], ["user.*", "group.members.*"])
    assert out["secret"] not in json.dumps(as_json)

    assert cli("subscription", "types", "user.deactivated").code == 0
    stored = deployment.get()
    assert stored is not None
    assert (stored.types, stored.secret) == (["user.deactivated"], out["secret"])
    again = cli("subscription", "set", URL, "--secret", DEPLOYMENT_SECRET)
    assert again.code == 0
    assert "secret:" not in again.out  # given, so not printed
    assert DEPLOYMENT_SECRET not in again.out
    stored = deployment.get()
    assert stored is not None
    assert (stored.types, stored.secret) == (["user.deactivated"], DEPLOYMENT_SECRET)
    assert stored.created <= stored.updated

    assert cli("subscription", "clear").code == 0
    assert deployment.get() is None
    none = cli("subscription", "show")
    assert (none.code, none.out) == (0, "there is no deployment-wide subscription (add one: "
                                        "subscription set URL)\n")
    assert cli("subscription", "show", "--json").json()["url"] is None
    for action in ("clear", "test", "types"):
        argv = [action, "*"] if action == "types" else [action]
        gone = cli("subscription", *argv)
        assert gone.code == 1
        assert "there is no deployment-wide subscription; set one first (`subscription set " \
            "URL`" in gone.err


@pytest.mark.parametrize(("argv", "message"), [
    (["http://hooks.contoso.example/all"], "must be https://"),
    ([URL, "--secret", "not-a-secret"], "the secret must be whsec_"),
    ([URL, "--types", "user.created,users.*"], "known types: user.created"),
])
def test_bad_input_changes_nothing(cli: Any, deployment: SubscriptionTable, argv: list[str],
                                   message: str) -> None:
    done = cli("subscription", "set", *argv)
    assert done.code == 1
    assert message in done.err
    assert deployment.get() is None


def test_test_sends_a_signed_event_naming_no_tenant(
        cli: Any, deployment: SubscriptionTable, deployment_receiver: Receiver) -> None:
    assert cli("subscription", "set", deployment_receiver.url, "--secret",
               DEPLOYMENT_SECRET).code == 0
    done = cli("subscription", "test")
    assert done.code == 0
    assert "delivered" in done.out
    [got] = deployment_receiver.received
    assert got.valid
    assert got.event["type"].endswith(".webhook.test")
    assert got.event["tenant"] is None
    deployment_receiver.answer = lambda _: 503
    failed = cli("subscription", "test")
    assert failed.code == 1
    assert "failed: HTTP 503" in failed.out
