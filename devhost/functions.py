"""The functions of a ``func.FunctionApp`` as the dev host serves them, read from their bindings.

Served: HTTP triggers (``route``, ``methods``; the http ``$return`` output), timer triggers
(``schedule``, ``%SETTING%`` resolved from the environment, ``runOnStartup``) and queue
triggers (``queueName``, ``%SETTING%`` resolved; ``connection``: ``devhost.queues``), calling
sync functions whose only argument is the trigger's. ``authLevel`` is ignored, as by ``func
start``; ``useMonitor`` has no effect (there is no schedule monitor).

Anything else would be served differently from the Functions host, so it is refused when the
host is built: ``StartupError`` lists every function and the feature it uses that the dev
host does not emulate (another trigger, an output or input binding, an async function, a
``context`` or other extra parameter, route syntax beyond ``routes``, a schedule ``timer``
refuses, a queue trigger's ``dataType`` or identity-based connection, an unset setting).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .queues import QueueFunction, queue_function
from .routes import RoutePattern, compile_route
from .timer import Schedule, TimerFunction

__all__ = ["FunctionSource", "HttpFunction", "StartupError", "discover"]

_SETTING = re.compile(r"%([^%]+)%")


class FunctionSource(Protocol):
    """What the dev host needs of a ``func.FunctionApp``."""

    def get_functions(self) -> Any: ...


class StartupError(ValueError):
    """The app has functions the dev host cannot serve as the Functions host would."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the dev host cannot serve this app:\n"
                         + "\n".join(f"  - {problem}" for problem in problems))


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function: its route (route prefix included) and methods."""

    name: str
    route: RoutePattern
    methods: frozenset[str] | None  # None: every method
    arg_name: str
    fn: Callable[..., object] = field(repr=False)


def discover(
    app: FunctionSource, route_prefix: str, environ: Mapping[str, str]
) -> tuple[list[HttpFunction], list[TimerFunction], list[QueueFunction]]:
    """The app's HTTP functions in matching order, its timer and its queue functions."""
    # FunctionApp.get_functions() refuses to run twice on one app (it remembers the names it
    # saw); forget them so that a host can be built for an already indexed app.
    if getattr(app, "functions_bindings", None):
        app.functions_bindings = None  # type: ignore[attr-defined]
    routes: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    queues: list[QueueFunction] = []
    problems: list[str] = []
    for function in app.get_functions():
        name = str(function.get_function_name())
        try:
            served = _read(name, function, route_prefix, environ)
        except ValueError as exc:
            problems.append(f"function {name!r}: {exc}")
            continue
        if isinstance(served, HttpFunction):
            routes.append(served)
        elif isinstance(served, TimerFunction):
            timers.append(served)
        else:
            queues.append(served)
    if problems:
        raise StartupError(problems)
    routes.sort(key=lambda r: r.route.order)
    return routes, timers, queues


def _read(
    name: str, function: Any, route_prefix: str, environ: Mapping[str, str]
) -> HttpFunction | TimerFunction | QueueFunction:
    bindings = [dict(b.get_dict_repr()) for b in function.get_bindings()]
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    others = sorted(
        str(b.get("type")) for b in bindings
        if b not in triggers and not (b.get("type") == "http" and b.get("name") == "$return")
    )  # fmt: skip
    if len(triggers) != 1 or others:
        kinds = sorted(str(b.get("type")) for b in bindings)
        raise ValueError(f"bindings {kinds} are not emulated by the dev host (it serves one "
                         "httpTrigger with its http output, one timerTrigger or one "
                         "queueTrigger)")
    trigger = triggers[0]
    arg_name = str(trigger.get("name"))
    fn = function.get_user_function()
    _check_signature(fn, arg_name)
    kind = trigger.get("type")
    if kind == "httpTrigger":
        route = str(trigger.get("route") or name).strip().lstrip("/")
        methods = trigger.get("methods")
        return HttpFunction(
            name=name,
            route=compile_route(f"{route_prefix}/{route}" if route_prefix else route),
            methods=frozenset(_enum_value(m).upper() for m in methods) if methods else None,
            arg_name=arg_name,
            fn=fn,
        )
    if kind == "timerTrigger":
        schedule = _resolve_settings(str(trigger.get("schedule") or ""), environ)
        return TimerFunction(name=name, schedule=Schedule.parse(schedule),
                             run_on_startup=bool(trigger.get("runOnStartup", False)),
                             arg_name=arg_name, fn=fn)
    if kind == "queueTrigger":
        return queue_function(name, trigger, arg_name, fn, environ,
                              lambda value: _resolve_settings(value, environ))
    raise ValueError(f"trigger {kind!r} is not emulated by the dev host")


def _check_signature(fn: Callable[..., object], arg_name: str) -> None:
    if inspect.iscoroutinefunction(fn):
        raise ValueError("async functions are not emulated by the dev host (it calls sync ones)")
    params = inspect.signature(fn).parameters
    if arg_name not in params:
        raise ValueError(f"its signature has no parameter {arg_name!r} for the trigger")
    extra = [
        p for p in params.values()
        if p.name != arg_name and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]  # fmt: skip
    if extra:
        what = ("the 'context' argument" if extra[0].name == "context"
                else f"parameter {extra[0].name!r}")  # fmt: skip
        raise ValueError(f"{what} is not emulated by the dev host (only the trigger's "
                         f"{arg_name!r} is passed)")


def _resolve_settings(value: str, environ: Mapping[str, str]) -> str:
    def setting(m: re.Match[str]) -> str:
        if m[1] not in environ:
            raise ValueError(f"app setting {m[1]!r} (in {value!r}) is not set")
        return environ[m[1]]

    return _SETTING.sub(setting, value)


def _enum_value(value: object) -> str:
    return str(getattr(value, "value", value))
