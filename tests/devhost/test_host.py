"""The dev host end to end: routing over HTTP, the request log, start and stop."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

import azure.functions as func
import httpx
import pytest

from devhost import DevHost, running


def test_route_precedence(client: httpx.Client) -> None:
    assert client.get("/items").json()["fn"] == "items"
    assert client.get("/items/42").json()["fn"] == "item"
    assert client.post("/items/.search", content=b"{}").json()["fn"] == "items_search"
    # literal beats parameter: items/{id} wins over {resource}/{id}
    assert client.get("/widgets/7").json()["route_params"] == {"resource": "widgets", "id": "7"}
    assert client.get("/items/7").json()["fn"] == "item"
    # .search is POST only: a GET falls through to the next route that matches (host behaviour)
    got = client.get("/items/.search").json()
    assert (got["fn"], got["route_params"]) == ("item", {"id": ".search"})


def test_literals_match_case_insensitively(client: httpx.Client) -> None:
    assert client.get("/ITEMS").json()["fn"] == "items"
    assert client.post("/Items/.SEARCH").json()["fn"] == "items_search"
    assert client.get("/iTeMs/Ab").json()["route_params"] == {"id": "Ab"}  # values keep case


def test_route_params_are_decoded(client: httpx.Client) -> None:
    assert client.get("/items/a%20b%C3%A9+c").json()["route_params"] == {"id": "a bé+c"}
    # Kestrel leaves %2F encoded in the path, so it stays in the route value
    assert client.get("/items/a%2Fb").json()["route_params"] == {"id": "a%2Fb"}
    assert client.get("/things/x/y%20z").json()["route_params"] == {"rest": "x/y z"}
    assert client.get("/things").json()["route_params"] == {}
    assert client.get("/items/").json()["fn"] == "items"  # trailing slash ignored


def test_optional_parameter(client: httpx.Client) -> None:
    assert client.get("/versions/12").json()["route_params"] == {"n": "12"}
    assert client.get("/versions/12/beta").json()["route_params"] == {"n": "12", "label": "beta"}
    assert client.get("/versions/1/2/3").status_code == 404


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    r = client.get("/no/such/route/here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json()["status"] == 404
    r = client.delete("/items")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.json()["status"] == 405


def test_head_request(client: httpx.Client) -> None:
    r = client.head("/things/x")  # things accepts every method
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) > 0
    assert client.head("/items").status_code == 405
    assert client.get("/items").status_code == 200  # connection still in sync after HEAD


def test_handle_without_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.devhost.toy import NO_PREFIX, build_app

    monkeypatch.setenv("TOY_SCHEDULE", "0 0 0 1 1 *")
    host = DevHost(build_app(), NO_PREFIX)
    response = host.handle("PUT", "/items/9?x=1", [("X-A", "b")], b"{}", host="h:1",
                           scheme="https")
    assert response.status == 200
    assert b'"url": "https://h:1/items/9?x=1"' in response.body
    with pytest.raises(RuntimeError, match="not started"):
        _ = host.base_url


def test_request_log_has_no_query_headers_or_body(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    client.post(
        "/items?filter=secret-filter", content=b"secret-body", headers={"Authorization": "secret"}
    )
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "devhost"]
    assert any(re.fullmatch(r"POST /items 200 [0-9.]+ms", line) for line in lines), lines
    assert not any("secret" in line for line in lines)


def test_request_log_cleans_the_client_text(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    client.get("/items/%1B%5B31mred%0Afake%20line")
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "devhost"]
    logged = [line for line in lines if line.startswith("GET /items/")]
    assert logged, lines
    assert all(line.isprintable() for line in logged)  # no ESC, no line break


def test_context_manager_exit_finishes_requests_and_closes_everything() -> None:
    runs: list[float] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="slow", methods=["GET"])
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        time.sleep(0.5)
        return func.HttpResponse("finished")

    @app.route(route="fast", methods=["GET"])
    def fast(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.timer_trigger(schedule="*/1 * * * * *", arg_name="t", run_on_startup=True)
    def tick(t: func.TimerRequest) -> None:
        runs.append(time.monotonic())

    results: list[str] = []
    before = set(threading.enumerate())
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = httpx.Client(base_url=url)  # an idle keep-alive connection must not block exit
        assert idle.get("/api/fast").text == "ok"
        in_flight = threading.Thread(
            target=lambda: results.append(httpx.get(f"{url}/api/slow", timeout=5).text)
        )
        in_flight.start()
        time.sleep(0.15)
        exiting = time.monotonic()
    assert time.monotonic() - exiting < 2.0
    in_flight.join(5)
    assert results == ["finished"]  # the in-flight request was answered before closing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(httpx.TransportError):
        idle.get("/api/fast")
    idle.close()
    assert runs  # run_on_startup
    count = len(runs)
    time.sleep(1.2)
    assert len(runs) == count  # timers stopped
    leftover = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []  # acceptor, worker and timer threads all ended
