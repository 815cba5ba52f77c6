"""The OAuth 2.0 token endpoint and its key set, under /oauth2 (shared/service/token_endpoint.py
does the work; this converts HTTP). No function key: the client authenticates itself.

The token route names no methods, so it takes every one: a wrong method gets the endpoint's
OAuth 405 (with Allow: POST), not the host's bare 404."""

from __future__ import annotations

import azure.functions as func

from .. import runtime
from ..http import json_http, to_oauth

bp = func.Blueprint()


@bp.route(route="oauth2/token", auth_level=func.AuthLevel.ANONYMOUS)
def token(req: func.HttpRequest) -> func.HttpResponse:
    return json_http(runtime.service().token_endpoint.handle(to_oauth(req)))


@bp.route(route="oauth2/keys", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def keys(req: func.HttpRequest) -> func.HttpResponse:
    return json_http(runtime.service().token_endpoint.jwks(
        req.headers.get("x-request-id", "") or ""))
