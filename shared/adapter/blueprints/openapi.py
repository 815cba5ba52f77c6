"""GET /scim/v2/openapi.json: the OpenAPI 3.1 description of the SCIM surface, the pull API and
the management API. No authentication and no tenant data (the tenant is a server variable in
the document)."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="scim/v2/openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from ...manage.openapi import document  # built on first use: keeps cold start cheap

    return func.HttpResponse(body=json.dumps(document()), status_code=200,
                             mimetype="application/json", charset="utf-8")
