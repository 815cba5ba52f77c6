"""Case-insensitive comparison of caseExact=false values (shared.caseless) and the filter
engine's use of it: distinct names stay distinct, case variants are the same name, and a
filter's in-memory match agrees with the index key (`shared.store.keys.fold`)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.caseless import fold
from shared.scim.filter import matches, parse_filter
from shared.scim.schemas import GROUP, USER
from shared.store import keys, layout

# The issue's examples: each pair was one name under full case folding (the second got 409
# and a filter for it returned the first user).
DISTINCT = [
    ("strasse@example.com", "straße@example.com"),
    ("kelvin", "\u212aelvin"),            # U+212A KELVIN SIGN, which lowers to "k"
    ("finance", "\ufb01nance"),           # U+FB01 LATIN SMALL LIGATURE FI
    ("ohm", "\u2126hm"),                  # U+2126 OHM SIGN, which lowers to omega
    ("\u03c9hm", "\u2126hm"),
    ("\u00e5sa", "\u212bsa"),             # U+212B ANGSTROM SIGN, which lowers to a-ring
    ("i\u0307stanbul", "\u0130stanbul"),  # U+0130 lowers to two characters
]
SAME = [
    ("Alice@Example.com", "alice@EXAMPLE.COM"),
    ("\u00c5sa", "\u00e5SA"),             # a-ring, capital and small
    ("STRA\u1e9eE", "stra\u00dfe"),       # U+1E9E is the capital of sharp s
    ("\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2"),  # final sigma
    ("\u01c4", "\u01c5"),                 # DZ with caron: capital and title case
    ("\u212aelvin", "\u212aELVIN"),       # the rest of a name with a Kelvin sign still folds
]


@pytest.mark.parametrize(("a", "b"), DISTINCT)
def test_distinct_names_stay_distinct(a: str, b: str) -> None:
    assert fold(a) != fold(b)
    assert layout.unique_key("UN", keys.fold(a)) != layout.unique_key("UN", keys.fold(b))


@pytest.mark.parametrize(("a", "b"), SAME)
def test_case_variants_are_one_name(a: str, b: str) -> None:
    assert fold(a) == fold(b)
    assert keys.fold(a) == keys.fold(b)


@pytest.mark.parametrize(("a", "b"), DISTINCT[:3])
def test_filters_agree_with_the_index_on_the_issue_examples(a: str, b: str) -> None:
    for rtype, attr in ((USER, "userName"), (GROUP, "displayName")):
        for op in ("eq", "sw", "co"):
            f = parse_filter(f'{attr} {op} "{b}"')
            assert not matches(f, {attr: a}, rtype), (attr, op, a, b)
            assert matches(f, {attr: b}, rtype)
            assert matches(f, {attr: b.upper()}, rtype) is (fold(b.upper()) == fold(b))
    email = parse_filter(f'emails[type eq "work"].value eq "{b}"')
    assert not matches(email, {"emails": [{"type": "work", "value": a}]}, USER)


@given(st.text(max_size=30))
def test_fold_keeps_length_and_is_idempotent(text: str) -> None:
    assert len(fold(text)) == len(text)
    assert fold(fold(text)) == fold(text)


@given(st.text(max_size=20), st.text(max_size=20))
def test_two_names_collide_only_letter_by_letter(a: str, b: str) -> None:
    """The rule: a and b collide iff they have the same length and each pair of characters
    is equal or one case pair (lower() of both gives one character), never a merge of one
    character with two (ß/ss, ﬁ/fi) or of a sign with a letter (U+212A/K)."""
    if fold(a) == fold(b):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x == y or fold(x) == fold(y)
            assert x == y or x.lower() == y.lower() or {x, y} <= {"\u03c2", "\u03c3", "\u03a3"}
            assert x == y or not ({x, y} & {"\u212a", "\u2126", "\u212b", "\u03f4"})


@given(st.data(), st.text(max_size=20))
def test_case_variants_collide(data: st.DataObject, text: str) -> None:
    variant = "".join(
        data.draw(st.sampled_from([c, c.upper(), c.lower()]))
        if len(c.upper()) == 1 and len(c.lower()) == 1 and fold(c.upper()) == fold(c.lower())
        else c for c in text)
    assert fold(variant) == fold(text)
    f = parse_filter(f"userName eq {json.dumps(text)}")
    assert matches(f, {"userName": variant}, USER)


@given(st.text(max_size=20), st.text(max_size=20))
def test_filter_eq_is_the_index_comparison(stored: str, wanted: str) -> None:
    """What the unique index finds (same key) is exactly what the filter's re-check keeps."""
    f = parse_filter(f"userName eq {json.dumps(wanted)}")
    same_key = layout.unique_key("UN", keys.fold(stored)) == layout.unique_key("UN",
                                                                          keys.fold(wanted))
    assert matches(f, {"userName": stored}, USER) is same_key
