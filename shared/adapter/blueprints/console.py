"""GET /console and /console/{*path}: the web console's static files (shared/console/) and
/console/config.json (its sign-in options, from settings). No authentication and no data: the
page signs in and then calls the management API, /manage/v1, which checks every call."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import azure.functions as func

from ...console import assets

bp = func.Blueprint()


@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console_index(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "")


@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console_file(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, req.route_params.get("path") or "")


def _serve(req: func.HttpRequest, path: str) -> func.HttpResponse:
    # Settings (pydantic) load on the first request, not when the host indexes the functions.
    from ...console.config import console_config
    from ...settings import current

    config = console_config(current())
    entra = config["entra"]
    sign_in_origin = None
    if entra:
        parts = urlsplit(entra["authority"])
        sign_in_origin = f"{parts.scheme}://{parts.netloc}"
    headers = assets.security_headers(sign_in_origin)
    if path == "config.json":
        return func.HttpResponse(body=json.dumps(config), status_code=200,
                                 headers={**headers, "Cache-Control": "no-store"},
                                 mimetype="application/json", charset="utf-8")
    found = assets.find(path)
    if found is None:
        return func.HttpResponse(body="not found\n", status_code=404,
                                 headers={**headers, "Cache-Control": "no-store",
                                          "Content-Type": "text/plain; charset=utf-8"})
    headers.update({"Cache-Control": found.cache_control, "ETag": found.etag,
                    "Content-Type": found.content_type})
    if found.etag in (req.headers.get("if-none-match") or ""):
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(body=found.body, status_code=200, headers=headers)
