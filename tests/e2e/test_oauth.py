"""The OAuth 2.0 token endpoint over HTTP against the served function_app, on Azurite: client
credentials with client_secret_basic and client_secret_post, every RFC 6749 §5.2 refusal of
the endpoint's checks, the per-client rate limit, secret rotation without downtime, the key
set that verifies the tokens, workload identity federation (RFC 7523 client assertions)
against a loopback stand-in for Entra's v2.0 keys (tests/support/entra_keys.py, which the
session's app is configured with), and SCIM requests with the tokens issued: for their own
tenant only.

Tenants and clients are made as the admin CLI makes them: shared.auth.clients on a tenant
record saved through the service's tenant table."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt
import pytest

from shared.auth import clients
from shared.auth.tenants import new_tenant_id
from shared.service.app import ScimService
from shared.store.tenants import ClientSecretRecord, Tenant
from shared.timestamps import iso, now_iso
from tests.support.entra_keys import Jwks, assertion

pytestmark = pytest.mark.served

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
WIF_AUDIENCE = "api://scim-connector-e2e"
WIF_SUBJECT = "11111111-2222-4333-8444-555555555555"


@dataclass
class Issued:
    """A tenant with one OAuth client and its secret (None for a federated-only client)."""

    tenant_id: str
    client_id: str
    secret: str | None
    entra_tenant_id: str | None = None


Make = Callable[..., Issued]


@pytest.fixture
def make(scim_service: ScimService) -> Make:
    """A fresh tenant with a client: a secret (the default), a federated credential for a
    fresh Entra tenant id, or both; `fields` set on the tenant record."""

    def made(*, secret: bool = True, federated: bool = False, **fields: Any) -> Issued:
        record = Tenant(id=new_tenant_id(), name="oauth", created=now_iso(), **fields)
        client = clients.add_client(record, datetime.now(UTC), name="entra")
        given = clients.add_secret(client, datetime.now(UTC)) if secret else None
        entra = None
        if federated:
            entra = str(uuid.uuid4())  # a key cache of its own in the app: tests stay apart
            clients.set_federation(client, datetime.now(UTC), entra_tenant_id=entra,
                                   subject=WIF_SUBJECT, audience=WIF_AUDIENCE + "/.default")
        scim_service.tenants.create(record)
        return Issued(record.id, client.id, given, entra)

    return made


def change(scim_service: ScimService, tenant_id: str, edit: Callable[[Tenant], None]) -> None:
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    edit(record)
    scim_service.tenants.save(record)


def basic(client_id: str, secret: str, *, quoted: Callable[[str], str] = quote_plus) -> str:
    """RFC 6749 §2.3.1: both form-encoded, then base64."""
    raw = f"{quoted(client_id)}:{quoted(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def post(served: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{served}/oauth2/token", data=data, timeout=30, **kwargs)


def by_basic(served: str, issued: Issued, **form: str) -> httpx.Response:
    assert issued.secret is not None
    return post(served, {"grant_type": "client_credentials", **form},
                headers={"Authorization": basic(issued.client_id, issued.secret)})


def by_post(served: str, issued: Issued, secret: str | None = None) -> httpx.Response:
    return post(served, {"grant_type": "client_credentials", "client_id": issued.client_id,
                         "client_secret": secret or issued.secret or ""})


def no_store(r: httpx.Response) -> None:
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"].startswith("application/json")


def oauth_error(r: httpx.Response, status: int, code: str) -> str:
    """The error_description of an RFC 6749 §5.2 error with this status and code."""
    assert r.status_code == status, r.text
    no_store(r)
    body = r.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == code
    assert body["error_description"]
    assert "Traceback" not in body["error_description"]
    if status == 401:
        assert r.headers["www-authenticate"] == 'Basic realm="scim-oauth"'
    return str(body["error_description"])


def claims(served: str, token: str, audience: str) -> dict[str, Any]:
    """The token's claims, verified with the endpoint's published key set."""
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{served}/oauth2/keys", timeout=30).json())
    kid = jwt.get_unverified_header(token)["kid"]
    return dict(jwt.decode(token, key=keys[kid], algorithms=["ES256"], audience=audience,
                           issuer=f"{served}/oauth2"))


def granted(served: str, r: httpx.Response, issued: Issued,
            scim_service: ScimService) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    no_store(r)
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == scim_service.settings.access_token_minutes * 60
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    found = claims(served, body["access_token"], f"{served}/scim/v2/{issued.tenant_id}")
    assert found["tid"] == issued.tenant_id
    assert found["sub"] == found["client_id"] == issued.client_id
    return {**body, "claims": found}


# --------------------------------------------------------------------------------------------
# Client secrets
# --------------------------------------------------------------------------------------------


def test_client_secret_basic_gets_a_token_for_the_tenant_url(
        served: str, make: Make, scim_service: ScimService) -> None:
    issued = make()
    body = granted(served, by_basic(served, issued), issued, scim_service)
    assert set(body) == {"access_token", "token_type", "expires_in", "claims"}
    assert body["claims"]["aud"] == scim_service.settings.tenant_url(issued.tenant_id)
    assert body["claims"]["exp"] - body["claims"]["iat"] == body["expires_in"]


def test_client_secret_post_gets_a_token(served: str, make: Make,
                                         scim_service: ScimService) -> None:
    issued = make()
    body = granted(served, by_post(served, issued), issued, scim_service)
    record = scim_service.tenants.get(issued.tenant_id)
    assert record is not None
    assert body["claims"]["cred"] == record.clients[0].secrets[0].id
    assert scim_service.tenants.last_uses(issued.tenant_id).keys() == {body["claims"]["cred"]}


def test_basic_credentials_are_form_decoded(served: str, make: Make,
                                            scim_service: ScimService) -> None:
    issued = make()
    # Every character percent-encoded, unreserved ones too: decoded before comparing.
    assert issued.secret is not None
    every = basic(issued.client_id, issued.secret,
                  quoted=lambda s: "".join(f"%{b:02X}" for b in s.encode()))
    granted(served, post(served, {"grant_type": "client_credentials"},
                         headers={"Authorization": every}), issued, scim_service)
    # A secret of characters that form encoding changes (a hand-made record: issued secrets
    # are URL-safe): sent encoded it matches, sent raw it does not.
    special = "s3cr:t+with/%&=é ünïcode"

    def add(record: Tenant) -> None:
        record.clients[0].secrets.append(ClientSecretRecord(
            id="feedf00d", prefix="s3cr", created=now_iso(),
            digest=hashlib.sha256(special.encode()).hexdigest(),
            expires=iso(datetime.now(UTC) + timedelta(days=30))))

    change(scim_service, issued.tenant_id, add)
    encoded = basic(issued.client_id, special)
    assert granted(served, post(served, {"grant_type": "client_credentials"},
                                headers={"Authorization": encoded}),
                   issued, scim_service)["claims"]["cred"] == "feedf00d"
    raw = "Basic " + base64.b64encode(f"{issued.client_id}:{special}".encode()).decode()
    oauth_error(post(served, {"grant_type": "client_credentials"},
                     headers={"Authorization": raw}), 401, "invalid_client")


def test_the_form_may_repeat_the_basic_client_id(served: str, make: Make,
                                                 scim_service: ScimService) -> None:
    issued = make()
    granted(served, by_basic(served, issued, client_id=issued.client_id), issued, scim_service)
    oauth_error(by_basic(served, issued, client_id=make().client_id), 400, "invalid_request")


def test_a_given_scope_is_echoed(served: str, make: Make, scim_service: ScimService) -> None:
    issued = make()
    assert granted(served, by_basic(served, issued, scope="scim"), issued,
                   scim_service)["scope"] == "scim"


# --------------------------------------------------------------------------------------------
# Refusals (RFC 6749 §5.2)
# --------------------------------------------------------------------------------------------


def test_get_is_405_with_allow_post(served: str) -> None:
    r = httpx.get(f"{served}/oauth2/token", timeout=30)
    assert "POST" in oauth_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"
    assert httpx.put(f"{served}/oauth2/token", timeout=30).status_code == 405


def test_request_format_errors_are_invalid_request(served: str, make: Make) -> None:
    issued = make()
    assert issued.secret is not None
    auth = {"Authorization": basic(issued.client_id, issued.secret)}
    form = "grant_type=client_credentials"
    cases = {
        "json body": dict(json={"grant_type": "client_credentials"}, headers=auth),
        "no content type": dict(content=form.encode(), headers=auth),
        "repeated parameter": dict(content=f"{form}&{form}".encode(), headers={
            **auth, "Content-Type": "application/x-www-form-urlencoded"}),
        "body too large": dict(content=f"{form}&pad={'x' * 16 * 1024}".encode(), headers={
            **auth, "Content-Type": "application/x-www-form-urlencoded"}),
        "missing grant_type": dict(data={"scope": "scim"}, headers=auth),
        "both methods": dict(data={"grant_type": "client_credentials", "client_id":
                                   issued.client_id, "client_secret": issued.secret},
                             headers=auth),
    }
    for case, kwargs in cases.items():
        r = httpx.post(f"{served}/oauth2/token", timeout=30, **kwargs)  # type: ignore[arg-type]
        description = oauth_error(r, 400, "invalid_request")
        assert issued.secret not in r.text, case
        assert description, case
    # The same credentials in a well-formed request are fine: the refusals were the format's.
    assert by_basic(served, issued).status_code == 200


def test_other_grant_types_are_unsupported(served: str, make: Make) -> None:
    issued = make()
    for grant in ("password", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
        r = post(served, {"grant_type": grant, "client_id": issued.client_id,
                          "client_secret": issued.secret or ""})
        assert "client_credentials" in oauth_error(r, 400, "unsupported_grant_type")


@pytest.mark.parametrize("case", ["unknown client", "unknown tenant", "wrong secret",
                                  "malformed client id", "revoked client", "disabled tenant"])
def test_failed_client_authentication_is_one_answer(served: str, make: Make,
                                                    scim_service: ScimService,
                                                    case: str) -> None:
    issued = make()
    assert issued.secret is not None
    client_id, secret = issued.client_id, issued.secret
    if case == "unknown client":
        client_id = clients.new_client_id(issued.tenant_id)
    elif case == "unknown tenant":
        client_id = clients.new_client_id(new_tenant_id())
    elif case == "wrong secret":
        secret = clients.SECRET_PREFIX + "x" * 43
    elif case == "malformed client id":
        client_id = "not-a-client\r\nid"
    elif case == "revoked client":
        change(scim_service, issued.tenant_id, lambda t: t.clients.clear())
    elif case == "disabled tenant":
        change(scim_service, issued.tenant_id, lambda t: setattr(t, "disabled", True))
    for r in (post(served, {"grant_type": "client_credentials"},
                   headers={"Authorization": basic(client_id, secret)}),
              post(served, {"grant_type": "client_credentials", "client_id": client_id,
                            "client_secret": secret})):
        description = oauth_error(r, 401, "invalid_client")
        assert description == clients_failed()
        assert secret not in r.text


def clients_failed() -> str:
    return ("client authentication failed: check the client id and secret issued by "
            "`python -m shared.admin client add TENANT`")


def test_an_expired_secret_says_when_and_what_to_do(served: str, make: Make,
                                                    scim_service: ScimService) -> None:
    issued = make()
    expired = iso(datetime.now(UTC) - timedelta(hours=1))
    change(scim_service, issued.tenant_id,
           lambda t: setattr(t.clients[0].secrets[0], "expires", expired))
    description = oauth_error(by_basic(served, issued), 401, "invalid_client")
    assert expired in description
    assert (f"python -m shared.admin client add {issued.tenant_id} --client "
            f"{issued.client_id}") in description


@pytest.mark.parametrize("authorization", [None, "Bearer abc.def.ghi", "Basic !!!notbase64",
                                           "Basic " + base64.b64encode(b"no-colon").decode()])
def test_missing_or_unusable_client_authentication_is_401_with_a_basic_challenge(
        served: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = post(served, {"grant_type": "client_credentials"}, headers=headers)
    oauth_error(r, 401, "invalid_client")  # checks WWW-Authenticate: Basic realm="scim-oauth"


def test_a_tenant_without_oauth_is_unauthorized_client(served: str, make: Make) -> None:
    issued = make(auth_methods=["secret-token"])
    description = oauth_error(by_basic(served, issued), 400, "unauthorized_client")
    assert f"tenant auth {issued.tenant_id} --allow secret-token,oauth" in description


@pytest.mark.parametrize("scope", ['scim "quoted"', "back\\slash", "two  spaces", " lead",
                                   "x" * 257])
def test_a_malformed_scope_is_invalid_scope(served: str, make: Make, scope: str) -> None:
    oauth_error(by_basic(served, make(), scope=scope), 400, "invalid_scope")


# --------------------------------------------------------------------------------------------
# Rate limit, rotation, key set
# --------------------------------------------------------------------------------------------


def test_a_client_gets_ten_tokens_at_once_then_slow_down(served: str, make: Make) -> None:
    issued, other = make(), make()
    assert [by_basic(served, issued).status_code for _ in range(10)] == [200] * 10
    r = by_basic(served, issued)
    oauth_error(r, 429, "slow_down")
    assert 1 <= int(r.headers["retry-after"]) <= 6
    wrong = post(served, {"grant_type": "client_credentials", "client_id": issued.client_id,
                          "client_secret": "guess"})
    oauth_error(wrong, 429, "slow_down")  # guesses count too, before any check
    assert by_basic(served, other).status_code == 200  # another client has its own bucket


def test_a_secret_rotates_without_downtime(served: str, make: Make,
                                           scim_service: ScimService) -> None:
    issued = make()
    second: list[str] = []

    def rotate(record: Tenant) -> None:
        second.append(clients.add_secret(record.clients[0], datetime.now(UTC)))

    change(scim_service, issued.tenant_id, rotate)
    old_cred = granted(served, by_post(served, issued), issued, scim_service)["claims"]["cred"]
    new_cred = granted(served, by_post(served, issued, second[0]), issued,
                       scim_service)["claims"]["cred"]
    assert old_cred != new_cred
    change(scim_service, issued.tenant_id, lambda t: t.clients[0].secrets.pop(0))  # revoke
    oauth_error(by_post(served, issued), 401, "invalid_client")  # at once: no cache
    granted(served, by_post(served, issued, second[0]), issued, scim_service)


def test_the_key_set_is_public_cacheable_and_verifies_tokens(served: str, make: Make,
                                                             scim_service: ScimService) -> None:
    issued = make()
    token = by_basic(served, issued).json()["access_token"]
    r = httpx.get(f"{served}/oauth2/keys", timeout=30)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["content-type"].startswith("application/json")
    keys = r.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "EC"
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.keys()  # no private parts
    assert jwt.get_unverified_header(token)["kid"] in {k["kid"] for k in keys}
    claims(served, token, scim_service.settings.tenant_url(issued.tenant_id))
    assert httpx.post(f"{served}/oauth2/keys", timeout=30).status_code in (404, 405)


# --------------------------------------------------------------------------------------------
# Workload identity federation (RFC 7523 client assertions)
# --------------------------------------------------------------------------------------------


def by_assertion(served: str, issued: Issued, presented: str, **form: str) -> httpx.Response:
    return post(served, {"grant_type": "client_credentials", "client_id": issued.client_id,
                         "client_assertion_type": ASSERTION_TYPE,
                         "client_assertion": presented, **form})


def entra_assertion(entra_keys: Jwks, issued: Issued, **claims: Any) -> str:
    given: dict[str, Any] = {"tid": issued.entra_tenant_id, "audience": WIF_AUDIENCE,
                             "subject": WIF_SUBJECT, **claims}
    key = given.pop("key", entra_keys.private["k1"])
    return assertion(key, **given)


def test_an_entra_assertion_gets_a_token(served: str, make: Make, entra_keys: Jwks,
                                         scim_service: ScimService) -> None:
    issued = make(secret=False, federated=True)
    r = by_assertion(served, issued, entra_assertion(entra_keys, issued), scope="scim")
    body = granted(served, r, issued, scim_service)
    assert body["scope"] == "scim"
    record = scim_service.tenants.get(issued.tenant_id)
    assert record is not None
    assert record.clients[0].federation is not None
    assert body["claims"]["cred"] == record.clients[0].federation.id


@pytest.mark.parametrize("case", ["other entra tenant", "wrong audience", "wrong subject",
                                  "expired", "alg none", "hs256", "unknown kid", "wrong key"])
def test_refused_assertions_are_invalid_client(served: str, make: Make, entra_keys: Jwks,
                                               case: str) -> None:
    issued = make(secret=False, federated=True)
    now = int(time.time())
    presented = {
        "other entra tenant": lambda: entra_assertion(entra_keys, issued, iss=(
            f"https://login.microsoftonline.com/{uuid.uuid4()}/v2.0")),
        "wrong audience": lambda: entra_assertion(entra_keys, issued, audience="api://other"),
        "wrong subject": lambda: entra_assertion(entra_keys, issued, subject="someone-else"),
        "expired": lambda: entra_assertion(entra_keys, issued, exp=now - 600, nbf=now - 4200,
                                           iat=now - 4200),
        "alg none": lambda: _unsigned(issued),
        "hs256": lambda: entra_assertion(entra_keys, issued, key=b"k" * 32, alg="HS256"),
        "unknown kid": lambda: entra_assertion(entra_keys, issued, kid="k404"),
        "wrong key": lambda: entra_assertion(entra_keys, issued, key=_other_key()),
    }[case]()
    r = by_assertion(served, issued, presented)
    assert oauth_error(r, 401, "invalid_client").startswith("client assertion refused (")
    assert presented not in r.text


def _unsigned(issued: Issued) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    body = (f'{{"iss":"https://login.microsoftonline.com/{issued.entra_tenant_id}/v2.0",'
            f'"aud":"{WIF_AUDIENCE}","sub":"{WIF_SUBJECT}","exp":{now + 600}}}')
    return b64(b'{"alg":"none","kid":"k1"}') + "." + b64(body.encode()) + "."


def _other_key() -> Any:
    from tests.support.entra_keys import rsa_key

    return rsa_key()


def test_an_assertion_for_a_client_without_federation_is_invalid_client(
        served: str, make: Make, entra_keys: Jwks) -> None:
    issued = make()  # a secret only
    issued.entra_tenant_id = str(uuid.uuid4())
    description = oauth_error(by_assertion(served, issued, entra_assertion(entra_keys, issued)),
                              401, "invalid_client")
    assert "no federated credential" in description
    assert f"--client {issued.client_id}" in description


def test_unreachable_entra_keys_are_503_temporarily_unavailable(
        served: str, make: Make, entra_keys: Jwks, scim_service: ScimService) -> None:
    issued = make(secret=False, federated=True)
    assert issued.entra_tenant_id is not None
    entra_keys.down.add(issued.entra_tenant_id)
    try:
        r = by_assertion(served, issued, entra_assertion(entra_keys, issued))
    finally:
        entra_keys.down.discard(issued.entra_tenant_id)
    oauth_error(r, 503, "temporarily_unavailable")
    assert r.headers["retry-after"] == "30"


def test_assertion_form_errors(served: str, make: Make, entra_keys: Jwks) -> None:
    issued = make(federated=True)
    presented = entra_assertion(entra_keys, issued)
    base = {"grant_type": "client_credentials", "client_id": issued.client_id}
    oauth_error(post(served, {**base, "client_assertion": presented}), 400, "invalid_request")
    oauth_error(post(served, {**base, "client_assertion_type": ASSERTION_TYPE}), 400,
                "invalid_request")
    oauth_error(post(served, {"grant_type": "client_credentials", "client_assertion":
                              presented, "client_assertion_type": ASSERTION_TYPE}),
                400, "invalid_request")  # no client_id: no tenant to look in
    oauth_error(post(served, {**base, "client_assertion": presented,
                              "client_assertion_type": ASSERTION_TYPE,
                              "client_secret": issued.secret or ""}), 400, "invalid_request")
    oauth_error(post(served, {**base, "client_assertion": presented, "client_assertion_type":
                              "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}),
                401, "invalid_client")


# --------------------------------------------------------------------------------------------
# SCIM requests with the tokens issued
# --------------------------------------------------------------------------------------------


def scim_get(served: str, tenant_id: str, token: str) -> httpx.Response:
    return httpx.get(f"{served}/scim/v2/{tenant_id}/Users", timeout=30,
                     headers={"Authorization": f"Bearer {token}"})


def test_an_issued_token_serves_its_own_tenant_only(served: str, make: Make) -> None:
    issued, other = make(), make()
    token = by_basic(served, issued).json()["access_token"]
    r = scim_get(served, issued.tenant_id, token)
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 0
    refused = scim_get(served, other.tenant_id, token)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/scim+json")


def test_a_federated_token_serves_an_oauth_only_tenant(served: str, make: Make,
                                                       entra_keys: Jwks) -> None:
    issued = make(secret=False, federated=True, auth_methods=["oauth"])
    r = by_assertion(served, issued, entra_assertion(entra_keys, issued), scope="scim")
    assert r.status_code == 200, r.text
    assert scim_get(served, issued.tenant_id, r.json()["access_token"]).status_code == 200


def _b64(part: dict[str, Any]) -> str:
    import json

    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_altered_expired_and_misdirected_tokens_are_refused_by_scim(
        served: str, make: Make, scim_service: ScimService) -> None:
    """Over HTTP, each a 401 SCIM error: a token with a changed claim, `alg: none`, HS256 keyed
    with the published public key, an expired token and one for another Tenant URL."""
    from shared.auth.access_tokens import AccessTokens

    issued, other = make(), make()
    token = by_basic(served, issued).json()["access_token"]
    assert scim_get(served, issued.tenant_id, token).status_code == 200
    head, body, signature = token.split(".")
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    public = jwt.PyJWKSet.from_dict(httpx.get(f"{served}/oauth2/keys", timeout=30).json())[
        header["kid"]]
    from cryptography.hazmat.primitives import serialization
    pem = public.key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac
    hs_input = f"{_b64({**header, 'alg': 'HS256'})}.{body}"
    hs_signature = base64.urlsafe_b64encode(
        hmac.new(pem, hs_input.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    settings = scim_service.settings
    past = AccessTokens(scim_service.keys, settings.oauth_issuer, 3600,
                        clock=lambda: time.time() - 3700)
    client = scim_service.tenants.get(issued.tenant_id).client(issued.client_id)  # type: ignore[union-attr]
    credential = client.secrets[0].id
    misdirected = scim_service.access_tokens.mint(
        tenant_id=issued.tenant_id, audience=settings.tenant_url(other.tenant_id),
        client_id=issued.client_id, credential_id=credential).token
    forged = {
        "changed claim": f"{head}.{_b64({**payload, 'exp': payload['exp'] + 3600})}.{signature}",
        "alg none": f"{_b64({**header, 'alg': 'none'})}.{body}.",
        "HS256 with the public key": f"{hs_input}.{hs_signature}",
        "expired": past.mint(tenant_id=issued.tenant_id,
                             audience=settings.tenant_url(issued.tenant_id),
                             client_id=issued.client_id, credential_id=credential).token,
        "wrong audience": misdirected,
    }
    for case, bad in forged.items():
        r = scim_get(served, issued.tenant_id, bad)
        assert r.status_code == 401, (case, r.text)
        assert r.json()["detail"].startswith("The bearer token is not valid"), case
    assert scim_get(served, issued.tenant_id, token).status_code == 200


def test_the_token_lifetime_setting_reaches_the_tokens(app_env: dict[str, str],
                                                       scim_service: ScimService) -> None:
    """A host started with SCIM_ACCESS_TOKEN_MINUTES=360 (the most the gallery accepts) issues
    tokens for 6 hours, and they work; the session's host issues the default hour."""
    from tests.support.separate_host import separate_host

    record = Tenant(id=new_tenant_id(), name="lifetime", created=now_iso())
    client = clients.add_client(record, datetime.now(UTC))
    secret = clients.add_secret(client, datetime.now(UTC))
    scim_service.tenants.create(record)
    with separate_host({**app_env, "SCIM_ACCESS_TOKEN_MINUTES": "360"}) as host:
        r = post(host.base_url, {"grant_type": "client_credentials"},
                 headers={"Authorization": basic(client.id, secret)})
        assert r.status_code == 200, r.text
        assert r.json()["expires_in"] == 6 * 3600
        found = claims(host.base_url, r.json()["access_token"],
                       f"{host.base_url}/scim/v2/{record.id}")
        assert found["exp"] - found["iat"] == 6 * 3600
        assert scim_get(host.base_url, record.id, r.json()["access_token"]).status_code == 200
    assert scim_service.settings.access_token_minutes == 60


@pytest.mark.parametrize("revoke", ["client", "secret"])
def test_revoking_ends_issued_tokens_once_the_cache_turns_over(
        served: str, make: Make, scim_service: ScimService, revoke: str) -> None:
    """A revoked client or secret: the token endpoint refuses it at once, and SCIM requests with
    a token it obtained are refused as soon as the instance's 30 s authentication cache ends
    (ended here by hand: the served app is this process's)."""
    issued = make()
    token = by_basic(served, issued).json()["access_token"]
    assert scim_get(served, issued.tenant_id, token).status_code == 200
    if revoke == "client":
        change(scim_service, issued.tenant_id, lambda t: t.clients.clear())
    else:
        change(scim_service, issued.tenant_id, lambda t: t.clients[0].secrets.clear())
    oauth_error(by_basic(served, issued), 401, "invalid_client")
    scim_service.auth.forget(issued.tenant_id)
    r = scim_get(served, issued.tenant_id, token)
    assert r.status_code == 401, r.text
