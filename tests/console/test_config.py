"""shared.console.config: /console/config.json offers Entra sign-in only when the management
API's Entra settings name a tenant and an app registration, and the development credential
only when its digest is set and the app is not running in Azure."""

from __future__ import annotations

from typing import Any

import pytest

from shared.console.config import client_id, console_config
from shared.settings import Settings

CLIENT = "6f1c3b2a-9d4e-4f7a-8b6c-1e2d3c4b5a69"
TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DIGEST = "ab" * 32


def settings(**fields: Any) -> Settings:
    return Settings().model_copy(update=fields)


def test_nothing_configured_offers_nothing() -> None:
    assert console_config(settings(), environ={}) == {
        "entra": None, "development_credential": False}


def test_the_development_credential_is_offered_locally_only() -> None:
    local = settings(manage_dev_credential_sha256=DIGEST)
    assert console_config(local, environ={})["development_credential"] is True
    for marker in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"):
        assert console_config(local, environ={marker: "x"})["development_credential"] is False


@pytest.mark.parametrize(("audience", "scope"), [
    (CLIENT, f"{CLIENT}/.default"),
    (f"api://{CLIENT}", f"api://{CLIENT}/.default"),
    (CLIENT.upper(), f"{CLIENT.upper()}/.default"),
])
def test_entra_sign_in_asks_for_the_apis_own_scope(audience: str, scope: str) -> None:
    config = console_config(settings(manage_entra_tenant_id=TENANT, manage_audience=audience),
                            environ={"WEBSITE_SITE_NAME": "app"})
    assert config["entra"] == {
        "client_id": CLIENT,
        "authority": f"https://login.microsoftonline.com/{TENANT}",
        "scopes": [scope],
        "role": "Connector.Admin",
    }
    assert config["development_credential"] is False


def test_the_role_named_on_the_page_follows_the_setting() -> None:
    config = console_config(settings(manage_entra_tenant_id=TENANT, manage_audience=CLIENT,
                                     manage_role="Scim.Operator"), environ={})
    assert config["entra"]["role"] == "Scim.Operator"


@pytest.mark.parametrize(("tenant", "audience"), [
    (None, CLIENT), (TENANT, None), ("", CLIENT), ("contoso.onmicrosoft.com", CLIENT),
    (TENANT, "api://scim-connector"), (TENANT, "https://contoso.example/scim"),
])
def test_entra_is_not_offered_half_configured(tenant: str | None, audience: str | None) -> None:
    config = console_config(settings(manage_entra_tenant_id=tenant, manage_audience=audience),
                            environ={})
    assert config["entra"] is None


def test_client_id_reads_the_guid_of_either_audience_form() -> None:
    assert client_id(CLIENT) == CLIENT
    assert client_id(f"api://{CLIENT}/") == CLIENT
    assert client_id("api://other") is None
    assert client_id(None) is None
