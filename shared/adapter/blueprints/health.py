"""GET /health: liveness and storage reachability, no authentication, no data."""

from __future__ import annotations

import azure.functions as func

from .. import runtime
from ..http import json_response

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    status, body = runtime.service().health()
    return json_response(status, body)
