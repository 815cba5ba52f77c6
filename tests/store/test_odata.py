"""`shared.store.odata`: filter parameters become typed, quoted OData literals. What storage
does with them is tested on both backends (test_sdk_table.py, test_backend_parity.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.store.odata import substitute


@pytest.mark.parametrize(("value", "literal"), [
    ("alice", "'alice'"),
    ("O'Brien", "'O''Brien'"),
    ("' or 1 eq 1 or '", "''' or 1 eq 1 or '''"),
    ("", "''"),
    ("Zoë 🙂", "'Zoë 🙂'"),
    (True, "true"),
    (False, "false"),
    (7, "7"),
    (-2**31, "-2147483648"),
    (2**31 - 1, "2147483647"),
    (2**31, "2147483648L"),  # 32 bits: the SDK's own substitution leaves the suffix out
    (2**32 - 1, "4294967295L"),
    (-2**31 - 1, "-2147483649L"),
    (2**63 - 1, "9223372036854775807L"),
    (1.5, "1.5"),
    (2.0, "2.0"),
])
def test_each_type_has_its_literal(value: Any, literal: str) -> None:
    assert substitute("x eq @v", {"v": value}) == f"x eq {literal}"


def test_parameters_are_found_next_to_parentheses_and_used_more_than_once() -> None:
    assert (substitute("(PartitionKey eq @pk) and (RowKey ge @lo and RowKey lt @hi) or "
                       "RowKey eq @lo", {"pk": "t1", "lo": "U:", "hi": "U;"})
            == "(PartitionKey eq 't1') and (RowKey ge 'U:' and RowKey lt 'U;') or RowKey eq 'U:'")


def test_an_at_sign_inside_a_quoted_literal_is_text() -> None:
    assert substitute("PartitionKey eq 'a@b'", {}) == "PartitionKey eq 'a@b'"
    assert (substitute("RowKey eq 'it''s @v' or v eq @v", {"v": 1})
            == "RowKey eq 'it''s @v' or v eq 1")


def test_a_parameter_without_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="@lo"):
        substitute("RowKey ge @lo", {"hi": "x"})


@pytest.mark.parametrize("value", [2**63, -2**63 - 1, None, b"bytes", ["a"]])
def test_values_storage_cannot_compare_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        substitute("x eq @v", {"v": value})


# -- the cases the direct client was held to before this module -----------------------------

@pytest.mark.parametrize(("query", "params", "expected"), [
    ("RowKey eq @rk", {"rk": "plain"}, "RowKey eq 'plain'"),
    ("RowKey eq @rk", {"rk": "o'brien"}, "RowKey eq 'o''brien'"),
    ("RowKey eq @rk", {"rk": "x' or RowKey ne '"}, "RowKey eq 'x'' or RowKey ne '''"),
    ("RowKey eq @rk", {"rk": ""}, "RowKey eq ''"),
    ("RowKey eq @rk", {"rk": "ü日本"}, "RowKey eq 'ü日本'"),
    ("b eq @t and c eq @f", {"t": True, "f": False}, "b eq true and c eq false"),
    ("n eq @n", {"n": 0}, "n eq 0"),
    ("n eq @n", {"n": 2**31 - 1}, "n eq 2147483647"),
    ("n eq @n", {"n": -(2**31)}, "n eq -2147483648"),
    ("n eq @n", {"n": 2**31}, "n eq 2147483648L"),
    ("n eq @n", {"n": -(2**31) - 1}, "n eq -2147483649L"),
    ("n eq @n", {"n": 2**40}, "n eq 1099511627776L"),
    ("x eq @x", {"x": 0.5}, "x eq 0.5"),
    ("x eq @x", {"x": 3.0}, "x eq 3.0"),
    ("x eq @x", {"x": -1.25}, "x eq -1.25"),
    # (parenthesised, repeated) parameters; unknown names are left alone
    ("(PartitionKey eq @pk) and (RowKey ge @pk)", {"pk": "a"},
     "(PartitionKey eq 'a') and (RowKey ge 'a')"),
    # a longer name is not a shorter one's prefix
    ("a eq @pk1 and b eq @pk", {"pk": "x", "pk1": "y"}, "a eq 'y' and b eq 'x'"),
    # substituted values are not substituted again
    ("a eq @x and b eq @y", {"x": "@y", "y": "z"}, "a eq '@y' and b eq 'z'"),
    ("no parameters", {}, "no parameters"),
])
def test_substitute(query: str, params: dict[str, Any], expected: str) -> None:
    assert substitute(query, params) == expected


@pytest.mark.parametrize("value", [None, [1], b"x", uuid.UUID(int=0), {"a": 1}, 2**63])
def test_substitute_rejects_other_types(value: Any) -> None:
    with pytest.raises(TypeError, match="'v'"):
        substitute("x eq @v", {"v": value})


def test_substitute_refuses_a_parameter_without_a_value() -> None:
    with pytest.raises(ValueError, match="@other"):
        substitute("RowKey eq @other", {"rk": "a"})
