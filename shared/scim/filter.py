"""SCIM filters (RFC 7644 §3.4.2.2): parse to an AST, render back, and evaluate against
canonical documents. Checking a parsed filter against a resource type is
`shared.scim.filter_validation`.

Grammar (RFC 7644 Figure 1), with `not` > `and` > `or`:

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
    valuePath = attrPath "[" valFilter "]"
    attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue

Leniencies, because real clients need them:
- Entra sends unquoted values (`externalId eq jyoung`). An unquoted token is `true`, `false`,
  `null` or a number only when it reads back exactly so; anything else (`jyoung`, `007`, `1.50`,
  a GUID) is a string. String attributes therefore compare exactly what the client sent.
- Entra documents `emails[type eq "work"].value eq "x"`; it is read as
  `emails[type eq "work" and value eq "x"]`, which means the same.
- Whitespace may be any amount of any kind, and is optional next to brackets and parentheses.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from ..caseless import fold
from .attr_path import AttrPath, resolve_path, split_attr_path
from .entra_values import as_boolean
from .errors import invalid_filter
from .schema import (
    ANY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    INTEGER,
    REFERENCE,
    Attribute,
    Resolved,
    ResourceType,
)

MAX_LENGTH = 4096
# Bounds every recursion over a parsed filter (evaluation, rendering, dataclass eq/repr) far
# below Python's recursion limit. Chained `and`/`or` count one level per operator.
MAX_DEPTH = 50

Value = str | int | float | bool | None

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"})
ORDER_OPS = frozenset({"gt", "lt", "ge", "le"})


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Value


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


# --- Parsing -------------------------------------------------------------------------------

_WS = re.compile(r"\s*")
# Any run that is not whitespace, a bracket, a parenthesis or a quote: attribute paths,
# operators, keywords and unquoted values are all told apart by where they occur.
_WORD = re.compile(r"[^\s()\[\]\"]+")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_KEYWORDS: dict[str, Value] = {"true": True, "false": False, "null": None}
# Half of a UTF-16 surrogate pair, as a filter's JSON escape ("\ud800") can produce. No stored
# value holds one (request bodies refuse them), so such a comparison could only ever match
# nothing - or, with `ne` or `not`, everything. The filter is refused instead (invalidFilter),
# as a body with one is: the client sent text that is not Unicode, which it should learn.
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_filter(text: str) -> Filter:
    """Parse a filter; ScimError(400, invalidFilter) with a detail naming the position if not."""
    if len(text) > MAX_LENGTH:
        raise invalid_filter(f"Filter is {len(text)} characters long; the limit is {MAX_LENGTH}")
    _refuse_surrogates(text, 0, "")
    p = _Parser(text, 0, "")
    if p.skip() == len(text):
        raise invalid_filter("Filter is empty")
    node, _ = p.expression(inside=False)
    if p.skip() != len(text):
        p.fail(f"Expected 'and', 'or' or end of filter at position {p.pos}; got {p.describe()}"
               + p.hint())
    return node


def parse_value_filter(text: str, start: int, where: str = "") -> tuple[Filter, int]:
    """Parse the valFilter that starts at `start`, just after a '[', through its ']'. Returns the
    filter and the index after ']'. `where` is appended to error details (e.g. " in path '…'").
    Used by `shared.scim.patch_path` for PATCH paths."""
    if len(text) > MAX_LENGTH:
        raise invalid_filter(f"Filter is {len(text)} characters long; the limit is {MAX_LENGTH}")
    _refuse_surrogates(text, start, where)
    p = _Parser(text, start, where)
    p.nesting = 1
    node, _ = p.expression(inside=True)
    p.expect("]", f"to close the '[' at position {start - 1}")
    return node, p.pos


class _Parser:
    """Recursive descent straight over the text: each rule scans what it expects at `pos`, so
    an unquoted value and an attribute name need no separate tokenizer to tell them apart.
    Rules return (node, depth of node) so the depth limit costs nothing extra."""

    __slots__ = ("bare_value", "nesting", "pos", "text", "where")

    def __init__(self, text: str, pos: int, where: str) -> None:
        self.text = text
        self.pos = pos
        self.where = where
        self.nesting = 0
        self.bare_value = False  # the last thing read was an unquoted value, for error hints

    def fail(self, detail: str) -> NoReturn:
        raise invalid_filter(detail + self.where)

    def skip(self) -> int:
        m = _WS.match(self.text, self.pos)
        assert m is not None  # `\s*` always matches
        self.pos = m.end()
        return self.pos

    def describe(self) -> str:
        if self.pos >= len(self.text):
            return "end of path" if self.where else "end of filter"
        m = _WORD.match(self.text, self.pos)
        if m is None:
            return repr(self.text[self.pos])
        word = m.group()
        return repr(word if len(word) <= 40 else word[:37] + "...")

    def hint(self) -> str:
        if self.bare_value and _WORD.match(self.text, self.pos):
            return " (put values that contain spaces in double quotes)"
        return ""

    def peek(self, char: str) -> bool:
        return self.skip() < len(self.text) and self.text[self.pos] == char

    def expect(self, char: str, why: str) -> None:
        if not self.peek(char):
            self.fail(f"Expected {char!r} {why}; got {self.describe()} at position {self.pos}"
                      + self.hint())
        self.pos += 1

    def keyword(self, word: str) -> bool:
        self.skip()
        m = _WORD.match(self.text, self.pos)
        if m is not None and m.group().lower() == word:
            self.pos = m.end()
            return True
        return False

    def deeper(self, depth: int) -> int:
        if depth + 1 > MAX_DEPTH or self.nesting > MAX_DEPTH:
            self.fail(f"Filter is nested too deeply near position {self.pos}: at most "
                      f"{MAX_DEPTH} levels of parentheses, 'not', '[...]' or chained "
                      "'and'/'or' are allowed")
        return depth + 1

    def expression(self, inside: bool) -> tuple[Filter, int]:
        left, depth = self.conjunction(inside)
        while self.keyword("or"):
            right, rdepth = self.conjunction(inside)
            left, depth = Or(left, right), self.deeper(max(depth, rdepth))
        return left, depth

    def conjunction(self, inside: bool) -> tuple[Filter, int]:
        left, depth = self.term(inside)
        while self.keyword("and"):
            right, rdepth = self.term(inside)
            left, depth = And(left, right), self.deeper(max(depth, rdepth))
        return left, depth

    def term(self, inside: bool) -> tuple[Filter, int]:
        self.bare_value = False
        start = self.skip()
        if self.peek("("):
            node, depth = self.parenthesized(inside)
            return node, depth
        m = _WORD.match(self.text, start)
        if m is not None and m.group().lower() == "not":
            self.pos = m.end()
            if self.peek("("):
                node, depth = self.parenthesized(inside)
                return Not(node), self.deeper(depth)
            self.pos = start  # an attribute called "not"
        return self.attr_expression(inside)

    def parenthesized(self, inside: bool) -> tuple[Filter, int]:
        opened = self.pos
        self.pos += 1
        self.nesting += 1
        self.deeper(0)
        node, depth = self.expression(inside)
        self.expect(")", f"to close the '(' at position {opened}")
        self.nesting -= 1
        return node, depth

    def attr_expression(self, inside: bool) -> tuple[Filter, int]:
        start = self.pos
        m = _WORD.match(self.text, start)
        if m is None:
            self.fail(f"Expected an attribute name, 'not' or '(' at position {start}; "
                      f"got {self.describe()}")
        path = split_attr_path(m.group(), start, invalid_filter, self.where)
        self.pos = m.end()
        if not self.peek("["):
            return self.comparison(path, m.group())
        opened = self.pos
        if inside:
            self.fail(f"Unexpected '[' at position {opened}: value filters cannot be nested")
        if path.sub is not None:
            self.fail(f"Unexpected '[' at position {opened}: a value filter must follow a "
                      f"complex attribute, not the sub-attribute {str(path)!r}")
        self.pos += 1
        self.nesting += 1
        self.deeper(0)
        inner, depth = self.expression(inside=True)
        self.expect("]", f"to close the '[' at position {opened}")
        self.nesting -= 1
        if self.pos < len(self.text) and self.text[self.pos] == ".":
            # Entra's `emails[type eq "work"].value eq "x"`: fold the test into the value filter.
            sub_start = self.pos + 1
            sm = _WORD.match(self.text, sub_start)
            sub = split_attr_path(sm.group() if sm else "", sub_start, invalid_filter, self.where)
            if sub.sub is not None:
                self.fail(f"Invalid sub-attribute {str(sub)!r} at position {sub_start}")
            self.pos = sm.end() if sm else sub_start
            test, tdepth = self.comparison(sub, f"{m.group()}[…].{sub}")
            inner, depth = And(inner, test), self.deeper(max(depth, tdepth))
        return ValuePath(path, inner), self.deeper(depth)

    def comparison(self, path: AttrPath, shown: str) -> tuple[Filter, int]:
        self.skip()
        m = _WORD.match(self.text, self.pos)
        op = m.group().lower() if m else ""
        if op == "pr":
            self.pos = m.end() if m else self.pos
            return Present(path), 1
        if op not in COMPARE_OPS:
            if shown.lower() == "not":
                self.fail(f"Expected '(' after 'not' at position {self.pos}; "
                          f"got {self.describe()}")
            self.fail(f"Expected a comparison operator (eq, ne, co, sw, ew, gt, lt, ge, le) or "
                      f"'pr' after {shown!r} at position {self.pos}; got {self.describe()}")
        assert m is not None
        self.pos = m.end()
        return Compare(path, op, self.value(op)), 1

    def value(self, op: str) -> Value:
        start = self.skip()
        text = self.text
        if start < len(text) and text[start] == '"':
            sm = _STRING.match(text, start)
            if sm is None:
                self.fail(f"Unterminated string starting at position {start}")
            self.pos = sm.end()
            raw = sm.group()
            if "\\" not in raw:
                return raw[1:-1]
            try:
                decoded: str = json.loads(raw, strict=False)
            except ValueError:
                self.fail(f"Invalid escape sequence in the string at position {start}")
            if _SURROGATE.search(decoded):
                self.fail(f"The string at position {start} escapes half of a UTF-16 surrogate "
                          "pair (\\uD800-\\uDFFF) without the other half; no value can "
                          "contain that. Send valid Unicode text.")
            return decoded
        m = _WORD.match(text, start)
        if m is None:
            self.fail(f"Expected a value after {op!r} at position {start}; got "
                      f"{self.describe()}")
        self.pos = m.end()
        self.bare_value = True
        return _bare_value(m.group())


def _refuse_surrogates(text: str, start: int, where: str) -> None:
    m = _SURROGATE.search(text, start)
    if m is not None:
        raise invalid_filter(f"The filter has half of a UTF-16 surrogate pair (U+D800-U+DFFF) "
                             f"at position {m.start()}; send valid Unicode text.{where}")


def _bare_value(word: str) -> Value:
    low = word.lower()
    if low in _KEYWORDS:
        return _KEYWORDS[low]
    m = _NUMBER.fullmatch(word)
    if m is None:
        return word
    number: int | float = float(word) if m.group(1) or m.group(2) else int(word)
    # Only a number that prints back the same is one; `007` or `1.50` stay strings as sent.
    return number if str(number) == word else word


# --- Rendering -----------------------------------------------------------------------------


def to_text(f: Filter) -> str:
    """Render `f` as filter text that `parse_filter` reads back as an equal AST."""
    match f:
        case Compare(path, op, value):
            return f"{path} {op} {render_value(value)}"
        case Present(path):
            return f"{path} pr"
        case And(left, right):
            return f"{_group(left, Or)} and {_group(right, (And, Or))}"
        case Or(left, right):
            return f"{to_text(left)} or {_group(right, Or)}"
        case Not(inner):
            return f"not ({to_text(inner)})"
        case ValuePath(path, inner):
            return f"{path}[{to_text(inner)}]"


def _group(f: Filter, kinds: type | tuple[type, ...]) -> str:
    # Parentheses only where precedence or left-associativity would otherwise regroup `f`.
    return f"({to_text(f)})" if isinstance(f, kinds) else to_text(f)


def render_value(value: Value) -> str:
    """A comparison value as filter text: JSON for strings, booleans and null."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


# --- Evaluation ----------------------------------------------------------------------------

# `schemas` is common to every resource (RFC 7643 §3) but no schema defines it.
_SCHEMAS = Attribute("schemas", type=REFERENCE, multi_valued=True)

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}
_EQ_OR_ORDER: dict[str, Callable[[Any, Any], bool]] = {"eq": operator.eq, **_ORDER}


def matches(f: Filter, doc: dict[str, Any], rtype: ResourceType) -> bool:
    """Whether canonical document `doc` satisfies `f`. Never raises for a parsed filter: unknown
    attributes are absent, and type mismatches simply don't match.

    Multi-valued attributes match if any value does; a complex attribute compared directly
    (`emails co "x"`, `manager eq "id"`) compares its `value` sub-attribute. `ne` is exactly
    `not eq`, so an absent attribute is `ne` anything; `eq null` means absent."""
    match f:
        case And(left, right):
            return matches(left, doc, rtype) and matches(right, doc, rtype)
        case Or(left, right):
            return matches(left, doc, rtype) or matches(right, doc, rtype)
        case Not(inner):
            return not matches(inner, doc, rtype)
        case Present(path):
            resolved = _lookup_resolve(path, rtype)
            return resolved is not None and any(map(_present, _values(doc, resolved)))
        case Compare(path, op, value):
            resolved = _lookup_resolve(path, rtype)
            if resolved is None or resolved.target is None:
                equal = value is None
            else:
                equal = _compare_values(resolved.target, _values(doc, resolved), op, value)
            return equal if op != "ne" else not equal
        case ValuePath(path, inner):
            resolved = _lookup_resolve(path, rtype)
            if resolved is None or resolved.sub is not None or resolved.attribute is None:
                return False
            attribute = resolved.attribute
            return attribute.type == COMPLEX and any(
                matches_element(inner, element, attribute)
                for element in _values(doc, resolved)
                if isinstance(element, dict)
            )


def matches_element(f: Filter, element: dict[str, Any], attribute: Attribute) -> bool:
    """Whether one element of complex `attribute` (e.g. one email) satisfies the value filter
    `f` (the inside of `emails[...]`), naming sub-attributes case-insensitively."""
    match f:
        case And(left, right):
            return matches_element(left, element, attribute) and matches_element(
                right, element, attribute
            )
        case Or(left, right):
            return matches_element(left, element, attribute) or matches_element(
                right, element, attribute
            )
        case Not(inner):
            return not matches_element(inner, element, attribute)
        case Present(path):
            sub = element_attribute(path, attribute)
            return sub is not None and any(map(_present, _as_list(element.get(sub.name))))
        case Compare(path, op, value):
            sub = element_attribute(path, attribute)
            if sub is None:
                equal = value is None
            else:
                equal = _compare_values(sub, _as_list(element.get(sub.name)), op, value)
            return equal if op != "ne" else not equal
        case ValuePath():
            return False


def element_attribute(path: AttrPath, attribute: Attribute) -> Attribute | None:
    """The sub-attribute of complex `attribute` that a path inside its value filter names
    (`type` in `emails[type eq "work"]`); None if it names none."""
    if path.urn is not None or path.sub is not None:
        return None
    return attribute.sub(path.attr)


def _lookup_resolve(path: AttrPath, rtype: ResourceType) -> Resolved | None:
    resolved = resolve_path(path, rtype)
    if resolved is not None:
        return resolved
    if path.urn is None and path.sub is None and path.attr.lower() == "schemas":
        return Resolved(rtype.schema, _SCHEMAS)
    return rtype.resolve_undeclared(str(path))


def _values(doc: dict[str, Any], resolved: Resolved) -> list[Any]:
    """The values at `resolved` in `doc`, multi-valued attributes flattened."""
    if not resolved.declared:
        return _undeclared_values(doc, resolved)
    container = doc.get(resolved.schema.id) if resolved.is_extension else doc
    if not isinstance(container, dict):
        return []
    if resolved.attribute is None:
        return [container]
    items = _as_list(container.get(resolved.attribute.name))
    if resolved.sub is None:
        return items
    name = resolved.sub.name
    return [v for item in items if isinstance(item, dict) for v in _as_list(item.get(name))]


def _undeclared_values(doc: dict[str, Any], resolved: Resolved) -> list[Any]:
    """`_values` for an undeclared attribute: stored under its names as first sent, so the
    extension URN, the attribute and the sub-attribute are matched in any letter case."""
    container = _get_caseless(doc, resolved.schema.id) if resolved.is_extension else doc
    if not isinstance(container, dict):
        return []
    if resolved.attribute is None:
        return [container]
    items = _as_list(_get_caseless(container, resolved.attribute.name))
    if resolved.sub is None:
        return items
    name = resolved.sub.name
    return [v for item in items if isinstance(item, dict)
            for v in _as_list(_get_caseless(item, name))]


def _get_caseless(obj: dict[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    low = name.lower()
    return next((v for k, v in obj.items() if k.lower() == low), None)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _present(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_present, value.values()))
    return value is not None and value != "" and value != []


def _compare_values(attribute: Attribute, values: list[Any], op: str, expected: Value) -> bool:
    """`ne` is answered as `eq`; the caller negates it."""
    if op == "ne":
        op = "eq"
    if expected is None:
        return op == "eq" and not any(map(_present, values))
    if attribute.type == COMPLEX:
        # `emails co "x"`, `manager eq "id"`: a complex attribute stands for its `value`.
        value_sub = attribute.sub("value")
        if value_sub is None:
            return False
        values = [v.get(value_sub.name) for v in values if isinstance(v, dict)]
        attribute = value_sub
    test = _predicate(attribute, op, expected)
    return test is not None and any(test(v) for v in values if v is not None)


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "eq": operator.eq,
    "co": operator.contains,
    "sw": str.startswith,
    "ew": str.endswith,
    **_ORDER,
}


def _predicate(attribute: Attribute, op: str, expected: Value) -> Callable[[Any], bool] | None:
    """A test for one document value, or None if nothing can match (e.g. `gt` on a boolean)."""
    kind = attribute.type
    if kind == ANY:
        return _undeclared_predicate(op, expected)
    if kind == BOOLEAN:
        want = as_boolean(expected)
        if op != "eq" or want is None:
            return None
        return lambda v: as_boolean(v) is want
    if kind in (INTEGER, DECIMAL):
        number = _as_number(expected)
        if number is None or op not in _EQ_OR_ORDER:
            return None
        order = _EQ_OR_ORDER[op]

        def test_number(v: Any) -> bool:
            n = _as_number(v)
            return n is not None and order(n, number)

        return test_number
    if kind == DATETIME and op not in ("co", "sw", "ew"):
        instant, order = as_instant(expected), _EQ_OR_ORDER[op]
        if instant is None:
            return None

        def test_instant(v: Any) -> bool:
            t = as_instant(v)
            return t is not None and order(t, instant)

        return test_instant
    if kind == COMPLEX:
        return None
    text = value_text(expected)
    test = _STRING_OPS[op]
    if attribute.case_exact:
        return lambda v: isinstance(v, str) and test(v, text)
    # The comparison the unique indexes are keyed on (shared.caseless): an index lookup and
    # this re-check of its result agree on which values are the same.
    text = fold(text)
    return lambda v: isinstance(v, str) and test(fold(v), text)


def _undeclared_predicate(op: str, expected: Value) -> Callable[[Any], bool]:
    """A test for a captured value, which has no declared type: each value is compared as what
    it is. Strings as a caseExact=false string attribute compares them (an unquoted `701984`
    matches the string "701984", as for declared strings), numbers by value, booleans by
    `eq`; objects and arrays' objects match nothing."""
    text = fold(value_text(expected))
    string_test = _STRING_OPS[op]
    number = _as_number(expected)
    order = _EQ_OR_ORDER.get(op)
    boolean = as_boolean(expected) if op == "eq" else None

    def test(v: Any) -> bool:
        if isinstance(v, str):
            return string_test(fold(v), text)
        if isinstance(v, bool):
            return boolean is not None and v is boolean
        if isinstance(v, int | float):
            return number is not None and order is not None and order(v, number)
        return False

    return test


def value_text(value: Value) -> str:
    """A comparison value as a string attribute sees it: unquoted `12345` or `true` compare as
    the text the client wrote (see `_bare_value`). Query planners should key lookups on this."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def as_instant(value: Any) -> datetime | None:
    """An aware datetime for an ISO 8601 string; naive times are taken as UTC. Python 3.11's
    fromisoformat reads `Z` and truncates 7-digit fractions (`…21.8617979-07:00`)."""
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


# --- Query planning ------------------------------------------------------------------------


def equality_terms(f: Filter) -> list[tuple[AttrPath, Compare]] | None:
    """The `eq` comparisons of a filter that is nothing but an `and` of them, left to right
    (`id eq "G" and members eq "U"`), for planning point reads; None for any other filter.
    `eq null` is not an equality term (it means "absent")."""
    terms: list[tuple[AttrPath, Compare]] = []
    pending: list[Filter] = [f]
    while pending:
        node = pending.pop()
        if isinstance(node, And):
            pending += (node.right, node.left)
        elif isinstance(node, Compare) and node.op == "eq" and node.value is not None:
            terms.append((node.path, node))
        else:
            return None
    return terms
