"""Access tokens minted and verified through a key ring on Azurite: claims as RFC 9068 lays them
out; a token for one tenant refused by another; tampered, expired, wrong-audience, wrong-issuer,
`alg: none`, HS256-with-the-public-key, unknown-key and over-long tokens refused with a fixed
label; lifetimes outside 60 minutes to 6 hours refused at construction."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth.access_tokens import TOKEN_TYPE, AccessTokens, is_access_token
from shared.auth.entra_jwt import InvalidToken
from shared.auth.signing_keys import KeyRing
from shared.store.signing_keys import SigningKeyTable

ISSUER = "https://scim.example.com/oauth2"
AUD_A = "https://scim.example.com/scim/v2/tenanta"
AUD_B = "https://scim.example.com/scim/v2/tenantb"


@pytest.fixture
def tokens(key_table: SigningKeyTable) -> AccessTokens:
    return AccessTokens(KeyRing(key_table), ISSUER, 3600)


def _mint(tokens: AccessTokens, tenant: str = "tenanta", aud: str = AUD_A) -> str:
    return tokens.mint(tenant_id=tenant, audience=aud, client_id=f"{tenant}.0123456789abcdef",
                       credential_id="c1").token


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(body))), sig)


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_claims_follow_rfc_9068(tokens: AccessTokens) -> None:
    issued = tokens.mint(tenant_id="tenanta", audience=AUD_A,
                         client_id="tenanta.0123456789abcdef", credential_id="c1")
    assert issued.expires_in == 3600
    header, claims, _ = _parts(issued.token)
    assert header["typ"] == TOKEN_TYPE
    assert header["alg"] == "ES256"
    assert header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUD_A
    assert claims["sub"] == claims["client_id"] == "tenanta.0123456789abcdef"
    assert claims["tid"] == "tenanta"
    assert claims["cred"] == "c1"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 5
    assert len(claims["jti"]) == 32
    assert is_access_token(issued.token)
    verified = tokens.verify(issued.token, tenant_id="tenanta", audience=AUD_A)
    assert (verified.client_id, verified.credential_id, verified.kid) == (
        "tenanta.0123456789abcdef", "c1", header["kid"])
    assert verified.expires_at == claims["exp"]


def test_every_token_has_its_own_jti(tokens: AccessTokens) -> None:
    assert len({_parts(_mint(tokens))[1]["jti"] for _ in range(20)}) == 20


def test_a_token_of_tenant_a_is_refused_by_tenant_b(tokens: AccessTokens) -> None:
    token = _mint(tokens)
    with pytest.raises(InvalidToken, match="InvalidAudienceError"):
        tokens.verify(token, tenant_id="tenantb", audience=AUD_B)
    with pytest.raises(InvalidToken, match="another tenant"):
        tokens.verify(token, tenant_id="tenantb", audience=AUD_A)


@pytest.mark.parametrize("lifetime", [3599, 6 * 3600 + 1, 0])
def test_lifetime_bounds(key_table: SigningKeyTable, lifetime: int) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        AccessTokens(KeyRing(key_table), ISSUER, lifetime)


@pytest.mark.parametrize("lifetime", [3600, 6 * 3600])
def test_lifetimes_at_the_bounds_are_issued(key_table: SigningKeyTable, lifetime: int) -> None:
    tokens = AccessTokens(KeyRing(key_table), ISSUER, lifetime)
    _, claims, _ = _parts(_mint(tokens))
    assert claims["exp"] - claims["iat"] == lifetime


def test_expired_tokens_are_refused(key_table: SigningKeyTable) -> None:
    ring = KeyRing(key_table)
    past = AccessTokens(ring, ISSUER, 3600, clock=lambda: time.time() - 3700)
    with pytest.raises(InvalidToken, match="ExpiredSignatureError"):
        AccessTokens(ring, ISSUER, 3600).verify(_mint(past), tenant_id="tenanta", audience=AUD_A)


def test_a_token_from_another_issuer_is_refused(key_table: SigningKeyTable) -> None:
    ring = KeyRing(key_table)
    other = AccessTokens(ring, "https://elsewhere.example.com/oauth2", 3600)
    with pytest.raises(InvalidToken, match="InvalidIssuerError"):
        AccessTokens(ring, ISSUER, 3600).verify(_mint(other), tenant_id="tenanta",
                                                audience=AUD_A)


def test_alg_none_and_hs256_with_the_public_key_are_refused(tokens: AccessTokens) -> None:
    header, claims, _ = _parts(_mint(tokens))
    none = _b64({**header, "alg": "none"}) + "." + _b64(claims) + "."
    with pytest.raises(InvalidToken, match="algorithm"):
        tokens.verify(none, tenant_id="tenanta", audience=AUD_A)
    key = tokens._keys.verification_key(header["kid"])
    assert key is not None
    public_pem = key.public_key.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac
    signing_input = (_b64({**header, "alg": "HS256"}) + "." + _b64(claims)).encode()
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = signing_input.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="algorithm"):
        tokens.verify(forged, tenant_id="tenanta", audience=AUD_A)


def test_a_token_signed_by_a_key_not_in_the_set_is_refused(tokens: AccessTokens) -> None:
    header, claims, _ = _parts(_mint(tokens))
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, stranger, algorithm="ES256", headers={"typ": TOKEN_TYPE,
                                                                     "kid": header["kid"]})
    with pytest.raises(InvalidToken, match="InvalidSignatureError"):
        tokens.verify(forged, tenant_id="tenanta", audience=AUD_A)
    unknown = jwt.encode(claims, stranger, algorithm="ES256",
                         headers={"typ": TOKEN_TYPE, "kid": "not-ours"})
    with pytest.raises(InvalidToken, match="unknown signing key"):
        tokens.verify(unknown, tenant_id="tenanta", audience=AUD_A)


def test_an_over_long_lifetime_is_refused_even_when_signed(tokens: AccessTokens) -> None:
    header, claims, _ = _parts(_mint(tokens))
    key = tokens._keys.verification_key(header["kid"])
    assert key is not None
    now = int(time.time())
    long_lived = jwt.encode({**claims, "iat": now, "exp": now + 7 * 3600}, key.private_key,
                            algorithm="ES256", headers={"typ": TOKEN_TYPE, "kid": key.kid})
    with pytest.raises(InvalidToken, match="lifetime"):
        tokens.verify(long_lived, tenant_id="tenanta", audience=AUD_A)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw_-"))
def test_any_altered_character_is_refused(tokens: AccessTokens, position: int,
                                          replacement: str) -> None:
    token = _mint(tokens)
    index = position % len(token)
    if token[index] == "." or token[index] == replacement:
        return
    altered = token[:index] + replacement + token[index + 1:]
    try:
        claims = tokens.verify(altered, tenant_id="tenanta", audience=AUD_A)
    except InvalidToken:
        return
    # Base64url's last character can carry unused bits: a change there decodes to the same
    # bytes, so the token is still the one that was signed.
    assert claims.client_id == "tenanta.0123456789abcdef"
    assert _parts(altered)[1] == _parts(token)[1]


def test_other_jwts_are_not_taken_for_ours() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert not is_access_token(jwt.encode({"a": 1}, key, algorithm="ES256"))
    assert not is_access_token("scim_notajwt")
    assert not is_access_token("eyJ.bad.token")


@pytest.mark.parametrize("token", [
    "", ".", "abc", "e30.e30.", "W10.e30.",  # {} and [] headers
    base64.urlsafe_b64encode(json.dumps({"typ": TOKEN_TYPE, "pad": "x" * 600}).encode())
    .decode() + ".e30.sig",  # a header longer than any of ours is not decoded
    "eyJ0eXAiOiJhdCtqd3QifQ",  # no dots at all
])
def test_header_sniffing_refuses_what_is_not_ours(token: str) -> None:
    assert not is_access_token(token)


def test_header_sniffing_agrees_with_pyjwt_on_our_tokens(tokens: AccessTokens) -> None:
    token = _mint(tokens)
    assert is_access_token(token)
    assert jwt.get_unverified_header(token)["typ"] == TOKEN_TYPE
