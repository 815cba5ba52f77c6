"""HTTP functions of the SCIM surface under /scim/v2/{tenant}. Every route accepts every
method so that a wrong method gets a SCIM 405 from the service, not the host's bare 404."""

from __future__ import annotations

import azure.functions as func

from .. import runtime
from ..http import to_http, to_scim

bp = func.Blueprint()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
BASE = "scim/v2/{tenant}"


def _serve(req: func.HttpRequest, resource: str) -> func.HttpResponse:
    return to_http(runtime.service().handle(to_scim(req, resource)))


@bp.route(route=f"{BASE}/Users", methods=METHODS)
def users(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "Users")


@bp.route(route=BASE + "/Users/{id}", methods=METHODS)
def user(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "Users")


@bp.route(route=f"{BASE}/Groups", methods=METHODS)
def groups(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "Groups")


@bp.route(route=BASE + "/Groups/{id}", methods=METHODS)
def group(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "Groups")


@bp.route(route=f"{BASE}/ServiceProviderConfig", methods=METHODS)
def service_provider_config(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "ServiceProviderConfig")


@bp.route(route=BASE + "/ResourceTypes/{id?}", methods=METHODS)
def resource_types(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "ResourceTypes")


@bp.route(route=BASE + "/Schemas/{id?}", methods=METHODS)
def schemas(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, "Schemas")


@bp.route(route=BASE + "/{resource}/{*rest}", methods=METHODS)
def other(req: func.HttpRequest) -> func.HttpResponse:
    """Bulk, Me and unknown endpoints: a SCIM 501/404 instead of the host's empty 404."""
    return to_http(runtime.service().handle(to_scim(req, "", id_param="rest")))
