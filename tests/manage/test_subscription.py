"""Deployment-wide subscription operations over Azurite and a real receiver: a generated secret
shown once, types kept or replaced, show without a secret (url None when there is none), a
signed test event naming no tenant, clear; a 409 when there is nothing to change."""

from __future__ import annotations

import pytest

from shared.feed import signing
from shared.manage import subscription
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.store.subscriptions import SubscriptionTable
from tests.support.webhooks import DEPLOYMENT_SECRET, Receiver

URL = "https://hooks.contoso.example/all"
SHOWN = {"url", "secret_prefix", "types", "created", "updated"}


def test_set_show_types_and_clear(opened_deployment: Deployment,
                                  deployment: SubscriptionTable) -> None:
    assert subscription.show_subscription(opened_deployment)["url"] is None
    done = subscription.set_subscription(opened_deployment, URL, types=["user.*"])
    assert set(done) == SHOWN | {"secret"}
    assert signing.is_secret(done["secret"])
    assert (done["url"], done["types"], done["secret_prefix"]) == (
        URL, ["user.*"], done["secret"][:10])
    shown = subscription.show_subscription(opened_deployment)
    assert set(shown) == SHOWN
    assert done["secret"] not in str(shown)
    kept = subscription.set_subscription(opened_deployment, URL, secret=DEPLOYMENT_SECRET)
    assert (set(kept), kept["types"]) == (SHOWN, ["user.*"])
    changed = subscription.set_subscription_types(opened_deployment, ["*"])
    assert changed["types"] == []
    stored = deployment.get()
    assert stored is not None
    assert (stored.secret, stored.types) == (DEPLOYMENT_SECRET, [])
    assert subscription.clear_subscription(opened_deployment)["url"] is None
    assert deployment.get() is None
    for call, args in ((subscription.clear_subscription, ()),
                       (subscription.test_subscription, ()),
                       (subscription.set_subscription_types, (["*"],))):
        with pytest.raises(ManageError) as caught:
            call(opened_deployment, *args)  # type: ignore[operator]
        assert caught.value.status == 409
        assert "no deployment-wide subscription" in caught.value.detail


def test_bad_input_is_a_400(opened_deployment: Deployment,
                            deployment: SubscriptionTable) -> None:
    for kwargs in ({"url": "http://hooks.contoso.example/"}, {"url": URL, "secret": "x"},
                   {"url": URL, "types": ["nope"]}):
        with pytest.raises(ManageError) as caught:
            subscription.set_subscription(opened_deployment, **kwargs)  # type: ignore[arg-type]
        assert caught.value.status == 400
    assert deployment.get() is None


def test_test_sends_a_signed_event_naming_no_tenant(
        opened_deployment: Deployment, deployment: SubscriptionTable,
        deployment_receiver: Receiver) -> None:
    subscription.set_subscription(opened_deployment, deployment_receiver.url,
                                  secret=DEPLOYMENT_SECRET)
    sent = subscription.test_subscription(opened_deployment)
    assert (sent["status"], sent["url"], sent["error"]) == (204, deployment_receiver.url, None)
    [got] = deployment_receiver.received
    assert got.valid
    assert (got.event["tenant"], got.event["id"]) == (None, sent["event_id"])
