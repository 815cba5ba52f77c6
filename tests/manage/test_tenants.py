"""Tenant operations over Azurite: a created tenant's URL and token work for SCIM, listings
and the detail view carry the contract's keys and no secret, disabling refuses its requests at
once in the serving process, and names are checked."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant, list_tenants, set_tenant_state, show_tenant
from shared.timestamps import now_iso

USERS = "urn:ietf:params:scim:schemas:core:2.0:User"
SHOW_KEYS = {"tenant_id", "name", "state", "created", "tenant_url", "auth_methods",
             "entra_tenant_id", "tokens", "webhook", "schemas", "undeclared_policy",
             "feed_tokens", "clients"}


def _scim(served: str, tenant_id: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{served}/scim/v2/{tenant_id}", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def test_created_tenant_answers_scim_with_its_token(served: str,
                                                    served_deployment: Deployment) -> None:
    created = create_tenant(served_deployment, "Contoso (prod)")
    assert set(created) == {"tenant_id", "name", "tenant_url", "token", "token_id", "created"}
    assert created["tenant_url"].endswith(f"/scim/v2/{created['tenant_id']}")
    assert created["token"].startswith("scim_")
    with _scim(served, created["tenant_id"], created["token"]) as scim:
        assert scim.get("/Users").status_code == 200


def test_listing_and_detail_carry_the_contract_keys_and_no_secret(
        opened_deployment: Deployment) -> None:
    created = create_tenant(opened_deployment, "Fabrikam")
    rows = [r for r in list_tenants(opened_deployment) if r["tenant_id"] == created["tenant_id"]]
    assert rows == [{"tenant_id": created["tenant_id"], "name": "Fabrikam", "state": "active",
                     "created": created["created"], "tenant_url": created["tenant_url"],
                     "tokens": 1}]
    shown = show_tenant(opened_deployment, created["tenant_id"])
    assert set(shown) == SHOW_KEYS
    assert shown["tokens"] == [{"token_id": created["token_id"],
                                "prefix": created["token"][:11], "created": shown["tokens"][0][
                                    "created"], "last_used": None}]
    assert shown["webhook"] is None
    assert shown["schemas"] == []
    assert shown["clients"] == 0
    assert created["token"] not in json.dumps(shown)


def test_webhook_secret_is_shown_as_a_prefix_only(opened_deployment: Deployment) -> None:
    created = create_tenant(opened_deployment, "Hooked")
    record = opened_deployment.tenant(created["tenant_id"])
    record.webhook_url, record.webhook_secret = "https://hooks.example/x", "whsec_" + "Q" * 40
    record.webhook_types = ["user.*"]
    opened_deployment.tenants.save(record)
    shown = show_tenant(opened_deployment, created["tenant_id"])
    assert shown["webhook"] == {"url": "https://hooks.example/x", "secret_prefix": "whsec_QQQQ",
                                "types": ["user.*"]}
    assert "Q" * 20 not in json.dumps(shown)


def test_disable_refuses_at_once_and_enable_restores(served: str,
                                                     served_deployment: Deployment) -> None:
    created = create_tenant(served_deployment, "Toggle")
    tid = created["tenant_id"]
    with _scim(served, tid, created["token"]) as scim:
        assert scim.get("/Users").status_code == 200  # now cached by the authenticator
        assert set_tenant_state(served_deployment, tid, disabled=True)["state"] == "disabled"
        assert scim.get("/Users").status_code == 401
        assert set_tenant_state(served_deployment, tid, disabled=False)["state"] == "active"
        assert scim.get("/Users").status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 101, "line\nbreak", "tab\there"])
def test_unusable_names_are_refused(opened_deployment: Deployment, name: str) -> None:
    with pytest.raises(ManageError) as caught:
        create_tenant(opened_deployment, name)
    assert caught.value.status == 400
    assert caught.value.code == "invalid"


def test_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    for call in (lambda: show_tenant(opened_deployment, "nosuchtenant0"),
                 lambda: set_tenant_state(opened_deployment, "nosuchtenant0", disabled=True)):
        with pytest.raises(ManageError) as caught:
            call()
        assert caught.value.status == 404


def test_a_deleting_tenant_cannot_be_enabled(opened_deployment: Deployment) -> None:
    created = create_tenant(opened_deployment, "Leaving")
    record = opened_deployment.tenant(created["tenant_id"])
    record.deleting_since, record.disabled = now_iso(), True
    opened_deployment.tenants.save(record)
    assert show_tenant(opened_deployment, record.id)["state"] == "deleting"
    with pytest.raises(ManageError) as caught:
        set_tenant_state(opened_deployment, record.id, disabled=False)
    assert caught.value.status == 409
