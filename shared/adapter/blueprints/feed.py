"""The pull API under /feed/v1/{tenant}/events (shared/service/feed_api.py does the work; this
converts HTTP). The route names no methods, so it takes every one: a wrong method gets the
feed's JSON 405 (with Allow: GET), not the host's bare 404."""

from __future__ import annotations

import azure.functions as func

from .. import runtime
from ..http import json_http, to_feed

bp = func.Blueprint()


@bp.route(route="feed/v1/{tenant}/events", auth_level=func.AuthLevel.ANONYMOUS)
def events(req: func.HttpRequest) -> func.HttpResponse:
    return json_http(runtime.service().feed_api.handle(to_feed(req)))
