"""Entra-issued JWTs (docs/architecture.md, "Authentication"), with keys generated here and a JWKS
served from a loopback server: a tenant that enabled them accepts a valid token and rejects
expired, not-yet-valid, wrong-issuer, wrong-audience, wrong-key, HS256-with-the-public-key and
`alg: none` tokens; a tenant that did not enable them accepts none. Signing keys are cached; an
unknown `kid` refreshes them at most once per issuer per five minutes, a failing endpoint is
asked again only after 30 s, so floods of forged tokens cost O(1) outbound fetches and answer
401 or 503 at once, never 500; rotated keys are still picked up.

Client assertions of workload identity federation (`verify_assertion`, the token endpoint's
RFC 7523 client authentication) are verified against the v2.0 keys and issuer of the federated
credential's Entra tenant, for its audience and subject, with the same cache and fetch limits;
every other assertion is refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth.entra_jwt import AUDIENCE, EntraJwtVerifier, InvalidToken, KeysUnavailable
from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.store.tenants import Tenant
from shared.timestamps import now_iso
from tests.support.entra_keys import Jwks, assertion, jwk, rsa_key

TID = str(uuid.uuid4())
ISSUER = f"https://sts.windows.net/{TID}/"


@pytest.fixture(scope="module")
def signing() -> Iterator[tuple[Jwks, rsa.RSAPrivateKey]]:
    jwks, key = Jwks(), rsa_key()
    jwks.keys = [jwk(key, "k1")]
    yield jwks, key
    jwks.server.shutdown()


@pytest.fixture(scope="module")
def service(app_env: dict[str, str], scim_service: ScimService,
            signing: tuple[Jwks, rsa.RSAPrivateKey]) -> ScimService:
    settings = scim_service.settings.model_copy(update={"entra_jwks_url": signing[0].url})
    return ScimService(settings, scim_service.tables)


@pytest.fixture(scope="module")
def tenants(service: ScimService) -> dict[str, str]:
    out = {}
    for label, entra in (("enabled", TID), ("disabled", None)):
        record = Tenant(id=new_tenant_id(), name=label, created=now_iso(), entra_tenant_id=entra)
        issue_token(record)
        service.tenants.create(record)
        out[label] = record.id
    return out


def token(key: Any, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now - 10, "exp": now + 3600,
               "tid": TID, "appid": "00000014-0000-0000-c000-000000000000", **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def status(service: ScimService, tenant: str, bearer: str) -> int:
    service.auth.forget(tenant)
    return service.handle(ScimRequest("GET", tenant, "Users",
                                      headers={"authorization": f"Bearer {bearer}"})).status


def test_valid_entra_token_is_accepted(service: ScimService, tenants: dict[str, str],
                                       signing: tuple[Jwks, Any]) -> None:
    assert status(service, tenants["enabled"], token(signing[1])) == 200


def test_tenant_without_jwt_acceptance_refuses_a_valid_token(
        service: ScimService, tenants: dict[str, str], signing: tuple[Jwks, Any]) -> None:
    assert status(service, tenants["disabled"], token(signing[1])) == 401


def _none_token() -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return (b64({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." +
            b64({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, "nbf": now}) + ".")


@pytest.mark.parametrize("case", ["expired", "not yet valid", "wrong issuer", "other tenant",
                                  "wrong audience", "no expiry", "wrong key", "alg none",
                                  "hs256 with public key", "garbage"])
def test_invalid_entra_tokens_are_refused(service: ScimService, tenants: dict[str, str],
                                          signing: tuple[Jwks, Any], case: str) -> None:
    key = signing[1]
    now = int(time.time())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    bearer = {
        "expired": lambda: token(key, exp=now - 3600, nbf=now - 7200, iat=now - 7200),
        "not yet valid": lambda: token(key, nbf=now + 3600, exp=now + 7200),
        "wrong issuer": lambda: token(key, iss="https://evil.example/"),
        "other tenant": lambda: token(key, iss=f"https://sts.windows.net/{uuid.uuid4()}/"),
        "wrong audience": lambda: token(key, aud="api://someone-else"),
        "no expiry": lambda: token(key, exp=None),
        "wrong key": lambda: token(rsa_key()),  # same kid, another key
        "alg none": _none_token,
        "hs256 with public key": lambda: "eyJ" + _hs256(public_pem)[3:],
        "garbage": lambda: "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
    }[case]()
    assert status(service, tenants["enabled"], bearer) == 401, case


def _hs256(secret: bytes) -> str:
    """An HS256 token keyed with the public key: the classic algorithm-confusion attack.
    PyJWT refuses PEM keys as HMAC secrets, so it is assembled by hand."""
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600}).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_keys_are_cached_and_an_unknown_kid_refreshes_at_most_once_per_interval() -> None:
    jwks, first, second = Jwks(), rsa_key(), rsa_key()
    jwks.keys = [jwk(first, "a")]
    clock = [0.0]
    verifier = EntraJwtVerifier(jwks.url, clock=lambda: clock[0])
    try:
        for _ in range(5):
            verifier.verify(token(first, kid="a"), TID)
        assert jwks.fetches == 1  # cached
        jwks.keys.append(jwk(second, "b"))  # Entra rolls a new key
        clock[0] = 120.0
        with pytest.raises(InvalidToken, match="unknown signing key"):
            verifier.verify(token(second, kid="b"), TID)  # within the interval: no refetch
        assert jwks.fetches == 1
        clock[0] = 301.0
        verifier.verify(token(second, kid="b"), TID)
        assert jwks.fetches == 2  # the interval is over: one refresh finds the new key
        clock[0] = 310.0
        for _ in range(5):  # a flood of unknown kids within the interval: no more fetches
            with pytest.raises(InvalidToken, match="unknown signing key"):
                verifier.verify(token(rsa_key(), kid="zz"), TID)
        verifier.verify(token(first, kid="a"), TID)
        assert jwks.fetches == 2
    finally:
        jwks.server.shutdown()


@pytest.fixture
def fresh(app_env: dict[str, str], scim_service: ScimService) -> Iterator[
        tuple[Jwks, rsa.RSAPrivateKey, ScimService, str]]:
    """A service with an empty key cache, its own loopback JWKS and a JWT-enabled tenant."""
    jwks, key = Jwks(), rsa_key()
    jwks.keys = [jwk(key, "k1")]
    settings = scim_service.settings.model_copy(update={"entra_jwks_url": jwks.url})
    service = ScimService(settings, scim_service.tables)
    record = Tenant(id=new_tenant_id(), name="fresh", created=now_iso(), entra_tenant_id=TID)
    issue_token(record)
    service.tenants.create(record)
    yield jwks, key, service, record.id
    jwks.server.shutdown()


def _flood(service: ScimService, tenant: str, bearers: list[str]) -> list[tuple[int, float]]:
    """Each token sent from its own thread at once: (status, seconds) per request."""
    def one(bearer: str) -> tuple[int, float]:
        started = time.perf_counter()
        response = service.handle(ScimRequest("GET", tenant, "Users",
                                              headers={"authorization": f"Bearer {bearer}"}))
        if response.status == 503:
            assert response.headers["Retry-After"]
        return response.status, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, bearers))


def test_a_flood_of_forged_and_unknown_kid_tokens_fetches_the_keys_at_most_twice(
        fresh: tuple[Jwks, Any, ScimService, str]) -> None:
    jwks, key, service, tenant = fresh
    forged = [token(rsa_key(), kid=f"forged-{n}") for n in range(40)]  # unknown kids
    forged += [token(rsa_key(), kid="k1") for _ in range(12)]  # a known kid, the wrong key
    answers = _flood(service, tenant, forged)
    assert [status for status, _ in answers] == [401] * len(forged)
    assert jwks.fetches <= 2
    assert status(service, tenant, token(key)) == 200  # the real keys are cached meanwhile
    assert jwks.fetches <= 2


def test_a_failing_jwks_endpoint_is_asked_at_most_twice_and_every_request_answers_503(
        fresh: tuple[Jwks, Any, ScimService, str]) -> None:
    jwks, key, service, tenant = fresh
    jwks.status = 503
    bearers = [token(key) for _ in range(25)] + [token(rsa_key(), kid=f"x{n}") for n in range(25)]
    answers = _flood(service, tenant, bearers)
    assert [status for status, _ in answers] == [503] * len(bearers)
    assert max(seconds for _, seconds in answers) < 5.0
    assert jwks.fetches <= 2


def test_a_failed_fetch_is_retried_after_the_failure_ttl_and_stale_keys_keep_serving() -> None:
    jwks, key = Jwks(), rsa_key()
    jwks.keys = [jwk(key, "k1")]
    jwks.status = 503
    clock = [0.0]
    verifier = EntraJwtVerifier(jwks.url, clock=lambda: clock[0])
    try:
        for moment in (0.0, 10.0, 29.0):
            clock[0] = moment
            with pytest.raises(KeysUnavailable):
                verifier.verify(token(key), TID)
        assert jwks.fetches == 1  # the failure is remembered, not retried per token
        jwks.status = 200
        clock[0] = 31.0
        verifier.verify(token(key), TID)
        assert jwks.fetches == 2
        jwks.status = 503  # a day later the keys are due again and the endpoint is down
        for moment in (31.0 + 86_400, 31.0 + 86_410):
            clock[0] = moment
            verifier.verify(token(key), TID)  # Entra's keys outlive our cache: still valid
        assert jwks.fetches == 3
    finally:
        jwks.server.shutdown()


def test_rotated_keys_verify_through_the_service_once_the_rate_limit_allows(
        fresh: tuple[Jwks, Any, ScimService, str]) -> None:
    jwks, key, service, tenant = fresh
    assert status(service, tenant, token(key)) == 200
    new = rsa_key()
    jwks.keys = [jwk(new, "k2")]  # Entra rotated: the old key is gone
    clock = [time.monotonic()]
    service.auth._jwt = EntraJwtVerifier(jwks.url, clock=lambda: clock[0])
    assert status(service, tenant, token(new, kid="k2")) == 200  # first look: fetched
    jwks.keys = [jwk(new, "k2"), jwk(newer := rsa_key(), "k3")]
    assert status(service, tenant, token(newer, kid="k3")) == 401  # rate-limited
    clock[0] += 301
    assert status(service, tenant, token(newer, kid="k3")) == 200
    assert jwks.fetches == 3


_headers = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit"]),
    st.none() | st.booleans() | st.integers() | st.text(max_size=50)
    | st.sampled_from(["RS256", "HS256", "none", "k1", "\r\nforged", "x" * 3000])
    | st.lists(st.text(max_size=5), max_size=3),
    max_size=4)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_headers, payload=st.dictionaries(st.sampled_from(["iss", "aud", "exp", "nbf"]),
                                                st.integers() | st.text(max_size=20),
                                                max_size=4),
       signature=st.binary(max_size=300))
def test_any_jwt_shaped_token_gets_401_or_503_never_500(
        service: ScimService, tenants: dict[str, str], header: dict[str, Any],
        payload: dict[str, Any], signature: bytes) -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    bearer = "eyJ" + b64(json.dumps(header).encode())[3:] if header else "eyJ9"
    bearer += "." + b64(json.dumps(payload).encode()) + "." + b64(signature)
    assert status(service, tenants["enabled"], bearer) in (401, 503)


# --------------------------------------------------------------------------------------------
# Client assertions (verify_assertion)
# --------------------------------------------------------------------------------------------

WIF_AUDIENCE = "api://scim-connector-test"
WIF_SUBJECT = "00000000-aaaa-4bbb-8ccc-000000000001"


@pytest.fixture
def federation() -> Iterator[tuple[Jwks, EntraJwtVerifier, list[float]]]:
    """A verifier whose bearer keys come from one loopback server and whose assertion keys
    from another (k1 published), with a clock the test moves."""
    bearer_keys, assertion_keys = Jwks(), Jwks()
    assertion_keys.add_key("k1")
    clock = [0.0]
    verifier = EntraJwtVerifier(bearer_keys.url, clock=lambda: clock[0],
                                assertion_jwks_url=assertion_keys.assertion_url)
    yield assertion_keys, verifier, clock
    bearer_keys.close()
    assertion_keys.close()


def _assert(verifier: EntraJwtVerifier, jwt_text: str, tid: str = TID) -> dict[str, Any]:
    return verifier.verify_assertion(jwt_text, entra_tenant_id=tid, audience=WIF_AUDIENCE,
                                     subject=WIF_SUBJECT)


def test_a_valid_assertion_gives_its_claims(
        federation: tuple[Jwks, EntraJwtVerifier, list[float]]) -> None:
    jwks, verifier, _ = federation
    claims = _assert(verifier, assertion(jwks.private["k1"], tid=TID, audience=WIF_AUDIENCE,
                                         subject=WIF_SUBJECT))
    assert claims["sub"] == WIF_SUBJECT
    assert claims["iss"] == f"https://login.microsoftonline.com/{TID}/v2.0"
    assert jwks.fetches == 1
    assert _assert(verifier, assertion(jwks.private["k1"], tid=TID, subject=WIF_SUBJECT,
                                       audience=["other", WIF_AUDIENCE]))  # aud may be a list
    assert jwks.fetches == 1  # cached


@pytest.mark.parametrize("case", [
    "other entra tenant", "v1 issuer", "wrong audience", "wrong subject", "no subject",
    "expired", "no expiry", "not yet valid", "alg none", "hs256 with public key",
    "unknown kid", "wrong key", "garbage"])
def test_invalid_assertions_are_refused(
        federation: tuple[Jwks, EntraJwtVerifier, list[float]], case: str) -> None:
    jwks, verifier, _ = federation
    key = jwks.private["k1"]
    now = int(time.time())

    def make(**claims: Any) -> str:
        given = {"tid": TID, "audience": WIF_AUDIENCE, "subject": WIF_SUBJECT, **claims}
        return assertion(key if "key" not in given else given.pop("key"), **given)

    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    presented = {
        "other entra tenant": lambda: make(iss=f"https://login.microsoftonline.com/"
                                               f"{uuid.uuid4()}/v2.0"),
        "v1 issuer": lambda: make(iss=ISSUER),
        "wrong audience": lambda: make(audience="api://someone-else"),
        "wrong subject": lambda: make(subject="another-workload"),
        "no subject": lambda: make(sub=None),
        "expired": lambda: make(exp=now - 3600, nbf=now - 7200, iat=now - 7200),
        "no expiry": lambda: make(exp=None),
        "not yet valid": lambda: make(nbf=now + 3600, exp=now + 7200),
        "alg none": lambda: _unsigned({"iss": f"https://login.microsoftonline.com/{TID}/v2.0",
                                       "aud": WIF_AUDIENCE, "sub": WIF_SUBJECT,
                                       "exp": now + 3600}),
        "hs256 with public key": lambda: _hs256(public_pem),
        "unknown kid": lambda: make(kid="k9"),
        "wrong key": lambda: make(key=rsa_key()),  # kid k1, another key
        "garbage": lambda: "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
    }[case]()
    with pytest.raises(InvalidToken):
        _assert(verifier, presented)


def _unsigned(claims: dict[str, Any]) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return b64({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + b64(claims) + "."


def test_assertion_keys_come_from_the_v2_url_of_the_credentials_entra_tenant(
        federation: tuple[Jwks, EntraJwtVerifier, list[float]]) -> None:
    jwks, _, _ = federation
    paths: list[str] = []
    fetching = EntraJwtVerifier("http://bearer.invalid/{tid}",
                                fetch=lambda url: paths.append(url) or {"keys": jwks.keys},
                                assertion_jwks_url="http://wif.invalid/{tid}/v2")
    _assert(fetching, assertion(jwks.private["k1"], tid=TID, audience=WIF_AUDIENCE,
                                subject=WIF_SUBJECT))
    assert paths == [f"http://wif.invalid/{TID}/v2"]
    with pytest.raises(InvalidToken):  # signed for TID, presented for another credential
        _assert(fetching, assertion(jwks.private["k1"], tid=TID, audience=WIF_AUDIENCE,
                                    subject=WIF_SUBJECT), tid=str(uuid.uuid4()))


def test_unknown_kid_assertions_refetch_at_most_once_per_interval(
        federation: tuple[Jwks, EntraJwtVerifier, list[float]]) -> None:
    jwks, verifier, clock = federation
    key = jwks.private["k1"]
    _assert(verifier, assertion(key, tid=TID, audience=WIF_AUDIENCE, subject=WIF_SUBJECT))
    for n in range(20):
        with pytest.raises(InvalidToken, match="unknown signing key"):
            _assert(verifier, assertion(key, kid=f"forged-{n}", tid=TID, audience=WIF_AUDIENCE,
                                        subject=WIF_SUBJECT))
    assert jwks.fetches == 1  # fetched moments ago: no refetch within the interval
    new = jwks.add_key("k2")  # Entra rolled a key: found once the interval is over
    clock[0] = 301.0
    _assert(verifier, assertion(new, kid="k2", tid=TID, audience=WIF_AUDIENCE,
                                subject=WIF_SUBJECT))
    clock[0] = 310.0
    for n in range(20):
        with pytest.raises(InvalidToken, match="unknown signing key"):
            _assert(verifier, assertion(key, kid=f"again-{n}", tid=TID, audience=WIF_AUDIENCE,
                                        subject=WIF_SUBJECT))
    assert jwks.fetches == 2


def test_an_unreachable_assertion_jwks_is_keys_unavailable_and_not_asked_again_at_once(
        federation: tuple[Jwks, EntraJwtVerifier, list[float]]) -> None:
    jwks, verifier, clock = federation
    jwks.down.add(TID)
    presented = assertion(jwks.private["k1"], tid=TID, audience=WIF_AUDIENCE,
                          subject=WIF_SUBJECT)
    for moment in (0.0, 10.0, 29.0):
        clock[0] = moment
        with pytest.raises(KeysUnavailable):
            _assert(verifier, presented)
    assert jwks.fetches == 1
    jwks.down.clear()
    clock[0] = 31.0
    assert _assert(verifier, presented)["sub"] == WIF_SUBJECT
    assert jwks.fetches == 2
