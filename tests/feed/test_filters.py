"""`shared.feed.filters`: event-type patterns, their validation and matching, against a model
of what each pattern means (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.feed import events, filters
from shared.feed.filters import KNOWN_TYPES, FilterError, matches, parse, validate

PREFIX = "com.example.scim"
WILDCARDS = ["user.*", "group.*", "group.members.*"]
patterns = st.lists(st.sampled_from([*KNOWN_TYPES, *WILDCARDS]), min_size=1, max_size=6)


def _meant(pattern: str, change: str) -> bool:
    """The model: a wildcard is every known type with that start, an exact pattern itself."""
    if pattern.endswith(".*"):
        return change.split(".")[: pattern.count(".")] == pattern[:-2].split(".")
    return change == pattern


@given(patterns, st.sampled_from(KNOWN_TYPES))
def test_a_known_type_matches_exactly_when_one_pattern_means_it(
        chosen: list[str], change: str) -> None:
    stored = validate(chosen)
    assert matches(stored, events.event_type(PREFIX, change), PREFIX) == any(
        _meant(p, change) for p in chosen)


@given(st.sampled_from(KNOWN_TYPES))
def test_no_pattern_and_star_match_every_type(change: str) -> None:
    assert matches([], events.event_type(PREFIX, change), PREFIX)
    assert validate(["user.created", "*"]) == []
    assert parse(" * ") == []


def test_wildcards_match_whole_components_only() -> None:
    assert matches(["group.*"], f"{PREFIX}.group.members.added", PREFIX)
    assert not matches(["group.members.*"], f"{PREFIX}.group.updated", PREFIX)
    assert not matches(["user.*"], f"{PREFIX}.users.created", PREFIX)
    assert not matches(["user.created"], f"{PREFIX}.user.created.extra", PREFIX)


def test_another_prefix_matches_only_every_type() -> None:
    assert not matches(["user.*"], "org.other.user.created", PREFIX)
    assert not matches(["user.*"], f"{PREFIX}user.created", PREFIX)  # no dot after the prefix
    assert matches([], "org.other.user.created", PREFIX)


@given(st.text(max_size=30).filter(
    lambda t: t.strip() not in {*KNOWN_TYPES, *WILDCARDS, "*", ""} and "," not in t))
def test_anything_else_is_refused_naming_the_known_types(pattern: str) -> None:
    with pytest.raises(FilterError) as info:
        validate([pattern])
    for known in KNOWN_TYPES:
        assert known in str(info.value)
    assert "group.members.*" in str(info.value)


@pytest.mark.parametrize("bad", ["user", "user.", "*.created", "user.**", "webhook.test",
                                 "member.*", "group.members.added.*", ""])
def test_typical_mistakes_are_refused(bad: str) -> None:
    with pytest.raises(FilterError):
        parse(bad) if bad else validate([bad])


def test_parse_trims_and_drops_duplicates() -> None:
    assert parse("user.* , group.members.*,user.*,") == ["user.*", "group.members.*"]


def test_the_number_of_patterns_is_bounded() -> None:
    assert len(validate(list(KNOWN_TYPES))) == len(KNOWN_TYPES) <= filters.MAX_PATTERNS
