"""Local development host: serves a ``func.FunctionApp`` over HTTP without Core Tools.

Azure Functions Core Tools (``func start``) cannot be installed everywhere, so this module
serves the SAME ``function_app.app`` functions for development (``make run``) and end-to-end
tests. It is not a production path. What it reproduces from the real host (Functions host 4.x,
WebJobs HTTP and timer extensions, Python worker) and where it differs is listed in
``LIMITATIONS`` below.

HTTP
    * Routes come from ``app.get_functions()``: ``httpTrigger`` bindings (``route``,
      ``methods``) behind ``extensions.http.routePrefix`` of host.json (default ``api``).
    * Route templates are ASP.NET Core style: literals (matched case-insensitively),
      ``{name}``, ``{name?}``, ``{name=default}``, ``{name:int}`` and other inline
      constraints, ``{*rest}`` / ``{**rest}`` catch-all. Routes are tried in the order of the
      WebJobs route builder (per segment: literal before parameter, more constraints before
      fewer, longer template before shorter); the first route whose template AND method
      match wins, so a method mismatch falls through to the next route.
    * The request given to the function is built like the worker builds it: header names
      lower-cased and repeated headers joined with ``,``; query parsed with ``+`` as space,
      repeated keys joined with ``,`` and EMPTY VALUES DROPPED (the host does that for the
      Python worker); route values URL-decoded except ``%2F`` (Kestrel keeps it encoded).
    * The response is encoded like the worker encodes ``func.HttpResponse``: if no
      Content-Type header was set, ``mimetype`` is used, with ``; charset=...`` only for
      ``text/*``; for repeated header names the last value wins (except Set-Cookie).
    * An exception in a function is answered 500 with a generic JSON body and its traceback
      is logged (the host's safety net; the app itself must never rely on it).

Timers
    * ``timerTrigger`` schedules (``%SETTING%`` resolved from ``os.environ``) are NCRONTAB
      expressions, 6 fields ``{second} {minute} {hour} {day} {month} {day-of-week}`` (5-field
      expressions are accepted with second 0, like the host), evaluated in UTC.
    * Like the WebJobs ``TimerListener``: one invocation at a time (singleton); the next
      occurrence is computed from the start of the previous invocation, so an overrun causes
      one immediate invocation and never a queue of catch-up runs; ``runOnStartup`` invokes
      once at start; exceptions are logged and the schedule continues.

Usage (run it with ``-m``: ``shared/adapter/http.py`` would shadow the stdlib ``http`` if this
file were run as a script)::

    python -m shared.adapter.devhost function_app:app --port 7071

    with running(app, host_json={"extensions": {"http": {"routePrefix": ""}}}) as base_url:
        httpx.get(f"{base_url}/scim/v2/...")
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import email.utils
import functools
import importlib
import inspect
import json
import logging
import os
import queue
import re
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.timer import TimerRequest

from ..sanitize import clean

__all__ = [
    "LIMITATIONS",
    "CronSchedule",
    "DevHost",
    "HostResponse",
    "HttpRoute",
    "RouteTemplate",
    "ServerLimits",
    "TimerFunction",
    "load_local_settings",
    "main",
    "next_occurrence",
    "running",
    "serve",
]

LIMITATIONS = """\
- Method mismatch: a path that matches a route but not its methods is answered 405 with an
  Allow header (the real host answers 404: its method check is a route constraint).
- 404/405/500 and the host's own 400/408/413/414/431/501/503/505 bodies are small JSON
  documents (the real host sends empty bodies).
- Every request whose framing is in doubt (Content-Length with Transfer-Encoding, a coding
  other than chunked, a bad or repeated Content-Length, a bad chunk, obsolete line folding, a
  malformed request or header line, oversize headers) is answered and the connection closed.
- A function returning None (or anything but HttpResponse/str) gets a 500 and an error log.
- authLevel is ignored (as with `func start`: local runs disable authorization).
- Connections are served by at most ServerLimits.workers threads (default 64), each serving
  one connection at a time; sync functions run on that thread (the worker's own
  PYTHON_THREADPOOL_THREAD_COUNT does not apply); async functions run on ONE shared event
  loop thread, like the worker's single loop. Connections beyond the workers wait (up to
  ServerLimits.waiting), beyond that they get 503.
- Only `context` (a minimal func.Context) and the trigger argument are injected; functions
  with other bindings or required parameters are skipped with an error log.
- Chunked request bodies are decoded and passed on (the host only forwards bodies that
  have a Content-Length).
- Timers: no schedule monitor storage, so past_due is always False (the host sets it only
  when useMonitor finds a missed occurrence at startup); schedule_status is filled in when
  useMonitor is on. No functionTimeout, no retries, no WEBSITE_TIME_ZONE (UTC only).
- Not implemented: complex route segments like `{name}.{ext}`, `file`/`nonfile` constraints,
  proxies, admin/runtime endpoints, the landing page at `/`, HTTP/2, TLS.
"""

_log = logging.getLogger("devhost")

MAX_BODY_BYTES = 100 * 1024 * 1024  # the host's request length limit (100 MB)
MAX_URL_CHARS = 4096  # the host's URL length limit (4 KB)
KEEP_ALIVE_SECONDS = 130.0  # Kestrel's default keep-alive timeout
DEFAULT_ROUTE_PREFIX = "api"


# ---------------------------------------------------------------------------------------------
# NCRONTAB
# ---------------------------------------------------------------------------------------------

_CRON_FORMAT_HELP = (
    "NCRONTAB format is '{second} {minute} {hour} {day} {month} {day-of-week}' in UTC, "
    "e.g. '0 */5 * * * *' = every 5 minutes; fields accept *, */n, a-b, a-b/n, a/n and "
    "lists a,b,c; day-of-week is 0-6 with Sunday=0"
)
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 6, _DAY_NAMES),
)
_DIGITS = re.compile(r"[0-9]+")
_CRON_SEARCH_YEARS = 50  # enough for "Feb 29 that is a Monday" (28-year cycle)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed NCRONTAB expression; each field holds its allowed values, sorted."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Parse 6 fields (or 5, second=0, as the host does); ValueError explains what is wrong."""
        if not isinstance(expression, str):
            raise ValueError(f"NCRONTAB expression must be a string, got {expression!r}")
        tokens = expression.split()
        if len(tokens) == 5:
            tokens = ["0", *tokens]
        elif len(tokens) != 6:
            raise ValueError(
                f"invalid NCRONTAB expression {expression!r}: expected 6 fields, got "
                f"{len(tokens)}. {_CRON_FORMAT_HELP}"
            )
        values = [
            _parse_cron_field(expression, token, spec)
            for token, spec in zip(tokens, _CRON_FIELDS, strict=True)
        ]
        return cls(expression, *values)

    def next_after(self, after: datetime) -> datetime:
        """First occurrence strictly after ``after`` (sub-second part ignored).

        Naive datetimes are taken as UTC and a naive result is returned; aware datetimes give
        an aware UTC result. Day-of-month and day-of-week must BOTH match (NCrontab semantics,
        unlike Vixie cron's "either").
        """
        aware = after.tzinfo is not None
        t = after.astimezone(UTC).replace(tzinfo=None) if aware else after
        t = t.replace(microsecond=0) + timedelta(seconds=1)
        months, days, dows = set(self.months), set(self.days), set(self.days_of_week)
        last_year = t.year + _CRON_SEARCH_YEARS
        while t.year <= last_year:
            if t.month not in months:
                m = _next_value(self.months, t.month)
                t = datetime(t.year, m, 1) if m is not None else datetime(t.year + 1, 1, 1)
                continue
            if t.day not in days or (t.weekday() + 1) % 7 not in dows:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                h = _next_value(self.hours, t.hour)
                t = (
                    t.replace(hour=h, minute=0, second=0)
                    if h is not None
                    else datetime(t.year, t.month, t.day) + timedelta(days=1)
                )
                continue
            if t.minute not in self.minutes:
                mi = _next_value(self.minutes, t.minute)
                t = (
                    t.replace(minute=mi, second=0)
                    if mi is not None
                    else t.replace(minute=0, second=0) + timedelta(hours=1)
                )
                continue
            if t.second not in self.seconds:
                s = _next_value(self.seconds, t.second)
                t = t.replace(second=s) if s is not None else t.replace(second=0) + timedelta(
                    minutes=1
                )
                continue
            return t.replace(tzinfo=UTC) if aware else t
        raise ValueError(
            f"NCRONTAB expression {self.expression!r} has no occurrence within "
            f"{_CRON_SEARCH_YEARS} years after {after.isoformat()}"
        )


def next_occurrence(expr: str | CronSchedule, after: datetime) -> datetime:
    """Next time strictly after ``after`` at which the NCRONTAB ``expr`` fires (UTC)."""
    schedule = expr if isinstance(expr, CronSchedule) else CronSchedule.parse(expr)
    return schedule.next_after(after)


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    """Smallest allowed value > ``current`` (values are sorted), or None."""
    i = bisect_left(values, current + 1)
    return values[i] if i < len(values) else None


def _parse_cron_field(
    expression: str, token: str, spec: tuple[str, int, int, tuple[str, ...]]
) -> tuple[int, ...]:
    name, low, high, names = spec

    def fail(detail: str) -> ValueError:
        return ValueError(
            f"invalid NCRONTAB expression {expression!r}: {name} field {token!r}: {detail}. "
            f"{_CRON_FORMAT_HELP}"
        )

    def value(text: str) -> int:
        if _DIGITS.fullmatch(text):
            number = int(text)
            if not low <= number <= high:
                raise fail(f"{number} is outside {low}-{high}")
            return number
        if names and text.isalpha():
            for index, full in enumerate(names):
                if full.lower().startswith(text.lower()):
                    return low + index
            raise fail(f"{text!r} is not a known name ({', '.join(n[:3] for n in names)})")
        raise fail(f"{text!r} is not a number" + (" or name" if names else ""))

    found: set[int] = set()
    for item in token.split(","):
        if not item:
            raise fail("empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _DIGITS.fullmatch(step_text) or int(step_text) == 0:
                raise fail(f"step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = value(first), value(last)
            if start > end:
                raise fail(f"range {base!r} goes backwards")
        else:
            start = value(base)
            end = high if slash else start
        found.update(range(start, end + 1, step))
    return tuple(sorted(found))


# ---------------------------------------------------------------------------------------------
# Route templates (ASP.NET Core syntax, WebJobs route order)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Constraint:
    text: str
    check: Callable[[str], bool]


@dataclass(frozen=True)
class _Segment:
    literal: str | None  # None for a parameter
    name: str = ""
    constraints: tuple[_Constraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    # The literal upper-cased once (matching is OrdinalIgnoreCase, segment by segment).
    folded: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.literal is not None:
            object.__setattr__(self, "folded", self.literal.upper())


_GUID = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)",
    re.IGNORECASE,
)
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_DECIMAL = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*")
_FLOAT = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
_ALPHA = re.compile(r"[A-Za-z]*")


def _int_in(low: int, high: int) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        return bool(_INTEGER.fullmatch(v)) and low <= int(v) <= high

    return check


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v.strip())
    except ValueError:
        return False
    return True


def _args(name: str, arg: str | None, count: int) -> list[int]:
    parts = [] if arg is None else [a.strip() for a in arg.split(",")]
    if len(parts) != count or not all(re.fullmatch(r"-?[0-9]+", p) for p in parts):
        raise ValueError(f"route constraint {name!r} needs {count} integer argument(s)")
    return [int(p) for p in parts]


def _make_constraint(name: str, arg: str | None) -> _Constraint:
    text = name if arg is None else f"{name}({arg})"
    key = name.lower()
    i32, i64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
    check: Callable[[str], bool]
    if key == "int":
        check = _int_in(*i32)
    elif key == "long":
        check = _int_in(*i64)
    elif key == "bool":
        check = lambda v: v.strip().lower() in ("true", "false")  # noqa: E731
    elif key == "guid":
        check = lambda v: bool(_GUID.fullmatch(v.strip()))  # noqa: E731
    elif key == "alpha":
        check = lambda v: bool(_ALPHA.fullmatch(v))  # noqa: E731
    elif key == "decimal":
        check = lambda v: bool(_DECIMAL.fullmatch(v))  # noqa: E731
    elif key in ("double", "float"):
        check = lambda v: bool(_FLOAT.fullmatch(v))  # noqa: E731
    elif key == "datetime":
        check = _is_datetime
    elif key == "required":
        check = lambda v: v != ""  # noqa: E731
    elif key == "minlength":
        (n,) = _args(name, arg, 1)
        check = lambda v: len(v) >= n  # noqa: E731
    elif key == "maxlength":
        (n,) = _args(name, arg, 1)
        check = lambda v: len(v) <= n  # noqa: E731
    elif key == "length":
        bounds = _args(name, arg, 2 if arg is not None and "," in arg else 1)
        lo, hi = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        check = lambda v: lo <= len(v) <= hi  # noqa: E731
    elif key == "min":
        (n,) = _args(name, arg, 1)
        check = _int_in(n, i64[1])
    elif key == "max":
        (n,) = _args(name, arg, 1)
        check = _int_in(i64[0], n)
    elif key == "range":
        lo, hi = _args(name, arg, 2)
        check = _int_in(lo, hi)
    elif key == "regex":
        if arg is None:
            raise ValueError("route constraint 'regex' needs a pattern")
        pattern = re.compile(arg, re.IGNORECASE)  # ASP.NET: IgnoreCase | CultureInvariant
        check = lambda v: pattern.search(v) is not None  # noqa: E731
    else:
        raise ValueError(f"unknown route constraint {name!r}")
    return _Constraint(text, check)


def _tokenize_template(template: str) -> list[list[tuple[bool, str]]]:
    """Split into segments of parts ``(is_parameter, text)``; ``{{``/``}}`` are literal braces."""
    segments: list[list[tuple[bool, str]]] = []
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append((False, "".join(literal)))
            literal.clear()

    i = 0
    while i < len(template):
        c = template[i]
        if c == "/":
            flush()
            segments.append(parts)
            parts = []
            i += 1
        elif c in "{}" and template.startswith(c * 2, i):
            literal.append(c)
            i += 2
        elif c == "}":
            raise ValueError(f"route template {template!r}: unmatched '}}' at {i}")
        elif c == "{":
            flush()
            j, inner = i + 1, []
            while True:
                if j >= len(template):
                    raise ValueError(f"route template {template!r}: unterminated parameter")
                d = template[j]
                if d in "{}" and template.startswith(d * 2, j):
                    inner.append(d)
                    j += 2
                elif d == "}":
                    break
                elif d == "{":
                    raise ValueError(f"route template {template!r}: '{{' inside a parameter")
                else:
                    inner.append(d)
                    j += 1
            parts.append((True, "".join(inner)))
            i = j + 1
        else:
            literal.append(c)
            i += 1
    flush()
    segments.append(parts)
    return segments


def _leading(pattern: str, text: str) -> str:
    m = re.match(pattern, text)
    return m.group(0) if m else ""


def _parse_parameter(template: str, text: str) -> _Segment:
    catch_all = text.startswith("*")
    body = text.lstrip("*") if catch_all else text
    if catch_all and len(text) - len(body) > 2:
        raise ValueError(f"route template {template!r}: bad catch-all {text!r}")
    name = _leading(r"[^:=?]*", body)
    rest = body[len(name) :]
    if not name or any(c in name for c in "/{}*"):
        raise ValueError(f"route template {template!r}: bad parameter name in {{{text}}}")
    constraints: list[_Constraint] = []
    while rest.startswith(":"):
        rest = rest[1:]
        cname = _leading(r"[^:=?(]*", rest)
        rest = rest[len(cname) :]
        arg: str | None = None
        if rest.startswith("("):
            # ASP.NET: the argument ends at the first ')' followed by ':', '=', '?' or the end.
            ends = (
                k
                for k in range(1, len(rest))
                if rest[k] == ")" and rest[k + 1 : k + 2] in ("", ":", "=", "?")
            )
            end = next(ends, -1)
            if end < 0:
                raise ValueError(f"route template {template!r}: unterminated constraint argument")
            arg, rest = rest[1:end], rest[end + 1 :]
        if not cname:
            raise ValueError(f"route template {template!r}: empty constraint in {{{text}}}")
        constraints.append(_make_constraint(cname, arg))
    optional, default = False, None
    if rest == "?":
        optional = True
    elif rest.startswith("="):
        default = rest[1:]
    elif rest:
        raise ValueError(f"route template {template!r}: cannot parse {{{text}}}")
    return _Segment(None, name, tuple(constraints), optional, default, catch_all)


class RouteTemplate:
    """An ASP.NET Core route template such as ``scim/v2/{tenant}/Users/{id?}``."""

    def __init__(self, template: str) -> None:
        self.template = template
        text = template.strip()
        text = text[2:] if text.startswith("~/") else text.lstrip("/")
        text = text.rstrip("/")
        segments: list[_Segment] = []
        if text:
            for parts in _tokenize_template(text):
                if len(parts) != 1:
                    what = "an empty segment" if not parts else "a complex segment"
                    raise ValueError(f"route template {template!r} has {what} (not supported)")
                is_parameter, part = parts[0]
                segments.append(
                    _parse_parameter(template, part) if is_parameter else _Segment(part)
                )
        names = [s.name.lower() for s in segments if s.literal is None]
        if len(names) != len(set(names)):
            raise ValueError(f"route template {template!r} repeats a parameter name")
        for s in segments[:-1]:
            if s.catch_all:
                raise ValueError(f"route template {template!r}: catch-all must be last")
        self.segments: tuple[_Segment, ...] = tuple(segments)

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"

    def match(self, path: Sequence[str], folded: Sequence[str] | None = None
              ) -> dict[str, str] | None:
        """Route values if the decoded path segments match, else None. `folded`: the same
        segments upper-cased (the host folds them once for all its routes)."""
        if folded is None:
            folded = [part.upper() for part in path]
        values: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.catch_all:
                rest = "/".join(path[i:])
                if rest == "" and seg.default is not None:
                    rest = seg.default
                if rest != "":
                    if not all(c.check(rest) for c in seg.constraints):
                        return None
                    values[seg.name] = rest
                return values
            if i >= len(path):
                for tail in self.segments[i:]:
                    if tail.literal is not None:
                        return None
                    if tail.default is not None:
                        values[tail.name] = tail.default
                    elif not (tail.optional or tail.catch_all):
                        return None
                return values
            part = path[i]
            if seg.folded is not None:
                if folded[i] != seg.folded:
                    return None
            else:
                if part == "" or not all(c.check(part) for c in seg.constraints):
                    return None
                values[seg.name] = part
        return values if len(path) <= len(self.segments) else None


def _compare_templates(x: RouteTemplate, y: RouteTemplate) -> int:
    """The WebJobs route builder's order: literal < parameter, more constraints first,
    literals by OrdinalIgnoreCase, longer template first. Ties: catch-all/optional later."""
    xs, ys = x.segments, y.segments
    for i, a in enumerate(xs):
        if i >= len(ys):
            return -1
        b = ys[i]
        if (a.literal is None) != (b.literal is None):
            return 1 if a.literal is None else -1
        if a.literal is None:
            if len(a.constraints) != len(b.constraints):
                return -1 if len(a.constraints) > len(b.constraints) else 1
        elif b.literal is not None and a.literal.upper() != b.literal.upper():
            return -1 if a.literal.upper() < b.literal.upper() else 1
    if len(ys) > len(xs):
        return 1
    # Not in the host (its sort is unstable on ties): make ties deterministic and sensible.
    def looseness(t: RouteTemplate) -> int:
        return sum(2 if s.catch_all else 1 for s in t.segments if s.catch_all or s.optional)

    return looseness(x) - looseness(y)


def _decode_segment(raw: str) -> str:
    """Percent-decode one path segment but keep ``%2F`` as is (Kestrel does not decode it)."""
    if "%" not in raw:
        return raw
    pieces = re.split(r"(%2[fF])", raw)
    return "".join(p if i % 2 else unquote(p) for i, p in enumerate(pieces))


def _path_segments(raw_path: str) -> list[str]:
    path = raw_path[1:] if raw_path.startswith("/") else raw_path
    path = path[:-1] if path.endswith("/") else path
    if not path:
        return []
    out: list[str] = []
    for segment in (_decode_segment(s) for s in path.split("/")):
        if segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return out


def _host_query(query: str) -> dict[str, str]:
    """Query params as the host hands them to the Python worker: ``+`` is a space, repeated
    keys (case-insensitive) joined with ``,``, params whose value is empty left out."""
    if not query:
        return {}
    merged: dict[str, tuple[str, list[str]]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        merged.setdefault(key.lower(), (key, []))[1].append(value)
    joined = {key: ",".join(values) for key, values in merged.values()}
    return {k: v for k, v in joined.items() if v != ""}


def _host_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in merged.items()}


# ---------------------------------------------------------------------------------------------
# Functions, invocation
# ---------------------------------------------------------------------------------------------


class _FunctionSource(Protocol):
    def get_functions(self) -> Any: ...


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP-triggered function as served: full template (with prefix) and methods."""

    function_name: str
    template: RouteTemplate
    methods: frozenset[str] | None  # None: all methods
    arg_name: str
    auth_level: str
    fn: Callable[..., Any] = field(repr=False)
    wants_context: bool = False


@dataclass(frozen=True)
class TimerFunction:
    """A timer-triggered function with its resolved schedule."""

    function_name: str
    schedule: CronSchedule
    run_on_startup: bool
    use_monitor: bool
    arg_name: str
    fn: Callable[..., Any] = field(repr=False)
    wants_context: bool = False


@dataclass(frozen=True)
class HostResponse:
    """What goes on the wire (Content-Length and framing are added by the server)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _TraceContext:
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext:
    retry_count = 0
    max_retry_count = 0
    exception = None


class _DevContext(func.Context):
    """The subset of the worker's invocation context that a function can reasonably use."""

    def __init__(self, function_name: str, trace_parent: str = "", trace_state: str = "") -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._trace = _TraceContext(trace_parent, trace_state)
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return os.getcwd()

    @property
    def trace_context(self) -> Any:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return _RetryContext()


class _LoopThread:
    """One event loop in a daemon thread for all async functions (the worker has one loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="devhost-asyncio", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wrapper() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self._ensure()).result()

    def stop(self, timeout: float) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _signature_problem(
    fn: Callable[..., Any], arg_name: str
) -> tuple[str | None, bool]:
    """(why the function cannot be invoked with just its trigger, wants ``context``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None, False
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if arg_name not in params and not has_var_kw:
        return f"its signature has no parameter {arg_name!r} for the trigger", False
    wants_context = "context" in params and arg_name != "context"
    required = [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in (arg_name, "context")
    ]
    if required:
        return f"parameters {required} have no binding in the dev host", wants_context
    return None, wants_context


_SETTING = re.compile(r"%([^%]+)%")


def _resolve_settings(value: str, environ: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            raise ValueError(f"app setting {name!r} (from {value!r}) is not set")
        return environ[name]

    return _SETTING.sub(repl, value)


def _enum_value(v: Any) -> str:
    return str(getattr(v, "value", v))


def _route_prefix(host_json: Mapping[str, Any] | None) -> str:
    if host_json is None:
        return DEFAULT_ROUTE_PREFIX
    http_ext = (host_json.get("extensions") or {}).get("http") or {}
    prefix = http_ext.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ValueError(f"host.json extensions.http.routePrefix must be a string: {prefix!r}")
    return prefix.strip().strip("/")


def _json_error(
    status: int, extra: Sequence[tuple[str, str]] = (), *, detail: str | None = None
) -> HostResponse:
    document: dict[str, Any] = {"status": status, "error": _reason(status)}
    if detail is not None:
        document["detail"] = detail
    body = json.dumps(document).encode()
    return HostResponse(status, [("Content-Type", "application/json"), *extra], body)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class DevHost:
    """Routes and invokes the functions of a ``func.FunctionApp`` like the Functions host.

    ``handle()`` dispatches one request without any socket; ``start()``/``stop()`` run the HTTP
    server (HTTP/1.1 keep-alive, a bounded pool of worker threads: see ``ServerLimits``) and the
    timer threads.
    """

    def __init__(
        self,
        app: _FunctionSource,
        host_json: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.route_prefix = _route_prefix(host_json)
        self.routes: list[HttpRoute] = []
        self.timers: list[TimerFunction] = []
        self.skipped: list[tuple[str, str]] = []  # (function name, reason)
        self._loop = _LoopThread()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._timer_threads: list[_TimerThread] = []
        self._discover(app, os.environ if environ is None else environ)

    # -- discovery ----------------------------------------------------------------------------

    def _discover(self, app: _FunctionSource, environ: Mapping[str, str]) -> None:
        # FunctionApp.get_functions() refuses to run twice on one app (it remembers the names
        # it saw); forget them so that tests can build a host for an already indexed app.
        if getattr(app, "functions_bindings", None):
            app.functions_bindings = None  # type: ignore[attr-defined]
        routes: list[HttpRoute] = []
        for f in app.get_functions():
            name = str(f.get_function_name())
            bindings = [dict(b.get_dict_repr()) for b in f.get_bindings()]
            triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
            others = [
                b for b in bindings if b not in triggers
                and not (b.get("type") == "http" and b.get("name") == "$return")
            ]  # fmt: skip
            if len(triggers) != 1 or others:
                kinds = sorted(str(b.get("type")) for b in bindings)
                self._skip(name, f"bindings {kinds} are not supported by the dev host")
                continue
            trigger = triggers[0]
            kind = trigger.get("type")
            arg_name = str(trigger.get("name"))
            fn = f.get_user_function()
            problem, wants_context = _signature_problem(fn, arg_name)
            if problem:
                self._skip(name, problem)
                continue
            try:
                if kind == "httpTrigger":
                    routes.append(self._http_route(name, trigger, fn, wants_context))
                elif kind == "timerTrigger":
                    self.timers.append(self._timer(name, trigger, fn, wants_context, environ))
                else:
                    self._skip(name, f"trigger type {kind!r} is not supported by the dev host")
            except ValueError as exc:
                self._skip(name, str(exc))
        order = functools.cmp_to_key(_compare_templates)
        self.routes = sorted(routes, key=lambda r: order(r.template))

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append((name, reason))
        _log.error("function %r is not served: %s", name, reason)

    def _http_route(
        self, name: str, b: Mapping[str, Any], fn: Callable[..., Any], wants_context: bool
    ) -> HttpRoute:
        route = str(b.get("route") or name).strip().lstrip("/")
        template = f"{self.route_prefix}/{route}" if self.route_prefix else route
        raw_methods = b.get("methods")
        methods = (
            frozenset(_enum_value(m).upper() for m in raw_methods) if raw_methods else None
        )
        return HttpRoute(
            function_name=name,
            template=RouteTemplate(template),
            methods=methods,
            arg_name=str(b.get("name")),
            auth_level=_enum_value(b.get("authLevel", "function")),
            fn=fn,
            wants_context=wants_context,
        )

    def _timer(
        self,
        name: str,
        b: Mapping[str, Any],
        fn: Callable[..., Any],
        wants_context: bool,
        environ: Mapping[str, str],
    ) -> TimerFunction:
        raw = str(b.get("schedule") or "")
        schedule = CronSchedule.parse(_resolve_settings(raw, environ))
        if "useMonitor" in b:
            use_monitor = bool(b["useMonitor"])
        else:  # host default: on, except for schedules firing at least once a minute
            first = schedule.next_after(datetime(2001, 1, 1))
            use_monitor = schedule.next_after(first) - first > timedelta(minutes=1)
        return TimerFunction(
            function_name=name,
            schedule=schedule,
            run_on_startup=bool(b.get("runOnStartup", False)),
            use_monitor=use_monitor,
            arg_name=str(b.get("name")),
            fn=fn,
            wants_context=wants_context,
        )

    # -- invocation ---------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
        """Call a user function; coroutines run on the host's shared event loop."""
        if inspect.iscoroutinefunction(fn):
            return self._loop.run(fn(**kwargs))
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            return self._loop.run(result)
        return result

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        host: str = "localhost",
        scheme: str = "http",
    ) -> HostResponse:
        """Route and invoke one request. ``target`` is the origin-form path with query."""
        raw_path, _, query = target.partition("?")
        segments = _path_segments(raw_path)
        folded = [segment.upper() for segment in segments]
        method = method.upper()
        allowed: set[str] = set()
        for route in self.routes:
            values = route.template.match(segments, folded)
            if values is None:
                continue
            if route.methods is not None and method not in route.methods:
                allowed |= route.methods
                continue
            return self._invoke_http(
                route, method, target, query, headers, body, host, scheme, values
            )
        if allowed:
            return _json_error(405, [("Allow", ", ".join(sorted(allowed)))])
        return _json_error(404)

    def _invoke_http(
        self,
        route: HttpRoute,
        method: str,
        target: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        host: str,
        scheme: str,
        values: dict[str, str],
    ) -> HostResponse:
        request_headers = _host_headers(headers)
        request = func.HttpRequest(
            method=method,
            url=f"{scheme}://{host}{target}",
            headers=request_headers,
            params=_host_query(query),
            route_params=values,
            body=body,
        )
        kwargs: dict[str, Any] = {route.arg_name: request}
        if route.wants_context:
            kwargs["context"] = _DevContext(
                route.function_name,
                request_headers.get("traceparent", ""),
                request_headers.get("tracestate", ""),
            )
        try:
            result = self.call(route.fn, kwargs)
            return _encode_response(result)
        except Exception:
            _log.exception(
                "function %r raised; answering 500 (the app must not rely on this)",
                route.function_name,
            )
            return _json_error(500)

    def invoke_timer(self, timer: TimerFunction, request: Any) -> bool:
        """Run a timer function once; False (and a logged traceback) if it raised."""
        kwargs: dict[str, Any] = {timer.arg_name: request}
        if timer.wants_context:
            kwargs["context"] = _DevContext(timer.function_name)
        started = time.perf_counter()
        try:
            self.call(timer.fn, kwargs)
        except Exception:
            _log.exception("timer function %r raised", timer.function_name)
            ok = False
        else:
            ok = True
        _log.info(
            "timer %s %s %.1fms",
            timer.function_name,
            "ok" if ok else "failed",
            (time.perf_counter() - started) * 1000,
        )
        return ok

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the dev host is not started")
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timers: bool = True,
        limits: ServerLimits | None = None,
    ) -> str:
        """Bind, serve in the background, start timers; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("the dev host is already started")
        _ensure_log_output()
        self._stop.clear()
        server = _Server((host, port), self, limits or ServerLimits())
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1},
            name="devhost-http", daemon=True,
        )  # fmt: skip
        self._server_thread.start()
        if start_timers:
            for timer in self.timers:
                thread = _TimerThread(self, timer, self._stop)
                self._timer_threads.append(thread)
                thread.start()
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests and timer runs finish (up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections(deadline)
        if self._server_thread is not None:
            self._server_thread.join(max(0.0, deadline - time.monotonic()))
            self._server_thread = None
        for thread in self._timer_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                _log.warning("timer %r still running at shutdown", thread.timer.function_name)
        self._timer_threads = []
        self._loop.stop(max(0.1, deadline - time.monotonic()))


def _encode_response(result: Any) -> HostResponse:
    """Encode the function's return value the way the Python worker does."""
    if isinstance(result, func.HttpResponse):
        headers: list[tuple[str, str]] = []
        last: dict[str, tuple[str, str]] = {}
        for name, value in result.headers.items():
            name, value = str(name), str(value)
            if name.lower() == "set-cookie":
                headers.append((name, value))
            elif name.lower() not in _FRAMING_HEADERS:
                last[name.lower()] = (name, value)
        if "content-type" not in last:
            mimetype, charset = str(result.mimetype), str(result.charset)
            ct = f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
            last["content-type"] = ("Content-Type", ct)
        headers = [*last.values(), *headers]
        status = int(result.status_code)
        body = result.get_body() or b""
    elif isinstance(result, str):
        status, body = 200, result.encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8")]
    else:
        raise TypeError(
            "an HTTP function must return func.HttpResponse (or str), "
            f"got {type(result).__name__}"
        )
    if not 200 <= status <= 999:
        raise ValueError(f"invalid HTTP status {status}")
    for name, value in headers:
        # Refuse what cannot be written as an HTTP/1.1 header instead of corrupting the stream.
        if not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"invalid response header {name!r}")
    return HostResponse(status, headers, bytes(body))


# ---------------------------------------------------------------------------------------------
# Timers
# ---------------------------------------------------------------------------------------------

_NEVER = datetime(1, 1, 1, tzinfo=UTC)  # ScheduleMonitor.DefaultDateTime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _TimerThread(threading.Thread):
    """Runs one timer function on its schedule, never overlapping itself."""

    def __init__(self, host: DevHost, timer: TimerFunction, stop: threading.Event) -> None:
        super().__init__(name=f"devhost-timer-{timer.function_name}", daemon=True)
        self.host, self.timer, self._stop_event = host, timer, stop

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # the scheduler itself must not die silently
            _log.exception("timer scheduler for %r failed", self.timer.function_name)

    def _run(self) -> None:
        schedule = self.timer.schedule
        last, next_due = _NEVER, schedule.next_after(_utcnow())
        if self.timer.run_on_startup and not self._stop_event.is_set():
            invoked = _utcnow()
            self._invoke(last, next_due)
            last, next_due = invoked, schedule.next_after(invoked)
        while not self._stop_event.is_set():
            delay = (next_due - _utcnow()).total_seconds()
            if delay > 0:
                self._stop_event.wait(min(delay, 3600.0))
                continue
            if self._stop_event.is_set():
                break
            invoked = _utcnow()
            self._invoke(last, next_due)
            # Like the WebJobs TimerListener: the next occurrence follows the START of this
            # invocation, so an overrun leads to one immediate run, not a backlog.
            adjusted = max(invoked, next_due)
            last, next_due = adjusted, schedule.next_after(adjusted)

    def _invoke(self, last: datetime, next_due: datetime) -> None:
        status: dict[str, str] = {}
        if self.timer.use_monitor:
            status = {"Last": _iso(last), "Next": _iso(next_due), "LastUpdated": _iso(last)}
        request = TimerRequest(
            past_due=False, schedule_status=status, schedule={"AdjustForDST": True}
        )
        self.host.invoke_timer(self.timer, request)


# ---------------------------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------------------------


class _RequestError(Exception):
    """A request the host answers itself and then closes the connection after.

    ``linger``: keep reading (and discarding) what the client still sends for a moment after
    the answer, so that closing with unread data does not reset the connection before the
    client has read the answer. Not for timeouts: a client that is too slow gets no grace.
    """

    def __init__(self, status: int, detail: str, *, linger: bool = True) -> None:
        super().__init__(status, detail)
        self.status, self.detail, self.linger = status, detail, linger


class _ClientGone(Exception):
    """The client closed the connection before (or while) sending a request."""


@dataclass(frozen=True)
class ServerLimits:
    """How many connections the host serves at once and how long it waits for slow clients.

    ``workers`` threads serve connections; up to ``waiting`` more accepted connections wait for
    a free worker, and any beyond that are answered 503 at once. A connection must deliver its
    request line and headers within ``header_timeout`` seconds (counted from its acceptance,
    then from the first byte of each later request); an idle keep-alive connection is closed
    after ``keep_alive_timeout`` seconds, or as soon as another connection waits for a worker.
    Defaults are Kestrel's where it has one (RequestHeadersTimeout, KeepAliveTimeout).
    """

    workers: int = 64
    waiting: int = 256
    header_timeout: float = 30.0
    keep_alive_timeout: float = KEEP_ALIVE_SECONDS

    def __post_init__(self) -> None:
        if self.workers < 1 or self.waiting < 0:
            raise ValueError(
                f"ServerLimits: workers must be >= 1 and waiting >= 0, got workers="
                f"{self.workers}, waiting={self.waiting}"
            )
        if not (self.header_timeout > 0 and self.keep_alive_timeout > 0):
            raise ValueError("ServerLimits: header_timeout and keep_alive_timeout must be > 0")


MAX_REQUEST_LINE_BYTES = 8 * 1024  # Kestrel's MaxRequestLineSize
MAX_HEADER_BYTES = 32 * 1024  # Kestrel's MaxRequestHeadersTotalSize
MAX_HEADER_COUNT = 100  # Kestrel's MaxRequestHeaderCount
MAX_CHUNK_LINE_BYTES = 4 * 1024
MIN_BODY_BYTES_PER_SECOND = 240.0  # Kestrel's MinRequestBodyDataRate ...
BODY_GRACE_SECONDS = 5.0  # ... and its grace period
SEND_TIMEOUT_SECONDS = 30.0  # a client that does not read its answer frees the worker
LINGER_SECONDS = 2.0
MAX_LINGERING = 1024  # closing sockets kept draining at once; beyond, the oldest is closed
_RECV_BYTES = 65536
_IDLE_POLL_SECONDS = 0.25  # how soon an idle keep-alive connection yields under pressure

_REQUEST_LINE = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) HTTP/([0-9])\.([0-9])"
)
# RFC 9112 §5: no whitespace between name and colon, no obs-fold, no CTL but HTAB in a value.
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[ \t]*"
)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?")
_BUSY = HostResponse(
    503, [("Content-Type", "application/json"), ("Retry-After", "1")],
    json.dumps({"status": 503, "error": "Service Unavailable",
                "detail": "the dev host is serving as many connections as it allows"}).encode(),
)  # fmt: skip


class _Server(socketserver.TCPServer):
    """Accepts on one thread and serves connections on a bounded pool of worker threads."""

    allow_reuse_address = True
    request_queue_size = 128  # the default of 5 drops bursts of concurrent connections

    def __init__(self, address: tuple[str, int], devhost: DevHost, limits: ServerLimits) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.devhost = devhost
        self.limits = limits
        self.lock = threading.Lock()
        self.connections: dict[threading.Thread, socket.socket] = {}
        self.workers: list[threading.Thread] = []
        self.admitted = 0  # connections waiting for a worker or being served
        self.closing = False
        self._queue: queue.SimpleQueue[tuple[socket.socket, float] | None] = (
            queue.SimpleQueue()
        )
        self._lingering: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self._next_drain = 0.0
        self._date = (0, "")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        super().__init__(address, socketserver.BaseRequestHandler)

    # -- accepting (the serve_forever thread) -------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        # Unlike socketserver's loop (one accept per wake-up), accept everything pending: the
        # acceptor must outpace a flood of connections, or the listen backlog overflows and
        # the kernel drops the connections of well-behaved clients too.
        self.socket.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    if selector.select(poll_interval) and not self._accept_pending():
                        self._stopping.wait(poll_interval)  # e.g. out of file descriptors
                    self.service_actions()
        finally:
            self._stopped.set()

    def _accept_pending(self) -> bool:
        """Accept the connections waiting in the backlog; False if accepting failed."""
        for _ in range(self.request_queue_size):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                _log.warning("accepting a connection failed", exc_info=True)
                return False
            try:
                self.process_request(sock, address)
            except Exception:
                self.handle_error(sock, address)
                self.shutdown_request(sock)
        return True

    def shutdown(self) -> None:
        """Stop serve_forever() and wait for it to return."""
        self._stopping.set()
        self._stopped.wait()

    def process_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        with self.lock:
            admit = not self.closing and self.admitted < self.limits.workers + self.limits.waiting
            if admit:
                self.admitted += 1
                if self.admitted > len(self.workers) < self.limits.workers:
                    worker = threading.Thread(
                        target=self._work, name=f"devhost-worker-{len(self.workers)}",
                        daemon=True,
                    )  # fmt: skip
                    self.workers.append(worker)
                    worker.start()
        if admit:
            self._queue.put((sock, time.monotonic()))
        else:
            self.reject(sock)

    def reject(self, sock: socket.socket) -> None:
        """Answer 503 without reading the request (the acceptor must never block)."""
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(_wire(_BUSY, "GET", close=True, date=self.date()))
        self.linger(sock)

    def linger(self, sock: socket.socket) -> None:
        """Close after the answer: FIN now, drain what the client still sends, close later."""
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        self._lingering.append((time.monotonic() + LINGER_SECONDS, sock))
        while len(self._lingering) > MAX_LINGERING:
            with contextlib.suppress(IndexError):
                self._lingering.popleft()[1].close()

    def service_actions(self) -> None:
        now = time.monotonic()
        if now < self._next_drain:
            return
        self._next_drain = now + 0.05
        for _ in range(len(self._lingering)):
            try:
                expires, sock = self._lingering.popleft()
            except IndexError:
                break
            if _drained(sock) or now >= expires:
                sock.close()
            else:
                self._lingering.append((expires, sock))

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True))
        return self._date[1]

    # -- serving (worker threads) -------------------------------------------------------------

    def pressed(self) -> bool:
        """True when a connection waits for a worker (idle keep-alive connections yield)."""
        return self.admitted > self.limits.workers

    def _work(self) -> None:
        me = threading.current_thread()
        while (item := self._queue.get()) is not None:
            sock, accepted = item
            linger = False
            try:
                with self.lock:
                    if self.closing:
                        continue
                    self.connections[me] = sock
                linger = _Connection(sock, self, accepted).serve()
            except Exception as exc:  # one broken connection must not end a worker
                if not isinstance(exc, (ConnectionError, TimeoutError)):
                    _log.exception("unexpected error on a connection")
            finally:
                with self.lock:
                    self.connections.pop(me, None)
                    self.admitted -= 1
                if linger:
                    self.linger(sock)
                else:
                    self.shutdown_request(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        _log.exception("unexpected error on a connection")

    def close_connections(self, deadline: float) -> None:
        """End all connections: waiting ones now, idle ones now, busy ones after their response;
        then end the workers."""
        with self.lock:
            self.closing = True
            active = list(self.connections.values())
            workers = list(self.workers)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        while True:  # connections still queued when the workers left
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        while self._lingering:
            self._lingering.popleft()[1].close()


def _drained(sock: socket.socket) -> bool:
    """Discard what a closing connection has received; True once the client has closed."""
    try:
        for _ in range(16):
            if not sock.recv(_RECV_BYTES):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    return False


def _wire(response: HostResponse, method: str, *, close: bool, date: str) -> bytes:
    status = response.status
    bodyless = status in (204, 304) or status < 200
    given = {name.lower() for name, _ in response.headers}
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    if "date" not in given:
        lines.append(f"Date: {date}")
    if "server" not in given:
        lines.append(f"Server: {_Connection.server_version}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not bodyless:
        lines.append(f"Content-Length: {len(response.body)}")
    if close:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if not bodyless and method != "HEAD":
        data += response.body
    return data


class _Connection:
    """One client connection: reads requests with strict HTTP/1.1 framing (RFC 9112) and
    bounded waits, answers them through the DevHost. Any framing error is answered and the
    connection closed, so nothing the client sent after it is ever taken as a request."""

    server_version = "devhost"

    def __init__(self, sock: socket.socket, server: _Server, accepted: float) -> None:
        self.sock, self.server, self.limits = sock, server, server.limits
        # The first request's headers are due header_timeout after acceptance, not after its
        # first byte: a connection that waited for a worker has had that time already.
        self.first_deadline: float | None = accepted + self.limits.header_timeout
        self.buf = bytearray()
        self.received = 0  # bytes received on the connection (for the body data rate)
        self.close = False
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def serve(self) -> bool:
        """Serve requests until the connection ends; True if it must linger when closed."""
        first = True
        while True:
            try:
                if not self._await_request(first):
                    return False
                first = False
                self._handle_one()
            except _ClientGone:
                return False
            except _RequestError as exc:
                _log.info("- <rejected request> %d %s", exc.status, exc.detail)
                self._send(_json_error(exc.status, detail=exc.detail), "GET", close=True)
                return exc.linger
            if self.close:
                return bool(self.buf)

    # -- reading ------------------------------------------------------------------------------

    def _recv(self, timeout: float) -> bool:
        """One receive into the buffer; False on timeout; _ClientGone at end of stream."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(_RECV_BYTES)
        except TimeoutError:
            return False
        if not data:
            raise _ClientGone
        self.buf += data
        self.received += len(data)
        return True

    def _fill(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        try:
            if remaining > 0 and self._recv(remaining):
                return
        except _ClientGone:
            raise _RequestError(400, f"the connection ended in the middle of {what}",
                                linger=False) from None
        raise _RequestError(408, f"{what} did not arrive in time", linger=False)

    def _await_request(self, first: bool) -> bool:
        """Wait for the first byte of a request; False when the connection should be closed."""
        if self.buf:
            return True
        if first and self.first_deadline is not None:
            deadline, patience = self.first_deadline, False
        else:
            deadline, patience = time.monotonic() + self.limits.keep_alive_timeout, True
        while (remaining := deadline - time.monotonic()) > 0:
            if self._recv(min(remaining, _IDLE_POLL_SECONDS) if patience else remaining):
                return True
            if patience and self.server.pressed():
                return False
        return False

    def _read_head(self) -> list[bytes]:
        """Request line and field lines (line ends removed), without the empty line."""
        if self.first_deadline is not None:
            deadline, self.first_deadline = self.first_deadline, None
        else:
            deadline = time.monotonic() + self.limits.header_timeout
        lines: list[bytes] = []
        start = 0
        size = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end < 0:
                pending = len(self.buf) - start
                if not lines and pending > MAX_REQUEST_LINE_BYTES:
                    raise _RequestError(414, "the request line is too long")
                if lines and size + pending > MAX_HEADER_BYTES:
                    raise _RequestError(431, "the request headers are too large")
                self._fill(deadline, "the request headers")
                continue
            line = bytes(self.buf[start : end - 1 if end > start and self.buf[end - 1] == 13
                                  else end])  # fmt: skip
            start = end + 1
            if not lines:
                if not line and start <= 8:  # RFC 9112 §2.2: ignore an empty line or two
                    continue
                if len(line) > MAX_REQUEST_LINE_BYTES:
                    raise _RequestError(414, "the request line is too long")
                lines.append(line)
                continue
            if not line:
                del self.buf[:start]
                return lines
            size += len(line) + 2
            if size > MAX_HEADER_BYTES or len(lines) > MAX_HEADER_COUNT:
                raise _RequestError(431, "the request headers are too large or too many")
            lines.append(line)

    def _take(self, n: int, deadline: Callable[[], float], what: str) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline(), what)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _line(self, limit: int, deadline: Callable[[], float], what: str) -> bytes:
        start = 0
        while (end := self.buf.find(b"\n", start)) < 0:
            if len(self.buf) > limit:
                raise _RequestError(400, f"{what} is too long")
            start = len(self.buf)
            self._fill(deadline(), what)
        if end > limit:
            raise _RequestError(400, f"{what} is too long")
        line = bytes(self.buf[: end - 1 if end and self.buf[end - 1] == 13 else end])
        del self.buf[: end + 1]
        return line

    def _crlf(self, deadline: Callable[[], float]) -> None:
        while len(self.buf) < 2 and self.buf[:1] != b"\n":
            self._fill(deadline(), "the end of a chunk")
        if self.buf[:2] == b"\r\n":
            del self.buf[:2]
        elif self.buf[:1] == b"\n":
            del self.buf[:1]
        else:
            raise _RequestError(400, "a chunk is not followed by CRLF")

    # -- one request --------------------------------------------------------------------------

    def _handle_one(self) -> None:
        started = time.perf_counter()
        head = self._read_head()
        m = _REQUEST_LINE.fullmatch(head[0])
        if m is None:
            raise _RequestError(400, "the request line is not 'METHOD target HTTP/1.1'")
        if m[3] != b"1":
            raise _RequestError(505, "only HTTP/1.x is served")
        method, target = m[1].decode("ascii"), m[2].decode("latin-1")
        http10 = m[4] == b"0"
        headers: list[tuple[str, str]] = []
        lengths: list[str] = []
        codings: list[str] = []
        connection: list[str] = []
        expect = host = None
        for line in head[1:]:
            f = _FIELD_LINE.fullmatch(line)
            if f is None:
                raise _RequestError(
                    400, "obsolete line folding is not accepted" if line[:1] in (b" ", b"\t")
                    else "a header line is not 'name: value' with a valid name and value"
                )  # fmt: skip
            name, value = f[1].decode("ascii"), f[2].decode("latin-1")
            headers.append((name, value))
            key = name.lower()
            if key == "content-length":
                lengths.append(value)
            elif key == "transfer-encoding":
                codings.extend(c.strip().lower() for c in value.split(","))
            elif key == "connection":
                connection.extend(c.strip().lower() for c in value.split(","))
            elif key == "expect":
                expect = value.lower()
            elif key == "host" and host is None:
                host = value
        self.close = "close" in connection or (http10 and "keep-alive" not in connection)
        length = self._framing(lengths, codings, http10)
        if not target.startswith("/"):  # absolute-form (proxies) or '*'
            try:
                parts = urlsplit(target)
            except ValueError:
                raise _RequestError(400, "the request target is not a valid URL") from None
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(target) > MAX_URL_CHARS:
            raise _RequestError(414, f"the URL is longer than {MAX_URL_CHARS} characters")
        if length != 0 and expect == "100-continue" and not http10 and not self.buf:
            self._send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_chunked() if length is None else self._read_body(length)
        if host is None:
            host = "{}:{}".format(*self.server.server_address[:2])
        response = self.server.devhost.handle(method, target, headers, body, host=host)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # The request line is the client's text: one printable line, bounded.
        _log.info("%s %s %d %.1fms", clean(method, 16), clean(target.split("?", 1)[0], 300),
                  response.status, elapsed_ms)
        self._send(response, method, close=self.close)

    @staticmethod
    def _framing(lengths: list[str], codings: list[str], http10: bool) -> int | None:
        """The body length, None for chunked; _RequestError for anything ambiguous (RFC 9112
        §6.3: a request whose framing is in doubt is answered 400 and the connection closed)."""
        if codings:
            if lengths:
                raise _RequestError(400, "both Content-Length and Transfer-Encoding are present")
            if http10:
                raise _RequestError(400, "Transfer-Encoding is not allowed in HTTP/1.0")
            if codings == ["chunked"]:
                return None
            others = codings[:-1]
            if codings[-1] == "chunked" and "chunked" not in others and all(
                _TOKEN.fullmatch(c) for c in others
            ):
                raise _RequestError(501, "only the chunked transfer coding is supported")
            raise _RequestError(400, "Transfer-Encoding must be exactly 'chunked'")
        if not lengths:
            return 0
        if len(lengths) > 1:
            raise _RequestError(400, "Content-Length is given more than once")
        value = lengths[0]
        if not value.isascii() or not value.isdigit():
            raise _RequestError(400, "Content-Length must be a decimal number")
        if len(value.lstrip("0")) > 12 or int(value) > MAX_BODY_BYTES:
            raise _RequestError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        return int(value)

    def _body_deadline(self) -> Callable[[], float]:
        """Like Kestrel's minimum request body data rate: a grace period, then 240 bytes/s."""
        started, received = time.monotonic(), self.received
        return lambda: (
            started + BODY_GRACE_SECONDS
            + (self.received - received) / MIN_BODY_BYTES_PER_SECOND
        )  # fmt: skip

    def _read_body(self, length: int) -> bytes:
        if not length:
            return b""
        return self._take(length, self._body_deadline(), "the request body")

    def _read_chunked(self) -> bytes:
        deadline = self._body_deadline()
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self._line(MAX_CHUNK_LINE_BYTES, deadline, "a chunk size line")
            m = _CHUNK_LINE.fullmatch(line)
            if m is None:
                raise _RequestError(400, "a chunk size is not a hexadecimal number")
            size = int(m[1], 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise _RequestError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(self._take(size, deadline, "a chunk"))
            self._crlf(deadline)
        trailers = 0
        while line := self._line(MAX_CHUNK_LINE_BYTES, deadline, "a trailer"):
            trailers += len(line)
            if trailers > MAX_HEADER_BYTES:
                raise _RequestError(431, "the trailers are too large")
            if _FIELD_LINE.fullmatch(line) is None:
                raise _RequestError(400, "a trailer line is not 'name: value'")
        return b"".join(chunks)

    # -- writing ------------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        self.sock.settimeout(SEND_TIMEOUT_SECONDS)
        self.sock.sendall(data)

    def _send(self, response: HostResponse, method: str, *, close: bool) -> None:
        data = _wire(response, method, close=close, date=self.server.date())
        if close:
            with contextlib.suppress(OSError):  # the client may be gone already
                self._send_raw(data)
        else:
            self._send_raw(data)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def _ensure_log_output() -> None:
    """Make sure request lines reach stderr even if nobody configured logging."""
    if _log.level == logging.NOTSET:
        _log.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s devhost %(levelname)s %(message)s"))
        _log.addHandler(handler)


def _load_host_json(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: host.json must hold a JSON object")
    return data


def load_local_settings(path: str | os.PathLike[str], environ: Any = None) -> list[str]:
    """Copy ``Values`` of a local.settings.json into the environment (existing variables win,
    as they should for CI); returns the names that were set. Values are never logged."""
    env = os.environ if environ is None else environ
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = (data.get("Values") or {}) if isinstance(data, dict) else {}
    set_names = []
    for name, value in values.items():
        if name not in env and value is not None:
            env[name] = str(value)
            set_names.append(name)
    return set_names


@contextlib.contextmanager
def running(
    app: _FunctionSource,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    host_json: Mapping[str, Any] | None = None,
    host_json_path: str | os.PathLike[str] | None = None,
    start_timers: bool = True,
    limits: ServerLimits | None = None,
) -> Iterator[str]:
    """Serve ``app`` in background threads; yields the base URL (port 0: a free port)."""
    if host_json is None:
        host_json = _load_host_json(host_json_path)
    devhost = DevHost(app, host_json)
    url = devhost.start(host, port, start_timers=start_timers, limits=limits)
    try:
        yield url
    finally:
        devhost.stop()


def serve(
    app: _FunctionSource,
    host: str = "127.0.0.1",
    port: int = 7071,
    host_json_path: str | os.PathLike[str] | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM, then shut down cleanly.

    ``host_json_path`` None means ``./host.json`` if it exists (like ``func start``), else the
    host defaults (route prefix ``api``).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        azure_logger = logging.getLogger("azure")
        if azure_logger.level == logging.NOTSET:  # azure-core logs every storage call at INFO
            azure_logger.setLevel(logging.WARNING)
    if host_json_path is None and Path("host.json").is_file():
        host_json_path = "host.json"
    devhost = DevHost(app, _load_host_json(host_json_path))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        url = devhost.start(host, port, limits=limits)
        for route in devhost.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "all"
            _log.info(
                "route /%s [%s] -> %s", route.template.template, methods, route.function_name
            )
        for timer in devhost.timers:
            _log.info("timer %r -> %s", timer.schedule.expression, timer.function_name)
        _log.info("listening on %s (host.json: %s)", url, host_json_path or "none")
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _log.info("shutting down")
        devhost.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.adapter.devhost",
        description="Serve an Azure Functions Python v2 app locally (no Core Tools needed).",
    )
    parser.add_argument("app", nargs="?", default="function_app:app", help="module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host-json", default=None, help="default: ./host.json if present")
    defaults = ServerLimits()
    parser.add_argument(
        "--workers", type=int, default=defaults.workers,
        help="threads serving connections (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--waiting", type=int, default=defaults.waiting,
        help="connections that may wait for a worker; beyond them: 503 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--settings",
        default=None,
        help="local.settings.json whose Values become environment variables "
        "(default: ./local.settings.json if present; existing variables win)",
    )
    args = parser.parse_args(argv)
    try:
        limits = ServerLimits(workers=args.workers, waiting=args.waiting)
    except ValueError as exc:
        parser.error(str(exc))
    settings = args.settings
    if settings is None and Path("local.settings.json").is_file():
        settings = "local.settings.json"
    if settings:
        names = load_local_settings(settings)
        print(f"devhost: settings from {settings}: {', '.join(names) or 'none'}", file=sys.stderr)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    serve(app, args.host, args.port, args.host_json, limits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
