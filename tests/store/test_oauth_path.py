"""The production storage path against Azurite over HTTPS with `--oauth basic`: the app's own
`open_tables` with SCIM_STORAGE_TABLE_ENDPOINT and AZURE_CLIENT_ID gets its token from the
managed-identity endpoint (asked for that client id and for Storage), Azurite really checks the
tokens it is given, and TLS is verified.

Runs in every session: with SCIM_TEST_STORAGE=https-oauth on the session's storage, otherwise
on an HTTPS + OAuth Azurite of this module's own (tests/support/storage_modes.py)."""

from __future__ import annotations

import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azurite  # tools/, on sys.path via tests/conftest.py
import jwt
import local_tls  # tools/
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential

from shared.settings import Settings
from shared.store import deadline, wire
from shared.store.connection import open_tables
from shared.store.directory import Directory, Indexes
from shared.store.errors import TransportFailed, Unavailable
from shared.store.layout import USER
from shared.store.wire import BearerToken, Request, Response, Wire
from tests.support import entra_tokens, managed_identity, storage_modes
from tests.support.entra_tokens import MintingCredential, mint
from tests.support.storage_modes import TestStorage

ROOT = Path(__file__).resolve().parents[2]
STORAGE_APP_ID = "e406a681-f3d4-42a8-90b6-c2b029497af1"  # Azure Storage's application id


@pytest.fixture(scope="module")
def oauth(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestStorage]:
    if storage_modes.selected_mode() == storage_modes.HTTPS_OAUTH:
        yield request.getfixturevalue("storage")
        return
    with storage_modes.https_oauth(tmp_path_factory.mktemp("oauth-tls"),
                                   ROOT / ".pytest_cache" / "azurite-oauth.log") as own:
        yield own


@pytest.fixture
def identity(oauth: TestStorage) -> managed_identity.ManagedIdentityEndpoint:
    assert oauth.identity is not None
    return oauth.identity


def _settings(oauth: TestStorage, **changes: Any) -> Settings:
    # A table prefix of the test's own: the tables are created here, with a token.
    return Settings(**{**oauth.settings, "table_prefix": "oa" + uuid.uuid4().hex[:8], **changes})


# -- the app's wiring ------------------------------------------------------------------------------

def test_open_tables_gets_one_token_for_its_client_id_from_the_managed_identity(
        oauth: TestStorage, identity: managed_identity.ManagedIdentityEndpoint,
        sent: list[Request]) -> None:
    settings = _settings(oauth)
    assert settings.storage_connection_string is None
    assert settings.storage_table_endpoint is not None
    assert settings.storage_table_endpoint.startswith("https://")
    before = len(identity.requests)
    tables = open_tables(settings)
    try:
        tables.ensure()
        directory = Directory(tables.data)
        directory.create("t1", USER, "u1", {"userName": "a"}, Indexes(unique={"UN": "a"}),
                         columns={}, now="2026-01-01T00:00:00Z")
        assert directory.get("t1", USER, "u1") is not None
    finally:
        tables.data.wire.close()
    asked = identity.requests[before:]
    # One token for every call: azure-identity and the store's signer both cache it.
    assert len(asked) == 1, asked
    (token_request,) = asked
    assert token_request.client_id == settings.azure_client_id == oauth.settings["azure_client_id"]
    assert token_request.resource == entra_tokens.STORAGE_RESOURCE
    assert token_request.api_version == managed_identity.API_VERSION
    assert token_request.header_matched
    assert token_request.answered == 200
    assert len(sent) >= 6  # four table creates, the create's transaction, the read
    assert all(r.url.startswith(settings.storage_table_endpoint) for r in sent)
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in sent)
    claims = jwt.decode(sent[0].headers["Authorization"].removeprefix("Bearer "),
                        options={"verify_signature": False})
    assert (claims["aud"], claims["appid"]) == (entra_tokens.STORAGE_RESOURCE,
                                                settings.azure_client_id)


def test_the_scope_the_store_asks_for_is_one_azurite_accepts(oauth: TestStorage) -> None:
    credential = MintingCredential()
    w = Wire(oauth.settings["storage_table_endpoint"], BearerToken(credential))
    try:
        assert _list_tables(w).status_code == 200
    finally:
        w.close()
    assert credential.scopes == [(wire.STORAGE_SCOPE,)]


def test_a_managed_identity_without_a_token_is_a_storage_outage(
        oauth: TestStorage, identity: managed_identity.ManagedIdentityEndpoint) -> None:
    """An identity the endpoint does not have (a wrong AZURE_CLIENT_ID): the store reports
    Unavailable (a SCIM 503), as for any storage failure, not an unmapped error."""
    before = len(identity.requests)
    tables = open_tables(_settings(oauth, azure_client_id=str(uuid.uuid4())))
    with pytest.raises(Unavailable):
        Directory(tables.data).get("t1", USER, "u1")
    assert [r.answered for r in identity.requests[before:]] == [400]


@pytest.mark.parametrize("client_id", [None, "11111111-2222-3333-4444-555555555555"])
def test_the_identity_endpoint_refuses_identities_it_does_not_have(
        oauth: TestStorage, identity: managed_identity.ManagedIdentityEndpoint,
        client_id: str | None) -> None:
    """Only the configured user-assigned identity gets tokens: a wiring that dropped the
    client id (the system-assigned identity) or passed another one fails here, as in Azure."""
    before = len(identity.requests)
    credential = ManagedIdentityCredential(client_id=client_id)
    with pytest.raises(ClientAuthenticationError):
        credential.get_token(wire.STORAGE_SCOPE)
    assert [(r.client_id, r.answered) for r in identity.requests[before:]] == [(client_id, 400)]


def test_the_identity_endpoint_wants_its_secret_header(
        oauth: TestStorage, identity: managed_identity.ManagedIdentityEndpoint,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    before = len(identity.requests)
    with pytest.raises(ClientAuthenticationError):
        credential.get_token(wire.STORAGE_SCOPE)
    assert [(r.header_matched, r.answered) for r in identity.requests[before:]] == [(False, 401)]


# -- what Azurite checks in a token ------------------------------------------------------------

class FixedAuthorization:
    """Signs every request with one Authorization header (or none)."""

    def __init__(self, header: str | None) -> None:
        self.header = header

    def sign(self, request: Request, path: str) -> None:
        if self.header is not None:
            request.headers["Authorization"] = self.header


def _list_tables(w: Wire) -> Response:
    return w.request("GET", f"{w.base_path}/Tables", headers={"Accept": "application/json"})


def _answer(oauth: TestStorage, authorization: str | None) -> tuple[int, str | None, str | None]:
    """Status, error code and Azurite's AuthenticationErrorDetail for one request."""
    w = Wire(oauth.settings["storage_table_endpoint"], FixedAuthorization(authorization))
    try:
        response = _list_tables(w)
    finally:
        w.close()
    detail = re.search(rb"<AuthenticationErrorDetail>(.*?)</AuthenticationErrorDetail>",
                       response.body)
    return (response.status_code, response.header("x-ms-error-code"),
            detail.group(1).decode() if detail else None)


def _refused(make: Callable[[int], str], detail: str, name: str) -> Any:
    return pytest.param(make, detail, id=name)


@pytest.mark.parametrize(("make", "detail"), [
    _refused(lambda now: mint("https://vault.azure.net", now=now),
             "Invalid token audience.", "another resource"),
    _refused(lambda now: mint("https://otheraccount.table.core.windows.net", now=now),
             "Invalid token audience.", "another account"),
    _refused(lambda now: mint(entra_tokens.STORAGE_RESOURCE + "/extra", now=now),
             "Invalid token audience.", "audience with a path"),
    _refused(lambda now: mint(issuer="https://login.example.com/tenant/", now=now),
             "Invalid token issuer.", "issuer not Entra"),
    _refused(lambda now: mint(now=now, lifetime=-60),
             "Lifetime validation failed. The token is expired.", "expired"),
    _refused(lambda now: mint(now=now, not_before=now + 300),
             "Lifetime validation failed.", "not yet valid"),
    _refused(lambda now: mint(now=now, iat=None),
             "Authentication scheme Bearer is not supported.", "no iat"),
    _refused(lambda now: mint(now=now, aud=None),
             "Authentication scheme Bearer is not supported.", "no audience"),
])
def test_azurite_refuses_a_token_with_a_wrong_claim(
        oauth: TestStorage, make: Callable[[int], str], detail: str) -> None:
    token = make(int(time.time()))
    assert _answer(oauth, f"Bearer {token}") == (403, "AuthenticationFailed", detail)


@pytest.mark.parametrize("audience", [
    entra_tokens.STORAGE_RESOURCE, entra_tokens.STORAGE_RESOURCE + "/", STORAGE_APP_ID,
    f"https://{azurite.ACCOUNT}.table.core.windows.net",
])
def test_azurite_accepts_the_storage_audiences(oauth: TestStorage, audience: str) -> None:
    """The control for the refusals above: the same minting, right claims, is accepted."""
    assert _answer(oauth, f"Bearer {mint(audience)}") == (200, None, None)


@pytest.mark.parametrize(("authorization", "expected"), [
    (None, (403, "AuthorizationFailure", None)),
    ("Bearer not-a-jwt", (403, "AuthenticationFailed",
                          "Authentication scheme Bearer is not supported.")),
])
def test_azurite_refuses_a_request_without_a_token(
        oauth: TestStorage, authorization: str | None,
        expected: tuple[int, str, str | None]) -> None:
    assert _answer(oauth, authorization) == expected


def test_azurite_does_not_verify_token_signatures(oauth: TestStorage) -> None:
    """What `--oauth basic` leaves out (so these tests prove the claims, never that a token is
    genuine): an unsigned token (`alg: none`) with the right claims is accepted."""
    now = int(time.time())
    unsigned = jwt.encode({"aud": entra_tokens.STORAGE_RESOURCE, "iss": entra_tokens.ISSUER,
                           "iat": now, "nbf": now, "exp": now + 600}, "", algorithm="none")
    assert _answer(oauth, f"Bearer {unsigned}") == (200, None, None)


# -- TLS ---------------------------------------------------------------------------------------

def _port(oauth: TestStorage) -> int:
    port = urlsplit(oauth.settings["storage_table_endpoint"]).port
    assert port is not None
    return port


def _handshake(oauth: TestStorage, context: ssl.SSLContext,
               server_hostname: str = "127.0.0.1") -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", _port(oauth)), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_hostname) as tls:
        peer = tls.getpeercert()
    assert peer is not None
    return dict(peer)


def test_the_certificate_is_verified_by_name_and_address(oauth: TestStorage) -> None:
    assert oauth.ca_file is not None
    trusting = ssl.create_default_context(cafile=str(oauth.ca_file))
    for name in ("127.0.0.1", "localhost"):
        peer = _handshake(oauth, trusting, server_hostname=name)
        assert {("IP Address", "127.0.0.1"), ("DNS", "localhost")} <= set(
            peer["subjectAltName"])
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(oauth, trusting, server_hostname="example.com")


@pytest.fixture
def another_ca_file(tmp_path: Path) -> Path:
    """A CA file trusting a certificate for the same names that Azurite does not serve."""
    return local_tls.self_signed(tmp_path).cert


def test_a_client_without_the_certificate_cannot_connect(oauth: TestStorage,
                                                         another_ca_file: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"):
        _handshake(oauth, ssl.create_default_context(cafile=str(another_ca_file)))


def test_the_store_verifies_tls_through_ssl_cert_file(
        oauth: TestStorage, another_ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session trusts the certificate only through SSL_CERT_FILE (REQUESTS_CA_BUNDLE for
    requests-based clients): without it in that file, the store's connections fail."""
    monkeypatch.setenv("SSL_CERT_FILE", str(another_ca_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(another_ca_file))
    w = Wire(oauth.settings["storage_table_endpoint"], BearerToken(MintingCredential()))
    try:
        # A short deadline ends the retries (the failure is the same on every attempt).
        with deadline.within(0.5), \
                pytest.raises(TransportFailed, match="CERTIFICATE_VERIFY_FAILED"):
            _list_tables(w)
    finally:
        w.close()
