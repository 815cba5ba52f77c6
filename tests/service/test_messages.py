"""shared.service.messages: the transport-neutral ScimRequest (case-insensitive headers and
query parameters) and ScimResponse (compact UTF-8 JSON; errors as RFC 7644 §3.12 bodies that
can always be sent), and the token endpoint's OAuthRequest and OAuthResponse."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from shared.scim.errors import ERROR_SCHEMA, ScimError
from shared.service.messages import (
    SCIM_JSON,
    ManageRequest,
    ManageResponse,
    OAuthRequest,
    OAuthResponse,
    ScimRequest,
    ScimResponse,
)


def test_headers_are_found_whatever_the_case_asked() -> None:
    req = ScimRequest("GET", "t", "Users", headers={"if-match": 'W/"1"', "authorization": "B"})
    assert req.header("If-Match") == 'W/"1"'
    assert req.header("AUTHORIZATION") == "B"
    assert req.header("if-none-match") is None


def test_query_parameters_match_case_insensitively_the_exact_name_first() -> None:
    req = ScimRequest("GET", "t", "Users", params={"startindex": "3", "COUNT": "5",
                                                    "filter": "a", "Filter": "b"})
    assert req.param("startIndex") == "3"
    assert req.param("count") == "5"
    assert req.param("filter") == "a"
    assert req.param("Filter") == "b"
    assert req.param("attributes") is None


def test_a_request_has_empty_defaults() -> None:
    req = ScimRequest("GET", "t", "Users")
    assert (req.id, dict(req.params), dict(req.headers), req.body, req.request_id) == (
        None, {}, {}, b"", "")


def test_a_response_is_compact_utf8_json() -> None:
    body = {"displayName": "Zo\u00eb \U0001F600", "n": [1, 2]}
    assert ScimResponse(200, body).encode() == (
        '{"displayName":"Zo\u00eb \U0001F600","n":[1,2]}'.encode())
    assert ScimResponse(204).encode() == b""
    assert SCIM_JSON == "application/scim+json"


def test_an_error_response_is_the_error_body_with_its_headers() -> None:
    err = ScimError(503, "Retry later.", None, {"Retry-After": "5"})
    resp = ScimResponse.error(err)
    assert (resp.status, resp.body) == (503, {"schemas": [ERROR_SCHEMA], "status": "503",
                                              "detail": "Retry later."})
    assert resp.headers == {"Retry-After": "5"}
    resp.headers["X-Request-Id"] = "r1"  # the service adds its own: the error is not changed
    assert err.headers == {"Retry-After": "5"}
    typed = ScimResponse.error(ScimError(409, "Taken.", "uniqueness"))
    assert typed.body is not None
    assert typed.body["scimType"] == "uniqueness"


@given(status=st.integers(400, 599), detail=st.text(),
       scim_type=st.none() | st.sampled_from(["invalidValue", "uniqueness", "invalidSyntax"]))
def test_every_error_response_can_be_sent(status: int, detail: str,
                                          scim_type: str | None) -> None:
    """Details quote client text (ids, values), lone surrogates included: the body still
    encodes to UTF-8 and decodes to the RFC 7644 error shape."""
    sent = json.loads(ScimResponse.error(ScimError(status, detail, scim_type)).encode())
    assert sent["schemas"] == [ERROR_SCHEMA]
    assert sent["status"] == str(status)
    assert len(sent["detail"]) == len(detail)
    assert sent.get("scimType") == scim_type


def test_an_oauth_request_finds_headers_whatever_the_case_asked() -> None:
    req = OAuthRequest("POST", {"authorization": "Basic eDp5"})
    assert req.header("Authorization") == "Basic eDp5"
    assert req.header("content-type") is None
    assert (req.body, req.request_id) == (b"", "")


def test_an_oauth_response_is_compact_utf8_json() -> None:
    body = {"error": "invalid_scope", "error_description": "scope \u00e9"}
    encoded = OAuthResponse(400, body).encode()
    assert encoded == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(encoded) == body


def test_a_manage_request_finds_headers_by_lower_case_name_and_has_empty_defaults() -> None:
    request = ManageRequest("GET", "tenants", headers={"authorization": "Bearer x"})
    assert request.header("Authorization") == "Bearer x"
    assert (dict(request.params), request.body, request.request_id) == ({}, b"", "")


def test_a_manage_response_is_compact_utf8_json_of_an_object_or_a_list() -> None:
    assert ManageResponse(200, [{"name": "Zoë"}]).encode() == '[{"name":"Zoë"}]'.encode()
    assert ManageResponse(200, {"a": 1}).encode() == b'{"a":1}'
    assert ManageResponse(204).encode() == b""
