"""What the Python worker does around one HTTP invocation: build the ``func.HttpRequest`` the
function receives and encode the ``func.HttpResponse`` it returns.

Request, as the host and worker hand it over: header names lower-cased and repeated headers
joined with ``,``; query parameters with ``+`` as a space, repeated keys (case-insensitive)
joined with ``,`` and parameters with an EMPTY VALUE LEFT OUT. Response: without a
Content-Type header the ``mimetype`` is used, with ``; charset=...`` for ``text/*`` only; for
a repeated header name the last value wins, except Set-Cookie; framing headers set by the
function are dropped (the server writes its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

import azure.functions as func

from .server import HostResponse

__all__ = ["http_request", "http_response"]

_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def http_request(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    query: str,
    route_params: Mapping[str, str],
    body: bytes,
) -> func.HttpRequest:
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), []).append(value)
    return func.HttpRequest(
        method=method,
        url=url,
        headers={name: ",".join(values) for name, values in merged.items()},
        params=_query_params(query),
        route_params=dict(route_params),
        body=body,
    )


def _query_params(query: str) -> dict[str, str]:
    if not query:
        return {}
    merged: dict[str, tuple[str, list[str]]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        merged.setdefault(key.lower(), (key, []))[1].append(value)
    joined = {key: ",".join(values) for key, values in merged.values()}
    return {key: value for key, value in joined.items() if value != ""}


def http_response(result: object) -> HostResponse:
    """The function's return value as the worker encodes it; TypeError unless HttpResponse."""
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"an HTTP function must return func.HttpResponse, got {type(result).__name__}"
        )
    cookies: list[tuple[str, str]] = []
    last: dict[str, tuple[str, str]] = {}
    for name, value in result.headers.items():
        name, value = str(name), str(value)
        if name.lower() == "set-cookie":
            cookies.append((name, value))
        elif name.lower() not in _FRAMING_HEADERS:
            last[name.lower()] = (name, value)
    if "content-type" not in last:
        mimetype, charset = str(result.mimetype), str(result.charset)
        text = mimetype.startswith("text/")
        last["content-type"] = ("Content-Type", f"{mimetype}; charset={charset}" if text
                                else mimetype)
    return HostResponse(int(result.status_code), [*last.values(), *cookies],
                        bytes(result.get_body() or b""))
