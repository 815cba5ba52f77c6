"""Azure Functions HttpRequest/HttpResponse <-> the service's requests and responses
(ScimRequest/ScimResponse, OAuthRequest/OAuthResponse, FeedRequest/FeedResponse,
ManageRequest/ManageResponse)."""

from __future__ import annotations

import json

import azure.functions as func

from ..service.messages import (
    SCIM_JSON,
    FeedRequest,
    FeedResponse,
    ManageRequest,
    ManageResponse,
    OAuthRequest,
    OAuthResponse,
    ScimRequest,
    ScimResponse,
)


def to_scim(req: func.HttpRequest, resource: str, id_param: str = "id") -> ScimRequest:
    route = req.route_params
    return ScimRequest(
        method=req.method.upper(),
        tenant=route.get("tenant", ""),
        resource=route.get("resource", resource),
        id=route.get(id_param) or None,
        params=dict(req.params),
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
        request_id=req.headers.get("x-request-id", "") or "",
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
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
        request_id=req.headers.get("x-request-id", "") or "",
    )


def oauth_http(resp: OAuthResponse) -> func.HttpResponse:
    return func.HttpResponse(body=resp.encode(), status_code=resp.status, headers=resp.headers,
                             mimetype="application/json", charset="utf-8")


def to_feed(req: func.HttpRequest) -> FeedRequest:
    return FeedRequest(
        method=req.method.upper(),
        tenant=req.route_params.get("tenant", ""),
        params=dict(req.params),
        headers={k.lower(): v for k, v in req.headers.items()},
        request_id=req.headers.get("x-request-id", "") or "",
    )


def feed_http(resp: FeedResponse) -> func.HttpResponse:
    return func.HttpResponse(body=resp.encode(), status_code=resp.status, headers=resp.headers,
                             mimetype="application/json", charset="utf-8")


def to_manage(req: func.HttpRequest) -> ManageRequest:
    return ManageRequest(
        method=req.method.upper(),
        path=req.route_params.get("path", "") or "",
        params=dict(req.params),
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
        request_id=req.headers.get("x-request-id", "") or "",
    )


def manage_http(resp: ManageResponse) -> func.HttpResponse:
    return func.HttpResponse(body=resp.encode(), status_code=resp.status, headers=resp.headers,
                             mimetype="application/json", charset="utf-8")
