"""shared.service.token_endpoint in-process on Azurite, with the rate limiter's and the
last-use bookkeeping's clock in the test's hands: the form's details (charset, encoding,
field count, blank parameters, the size limit to the byte), how client authentication is
read, the rate limit applied before any storage read, last use recorded at most once an hour
and never failing a token, storage outages (503) and the unexpected (500 with a request id,
no traceback), refusals logged without secrets, the key set, and - as a property - that no
request whatever gets a 500. Over HTTP: tests/e2e/test_oauth.py."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import clients
from shared.auth.rate_limit import RateLimiter
from shared.auth.signing_keys import KeyRing
from shared.auth.tenants import new_tenant_id
from shared.service.app import ScimService
from shared.service.messages import OAuthRequest, OAuthResponse
from shared.service.token_endpoint import (
    BURST,
    MAX_BODY_BYTES,
    REFILL_SECONDS,
    USE_RECORD_INTERVAL,
    TokenEndpoint,
)
from shared.store import deadline
from shared.store.errors import Unavailable
from shared.store.signing_keys import SigningKeyTable
from shared.store.tenants import Tenant, TenantTable
from shared.timestamps import now_iso
from tests.support.storage_faults import Injector, Unexpected, busy, hooked, own_thread

FORM = "application/x-www-form-urlencoded"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(scim_service: ScimService, clock: Clock) -> TokenEndpoint:
    """An endpoint of its own (its own tenant table object to spy on, its own limiter)."""
    return TokenEndpoint(scim_service.settings, TenantTable(scim_service.tables.tenants),
                         scim_service.access_tokens, scim_service.keys, scim_service.entra_jwt,
                         limiter=RateLimiter(BURST, REFILL_SECONDS, clock=clock),
                         monotonic=clock)


@pytest.fixture
def client(scim_service: ScimService) -> tuple[str, str, str]:
    """A fresh tenant with one client: (tenant id, client id, secret)."""
    record = Tenant(id=new_tenant_id(), name="oauth", created=now_iso())
    issued = clients.add_client(record, datetime.now(UTC))
    secret = clients.add_secret(issued, datetime.now(UTC))
    scim_service.tenants.create(record)
    return record.id, issued.id, secret


def request(body: bytes | str | dict[str, str], *, content_type: str | None = FORM,
            method: str = "POST", request_id: str = "", **headers: str) -> OAuthRequest:
    if isinstance(body, dict):
        body = urlencode(body)
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if content_type is not None:
        sent["content-type"] = content_type
    return OAuthRequest(method, sent, body.encode() if isinstance(body, str) else body,
                        request_id)


def post_form(client: tuple[str, str, str], **extra: str) -> dict[str, str]:
    _, client_id, secret = client
    return {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret, **extra}


def error(r: OAuthResponse, status: int, code: str) -> str:
    assert r.status == status, r.body
    assert r.body["error"] == code
    assert set(r.body) == {"error", "error_description"}
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Pragma"] == "no-cache"
    return str(r.body["error_description"])


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_the_service_serves_the_endpoint(scim_service: ScimService,
                                         client: tuple[str, str, str]) -> None:
    r = scim_service.token_endpoint.handle(request(post_form(client)))
    assert r.status == 200, r.body
    assert r.body["expires_in"] == scim_service.settings.access_token_minutes * 60
    assert r.headers["X-Request-Id"]


# --------------------------------------------------------------------------------------------
# The form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [FORM, f"{FORM}; charset=utf-8",
                                          f'{FORM};charset="UTF-8"',
                                          "Application/X-WWW-Form-URLEncoded"])
def test_the_form_media_type_is_matched_as_http_says(
        endpoint: TokenEndpoint, client: tuple[str, str, str], content_type: str) -> None:
    assert endpoint.handle(request(post_form(client), content_type=content_type)).status == 200


@pytest.mark.parametrize(("content_type", "body"), [
    (None, "grant_type=client_credentials"),
    ("application/json", '{"grant_type": "client_credentials"}'),
    ("multipart/form-data; boundary=x", "grant_type=client_credentials"),
    (f"{FORM}; charset=iso-8859-1", "grant_type=client_credentials"),
    (FORM, b"grant_type=client_credentials&x=\xff"),  # not UTF-8
    (FORM, "grant_type=client_credentials&x=%FF"),  # an escape that is not UTF-8
    (FORM, "&".join(f"f{n}=v" for n in range(40))),  # more fields than a token request has
    (FORM, "grant_type=&scope=scim"),  # blank counts as omitted: no grant_type
    (FORM, "grant_type=client_credentials&grant_type=client_credentials"),
    (FORM, "scope=a&scope=b&grant_type=client_credentials"),
])
def test_malformed_requests_are_invalid_request(endpoint: TokenEndpoint, content_type: str | None,
                                                body: str | bytes) -> None:
    error(endpoint.handle(request(body, content_type=content_type)), 400, "invalid_request")


def test_the_size_limit_is_exact(endpoint: TokenEndpoint, client: tuple[str, str, str]) -> None:
    body = urlencode(post_form(client)) + "&pad="
    body += "x" * (MAX_BODY_BYTES - len(body))
    assert len(body) == MAX_BODY_BYTES
    assert endpoint.handle(request(body)).status == 200
    assert "16384" in error(endpoint.handle(request(body + "x")), 400, "invalid_request")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_post_is_served(endpoint: TokenEndpoint, client: tuple[str, str, str],
                             method: str) -> None:
    r = endpoint.handle(request(post_form(client), method=method))
    error(r, 405, "invalid_request")
    assert r.headers["Allow"] == "POST"


# --------------------------------------------------------------------------------------------
# Client authentication, as read from the request
# --------------------------------------------------------------------------------------------


def test_basic_scheme_is_case_insensitive(endpoint: TokenEndpoint,
                                          client: tuple[str, str, str]) -> None:
    _, client_id, secret = client
    header = "basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    r = endpoint.handle(request({"grant_type": "client_credentials"}, authorization=header))
    assert r.status == 200, r.body


@pytest.mark.parametrize("raw", [b"no-colon", b":secret-without-id", b"id-without-secret:",
                                 b"\xff\xfe:x", b"id:%FF", b"id%:x"])
def test_unusable_basic_credentials_are_invalid_client(endpoint: TokenEndpoint,
                                                       raw: bytes) -> None:
    r = endpoint.handle(request({"grant_type": "client_credentials"}, authorization=basic(raw)))
    error(r, 401, "invalid_client")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="scim-oauth"'


def test_how_the_client_authenticates_must_be_unambiguous(endpoint: TokenEndpoint,
                                                          client: tuple[str, str, str]) -> None:
    _, client_id, secret = client
    header = basic(f"{client_id}:{secret}".encode())
    grant = {"grant_type": "client_credentials"}
    assert "differs" in error(endpoint.handle(request(
        {**grant, "client_id": client_id + "0"}, authorization=header)), 400, "invalid_request")
    assert "one way only" in error(endpoint.handle(request(
        {**grant, "client_assertion": "x.y.z"}, authorization=header)), 400, "invalid_request")
    assert "client_id" in error(endpoint.handle(request(
        {**grant, "client_secret": secret})), 400, "invalid_request")
    # A client id alone authenticates nothing (there are no public clients).
    error(endpoint.handle(request({**grant, "client_id": client_id})), 401, "invalid_client")


# --------------------------------------------------------------------------------------------
# Rate limit, bookkeeping
# --------------------------------------------------------------------------------------------


def test_the_rate_limit_comes_before_any_storage_read(
        endpoint: TokenEndpoint, client: tuple[str, str, str], clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    table = endpoint._tenants
    reads: list[str] = []
    real_get = table.get
    monkeypatch.setattr(table, "get", lambda tid: reads.append(tid) or real_get(tid))
    wrong = post_form(client, client_secret="guess")
    for _ in range(BURST):
        error(endpoint.handle(request(wrong)), 401, "invalid_client")
    assert len(reads) == BURST
    r = endpoint.handle(request(post_form(client)))  # the right secret waits its turn too
    error(r, 429, "slow_down")
    assert r.headers["Retry-After"] == "6"
    assert len(reads) == BURST
    clock.now += 2.5
    assert endpoint.handle(request(post_form(client))).headers["Retry-After"] == "4"
    clock.now += 3.5
    assert endpoint.handle(request(post_form(client))).status == 200
    assert len(reads) == BURST + 1


def test_last_use_is_recorded_at_most_once_an_hour_per_credential(
        endpoint: TokenEndpoint, client: tuple[str, str, str], clock: Clock,
        scim_service: ScimService, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id = client[0]
    table = endpoint._tenants
    writes: list[str] = []
    real = table.record_use
    monkeypatch.setattr(table, "record_use", lambda t, c, w: writes.append(c) or real(t, c, w))
    for _ in range(3):
        assert endpoint.handle(request(post_form(client))).status == 200
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    secret_id = record.clients[0].secrets[0].id
    assert writes == [secret_id]
    assert list(scim_service.tenants.last_uses(tenant_id)) == [secret_id]
    clock.now += USE_RECORD_INTERVAL + 1
    assert endpoint.handle(request(post_form(client))).status == 200
    assert writes == [secret_id, secret_id]


def test_a_failure_to_record_last_use_never_fails_the_token(
        endpoint: TokenEndpoint, client: tuple[str, str, str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def fail(*args: Any) -> None:
        raise Unavailable("injected")

    monkeypatch.setattr(endpoint._tenants, "record_use", fail)
    with caplog.at_level(logging.WARNING, logger="scim.oauth"):
        assert endpoint.handle(request(post_form(client))).status == 200
    assert any("last-use not recorded (Unavailable)" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------------
# Storage, the unexpected, logs
# --------------------------------------------------------------------------------------------


def test_storage_calls_run_under_the_request_deadline(
        endpoint: TokenEndpoint, client: tuple[str, str, str], scim_service: ScimService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float | None] = []
    real_get = endpoint._tenants.get
    monkeypatch.setattr(endpoint._tenants, "get",
                        lambda tid: seen.append(deadline.remaining()) or real_get(tid))
    assert endpoint.handle(request(post_form(client))).status == 200
    (left,) = seen
    assert left is not None
    assert 0 < left <= scim_service.settings.storage_deadline_seconds


def test_a_storage_outage_is_503_temporarily_unavailable(
        endpoint: TokenEndpoint, client: tuple[str, str, str]) -> None:
    injector = Injector()
    with hooked(injector):
        injector.arm("throttle", at=1, outage=True)
        r = endpoint.handle(request(post_form(client)))
    assert injector.injected >= 1
    assert "retry" in error(r, 503, "temporarily_unavailable")
    assert r.headers["Retry-After"] == "5"



def test_an_unexpected_error_is_500_quoting_the_logged_request_id(
        endpoint: TokenEndpoint, client: tuple[str, str, str], scim_service: ScimService,
        caplog: pytest.LogCaptureFixture) -> None:
    with hooked(Unexpected(scim_service.tables.tenants.table_name)), \
            caplog.at_level(logging.ERROR, logger="scim.oauth"):
        r = endpoint.handle(request(post_form(client), request_id="req-oauth-500"))
    description = error(r, 500, "server_error")
    assert "request id req-oauth-500" in description
    assert "Traceback" not in json.dumps(r.body)
    assert "ZeroDivisionError" not in json.dumps(r.body)
    assert r.headers["X-Request-Id"] == "req-oauth-500"
    (logged,) = [rec for rec in caplog.records if "req-oauth-500" in rec.getMessage()]
    assert logged.exc_info is not None
    assert logged.exc_info[0] is ZeroDivisionError


def test_refusals_are_logged_with_a_reason_and_the_client_id_never_the_secret(
        endpoint: TokenEndpoint, client: tuple[str, str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    _, client_id, secret = client
    with caplog.at_level(logging.INFO, logger="scim.oauth"):
        endpoint.handle(request(post_form(client, client_secret=secret + "x")))
        endpoint.handle(request(post_form(client, client_id="forged\r\nline" + "y" * 300)))
        endpoint.handle(request({"grant_type": "client_credentials"},
                                authorization=basic(f"{client_id}:{secret}y".encode())))
    lines = [r.getMessage() for r in caplog.records if r.name == "scim.oauth"]
    assert len(lines) == 3
    assert f"token refused: wrong secret client_id={client_id} " in lines[0]
    assert "malformed client id client_id=forged\\x0d\\x0aline" in lines[1]
    assert "\n" not in lines[1]
    assert len(lines[1]) < 250
    assert f"wrong secret client_id={client_id}" in lines[2]
    assert not any(secret in line for line in lines)


def test_an_expired_secret_says_when_it_expired(endpoint: TokenEndpoint,
                                                client: tuple[str, str, str],
                                                scim_service: ScimService) -> None:
    tenant_id, client_id, _ = client
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    record.clients[0].secrets[0].expires = "2020-01-01T00:00:00Z"
    scim_service.tenants.save(record)
    description = error(endpoint.handle(request(post_form(client))), 401, "invalid_client")
    assert "expired at 2020-01-01T00:00:00Z" in description
    assert f"client add {tenant_id} --client {client_id}" in description


@pytest.mark.parametrize("state", ["disabled", "deleting"])
def test_a_disabled_or_deleting_tenants_clients_get_no_token(
        endpoint: TokenEndpoint, client: tuple[str, str, str], scim_service: ScimService,
        state: str) -> None:
    tenant_id, _, _ = client
    assert endpoint.handle(request(post_form(client))).status == 200
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    if state == "disabled":
        record.disabled = True
    else:
        record.deleting_since = now_iso()
    scim_service.tenants.save(record)
    error(endpoint.handle(request(post_form(client))), 401, "invalid_client")


# --------------------------------------------------------------------------------------------
# The key set
# --------------------------------------------------------------------------------------------


def test_the_key_set_is_the_rings_with_cache_headers(scim_service: ScimService,
                                                     endpoint: TokenEndpoint,
                                                     client: tuple[str, str, str]) -> None:
    endpoint.handle(request(post_form(client)))  # a key exists
    r = endpoint.jwks("req-keys")
    assert r.status == 200
    assert r.body == scim_service.keys.jwks()
    assert r.headers == {"Cache-Control": "public, max-age=300", "X-Request-Id": "req-keys"}


def test_the_key_set_is_503_while_storage_is_down(scim_service: ScimService) -> None:
    keys = KeyRing(SigningKeyTable(scim_service.tables.tenants))  # nothing cached yet
    endpoint = TokenEndpoint(scim_service.settings, scim_service.tenants,
                             scim_service.access_tokens, keys, scim_service.entra_jwt)
    with hooked(own_thread(busy)):
        r = endpoint.jwks()
    error(r, 503, "temporarily_unavailable")
    assert r.headers["Retry-After"] == "5"


# --------------------------------------------------------------------------------------------
# Whatever arrives
# --------------------------------------------------------------------------------------------

_names = st.sampled_from(["grant_type", "client_id", "client_secret", "client_assertion",
                          "client_assertion_type", "scope", "x"])
_values = st.one_of(st.text(max_size=40), st.sampled_from(
    ["client_credentials", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
     "eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "t1.0123456789abcdef"]))
_forms = st.lists(st.tuples(_names, _values), max_size=6).map(urlencode)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_forms, st.binary(max_size=200)),
       authorization=st.none() | st.text(max_size=60) | st.binary(max_size=40).map(
           lambda raw: "Basic " + base64.b64encode(raw).decode()),
       content_type=st.sampled_from([FORM, f"{FORM}; charset=utf-8", "text/plain", ""]),
       method=st.sampled_from(["POST", "POST", "GET"]))
def test_no_request_gets_a_500(endpoint: TokenEndpoint, body: str | bytes,
                               authorization: str | None, content_type: str,
                               method: str) -> None:
    headers: dict[str, str] = {} if authorization is None else {"authorization": authorization}
    r = endpoint.handle(request(body, content_type=content_type, method=method, **headers))
    assert r.status in (400, 401, 405, 429, 503), r.body
    assert r.body["error"] in ("invalid_request", "invalid_client", "unsupported_grant_type",
                               "slow_down", "temporarily_unavailable", "invalid_scope",
                               "unauthorized_client")
    assert r.headers["Cache-Control"] == "no-store"
    json.dumps(r.body)


