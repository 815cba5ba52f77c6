"""Logs never carry a token or an attribute value: captured in-process (caplog, every logger
at DEBUG, including the SDK's) and from the dev host's stderr while it serves a scenario of
creates, PATCHes, filters, failures and bad tokens."""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapter.http import to_http, to_scim
from shared.service import audit
from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.store import layout

ROOT = Path(__file__).resolve().parents[2]
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def secrets_of(token: str) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """Distinctive values: anything of them found in a log is a leak."""
    mark = uuid.uuid4().hex[:10]
    user = {"userName": f"leak-{mark}@example.com", "externalId": f"ext-{mark}",
            "name": {"givenName": f"Given{mark}", "familyName": f"Family{mark}"},
            "emails": [{"type": "work", "value": f"mail-{mark}@example.com"}],
            "title": f"Title{mark}"}
    patch = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": f"Patched{mark}"}]}
    return [token, mark], user, patch


def scenario(send: Any, user: dict[str, Any], patch: dict[str, Any], token: str) -> None:
    created = send("POST", "Users", None, user, None, token)
    uid = created["id"]
    send("PATCH", "Users", uid, patch, None, token)
    send("GET", "Users", None, None, {"filter": f'userName eq "{user["userName"]}"'}, token)
    send("POST", "Users", None, user, None, token)  # 409 uniqueness, detail names the value?
    send("PATCH", "Users", uid, {"Operations": [{"op": "bogus", "value": user["title"]}]},
         None, token)
    send("GET", "Users", None, None, {"filter": f'title eq "{user["title"]}" and ('}, token)
    send("GET", "Users", None, None, None, token + "x")
    send("GET", "Users", None, None, None, "scim_" + token[::-1])
    send("DELETE", "Users", uid, None, None, token)


def test_in_process_logs_hold_no_token_and_no_value(scim_service: ScimService,
                                                    tenant: tuple[str, str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    tenant_id, token = tenant
    needles, user, patch = secrets_of(token)

    def send(method: str, resource: str, rid: str | None, body: Any,
             params: dict[str, str] | None, bearer: str) -> Any:
        r = scim_service.handle(ScimRequest(
            method, tenant_id, resource, rid, params=params or {},
            headers={"authorization": f"Bearer {bearer}",
                     "content-type": "application/scim+json"},
            body=json.dumps(body).encode() if body is not None else b""))
        return r.body or {}

    with caplog.at_level(logging.DEBUG):
        scenario(send, user, patch, token)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "status=201" in text  # the request lines were captured
    for needle in needles:
        assert needle not in text


def test_oauth_logs_hold_no_secret_and_no_access_token(scim_service: ScimService,
                                                       tenant: tuple[str, str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Token requests that succeed and fail (wrong secret, Basic and form, a client assertion
    that is refused) and SCIM requests with the issued token and an altered one: no secret,
    no assertion and no access token (nor its signature) in any log record."""
    import base64
    from datetime import UTC, datetime
    from urllib.parse import urlencode

    from shared.auth import clients
    from shared.service.messages import OAuthRequest

    tenant_id, _ = tenant
    record = scim_service.tenants.get(tenant_id)
    client = clients.add_client(record, datetime.now(UTC))
    secret = clients.add_secret(client, datetime.now(UTC))
    scim_service.tenants.save(record)
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0." + uuid.uuid4().hex
    form = {"content-type": "application/x-www-form-urlencoded"}

    def token_request(body: dict[str, str], basic: str | None = None) -> Any:
        headers = dict(form)
        if basic is not None:
            headers["authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        return scim_service.token_endpoint.handle(OAuthRequest(
            "POST", headers=headers, body=urlencode(body).encode()))

    with caplog.at_level(logging.DEBUG):
        issued = token_request({"grant_type": "client_credentials"}, f"{client.id}:{secret}")
        assert issued.status == 200, issued.body
        access = issued.body["access_token"]
        for wrong in (secret + "x", secret[::-1]):
            assert token_request({"grant_type": "client_credentials"},
                                 f"{client.id}:{wrong}").status == 401
            assert token_request({"grant_type": "client_credentials", "client_id": client.id,
                                  "client_secret": wrong}).status == 401
        assert token_request({
            "grant_type": "client_credentials", "client_id": client.id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}).status == 401
        for bearer in (access, access[:-4] + "AAAA"):
            scim_service.handle(ScimRequest("GET", tenant_id, "Users",
                                            headers={"authorization": f"Bearer {bearer}"}))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "token refused: wrong secret" in text  # the refusals were captured
    for needle in (secret, secret[len(clients.SECRET_PREFIX) + 6:], secret[::-1], access,
                   access.rsplit(".", 1)[1], assertion.rsplit(".", 1)[1]):
        assert needle not in text


@pytest.mark.served
def test_dev_host_stderr_holds_no_token_and_no_value(app_env: dict[str, str],
                                                     tenant: tuple[str, str]) -> None:
    from tests.support.separate_host import separate_host

    tenant_id, token = tenant
    needles, user, patch = secrets_of(token)
    with separate_host(app_env, capture=True) as host:
        base = f"{host.base_url}/scim/v2/{tenant_id}"

        def send(method: str, resource: str, rid: str | None, body: Any,
                 params: dict[str, str] | None, bearer: str) -> Any:
            url = f"{base}/{resource}" + (f"/{rid}" if rid else "")
            r = httpx.request(method, url, params=params, timeout=30,
                              headers={"Authorization": f"Bearer {bearer}",
                                       "Content-Type": "application/scim+json"},
                              content=json.dumps(body).encode() if body is not None else None)
            return r.json() if r.content else {}

        scenario(send, user, patch, token)
    assert "/Users" in host.err + host.out  # the host did log the requests
    for needle in needles:
        assert needle not in host.err
        assert needle not in host.out


# -- client text reaching a log line, an audit entry or a response header ----------------------

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_LINE = 400  # generous: the longest line the service writes is well under it


class Records(logging.Handler):
    """Every record of every logger, at DEBUG, while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Records:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)


def assert_one_bounded_line(records: list[logging.LogRecord]) -> None:
    for record in records:
        message = record.getMessage()
        assert message.isprintable(), (record.name, message[:200])  # no CR/LF/ESC/U+2028
        assert len(message) <= MAX_LINE, (record.name, len(message))


def _raw_request(base: str, lines: list[bytes]) -> tuple[int, dict[str, str]]:
    """One request written byte for byte (httpx refuses what a hostile client sends)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join([*lines, b"Connection: close", b"", b""]))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


@pytest.mark.served
@pytest.mark.parametrize("sent", [
    b"r" * 5000,                                             # as long as the host allows
    b"abc\xffdef",                                          # a raw byte that is not UTF-8
    b"abc\r\n 2026-01-01 scim INFO GET Users status=200 ms=1.0 request_id=forged",  # folded
    b"abc\x1b[2J",                                           # a terminal escape
])
def test_x_request_id_is_echoed_and_logged_only_as_a_short_safe_token(
        served: str, tenant: tuple[str, str], sent: bytes) -> None:
    """An unauthenticated request with a hostile X-Request-Id: the id echoed in the response
    and every log line written for it (service and host) are one bounded, printable line."""
    tenant_id, _ = tenant
    path = f"/scim/v2/{tenant_id}/Users".encode()
    with Records() as captured:
        status, headers = _raw_request(served, [
            b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1",
            b"Authorization: Bearer scim_wrong", b"X-Request-Id: " + sent])
    if any(b < 0x20 or b == 0x7F for b in sent):
        # Obsolete line folding and control characters in a field value: the host refuses
        # the request itself (RFC 9112 §5.2, RFC 9110 §5.5).
        assert status == 400
    else:
        assert status == 401
        assert SAFE_REQUEST_ID.fullmatch(headers["x-request-id"])
    assert captured.records  # the refusal was logged
    assert_one_bounded_line(captured.records)
    assert not any("forged" in r.getMessage() for r in captured.records)


def test_a_safe_x_request_id_is_kept(scim_service: ScimService) -> None:
    response = scim_service.handle(ScimRequest("GET", "t-none", "Users",
                                               request_id="req-42.a_B"))
    assert response.headers["X-Request-Id"] == "req-42.a_B"


_hostile_text = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["a\r\nforged line", "x" * 5000, "\x00\x1b[31m\u2028\u0085", "abc\r\n continued"])
_methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]) | _hostile_text


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=_methods, tenant_text=_hostile_text, use_real_tenant=st.booleans(),
       resource=st.sampled_from(["Users", "Groups", "Schemas"]) | _hostile_text,
       rid=st.none() | _hostile_text, request_id=st.none() | _hostile_text,
       agent=_hostile_text, authorization=st.sampled_from(["valid", "none", "garbage", "jwt"]),
       filter_text=_hostile_text)
def test_client_text_never_reaches_a_log_audit_entry_or_header_unbounded(
        scim_service: ScimService, tenant: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
        method: str, tenant_text: str, use_real_tenant: bool, resource: str, rid: str | None,
        request_id: str | None, agent: str, authorization: str, filter_text: str) -> None:
    """Arbitrary method, tenant id, path segments, X-Request-Id, User-Agent and filter text,
    authenticated or not, through azure.functions.HttpRequest: every log record is one
    printable bounded line, the echoed X-Request-Id is a safe token, and every audit entry
    is one of the real tenant's, each text field printable and bounded."""
    real_tenant, token = tenant
    tenant_id = real_tenant if use_real_tenant else tenant_text
    bearer = {"valid": f"Bearer {token}", "none": "", "garbage": "Bearer \x00\r\nx",
              "jwt": "Bearer eyJhbGciOiJub25lIn0.e30."}[authorization]
    headers = {"user-agent": agent, "content-type": "application/scim+json"}
    if bearer:
        headers["authorization"] = bearer
    if request_id is not None:
        headers["x-request-id"] = request_id
    route = {"tenant": tenant_id, "resource": resource}
    if rid is not None:
        route["id"] = rid
    req = func.HttpRequest(method=method, url=f"http://localhost/scim/v2/x/{resource}",
                           headers=headers, params={"filter": filter_text},
                           route_params=route, body=b"{}")
    entries: list[dict[str, Any]] = []
    monkeypatch.setattr(scim_service, "audit", audit.AuditWriter(entries.extend, linger=0))
    with Records() as captured:
        response = to_http(scim_service.handle(to_scim(req, resource)))
        assert scim_service.audit.flush()
    assert response.status_code < 500
    assert SAFE_REQUEST_ID.fullmatch(response.headers["X-Request-Id"])
    if request_id is not None and SAFE_REQUEST_ID.fullmatch(request_id):
        assert response.headers["X-Request-Id"] == request_id
    detail = json.loads(response.get_body() or b"{}").get("detail", "")
    assert len(detail) <= 1000  # path text quoted back in it is bounded too
    for name, value in response.headers.items():
        assert value.isprintable(), name
        assert len(value) <= 1000, name
    assert_one_bounded_line(captured.records)
    for entry in entries:
        # An authenticated one, its failure count, or its request counters.
        assert entry["PartitionKey"] in (real_tenant, layout.stats_partition(real_tenant))
        for name, value in entry.items():
            if isinstance(value, str):
                assert value.isprintable(), (name, value[:100])
                assert len(value) <= 300, (name, len(value))
