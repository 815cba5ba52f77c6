"""Route templates: the forms the app uses match like the Functions host, the rest is refused."""

from __future__ import annotations

import pytest

from devhost.routes import UnsupportedRoute, compile_route, route_path


def _match(template: str, raw_path: str) -> dict[str, str] | None:
    return compile_route(template).match(route_path(raw_path))


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("scim/v2/{tenant}/Users/{id}", "/scim/V2/t1/users/u1", {"tenant": "t1", "id": "u1"}),
        ("scim/v2/{tenant}/Users", "/scim/v2/t1/Users/u1", None),
        ("scim/v2/{tenant}/Users/{id}", "/scim/v2/t1/Users", None),
        ("scim/v2/{tenant}/Schemas/{id?}", "/scim/v2/t1/Schemas", {"tenant": "t1"}),
        ("scim/v2/{tenant}/Schemas/{id?}", "/scim/v2/t1/Schemas/x", {"tenant": "t1", "id": "x"}),
        ("scim/v2/{tenant}/Schemas/{id?}", "/scim/v2/t1/Schemas/x/y", None),
        ("scim/v2/{tenant}/{resource}/{*rest}", "/scim/v2/t/Bulk",
         {"tenant": "t", "resource": "Bulk"}),
        ("scim/v2/{tenant}/{resource}/{*rest}", "/scim/v2/t/Me/a/b",
         {"tenant": "t", "resource": "Me", "rest": "a/b"}),
        ("scim/v2/{tenant}/{resource}/{*rest}", "/scim/v2/t", None),
        ("scim/v2/openapi.json", "/SCIM/v2/OpenAPI.JSON", {}),
        ("scim/v2/openapi.json", "/scim/v2/openapiXjson", None),  # "." is literal
        ("health", "/health/", {}),  # one trailing slash is ignored
        ("a/{id}", "/a/", None),  # a parameter never matches an empty segment
        ("a/{id}", "/a//", None),
        ("things/{*rest}", "/things/x//y", {"rest": "x//y"}),
        # A decoded line break is still part of the path (the catch-all takes it too).
        ("things/{*rest}", "/things/a\nb/c\n", {"rest": "a\nb/c\n"}),
        ("things/{id}", "/things/a\nb", {"id": "a\nb"}),
        ("", "/", {}),
    ],
)  # fmt: skip
def test_template_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert _match(template, path) == expected


def test_path_segments_are_decoded_except_slash() -> None:
    assert route_path("/items/a%20b%C3%A9+c") == "/items/a bé+c"
    assert route_path("/items/a%2Fb") == "/items/a%2Fb"  # Kestrel keeps %2F encoded
    assert route_path("/a/./b/../c") == "/a/c"
    assert route_path("/a/%2E%2E/c") == "/c"  # decoded before dot segments are resolved
    assert route_path("/..") == ""
    assert _match("items/{id}", "/items/a%2Fb") == {"id": "a%2Fb"}


def _first(templates: list[str], path: str) -> str:
    ordered = sorted((compile_route(t) for t in templates), key=lambda r: r.order)
    return next(r.template for r in ordered if r.match(route_path(path)) is not None)


def test_routes_are_tried_literal_first_then_longer_first() -> None:
    scim = ["scim/v2/{tenant}/{resource}/{*rest}", "scim/v2/{tenant}/Users/{id}",
            "scim/v2/{tenant}/Users", "scim/v2/{tenant}/Schemas/{id?}"]  # fmt: skip
    assert _first(scim, "/scim/v2/t/Users") == "scim/v2/{tenant}/Users"
    assert _first(scim, "/scim/v2/t/users/1") == "scim/v2/{tenant}/Users/{id}"
    assert _first(scim, "/scim/v2/t/Users/1/x") == "scim/v2/{tenant}/{resource}/{*rest}"
    assert _first(scim, "/scim/v2/t/Schemas") == "scim/v2/{tenant}/Schemas/{id?}"
    assert _first(scim, "/scim/v2/t/Groups") == "scim/v2/{tenant}/{resource}/{*rest}"
    assert _first(["{a}/{b}", "items/{id}"], "/items/1") == "items/{id}"
    # a template extending another comes first; then the one with fewer optional parts
    assert _first(["a/{x}", "a/{x}/{y?}"], "/a/1") == "a/{x}/{y?}"
    assert _first(["a/{*rest}", "a/{x?}"], "/a/1") == "a/{x?}"


@pytest.mark.parametrize(
    ("template", "feature"),
    [
        ("items/{id:int}", "'{id:int}' is not emulated"),
        ("items/{id:regex(^a$)}", "is not emulated"),
        ("items/{page=1}", "'{page=1}' is not emulated"),
        ("files/{**path}", "'{**path}' is not emulated"),
        ("files/{name}.{ext}", "'{name}.{ext}' is not emulated"),
        ("a/{{literal}}", "is not emulated"),
        ("a/{id", "is not emulated"),
        ("a/{x-y}", "is not emulated"),
        ("a//b", "an empty segment"),
        ("a/{*rest}/b", "'{*rest}' is only emulated as the last segment"),
        ("a/{id?}/b", "'{id?}' is only emulated as the last segment"),
        ("a/{*rest?}", "is not a valid parameter"),
        ("{x}/{X}", "repeats the parameter 'X'"),
    ],
)
def test_other_template_syntax_is_refused(template: str, feature: str) -> None:
    with pytest.raises(UnsupportedRoute) as info:
        compile_route(template)
    assert feature in str(info.value)
    assert repr(template) in str(info.value)
