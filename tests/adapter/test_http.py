"""shared/adapter/http.py: azure.functions.HttpRequest -> ScimRequest (what the service reads
of a request) and ScimResponse -> azure.functions.HttpResponse (what the host sends back),
the same for the token endpoint (OAuthRequest, OAuthResponse), and the plain JSON responses of
the unauthenticated endpoints."""

from __future__ import annotations

import json
import re
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapter.http import (
    json_http,
    json_response,
    to_http,
    to_manage,
    to_oauth,
    to_scim,
)
from shared.service.app import ScimService
from shared.service.messages import SCIM_JSON, ManageResponse, OAuthResponse, ScimResponse

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request(method: str = "GET", *, route: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
            body: bytes | None = b"") -> func.HttpRequest:
    return func.HttpRequest(method=method, url="http://127.0.0.1/scim/v2/t1/Users",
                            headers=headers or {}, params=params or {},
                            route_params=route or {}, body=body)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# to_scim
# --------------------------------------------------------------------------------------------


def test_a_request_becomes_the_scim_request_the_service_reads() -> None:
    req = request("patch", route={"tenant": "t1", "id": "u-7"},
                  headers={"Authorization": "Bearer x", "If-Match": 'W/"1"',
                           "X-Request-Id": "req-1"},
                  params={"attributes": "userName"}, body=b'{"a":1}')
    scim = to_scim(req, "Users")
    assert (scim.method, scim.tenant, scim.resource, scim.id) == ("PATCH", "t1", "Users", "u-7")
    assert scim.params == {"attributes": "userName"}
    assert scim.headers["authorization"] == "Bearer x"
    assert scim.header("IF-MATCH") == 'W/"1"'
    assert scim.body == b'{"a":1}'
    assert scim.request_id == "req-1"


def test_what_a_request_leaves_out_is_empty_not_missing() -> None:
    scim = to_scim(request(route={}, body=None), "Groups")
    assert (scim.tenant, scim.resource, scim.id) == ("", "Groups", None)
    assert scim.body == b""
    assert scim.request_id == ""
    assert dict(scim.params) == {}


def test_the_routed_resource_and_id_parameter_win_for_the_catch_all() -> None:
    """The catch-all route names its resource `{resource}` and the rest of the path `{*rest}`."""
    scim = to_scim(request(route={"tenant": "t1", "resource": "Bulk", "rest": "a/b"}), "",
                   id_param="rest")
    assert (scim.resource, scim.id) == ("Bulk", "a/b")
    assert to_scim(request(route={"tenant": "t1", "resource": "Me", "rest": ""}), "",
                   id_param="rest").id is None  # `/Me/` has no id, not the empty id


_header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True)
_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=100)


@given(headers=st.dictionaries(_header_names, _values, max_size=8),
       params=st.dictionaries(_values.filter(bool), _values, max_size=5),
       body=st.binary(max_size=200))
def test_headers_params_and_body_reach_the_service_as_sent(
        headers: dict[str, str], params: dict[str, str], body: bytes) -> None:
    scim = to_scim(request("POST", route={"tenant": "t1"}, headers=headers, params=params,
                           body=body), "Users")
    by_name = {k.lower(): v for k, v in headers.items()}  # a repeated name: the last one
    assert dict(scim.headers) == by_name
    for name, value in by_name.items():
        assert scim.header(name.upper()) == value
    assert dict(scim.params) == params
    assert scim.body == body


# --------------------------------------------------------------------------------------------
# to_http, json_response
# --------------------------------------------------------------------------------------------


def test_a_scim_response_becomes_a_scim_json_http_response() -> None:
    resp = to_http(ScimResponse(201, {"id": "u1", "displayName": "Zo\u00eb"},
                                {"ETag": 'W/"2"', "Location": "http://x/Users/u1"}))
    assert resp.status_code == 201
    assert resp.mimetype == SCIM_JSON
    assert resp.charset == "utf-8"
    assert resp.headers["ETag"] == 'W/"2"'
    assert resp.headers["Location"] == "http://x/Users/u1"
    assert resp.get_body() == '{"id":"u1","displayName":"Zo\u00eb"}'.encode()


def test_a_response_without_a_body_has_no_content() -> None:
    resp = to_http(ScimResponse(204, None, {"ETag": 'W/"3"'}))
    assert (resp.status_code, resp.get_body()) == (204, b"")
    assert resp.headers["ETag"] == 'W/"3"'


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | _values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_values, inner, max_size=4),
    max_leaves=20)


@given(body=st.dictionaries(_values, _json, max_size=6), status=st.sampled_from([200, 201]))
def test_any_body_is_sent_as_the_json_it_is(body: dict[str, Any], status: int) -> None:
    resp = to_http(ScimResponse(status, body))
    assert json.loads(resp.get_body().decode("utf-8")) == body


# --------------------------------------------------------------------------------------------
# to_oauth; json_http (the token endpoint's, the pull API's and the management API's answers)
# --------------------------------------------------------------------------------------------


def test_a_request_becomes_the_oauth_request_the_token_endpoint_reads() -> None:
    req = request("post", headers={"Authorization": "Basic eDp5",
                                   "Content-Type": "application/x-www-form-urlencoded",
                                   "X-Request-Id": "req-2"},
                  params={"ignored": "query"}, body=b"grant_type=client_credentials")
    oauth = to_oauth(req)
    assert oauth.method == "POST"
    assert oauth.header("AUTHORIZATION") == "Basic eDp5"
    assert oauth.headers["content-type"] == "application/x-www-form-urlencoded"
    assert oauth.body == b"grant_type=client_credentials"
    assert oauth.request_id == "req-2"
    assert to_oauth(request(body=None)).body == b""


def test_an_oauth_response_becomes_plain_json_with_its_headers() -> None:
    resp = json_http(OAuthResponse(401, {"error": "invalid_client", "error_description":
                                          "d\u00e9"},
                                    {"WWW-Authenticate": 'Basic realm="scim-oauth"',
                                     "Cache-Control": "no-store"}))
    assert resp.status_code == 401
    assert resp.mimetype == "application/json"
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="scim-oauth"'
    assert resp.headers["Cache-Control"] == "no-store"
    assert json.loads(resp.get_body()) == {"error": "invalid_client",
                                           "error_description": "d\u00e9"}


def test_json_response_is_plain_json() -> None:
    resp = json_response(503, {"status": "degraded", "storage": "unreachable (Timeout)"})
    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    assert json.loads(resp.get_body()) == {"status": "degraded",
                                           "storage": "unreachable (Timeout)"}


# --------------------------------------------------------------------------------------------
# Client text on the way back: the echoed request id is bounded and safe
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sent=st.sampled_from(["abc\r\nX-Injected: 1", "r" * 5000, "\x1b[2J", "caf\u00e9",
                             "a b", ""]) | _values)
def test_an_echoed_request_id_is_a_short_safe_token(scim_service: ScimService,
                                                    sent: str) -> None:
    """Unauthenticated, so nothing is stored: the adapter passes the header through and the
    response carries the client's id only when it is a short safe token."""
    req = request("GET", route={"tenant": "tnotatenant0"}, headers={"X-Request-Id": sent})
    resp = to_http(scim_service.handle(to_scim(req, "Users")))
    assert resp.status_code == 401
    echoed = resp.headers["X-Request-Id"]
    assert SAFE_REQUEST_ID.fullmatch(echoed)
    assert (echoed == sent) is bool(SAFE_REQUEST_ID.fullmatch(sent))
    assert "X-Injected" not in resp.headers


@pytest.mark.parametrize("sent", ["req-42.a_B", "0" * 64])
def test_a_safe_request_id_comes_back_unchanged(scim_service: ScimService, sent: str) -> None:
    req = request("GET", route={"tenant": "tnotatenant0"}, headers={"x-request-id": sent})
    assert to_http(scim_service.handle(to_scim(req, "Users"))).headers["X-Request-Id"] == sent


def test_a_request_becomes_the_manage_request_the_api_reads() -> None:
    req = func.HttpRequest(method="post", url="http://h/manage/v1/tenants/t1/tokens",
                           headers={"Authorization": "Bearer adm_x", "X-Request-Id": "r-1"},
                           params={"lane": "tenant"}, route_params={"path": "tenants/t1/tokens"},
                           body=b'{"a": 1}')
    got = to_manage(req)
    assert (got.method, got.path, dict(got.params), got.body, got.request_id) == (
        "POST", "tenants/t1/tokens", {"lane": "tenant"}, b'{"a": 1}', "r-1")
    assert got.header("Authorization") == "Bearer adm_x"
    bare = to_manage(func.HttpRequest(method="GET", url="http://h/manage/v1", headers={},
                                      params={}, route_params={}, body=b""))
    assert (bare.path, bare.body, bare.request_id) == ("", b"", "")


@pytest.mark.parametrize("body", [{"a": "é"}, [{"tenant_id": "t"}], [], None])
def test_a_manage_response_is_plain_json_with_its_headers(body: Any) -> None:
    resp = json_http(ManageResponse(201, body, {"Cache-Control": "no-store"}))
    assert (resp.status_code, resp.mimetype, resp.headers["Cache-Control"]) == (
        201, "application/json", "no-store")
    assert (json.loads(resp.get_body()) if body is not None else resp.get_body()) == (
        body if body is not None else b"")
