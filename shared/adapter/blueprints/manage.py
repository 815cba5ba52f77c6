"""The management API under /manage/v1/… (shared/manage/api.py routes, authorizes and does
the work; this converts HTTP). One catch-all route for every method, so that an unknown path
or a wrong method gets the API's JSON 404/405, not the host's bare 404."""

from __future__ import annotations

import azure.functions as func

from .. import runtime
from ..http import json_http, to_manage

bp = func.Blueprint()


@bp.route(route="manage/v1/{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def manage(req: func.HttpRequest) -> func.HttpResponse:
    return json_http(runtime.manage_api().handle(to_manage(req)))
