"""Route templates of HTTP-triggered functions, compiled to regular expressions.

The dev host understands the template forms the app uses: literal segments (matched
case-insensitively, like ASP.NET Core routing in the Functions host), ``{name}``, an optional
``{name?}`` and a catch-all ``{*name}``, the last two only as the final segment. Any other
template syntax (constraints such as ``{id:int}``, defaults, ``{**name}``, complex segments
like ``{name}.{ext}``) raises ``UnsupportedRoute`` at startup rather than being matched
differently from the real host.

Routes are tried in the order of the WebJobs route builder, reduced to what these forms can
tell apart: segment by segment a literal before a parameter, and a longer template before a
shorter one it extends; ties keep the order in which the functions were registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["RoutePattern", "UnsupportedRoute", "compile_route", "route_path"]

_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\??)\}")
_SUPPORTED = "literal segments, {name}, and as the last segment {name?} or {*name}"


class UnsupportedRoute(ValueError):
    """A route template uses syntax the dev host does not emulate."""


@dataclass(frozen=True)
class RoutePattern:
    template: str
    regex: re.Pattern[str]
    # Sort key: per segment 0 (literal) or 1 (parameter), then 2, so that a template that
    # extends another sorts first; ties: a template with fewer optional parts first.
    order: tuple[tuple[int, ...], int]

    def match(self, path: str) -> dict[str, str] | None:
        """Route values if ``path`` (from ``route_path``) matches, else None."""
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        return {name: value for name, value in m.groupdict().items() if value}


def compile_route(template: str) -> RoutePattern:
    """Compile a route template (prefix included); UnsupportedRoute names what is not served."""
    text = template.strip().strip("/")
    segments = text.split("/") if text else []
    pieces: list[str] = []
    kinds: list[int] = []
    looseness = 0
    names: set[str] = set()
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if not segment:
            raise UnsupportedRoute(f"route {template!r} has an empty segment")
        if "{" not in segment and "}" not in segment:
            pieces.append("/" + re.escape(segment))
            kinds.append(0)
            continue
        m = _PARAMETER.fullmatch(segment)
        if m is None:
            raise UnsupportedRoute(
                f"route {template!r}: segment {segment!r} is not emulated by the dev host "
                f"(constraints, defaults, complex segments and escaped braces are not; "
                f"supported: {_SUPPORTED})"
            )
        catch_all, name, optional = bool(m[1]), m[2], bool(m[3])
        if (catch_all or optional) and not last:
            raise UnsupportedRoute(
                f"route {template!r}: {segment!r} is only emulated as the last segment"
            )
        if catch_all and optional:
            raise UnsupportedRoute(f"route {template!r}: {segment!r} is not a valid parameter")
        if name.lower() in names:
            raise UnsupportedRoute(f"route {template!r} repeats the parameter {name!r}")
        names.add(name.lower())
        if catch_all:
            pieces.append(f"(?:/(?P<{name}>.*))?")
        elif optional:
            pieces.append(f"(?:/(?P<{name}>[^/]+))?")
        else:
            pieces.append(f"/(?P<{name}>[^/]+)")
        kinds.append(1)
        looseness += 2 if catch_all else 1 if optional else 0
    # DOTALL: a catch-all takes a decoded line break too, as the Functions host's does.
    regex = re.compile("".join(pieces), re.IGNORECASE | re.DOTALL)
    return RoutePattern(template, regex, ((*kinds, 2), looseness))


def _decode(segment: str) -> str:
    """Percent-decode one path segment but keep ``%2F`` (Kestrel does not decode it)."""
    if "%" not in segment:
        return segment
    pieces = re.split(r"(%2[fF])", segment)
    return "".join(p if i % 2 else unquote(p) for i, p in enumerate(pieces))


def route_path(raw_path: str) -> str:
    """The request path as routes match it: segments decoded, ``.``/``..`` resolved, one
    trailing slash ignored, each segment preceded by ``/`` (``""`` for the root)."""
    path = raw_path.removeprefix("/").removesuffix("/")
    if not path:
        return ""
    out: list[str] = []
    for segment in map(_decode, path.split("/")):
        if segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "".join("/" + s for s in out)
