"""shared/adapter/blueprints/console.py over HTTP against the served function_app: the
console's files with their types, security headers and cache policy, /console/config.json,
304 on a matching ETag, and 404 for anything else, however the path is spelled (raw
requests, so no client normalises the dot segments away)."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import azure.functions as func
import httpx
import pytest

from shared.adapter.blueprints import console
from shared.console import assets

pytestmark = pytest.mark.served

ENTRA = "https://login.microsoftonline.com"


def expected_csp(entra: bool) -> str:
    return ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            + (f"connect-src 'self' {ENTRA}; frame-src {ENTRA}; " if entra
               else "connect-src 'self'; frame-src 'none'; ")
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@pytest.fixture(scope="module")
def entra_configured(app_env: dict[str, str]) -> bool:
    """Whether the session's app has the management API's Entra settings."""
    return bool(app_env.get("SCIM_MANAGE_ENTRA_TENANT_ID") and app_env.get("SCIM_MANAGE_AUDIENCE"))


@pytest.fixture(scope="module")
def csp(entra_configured: bool) -> str:
    return expected_csp(entra_configured)


@pytest.fixture(scope="module")
def web(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=30) as client:
        yield client


def raw_get(served: str, path: str) -> http.client.HTTPResponse:
    """GET with the path exactly as given (http.client does not resolve '..')."""
    parts = urlsplit(served)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_blueprint_has_two_anonymous_get_routes() -> None:
    # A fresh app: the SDK indexes an app once per process (tests/adapter/test_blueprints.py
    # indexes function_app's); the served tests below reach the console through function_app.
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(console.bp)
    triggers = {}
    for function in app.get_functions():
        (binding,) = [b.get_dict_repr() for b in function.get_bindings()
                      if str(b.get_dict_repr()["type"]).endswith("Trigger")]
        triggers[function.get_function_name()] = binding
    assert {name: (b["route"], [str(m.value) for m in b["methods"]], str(b["authLevel"].value))
            for name, b in triggers.items()} == {
        "console_index": ("console", ["GET"], "anonymous"),
        "console_file": ("console/{*path}", ["GET"], "anonymous"),
    }


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
def test_the_page_is_served_with_its_security_headers(web: httpx.Client, path: str,
                                                      csp: str) -> None:
    r = web.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/console/console.js">' in r.text


@pytest.mark.parametrize(("path", "content_type", "cache"), [
    ("console.js", "text/javascript; charset=utf-8", "no-cache"),
    ("console.css", "text/css; charset=utf-8", "no-cache"),
    ("icon.svg", "image/svg+xml", "no-cache"),
    ("vendor/msal-browser-5.30.0.min.js", "text/javascript; charset=utf-8",
     "public, max-age=31536000, immutable"),
])
def test_assets_have_their_type_and_cache_policy(web: httpx.Client, path: str,
                                                  content_type: str, cache: str) -> None:
    r = web.get(f"/console/{path}")
    assert r.status_code == 200
    assert r.headers["content-type"] == content_type
    assert r.headers["cache-control"] == cache
    assert r.content == assets.find(path).body  # type: ignore[union-attr]
    again = web.get(f"/console/{path}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_config_names_the_sign_in_methods_and_is_never_cached(
        web: httpx.Client, entra_configured: bool) -> None:
    r = web.get("/console/config.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    body = json.loads(r.text)
    assert set(body) == {"entra", "development_credential"}
    assert (body["entra"] is not None) == entra_configured
    if entra_configured:
        assert body["entra"]["authority"].startswith(f"{ENTRA}/")
        assert set(body["entra"]) == {"client_id", "authority", "scopes", "role"}
    # The session's app has a development credential digest and does not run in Azure.
    assert body["development_credential"] is bool(
        os.environ.get("SCIM_MANAGE_DEV_CREDENTIAL_SHA256"))


@pytest.mark.parametrize("path", [
    "/console/nope.js", "/console/__init__.py", "/console/assets.py", "/console/.gitignore",
    "/console/..%2f..%2ffunction_app.py",
    "/console/vendor/..%2f..%2fsettings.py", "/console/..%5c..%5chost.json",
    "/console/%252e%252e/settings.py", "/console/index.html%00.js",
])
def test_anything_else_is_404_with_the_same_headers(served: str, path: str, csp: str) -> None:
    r = raw_get(served, path)
    assert r.status == 404, path
    assert r.getheader("Content-Security-Policy") == csp
    assert r.getheader("X-Content-Type-Options") == "nosniff"


def test_a_literal_dot_segment_never_reaches_a_file(served: str) -> None:
    # The host refuses it before routing (the Functions host normalises it away); either way
    # nothing outside the console is served.
    for path in ("/console/../function_app.py", "/console/vendor/../../settings.py",
                 "/console/%2e%2e/%2e%2e/host.json", "/console/vendor/%2e%2e/config.py"):
        assert raw_get(served, path).status == 404, path
