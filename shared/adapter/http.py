"""Azure Functions HttpRequest/HttpResponse <-> the service's requests and responses
(ScimRequest/ScimResponse, OAuthRequest/OAuthResponse, FeedRequest/FeedResponse,
ManageRequest/ManageResponse)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

import azure.functions as func

from ..service.messages import (
    SCIM_JSON,
    FeedRequest,
    ManageRequest,
    OAuthRequest,
    ScimRequest,
    ScimResponse,
)


class JsonAnswer(Protocol):
    """What the token endpoint, the pull API and the management API answer with."""

    status: int
    headers: dict[str, str]

    def encode(self) -> bytes: ...


def _headers(req: func.HttpRequest) -> Mapping[str, str]:
    return {k.lower(): v for k, v in req.headers.items()}


def _request_id(req: func.HttpRequest) -> str:
    return req.headers.get("x-request-id", "") or ""


def to_scim(req: func.HttpRequest, resource: str, id_param: str = "id") -> ScimRequest:
    route = req.route_params
    return ScimRequest(
        method=req.method.upper(),
        tenant=route.get("tenant", ""),
        resource=route.get("resource", resource),
        id=route.get(id_param) or None,
        params=dict(req.params),
        headers=_headers(req),
        body=req.get_body() or b"",
        request_id=_request_id(req),
    )


def to_http(resp: ScimResponse) -> func.HttpResponse:
    return func.HttpResponse(
        body=resp.encode(),
        status_code=resp.status,
        headers=resp.headers,
        mimetype=SCIM_JSON,
        charset="utf-8",
    )


def json_response(status: int, body: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(body=json.dumps(body), status_code=status,
                             mimetype="application/json", charset="utf-8")


def to_oauth(req: func.HttpRequest) -> OAuthRequest:
    return OAuthRequest(
        method=req.method.upper(),
        headers=_headers(req),
        body=req.get_body() or b"",
        request_id=_request_id(req),
    )


def to_feed(req: func.HttpRequest) -> FeedRequest:
    return FeedRequest(
        method=req.method.upper(),
        tenant=req.route_params.get("tenant", ""),
        params=dict(req.params),
        headers=_headers(req),
        request_id=_request_id(req),
    )


def to_manage(req: func.HttpRequest) -> ManageRequest:
    return ManageRequest(
        method=req.method.upper(),
        path=req.route_params.get("path", "") or "",
        params=dict(req.params),
        headers=_headers(req),
        body=req.get_body() or b"",
        request_id=_request_id(req),
    )


def json_http(resp: JsonAnswer) -> func.HttpResponse:
    return func.HttpResponse(body=resp.encode(), status_code=resp.status, headers=resp.headers,
                             mimetype="application/json", charset="utf-8")
