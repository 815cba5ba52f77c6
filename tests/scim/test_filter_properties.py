"""Property-based tests for the filter engine: render/parse round trips, robustness against
arbitrary input, and the boolean algebra of evaluation. Plus an optional differential test
against scim2-models' parser in the .venv-peers virtualenv that `make test` builds."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.scim.attr_path import AttrPath
from shared.scim.errors import ScimError
from shared.scim.filter import (
    COMPARE_OPS,
    MAX_DEPTH,
    And,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    matches,
    parse_filter,
    to_text,
)
from shared.scim.filter_validation import validate_filter
from shared.scim.schemas import ENTERPRISE_URN, USER, USER_URN

T = TypeVar("T")
FAST = settings(max_examples=200, deadline=None)

# --- Strategies -------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True) | st.sampled_from(
    ["$ref", "not", "and", "or", "pr", "eq", "true", "null"]
)
urns = st.sampled_from([None, USER_URN, ENTERPRISE_URN, "urn:x:y", "URN:A:1.0:B"])
attr_paths = st.builds(AttrPath, urns, names, st.none() | names)
plain_paths = st.builds(AttrPath, st.none(), names, st.none())
values = (
    st.text(max_size=12)
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
ops = st.sampled_from(sorted(COMPARE_OPS))


def trees(leaves: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    return st.recursive(
        leaves,
        lambda kids: st.builds(And, kids, kids) | st.builds(Or, kids, kids) | st.builds(Not, kids),
        max_leaves=10,
    )


def leaves_on(paths: st.SearchStrategy[AttrPath]) -> st.SearchStrategy[Filter]:
    return st.builds(Compare, paths, ops, values) | st.builds(Present, paths)


value_paths = st.builds(
    ValuePath, st.builds(AttrPath, urns, names, st.none()), trees(leaves_on(plain_paths))
)
filters = trees(leaves_on(attr_paths) | value_paths)


def same_types(a: Filter, b: Filter) -> bool:
    """AST equality that also tells 1 from True and 1 from 1.0."""
    return a == b and to_text(a) == to_text(b)


# --- Round trip -------------------------------------------------------------------------------


@FAST
@given(filters)
def test_render_then_parse_round_trips(f: Filter) -> None:
    assert same_types(parse_filter(to_text(f)), f)


@settings(max_examples=100, deadline=None)
@given(filters, st.randoms(use_true_random=False))
def test_case_and_spacing_of_syntax_do_not_matter(f: Filter, rnd: random.Random) -> None:
    """Re-render with keywords/operators in random case and random whitespace: same AST."""

    def gap() -> str:
        return rnd.choice([" ", "  ", "\t", " \n "])

    def kw(word: str) -> str:
        return "".join(c.upper() if rnd.random() < 0.5 else c for c in word)

    def render(g: Filter, top: bool = True) -> str:
        match g:
            case Compare(path, op, _):
                value = to_text(g).split(" ", 2)[2]  # the rendered value alone
                return f"{path}{gap()}{kw(op)}{gap()}{value}"
            case Present(path):
                return f"{path}{gap()}{kw('pr')}"
            case And(left, right):
                lt = f"({render(left)})" if isinstance(left, Or) else render(left)
                rt = f"({render(right)})" if isinstance(right, And | Or) else render(right)
                return f"{lt}{gap()}{kw('and')}{gap()}{rt}"
            case Or(left, right):
                rt = f"({render(right)})" if isinstance(right, Or) else render(right)
                return f"{render(left)}{gap()}{kw('or')}{gap()}{rt}"
            case Not(inner):
                return f"{kw('not')}{gap()}({gap()}{render(inner)}{gap()})"
            case ValuePath(path, inner):
                return f"{path}[{gap()}{render(inner)}{gap()}]"

    assert parse_filter(gap() + render(f) + gap()) == f


# --- Robustness -------------------------------------------------------------------------------

TOKENS = [
    "(", ")", "[", "]", '"', "'", "\\", ".", ":", " ", "  ", "\t", "not", "NOT", "and", "or",
    "pr", "eq", "Gt", "co", "userName", "emails", "type", "value", "x", "1", "-1.5e3", "007",
    "true", "null", '"a b"', '"\\u00e9"', '"\\x"', "urn:a:b:c", f"{ENTERPRISE_URN}:manager",
    "$ref", "é", "\x00", "]]", "((", ".value", '"\\ud800"', '"\\uDFFF"', '"\\ud83d\\ude00"',
    "\ud800", '"\udc00"',
]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map(
    lambda ts: "".join(t if t in "()[]" else f" {t}" for t in ts)
)


def documents() -> st.SearchStrategy[dict[str, Any]]:
    short = st.text(alphabet="abAB@.", max_size=4)
    dates = st.sampled_from(
        ["2011-05-13T04:42:34Z", "2015-10-10T14:38:21.8617979-07:00", "2020-01-01", "junk"]
    )
    email = st.fixed_dictionaries(
        {},
        optional={"value": short, "type": st.sampled_from(["work", "home", "WORK"]),
                  "primary": st.booleans()},
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "schemas": st.lists(st.sampled_from([USER_URN, ENTERPRISE_URN]), max_size=2),
            "id": short,
            "userName": short,
            "title": short | st.none(),
            "active": st.booleans(),
            "emails": st.lists(email, max_size=3),
            "name": st.fixed_dictionaries({}, optional={"familyName": short, "givenName": short}),
            "meta": st.fixed_dictionaries({}, optional={"created": dates, "lastModified": dates}),
            ENTERPRISE_URN: st.fixed_dictionaries(
                {},
                optional={"department": short,
                          "manager": st.fixed_dictionaries({}, optional={"value": short})},
            ),
        },
    )


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80) | token_soup, documents())
def test_arbitrary_text_parses_or_raises_invalid_filter(text: str, doc: dict[str, Any]) -> None:
    outcome = _attempt(parse_filter, text)
    if isinstance(outcome, ScimError):
        assert (outcome.status, outcome.scim_type) == (400, "invalidFilter")
        assert outcome.detail
        return
    # Whatever parses renders back to the same AST, evaluates, and validates without surprises.
    assert same_types(parse_filter(to_text(outcome)), outcome)
    assert isinstance(matches(outcome, doc, USER), bool)
    checked = _attempt(validate_filter, outcome, USER)
    assert checked is None or checked.scim_type == "invalidFilter"


# Half of a surrogate pair, raw or as the JSON escape a quoted value decodes: no stored value
# can hold one (bodies refuse them), and used in an index key it failed the request (a 500).
lone_surrogates = st.one_of(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}"),
    st.integers(0xD800, 0xDBFF).map(lambda c: f"\\u{c:04X}x"),  # high half, no low half
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["userName", "id", "externalId", "displayName", "members",
                        "members.value", 'emails[type eq "work"].value', "title", "x"]),
       st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "le"]),
       st.text(max_size=5), lone_surrogates, st.text(max_size=5),
       st.sampled_from(["{}", "not ({})", "a pr and {}", "{} or a pr", "emails[{}]"]))
def test_lone_surrogates_are_invalid_filter_everywhere(attr: str, op: str, before: str,
                                                       half: str, after: str,
                                                       shape: str) -> None:
    assume(not ("[" in attr and "[" in shape))  # nested value filters fail before the value
    quoted = (json.dumps(before, ensure_ascii=False)[:-1] + half
              + json.dumps(after, ensure_ascii=False)[1:])
    text = shape.format(f"{attr} {op} {quoted}")
    with pytest.raises(ScimError) as err:
        parse_filter(text)
    assert (err.value.status, err.value.scim_type) == (400, "invalidFilter")
    assert "surrogate" in err.value.detail
    err.value.to_body()["detail"].encode("utf-8")  # the answer can be sent


def test_surrogate_pairs_are_still_text() -> None:
    f = parse_filter('title eq "\\ud83d\\ude00"')
    assert isinstance(f, Compare)
    assert f.value == "\U0001F600"


def _attempt(fn: Callable[..., T], *args: Any) -> T | ScimError:
    try:
        return fn(*args)
    except ScimError as err:
        return err


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=MAX_DEPTH + 1, max_value=3000),
    st.sampled_from(["(", "not (", "NOT(", "x[", "a pr and ", "a pr or "]),
)
def test_deep_nesting_is_invalid_filter_not_recursion_error(depth: int, opener: str) -> None:
    text = (opener * depth)[:4096]
    with pytest.raises(ScimError) as err:
        parse_filter(text + "b pr" + ")" * depth)
    assert err.value.scim_type == "invalidFilter"


# --- Evaluation algebra -----------------------------------------------------------------------

user_paths = st.sampled_from(
    [
        "userName", "title", "active", "emails", "emails.value", "emails.type", "emails.primary",
        "name.familyName", "meta.created", "meta.lastModified", "id", "schemas", "nope",
        f"{ENTERPRISE_URN}:department", "manager", f"{ENTERPRISE_URN}:manager.value",
    ]
).map(lambda t: AttrPath(*t.rpartition(":")[::2]) if ":" in t else AttrPath(None, *(
    t.split(".") if "." in t else (t, None)
)))
user_values = (
    st.text(alphabet="abAB@.", max_size=3)
    | st.booleans()
    | st.none()
    | st.sampled_from(["True", "false", "2015-10-10T21:38:21Z", "2011-05-13"])
)
email_paths = st.sampled_from(["value", "type", "primary", "display", "nope"]).map(
    lambda n: AttrPath(None, n)
)
user_filters = trees(
    st.builds(Compare, user_paths, ops, user_values)
    | st.builds(Present, user_paths)
    | st.builds(
        ValuePath,
        st.just(AttrPath(None, "emails")),
        trees(st.builds(Compare, email_paths, ops, user_values) | st.builds(Present, email_paths)),
    )
)


@FAST
@given(user_filters, user_filters, documents())
def test_evaluation_is_boolean_algebra(a: Filter, b: Filter, doc: dict[str, Any]) -> None:
    ea, eb = matches(a, doc, USER), matches(b, doc, USER)
    assert matches(Not(a), doc, USER) is (not ea)
    assert matches(And(a, b), doc, USER) is (ea and eb)
    assert matches(Or(a, b), doc, USER) is (ea or eb)


@FAST
@given(user_paths, user_values, documents())
def test_ne_is_not_eq(path: AttrPath, value: Any, doc: dict[str, Any]) -> None:
    eq = matches(Compare(path, "eq", value), doc, USER)
    assert matches(Compare(path, "ne", value), doc, USER) is (not eq)


def _shout(f: Filter) -> Filter:
    """The same filter with every attribute name and URN upper-cased."""

    def up(p: AttrPath) -> AttrPath:
        return AttrPath(p.urn and p.urn.upper(), p.attr.upper(), p.sub and p.sub.upper())

    match f:
        case Compare(path, op, value):
            return Compare(up(path), op, value)
        case Present(path):
            return Present(up(path))
        case And(left, right):
            return And(_shout(left), _shout(right))
        case Or(left, right):
            return Or(_shout(left), _shout(right))
        case Not(inner):
            return Not(_shout(inner))
        case ValuePath(path, inner):
            return ValuePath(up(path), _shout(inner))


@FAST
@given(user_filters, documents())
def test_attribute_names_are_case_insensitive(f: Filter, doc: dict[str, Any]) -> None:
    assert matches(_shout(f), doc, USER) is matches(f, doc, USER)


# --- Differential: scim2-models' parser -------------------------------------------------------

# The black-box peers' venv that `make test` builds (requirements-peers.txt pins scim2-models).
PEER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-peers" / "bin" / "python"
PEER_SCRIPT = """
import json, sys
from scim2_models.path.grammar import _parse_filter
out = []
for text in json.load(sys.stdin):
    try:
        _parse_filter(text)
        out.append(True)
    except Exception:
        out.append(False)
json.dump(out, sys.stdout)
"""


def _strict_filters(rnd: random.Random, n: int) -> list[str]:
    """Random RFC-syntax filters (quoted strings, varied case and spacing), some mutated."""
    words = ["userName", "emails", "emails.value", "name.familyName", f"{USER_URN}:userName",
             f"{ENTERPRISE_URN}:manager.value", "meta.lastModified", "x-1", "a_b"]

    def sp() -> str:
        return rnd.choice([" ", " ", "  "])

    def leaf() -> str:
        path = rnd.choice(words)
        if rnd.random() < 0.2:
            return f"{path}{sp()}{rnd.choice(['pr', 'PR'])}"
        value = rnd.choice(['"x"', '"a b"', '"\\"q\\""', "1", "-2.5", "true", "FALSE", "null"])
        return f"{path}{sp()}{rnd.choice(sorted(COMPARE_OPS)).upper()}{sp()}{value}"

    def expr(depth: int) -> str:
        roll = rnd.random()
        if depth > 3 or roll < 0.35:
            return leaf()
        if roll < 0.5:
            return f"not{sp()}({expr(depth + 1)})"
        if roll < 0.6:
            return f"emails[{leaf().replace('emails.value', 'value')}]"
        if roll < 0.7:
            return f"({expr(depth + 1)})"
        return f"{expr(depth + 1)}{sp()}{rnd.choice(['and', 'or', 'AND'])}{sp()}{expr(depth + 1)}"

    out = []
    for _ in range(n):
        text = expr(0)
        if rnd.random() < 0.4:  # drop or duplicate a random character
            i = rnd.randrange(len(text))
            text = text[:i] + text[i + 1 :] if rnd.random() < 0.5 else text[:i] + text[i] + text[i:]
        out.append(text)
    return out


@pytest.mark.skipif(not PEER_PYTHON.exists(),
                    reason=".venv-peers absent: `make test` creates it (scim2-models)")
def test_agrees_with_scim2_models_on_rfc_syntax() -> None:
    texts = _strict_filters(random.Random(7644), 1500)
    ours: dict[str, Filter | None] = {}
    for text in texts:
        try:
            ours[text] = parse_filter(text)
        except ScimError:
            ours[text] = None
    rendered = [to_text(f) for f in ours.values() if f is not None]
    batch = texts + rendered
    result = subprocess.run(
        [str(PEER_PYTHON), "-c", PEER_SCRIPT], input=json.dumps(batch), capture_output=True,
        text=True, timeout=120, check=True,
    )
    theirs = dict(zip(batch, json.loads(result.stdout), strict=True))
    # We are never stricter than the RFC grammar...
    rejected = [t for t in texts if theirs[t] and ours[t] is None]
    assert not rejected, rejected[:5]
    # ...and what we render is RFC syntax. (scim2-models rejects URN segments that start with
    # '.', e.g. a mutated "2.0" -> ".0"; RFC 8141 allows them, so those are not counted.)
    unreadable = [t for t in rendered if not theirs[t] and ":." not in t]
    assert not unreadable, unreadable[:5]
    # The mutated texts must exercise both outcomes, or this test proves little.
    assert 0 < sum(f is None for f in ours.values()) < len(ours)
