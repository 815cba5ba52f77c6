"""Webhook operations over Azurite and a real receiver: the contract's keys, a generated secret
shown once and never again, type filters kept or replaced, a signed test event, and the checks
(URL, secret, types) that refuse bad input with a 400 before anything is written."""

from __future__ import annotations

import pytest

from shared.feed import signing
from shared.manage import webhooks
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from tests.support.webhooks import SECRET, Receiver

URL = "https://hooks.contoso.example/scim"
SHOWN = {"tenant_id", "url", "secret_prefix", "types"}


@pytest.fixture
def tid(opened_deployment: Deployment) -> str:
    return str(create_tenant(opened_deployment, "Hooks")["tenant_id"])


def refused(status: int, call: object, *args: object, **kwargs: object) -> ManageError:
    assert callable(call)
    with pytest.raises(ManageError) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value.detail
    return caught.value


@pytest.mark.parametrize("url", [
    "https://hooks.contoso.example/scim", "https://10.0.0.4:8443/h", "http://localhost:8080/h",
    "http://127.0.0.1/h", "http://127.9.9.9/h", "http://[::1]:9000/h"])
def test_webhook_urls_are_https_or_loopback_http(url: str) -> None:
    assert webhooks.check_url(url) == url


@pytest.mark.parametrize("url", [
    "http://hooks.contoso.example/scim", "http://10.0.0.4/h", "http://localhost.evil.example/",
    "ftp://hooks.contoso.example/", "https://", "hooks.contoso.example/scim", "",
    "javascript:alert(1)", "http://[::2]/h"])
def test_other_webhook_urls_are_refused_with_what_to_use(url: str) -> None:
    error = refused(400, webhooks.check_url, url)
    assert error.detail == "the webhook URL must be https:// (http:// only to localhost)"


def test_set_generates_a_secret_shown_once(opened_deployment: Deployment, tid: str) -> None:
    done = webhooks.set_webhook(opened_deployment, tid, URL)
    assert set(done) == SHOWN | {"secret"}
    assert signing.is_secret(done["secret"])
    assert done["secret_prefix"] == done["secret"][:10]
    assert (done["url"], done["types"]) == (URL, [])
    stored = opened_deployment.tenant(tid)
    assert (stored.webhook_url, stored.webhook_secret) == (URL, done["secret"])
    shown = webhooks.show_webhook(opened_deployment, tid)
    assert shown == {"tenant_id": tid, "url": URL, "secret_prefix": done["secret"][:10],
                     "types": []}


def test_a_given_secret_is_not_echoed_and_types_are_kept_unless_given(
        opened_deployment: Deployment, tid: str) -> None:
    done = webhooks.set_webhook(opened_deployment, tid, URL, secret=SECRET,
                                types=["user.*", " group.members.added"])
    assert set(done) == SHOWN
    assert done["types"] == ["user.*", "group.members.added"]
    again = webhooks.set_webhook(opened_deployment, tid, URL + "/2", secret=SECRET)
    assert again["types"] == ["user.*", "group.members.added"]
    changed = webhooks.set_webhook_types(opened_deployment, tid, ["*"])
    assert (changed["types"], changed["url"]) == ([], URL + "/2")
    assert opened_deployment.tenant(tid).webhook_secret == SECRET


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"url": "http://hooks.contoso.example/"}, "must be https://"),
    ({"secret": "not-a-secret"}, "the secret must be whsec_"),
    ({"secret": "whsec_c2hvcnQ="}, "≥ 16 bytes"),
    ({"types": ["users.*"]}, "unknown event type pattern 'users.*'; known types:"),
])
def test_bad_input_is_a_400_and_changes_nothing(opened_deployment: Deployment, tid: str,
                                                kwargs: dict[str, object], says: str) -> None:
    call = {"url": URL, **kwargs}
    error = refused(400, webhooks.set_webhook, opened_deployment, tid, **call)
    assert error.code == "invalid"
    assert says in error.detail
    assert opened_deployment.tenant(tid).webhook_url is None


def test_clear_and_test_without_a_webhook(opened_deployment: Deployment, tid: str) -> None:
    webhooks.set_webhook(opened_deployment, tid, URL)
    cleared = webhooks.clear_webhook(opened_deployment, tid)
    assert cleared == {"tenant_id": tid, "url": None, "secret_prefix": None, "types": []}
    assert opened_deployment.tenant(tid).webhook_secret is None
    error = refused(409, webhooks.test_webhook, opened_deployment, tid)
    assert "has no webhook" in error.detail


def test_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    for call in (webhooks.show_webhook, webhooks.clear_webhook, webhooks.test_webhook):
        refused(404, call, opened_deployment, "nosuchtenant0")


def test_test_event_reports_the_receivers_status(opened_deployment: Deployment, tid: str,
                                                 receiver: Receiver) -> None:
    webhooks.set_webhook(opened_deployment, tid, receiver.url, secret=SECRET)
    sent = webhooks.test_webhook(opened_deployment, tid)
    assert {k: sent[k] for k in ("tenant_id", "status", "url", "error")} == {
        "tenant_id": tid, "status": 204, "url": receiver.url, "error": None}  # its answer
    [got] = receiver.received
    assert got.valid
    assert got.event["id"] == sent["event_id"]
    receiver.answer = lambda _: 503
    failed = webhooks.test_webhook(opened_deployment, tid)
    assert (failed["status"], failed["error"]) == (503, "HTTP 503")
