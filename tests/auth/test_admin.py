"""Who may call the management API (shared/auth/admin.py), with Entra's keys generated here
and served as a JWKS from loopback: an access token for the deployment's app registration with
the app role is accepted (v1.0 and v2.0 issuers, client id or api:// audience); without the
role it is 403; wrong audience, issuer or tenant, expired, not yet valid, HS256, `none`, an
unknown kid or another key are 401, as are a tenant's Secret Token, an access token of our
token endpoint and a feed credential. The development credential is accepted only when its
digest is configured and never when the app runs in Azure."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import feed_tokens
from shared.auth.admin import (
    DEV_PREFIX,
    AdminAuthenticator,
    AdminRefused,
    dev_digest,
    new_dev_credential,
    running_in_azure,
)
from shared.auth.entra_jwt import EntraJwtVerifier
from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.settings import Settings
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.entra_keys import Jwks, jwk, rsa_key

TID = str(uuid.uuid4())
APP = str(uuid.uuid4())
ROLE = "Connector.Admin"
V1 = f"https://sts.windows.net/{TID}/"
V2 = f"https://login.microsoftonline.com/{TID}/v2.0"


@pytest.fixture(scope="module")
def signing() -> Iterator[tuple[Jwks, rsa.RSAPrivateKey]]:
    jwks, key = Jwks(), rsa_key()
    jwks.keys = [jwk(key, "k1")]
    yield jwks, key
    jwks.close()


def settings_for(jwks: Jwks, **update: Any) -> Settings:
    values = {"entra_jwks_url": jwks.url, "entra_assertion_jwks_url": jwks.assertion_url,
              "manage_entra_tenant_id": TID, "manage_audience": APP, **update}
    return Settings(**values)


@pytest.fixture
def admins(signing: tuple[Jwks, rsa.RSAPrivateKey]) -> AdminAuthenticator:
    jwks = signing[0]
    return AdminAuthenticator(settings_for(jwks), EntraJwtVerifier(
        jwks.url, assertion_jwks_url=jwks.assertion_url), environ={})


def entra_token(key: Any, *, kid: str = "k1", alg: str = "RS256", v2: bool = True,
                **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": V2 if v2 else V1, "aud": APP, "iat": now, "nbf": now - 10,
               "exp": now + 3600, "tid": TID, "oid": str(uuid.uuid4()),
               "preferred_username": "ops@contoso.example", "roles": [ROLE], **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def refusal(admins: AdminAuthenticator, bearer: str | None) -> AdminRefused:
    with pytest.raises(AdminRefused) as caught:
        admins.authenticate(None if bearer is None else f"Bearer {bearer}")
    return caught.value


# --- Entra ID ----------------------------------------------------------------------------------


@pytest.mark.parametrize("v2", [True, False], ids=["v2.0", "v1.0"])
@pytest.mark.parametrize("audience", [APP, f"api://{APP}"], ids=["client id", "app id uri"])
def test_a_token_for_the_app_with_the_role_is_accepted(
        admins: AdminAuthenticator, signing: tuple[Jwks, rsa.RSAPrivateKey], v2: bool,
        audience: str) -> None:
    admin = admins.authenticate("Bearer " + entra_token(signing[1], v2=v2, aud=audience))
    assert (admin.method, admin.subject) == ("entra", "ops@contoso.example")
    assert ROLE in admin.roles


@pytest.mark.parametrize(("configured", "accepted", "refused"), [
    (f"api://{APP}", [APP, f"api://{APP}"], ["api://other"]),
    ("api://scim.contoso.example", ["api://scim.contoso.example"], [APP]),
], ids=["default app id uri", "custom app id uri"])
def test_an_app_id_uri_setting_accepts_what_entra_puts_in_aud(
        signing: tuple[Jwks, rsa.RSAPrivateKey], configured: str, accepted: list[str],
        refused: list[str]) -> None:
    jwks, key = signing
    admins = AdminAuthenticator(settings_for(jwks, manage_audience=configured), EntraJwtVerifier(
        jwks.url, assertion_jwks_url=jwks.assertion_url), environ={})
    for aud in accepted:
        assert admins.authenticate("Bearer " + entra_token(key, aud=aud)).method == "entra"
    for aud in refused:
        assert refusal(admins, entra_token(key, aud=aud)).status == 401


def test_an_application_token_names_the_application(
        admins: AdminAuthenticator, signing: tuple[Jwks, rsa.RSAPrivateKey]) -> None:
    client = str(uuid.uuid4())
    admin = admins.authenticate("Bearer " + entra_token(
        signing[1], preferred_username=None, azp=client, idtyp="app"))
    assert admin.subject == client


@pytest.mark.parametrize("roles", [None, [], ["Connector.Reader"], ["connector.admin"], "x"])
def test_a_valid_token_without_the_role_is_403_naming_the_role(
        admins: AdminAuthenticator, signing: tuple[Jwks, rsa.RSAPrivateKey],
        roles: Any) -> None:
    refused = refusal(admins, entra_token(signing[1], roles=roles))
    assert (refused.status, refused.error) == (403, "forbidden")
    assert ROLE in refused.detail
    assert "Enterprise applications" in refused.detail
    assert "WWW-Authenticate" not in refused.headers


def test_the_role_is_the_configured_one(signing: tuple[Jwks, rsa.RSAPrivateKey]) -> None:
    jwks, key = signing
    admins = AdminAuthenticator(settings_for(jwks, manage_role="Scim.Operator"),
                                EntraJwtVerifier(jwks.url,
                                                 assertion_jwks_url=jwks.assertion_url),
                                environ={})
    assert refusal(admins, entra_token(key)).status == 403
    assert admins.authenticate("Bearer " + entra_token(key, roles=["Scim.Operator"]))


def _other_key_token(**claims: Any) -> str:
    return entra_token(rsa_key(), **claims)


def _unsigned(**claims: Any) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode())
    body = base64.urlsafe_b64encode(json.dumps({
        "iss": V2, "aud": APP, "tid": TID, "exp": int(time.time()) + 600,
        "roles": [ROLE]}).encode())
    return f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."


OTHER_TID = str(uuid.uuid4())
REFUSED_JWTS: dict[str, Any] = {
    "wrong audience": lambda key: entra_token(key, aud=str(uuid.uuid4())),
    "the SCIM audience": lambda key: entra_token(key, aud="8adf8e6e-67b2-4cf2-a259-e3dc5476c621"),
    "wrong issuer": lambda key: entra_token(key, iss="https://login.example.net/x/v2.0"),
    "other tenant's issuer": lambda key: entra_token(
        key, iss=f"https://login.microsoftonline.com/{OTHER_TID}/v2.0"),
    "other tenant in tid": lambda key: entra_token(key, tid=OTHER_TID),
    "no tid": lambda key: entra_token(key, tid=None),
    "expired": lambda key: entra_token(key, exp=int(time.time()) - 600,
                                       nbf=int(time.time()) - 4000),
    "not yet valid": lambda key: entra_token(key, nbf=int(time.time()) + 600),
    "no exp": lambda key: entra_token(key, exp=None),
    "hs256": lambda key: entra_token(b"k" * 32, alg="HS256"),
    "none": lambda key: _unsigned(),
    "unknown kid": lambda key: entra_token(key, kid="k404"),
    "another key": lambda key: _other_key_token(),
    "tampered": lambda key: entra_token(key)[:-4] + "AAAA",
}


@pytest.mark.parametrize("case", sorted(REFUSED_JWTS))
def test_refused_entra_tokens_are_401_with_a_challenge(
        admins: AdminAuthenticator, signing: tuple[Jwks, rsa.RSAPrivateKey], case: str) -> None:
    refused = refusal(admins, REFUSED_JWTS[case](signing[1]))
    assert (refused.status, refused.error) == (401, "unauthorized"), refused.reason
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_entra_tokens_are_refused_when_entra_is_not_configured(
        signing: tuple[Jwks, rsa.RSAPrivateKey], caplog: pytest.LogCaptureFixture) -> None:
    jwks, key = signing
    for missing in ({"manage_entra_tenant_id": None}, {"manage_audience": None}):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="scim.manage"):
            admins = AdminAuthenticator(settings_for(jwks, **missing), EntraJwtVerifier(
                jwks.url, assertion_jwks_url=jwks.assertion_url), environ={})
        assert "needs both SCIM_MANAGE_ENTRA_TENANT_ID and SCIM_MANAGE_AUDIENCE" in caplog.text
        assert not admins.entra_configured
        assert refusal(admins, entra_token(key)).status == 401
    fetches = jwks.fetches
    neither = AdminAuthenticator(settings_for(jwks, manage_entra_tenant_id=None,
                                              manage_audience=None),
                                 EntraJwtVerifier(jwks.url, assertion_jwks_url=jwks.assertion_url),
                                 environ={})
    assert refusal(neither, entra_token(key, kid="k-new")).status == 401
    assert jwks.fetches == fetches  # nothing is fetched for a token nobody configured


def test_signing_keys_that_cannot_be_fetched_are_503_not_401(
        signing: tuple[Jwks, rsa.RSAPrivateKey]) -> None:
    jwks, key = signing
    jwks.down.add(TID)
    try:
        admins = AdminAuthenticator(settings_for(jwks), EntraJwtVerifier(
            jwks.url, assertion_jwks_url=jwks.assertion_url), environ={})
        refused = refusal(admins, entra_token(key))
        assert (refused.status, refused.headers.get("Retry-After")) == (503, "30")
    finally:
        jwks.down.discard(TID)


# --- other credentials of the deployment -----------------------------------------------------


def test_a_tenants_credentials_are_401(admins: AdminAuthenticator,
                                       scim_service: ScimService) -> None:
    record = Tenant(id=new_tenant_id(), name="t", created=now_iso())
    secret = issue_token(record)
    feed = feed_tokens.issue(record)
    scim_service.tenants.create(record)
    access = scim_service.access_tokens.mint(
        tenant_id=record.id, audience=scim_service.settings.tenant_url(record.id),
        client_id="c1", credential_id="s1").token
    for bearer in (secret, feed, access):
        refused = refusal(admins, bearer)
        assert (refused.status, refused.error) == (401, "unauthorized")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer  ", "Basic YTpi",
                                           "bearer nonsense", "Token adm_x", "Bearer adm_"])
def test_missing_or_malformed_headers_are_401(admins: AdminAuthenticator,
                                              authorization: str | None) -> None:
    with pytest.raises(AdminRefused) as caught:
        admins.authenticate(authorization)
    assert caught.value.status == 401


# --- the development credential --------------------------------------------------------------


def dev_admins(credential: str, environ: dict[str, str]) -> AdminAuthenticator:
    return AdminAuthenticator(Settings(manage_dev_credential_sha256=dev_digest(credential)),
                              EntraJwtVerifier(), environ=environ)


def test_the_development_credential_is_accepted_locally() -> None:
    credential = new_dev_credential()
    assert credential.startswith(DEV_PREFIX)
    assert len(credential) == 47
    admin = dev_admins(credential, {}).authenticate(f"Bearer {credential}")
    assert (admin.method, admin.subject, admin.roles) == ("development", "development",
                                                          (ROLE,))


def test_other_development_credentials_are_401() -> None:
    credential = new_dev_credential()
    admins = dev_admins(credential, {})
    for other in (new_dev_credential(), credential[:-1], credential + "A",
                  credential[:-1] + ("B" if credential[-1] != "B" else "C"),
                  credential.upper()):
        assert refusal(admins, other).status == 401
    unconfigured = AdminAuthenticator(Settings(), EntraJwtVerifier(), environ={})
    assert refusal(unconfigured, credential).status == 401


@pytest.mark.parametrize("marker", ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"])
def test_the_development_credential_is_refused_in_azure(
        marker: str, caplog: pytest.LogCaptureFixture) -> None:
    credential = new_dev_credential()
    with caplog.at_level(logging.WARNING, logger="scim.manage"):
        admins = dev_admins(credential, {marker: "abc123"})
    assert "refused" in caplog.text
    assert credential not in caplog.text
    refused = refusal(admins, credential)
    assert refused.status == 401


def test_the_process_environment_decides_whether_it_runs_in_azure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSITE_INSTANCE_ID", raising=False)
    monkeypatch.delenv("WEBSITE_SITE_NAME", raising=False)
    assert not running_in_azure()
    credential = new_dev_credential()
    settings = Settings(manage_dev_credential_sha256=dev_digest(credential))
    assert AdminAuthenticator(settings, EntraJwtVerifier()).authenticate(f"Bearer {credential}")
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "0123abcd")
    assert running_in_azure()
    with pytest.raises(AdminRefused):
        AdminAuthenticator(settings, EntraJwtVerifier()).authenticate(f"Bearer {credential}")


def test_the_digest_setting_is_compared_case_insensitively() -> None:
    credential = new_dev_credential()
    settings = Settings(manage_dev_credential_sha256=dev_digest(credential).upper())
    admins = AdminAuthenticator(settings, EntraJwtVerifier(), environ={})
    assert admins.authenticate(f"Bearer {credential}").method == "development"
