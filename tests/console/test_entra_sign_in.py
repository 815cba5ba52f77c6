""""Sign in with Microsoft" as far as it goes without Entra: the session's app has Entra sign-in
configured (SCIM_MANAGE_ENTRA_TENANT_ID, SCIM_MANAGE_AUDIENCE in `app_env`), so the page loads
the vendored MSAL.js and, on the button, redirects to Entra's authorize endpoint with an
authorization-code request protected by PKCE for the management API's scope. Requests to
Entra's origin are intercepted in the browser (nothing leaves the machine)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from shared.console.config import console_config
from shared.settings import from_environ
from tests.console.conftest import Console

pytestmark = pytest.mark.served

ENTRA = "https://login.microsoftonline.com"


def test_sign_in_with_microsoft_redirects_to_entra_with_pkce(
        console: Console, app_env: dict[str, str]) -> None:
    entra = console_config(from_environ(app_env), environ={})["entra"]
    assert entra is not None, "the session's app should have Entra sign-in configured"
    requested: list[str] = []

    def stand_in(route: Any) -> None:
        requested.append(route.request.url)
        route.fulfill(body="<!doctype html><title>Entra</title>", content_type="text/html")

    console.page.route(f"{ENTRA}/**", stand_in)
    console.open()
    button = console.page.get_by_role("button", name="Sign in with Microsoft")
    expect(button).to_be_visible()
    expect(console.page.get_by_text(f"the {entra['role']} app role")).to_be_visible()
    button.click()
    console.page.wait_for_url(f"{ENTRA}/**")

    authorize = urlsplit(console.page.url)
    tenant_path = urlsplit(entra["authority"]).path.strip("/")
    assert authorize.path == f"/{tenant_path}/oauth2/v2.0/authorize"
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["client_id"] == entra["client_id"]
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url SHA-256
    assert query["redirect_uri"] == f"{console.base_url}/console/"
    assert entra["scopes"][0] in query["scope"].split()
    assert query["state"]
    assert query["nonce"]
    assert requested  # the browser went to Entra's origin, intercepted
