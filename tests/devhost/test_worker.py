"""Requests handed to functions and responses taken from them, as the Python worker does."""

from __future__ import annotations

import logging

import httpx
import pytest


def test_query_params_like_the_host(client: httpx.Client) -> None:
    r = client.get(
        "/items?filter=userName+eq+%22a+b%22&x=%20y&empty=&flag&dup=1&dup=2&Dup=3&enc=%C3%A9%2B"
    )
    params = r.json()["params"]
    assert params["filter"] == 'userName eq "a b"'
    assert params["x"] == " y"
    assert params["dup"] == "1,2,3"  # repeated keys joined with ',' (case-insensitive keys)
    assert params["enc"] == "é+"
    assert "empty" not in params  # the host drops empty values...
    assert "flag" not in params  # ...including keys without '='

    assert r.json()["url"].endswith("/items?filter=userName+eq+%22a+b%22&x=%20y&empty=&flag"
                                     "&dup=1&dup=2&Dup=3&enc=%C3%A9%2B")  # fmt: skip


def test_body_and_headers_round_trip(client: httpx.Client) -> None:
    body = bytes(range(256))
    r = client.post(
        "/items",
        content=body,
        headers=[
            ("Content-Type", "application/scim+json"),
            ("Authorization", "Bearer t0k"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
        ],
    )
    got = r.json()
    assert got["body"].encode("latin-1") == body
    assert got["method"] == "POST"
    assert got["headers"]["content-type"] == "application/scim+json"
    assert got["headers"]["authorization"] == "Bearer t0k"
    assert got["headers"]["x-multi"] == "a,b"
    assert got["url"] == f"{client.base_url}".rstrip("/") + "/items"


@pytest.mark.parametrize(
    ("spec", "status", "content_type"),
    [
        ({"body": "x", "mimetype": "application/scim+json"}, 200, "application/scim+json"),
        ({"body": "x"}, 200, "text/plain; charset=utf-8"),
        ({"body": "x", "mimetype": "text/html", "charset": "latin-1"}, 200,
         "text/html; charset=latin-1"),
        ({"body": "x", "headers": {"Content-Type": "application/json"}}, 200, "application/json"),
        ({"body": "{}", "status": 201, "mimetype": "application/scim+json"}, 201,
         "application/scim+json"),
        ({"body": "teapot", "status": 418}, 418, "text/plain; charset=utf-8"),
    ],
)  # fmt: skip
def test_response_status_and_content_type(
    client: httpx.Client, spec: dict[str, object], status: int, content_type: str
) -> None:
    r = client.post("/respond", json=spec)
    assert r.status_code == status
    assert r.headers["content-type"] == content_type
    assert r.text == spec["body"]


def test_custom_headers_and_no_content(client: httpx.Client) -> None:
    r = client.post(
        "/respond",
        json={"status": 201, "headers": {"ETag": 'W/"3"', "Location": "http://x/Users/1"}},
    )
    assert (r.status_code, r.headers["etag"], r.headers["location"]) == (201, 'W/"3"',
                                                                         "http://x/Users/1")
    r = client.post("/respond", json={"status": 204})
    assert r.status_code == 204
    assert r.content == b""
    assert "content-length" not in r.headers
    assert client.get("/items").status_code == 200  # keep-alive still in sync


def test_framing_headers_of_a_function_are_replaced(client: httpx.Client) -> None:
    r = client.post("/respond", json={"body": "abc", "headers": {
        "Content-Length": "99", "Transfer-Encoding": "chunked", "Connection": "close"}})
    assert (r.text, r.headers["content-length"]) == ("abc", "3")
    assert "transfer-encoding" not in r.headers
    assert "connection" not in r.headers
    assert client.get("/items").status_code == 200  # the connection was kept


def test_repeated_response_headers_like_the_worker(client: httpx.Client) -> None:
    r = client.get("/multi")
    assert r.headers.get_list("x-dup") == ["second"]  # the worker keeps the last value
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_exception_becomes_generic_500(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    r = client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": 500, "error": "Internal Server Error"}
    assert "kaboom" not in r.text
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info
    assert "kaboom" in str(errors[0].exc_info[1])  # the traceback goes to the log
    assert client.get("/items").status_code == 200  # the host survives


def test_a_function_returning_no_response_is_a_500(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    r = client.get("/none")
    assert r.status_code == 500
    assert any("must return func.HttpResponse, got NoneType" in str(rec.exc_info[1])
               for rec in caplog.records if rec.exc_info)  # fmt: skip


@pytest.mark.parametrize("headers", [{"X-Nul": "a\x00b"}, {"Bad Name": "x"},
                                     {"X-Wide": "\u20ac"}])
def test_a_response_http_cannot_carry_is_a_500(
    client: httpx.Client, caplog: pytest.LogCaptureFixture, headers: dict[str, str]
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    r = client.post("/respond", json={"body": "x", "headers": headers})
    assert r.status_code == 500
    assert any("cannot be sent as HTTP/1.1" in rec.getMessage() for rec in caplog.records)
    assert client.get("/items").status_code == 200
