"""Reading an app's functions: what is served, and everything else refused at startup with the
function and the feature named."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

from devhost import DevHost, StartupError, running
from tests.devhost.toy import NO_PREFIX, build_app


def test_discovers_routes_and_timer_from_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SCHEDULE", "0 */15 * * * *")
    host = DevHost(build_app(), NO_PREFIX)
    routes = {r.name: r for r in host.routes}
    assert routes["item"].route.template == "items/{id}"
    assert routes["item"].methods == frozenset({"GET", "PUT", "PATCH", "DELETE"})
    assert routes["things"].methods is None
    assert routes["items"].arg_name == "req"
    (timer,) = host.timers
    assert (timer.name, timer.arg_name) == ("toy_timer", "tick")
    assert timer.schedule.expression == "0 */15 * * * *"
    assert not timer.run_on_startup


def test_the_real_app_is_served_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import function_app

    monkeypatch.setenv("RECONCILE_SCHEDULE", "0 */15 * * * *")
    monkeypatch.setenv("SCIM_DELIVER_QUEUE", "scim-deliver")
    monkeypatch.setenv("SCIM_WORK_QUEUE", "scim-work")
    host = DevHost(function_app.app, {"extensions": {"http": {"routePrefix": ""}}})
    assert {r.name for r in host.routes} >= {"users", "user", "groups", "health", "other"}
    assert [t.name for t in host.timers] == ["reconcile"]
    assert sorted((q.name, q.queue_name) for q in host.queues) == [
        ("deliver", "scim-deliver"), ("reconcile_tenant", "scim-work")]


def test_default_route_prefix_is_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SCHEDULE", "0 */15 * * * *")
    host = DevHost(build_app())  # no host.json: prefix "api", as in the real host
    assert host.routes[0].route.template.startswith("api/")
    assert host.handle("GET", "/api/items").status == 200
    assert host.handle("GET", "/items").status == 404


def test_app_already_indexed_can_be_hosted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SCHEDULE", "* * * * * *")
    app = build_app()
    app.get_functions()  # the SDK refuses a second get_functions() on the same app...
    assert len(DevHost(app).routes) == len(DevHost(app).routes) > 0  # ...the host copes


# -- refused at startup ---------------------------------------------------------------------


def _one_function(kind: str) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    if kind == "constraint":
        @app.route(route="items/{id:int}")
        def typed(req: func.HttpRequest) -> func.HttpResponse: ...
    elif kind == "async":
        @app.route(route="a")
        async def coroutine(req: func.HttpRequest) -> func.HttpResponse: ...
    elif kind == "context":
        @app.route(route="c")
        def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse: ...
    elif kind == "binding":
        @app.route(route="b")
        @app.blob_input(arg_name="blob", path="c/x", connection="C")
        def with_blob(req: func.HttpRequest, blob: Any) -> func.HttpResponse: ...
    elif kind == "trigger":
        @app.blob_trigger(arg_name="blob", path="c/{name}", connection="C")
        def on_blob(blob: Any) -> None: ...
    elif kind == "schedule":
        @app.timer_trigger(schedule="0 0 0 L * *", arg_name="t")
        def monthly(t: func.TimerRequest) -> None: ...
    elif kind == "setting":
        @app.timer_trigger(schedule="%NO_SUCH_DEVHOST_SETTING%", arg_name="t")
        def unset(t: func.TimerRequest) -> None: ...
    return app


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("constraint", "function 'typed': route 'items/{id:int}': segment '{id:int}' is not "
                       "emulated by the dev host"),
        ("async", "function 'coroutine': async functions are not emulated"),
        ("context", "function 'with_context': the 'context' argument is not emulated"),
        ("binding", "function 'with_blob': bindings ['blob', 'http', 'httpTrigger'] are not "
                    "emulated"),
        ("trigger", "function 'on_blob': trigger 'blobTrigger' is not emulated"),
        ("schedule", "function 'monthly': schedule '0 0 0 L * *': 'L' is not NCRONTAB syntax"),
        ("setting", "function 'unset': app setting 'NO_SUCH_DEVHOST_SETTING' "
                    "(in '%NO_SUCH_DEVHOST_SETTING%') is not set"),
    ],
)  # fmt: skip
def test_what_is_not_emulated_fails_at_startup(kind: str, message: str) -> None:
    with pytest.raises(StartupError) as info:
        DevHost(_one_function(kind), NO_PREFIX)
    assert message in str(info.value)
    assert len(info.value.problems) == 1


def test_every_problem_is_listed_and_nothing_is_served() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ok")
    def fine(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.route(route="x/{id:guid}")
    def first(req: func.HttpRequest) -> func.HttpResponse: ...

    @app.route(route="y")
    def second(req: func.HttpRequest, extra: str) -> func.HttpResponse: ...

    with pytest.raises(StartupError) as info, running(app):
        pass
    assert [p.split(":")[0] for p in info.value.problems] == ["function 'first'",
                                                               "function 'second'"]
    assert "parameter 'extra' is not emulated" in str(info.value)
