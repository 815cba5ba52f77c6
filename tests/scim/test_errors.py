"""shared.scim.errors: every ScimError renders as an RFC 7644 §3.12 error (the Error schema,
`status` as a string, `scimType` only with a keyword its status allows, a `detail`), and the
helpers that quote client values in a detail keep it bounded and sendable."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.scim import errors
from shared.scim.errors import ERROR_SCHEMA, ScimError, kind_of, show

ROOT = Path(__file__).resolve().parents[2]
# RFC 7644 §3.12, Table 9, and the cursor keywords of RFC 9865 §3, with the status each goes
# with (`uniqueness` is a 409 by Table 8; `sensitive` a 403; the rest qualify a 400).
KEYWORD_STATUS = {
    "invalidFilter": 400, "tooMany": 400, "uniqueness": 409, "mutability": 400,
    "invalidSyntax": 400, "invalidPath": 400, "noTarget": 400, "invalidValue": 400,
    "invalidVers": 400, "sensitive": 403, "invalidCursor": 400, "expiredCursor": 400,
}
HELPERS: dict[str, tuple[int, str | None]] = {
    "invalid_filter": (400, "invalidFilter"),
    "invalid_path": (400, "invalidPath"),
    "invalid_value": (400, "invalidValue"),
    "invalid_syntax": (400, "invalidSyntax"),
    "mutability": (400, "mutability"),
    "no_target": (400, "noTarget"),
    "uniqueness": (409, "uniqueness"),
    "not_found": (404, None),
}
# Text with lone UTF-16 surrogates mixed in (what a JSON `\ud800` escape decodes to).
TEXT_WITH_SURROGATES = st.lists(
    st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=60).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=20)


def test_error_schema_urn() -> None:
    assert ERROR_SCHEMA == "urn:ietf:params:scim:api:messages:2.0:Error"


def test_every_helper_is_listed_here() -> None:
    # A new helper must be added to HELPERS (and so to the checks below).
    made = {name for name, fn in inspect.getmembers(errors, inspect.isfunction)
            if fn.__module__ == errors.__name__ and fn.__annotations__.get("return") == "ScimError"}
    assert made == set(HELPERS)


@pytest.mark.parametrize(("name", "expected"), HELPERS.items())
def test_each_helper_renders_the_rfc_shape(name: str, expected: tuple[int, str | None]) -> None:
    status, scim_type = expected
    helper: Callable[[str], ScimError] = getattr(errors, name)
    err = helper("Fix the thing.")
    assert (err.status, err.scim_type, err.detail) == (status, scim_type, "Fix the thing.")
    body = err.to_body()
    want: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status),
                            "detail": "Fix the thing."}
    if scim_type is not None:
        want["scimType"] = scim_type
        assert KEYWORD_STATUS[scim_type] == status
    assert body == want


@pytest.mark.parametrize("scim_type", [None, ""])
def test_scim_type_is_left_out_when_there_is_none(scim_type: str | None) -> None:
    body = ScimError(404, "User 1 not found.", scim_type).to_body()
    assert body == {"schemas": [ERROR_SCHEMA], "status": "404", "detail": "User 1 not found."}


@given(status=st.integers(400, 599), detail=TEXT_WITH_SURROGATES,
       scim_type=st.none() | st.sampled_from(sorted(KEYWORD_STATUS)))
def test_any_error_renders_as_sendable_rfc_json(status: int, detail: str,
                                                scim_type: str | None) -> None:
    err = ScimError(status, detail, scim_type)
    body = err.to_body()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)  # a JSON string, not a number
    assert set(body) <= {"schemas", "status", "scimType", "detail"}
    assert ("scimType" in body) is (scim_type is not None)
    # Sendable: UTF-8 has no form for a lone surrogate, so each became U+FFFD.
    sent = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert json.loads(sent) == body
    assert body["detail"] == "".join(
        "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in detail)
    assert str(err) == err.detail == body["detail"]


def test_astral_characters_are_kept() -> None:
    assert ScimError(400, "name 😀 \U00010400").detail == "name 😀 \U00010400"


def test_headers_are_kept_and_not_shared_between_errors() -> None:
    busy = ScimError(503, "Retry shortly.", None, {"Retry-After": "1"})
    assert busy.headers == {"Retry-After": "1"}
    a, b = ScimError(400, "a"), ScimError(400, "b")
    a.headers["X-Test"] = "1"
    assert b.headers == {}


def test_repr_names_status_type_and_detail() -> None:
    assert repr(errors.uniqueness("taken")) == "ScimError(409, 'uniqueness', 'taken')"


def test_every_scim_type_the_code_names_is_an_rfc_keyword() -> None:
    """Static: each literal scimType passed to ScimError anywhere under shared/ (the helpers
    cover the rest), so that a misspelt keyword on a rarely taken path is caught too."""
    named: dict[str, str] = {}
    for path in sorted((ROOT / "shared").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ScimError"):
                continue
            args = node.args[2:3] + [k.value for k in node.keywords if k.arg == "scim_type"]
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    named[arg.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert named  # the scan sees the direct constructions
    assert {k: v for k, v in named.items() if k not in KEYWORD_STATUS} == {}


# --------------------------------------------------------------------------------------------
# Quoting values in a detail
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kind", "bare"), [
    (None, "null", "null"), (True, "a boolean", "boolean"), (False, "a boolean", "boolean"),
    ({}, "an object", "object"), ([1], "an array", "array"), ("x", "a string", "string"),
    (3, "a number", "number"), (2.5, "a number", "number"),
])
def test_kind_of_names_json_kinds(value: Any, kind: str, bare: str) -> None:
    assert (kind_of(value), kind_of(value, article=False)) == (kind, bare)


def test_kind_of_something_not_json_is_its_type_name() -> None:
    assert kind_of(b"x") == "bytes"


@given(JSON_VALUES, st.integers(3, 120))
def test_show_is_the_json_text_or_its_cut_start(value: Any, limit: int) -> None:
    full = json.dumps(value, ensure_ascii=False)
    shown = show(value, limit)
    assert len(shown) <= limit
    if len(full) <= limit:
        assert shown == full
    else:
        assert shown == full[: limit - 3] + "..."


@given(JSON_VALUES, st.integers(0, 2))
def test_show_stays_within_even_a_tiny_limit(value: Any, limit: int) -> None:
    assert len(show(value, limit)) <= limit


def test_show_of_what_json_cannot_write_names_its_type() -> None:
    assert show({1, 2}) == "a set"
    assert show(10**5000) == "a int"  # past Python's digit limit for int -> str


def test_a_detail_quoting_a_huge_value_stays_short() -> None:
    err = errors.invalid_value(f"title must be a string, got {show(['x' * 10**6])}.")
    assert len(err.detail) < 130
    assert len(json.dumps(err.to_body())) < 250


def test_undeclared_detail_names_the_attribute_and_how_to_declare_it() -> None:
    path = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute"
    for detail in (errors.undeclared_detail(path),
                   errors.undeclared_detail(path, in_filter=True)):
        assert detail.startswith(f"{path} is not declared for this tenant")
        assert "declare it with: python -m shared.admin schema add TENANT FILE.json" in detail
    assert "filter" in errors.undeclared_detail(path, in_filter=True)
    assert "filter" not in errors.undeclared_detail(path)
