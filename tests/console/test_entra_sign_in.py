""""Sign in with Microsoft" without Entra: the session's app has Entra sign-in configured
(SCIM_MANAGE_ENTRA_TENANT_ID, SCIM_MANAGE_AUDIENCE in `app_env`), so the page loads the vendored
MSAL.js and, on the button, redirects to Entra's authorize endpoint with an authorization-code
request protected by PKCE for the management API's scope. Requests to Entra's origin are
answered in the browser (nothing leaves the machine): first only recorded, then by a stand-in
that completes the code flow with an access token signed by the session's loopback Entra key,
which the management API verifies for real."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
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


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class EntraStandIn:
    """Entra's authorize and token endpoints as the browser sees them, answered in the
    browser: authorize sends the browser back with a code (and the state MSAL sent); the token
    endpoint answers with an ID token (nonce echoed) and an access token for the management
    API signed with the session's loopback Entra key, which the app verifies for real."""

    def __init__(self, keys: Any, tenant: str, audience: str, role: str) -> None:
        self.keys = keys
        self.tenant = tenant
        self.audience = audience
        self.role = role
        self.oid = str(uuid.uuid4())
        self.authorize: dict[str, str] = {}
        self.token_form: dict[str, str] = {}

    def __call__(self, route: Any) -> None:
        request = route.request
        cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*",
                "Access-Control-Allow-Methods": "POST"}
        if "/oauth2/v2.0/authorize" in request.url:
            self.authorize = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            client_info = _b64({"uid": self.oid, "utid": self.tenant})
            back = (f"{self.authorize['redirect_uri']}#code=stand-in-code"
                    f"&state={self.authorize['state']}&client_info={client_info}")
            route.fulfill(status=302, headers={"Location": back})
        elif request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
        elif "/oauth2/v2.0/token" in request.url:
            self.token_form = {k: v[0] for k, v in parse_qs(request.post_data or "").items()}
            route.fulfill(status=200, headers=cors, json=self._tokens())
        else:
            route.fulfill(status=404, body="not here")

    def _tokens(self) -> dict[str, Any]:
        now = int(time.time())
        issuer = f"{ENTRA}/{self.tenant}/v2.0"
        common = {"iss": issuer, "iat": now, "nbf": now - 10, "exp": now + 3600,
                  "tid": self.tenant, "oid": self.oid,
                  "preferred_username": "operator@contoso.example"}
        access = jwt.encode({**common, "aud": self.audience, "roles": [self.role]},
                            self.keys.private["k1"], algorithm="RS256", headers={"kid": "k1"})
        identity = jwt.encode({**common, "aud": self.audience, "sub": f"s-{self.oid}",
                               "nonce": self.authorize["nonce"], "name": "Operator"},
                              self.keys.private["k1"], algorithm="RS256", headers={"kid": "k1"})
        return {"token_type": "Bearer", "scope": f"{self.audience}/.default",
                "expires_in": 3599, "ext_expires_in": 3599, "access_token": access,
                "refresh_token": "stand-in-refresh", "id_token": identity,
                "client_info": _b64({"uid": self.oid, "utid": self.tenant})}


def test_a_microsoft_sign_in_reaches_the_api_with_an_entra_token(
        console: Console, app_env: dict[str, str], entra_keys: Any) -> None:
    entra = console_config(from_environ(app_env), environ={})["entra"]
    assert entra is not None
    stand_in = EntraStandIn(entra_keys, app_env["SCIM_MANAGE_ENTRA_TENANT_ID"],
                            entra["client_id"], entra["role"])
    console.page.route(f"{ENTRA}/**", stand_in)
    console.open()
    console.page.get_by_role("button", name="Sign in with Microsoft").click()

    expect(console.page.get_by_text("Microsoft Entra ID")).to_be_visible()
    expect(console.page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    # MSAL redeemed the code with the PKCE verifier of the challenge it sent.
    verifier = stand_in.token_form["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge.decode().rstrip("=") == stand_in.authorize["code_challenge"]
    assert stand_in.token_form["code"] == "stand-in-code"
    assert stand_in.token_form["grant_type"] == "authorization_code"
    assert not console.page.evaluate("location.hash").startswith("#code=")

    console.page.get_by_role("button", name="Sign out").click()  # MSAL's logout redirect
    console.page.wait_for_url(f"{ENTRA}/**")


def test_a_microsoft_account_without_the_role_is_told_which_role(
        console: Console, app_env: dict[str, str], entra_keys: Any) -> None:
    entra = console_config(from_environ(app_env), environ={})["entra"]
    assert entra is not None
    stand_in = EntraStandIn(entra_keys, app_env["SCIM_MANAGE_ENTRA_TENANT_ID"],
                            entra["client_id"], "Connector.Reader")
    console.page.route(f"{ENTRA}/**", stand_in)
    console.open()
    console.page.get_by_role("button", name="Sign in with Microsoft").click()

    expect(console.page.get_by_role("heading", name="Not allowed")).to_be_visible()
    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text(entra["role"])  # the API's 403 names the role to assign
    expect(console.page.get_by_role("button", name="Sign out")).to_be_visible()
