"""RowKey components (shared.store.keys): every text makes a legal key, values that must be
read back from their key round-trip, and `fold` is the engine's case-insensitive comparison."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.caseless import fold
from shared.store import keys, layout
from shared.store.directory import Directory
from shared.store.layout import GROUP, USER

# Any code point, the halves of surrogate pairs included (hypothesis leaves them out of
# text() by default: they reach us from filters' JSON escapes and from ids in paths).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                 blacklist_categories=()), max_size=60)
lone_surrogate_text = st.builds(lambda a, s, b: a + s + b, st.text(max_size=10),
                                st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                                st.text(max_size=10))


@given(any_text | lone_surrogate_text)
def test_every_text_makes_an_encodable_key(value: str) -> None:
    for key in (layout.resource_key(USER, value), layout.unique_key("UN", keys.fold(value)),
                layout.multi_key("UX", value, "r1"), layout.member_key("g", value),
                layout.reverse_member_key(value, "g")):
        key.encode("utf-8")  # a lone surrogate raised UnicodeEncodeError at the storage call


@given(any_text | lone_surrogate_text)
def test_short_components_round_trip(value: str) -> None:
    if keys.round_trips(value):
        assert keys.unescape(keys.escape(value)) == value
    else:
        assert keys.escape(value).startswith("~")


@pytest.mark.parametrize(("value", "fits"), [
    ("m" * 400, True), ("m" * 401, False), ("\u00e9" * 200, True), ("\u00e9" * 201, False),
    ("/" * 133, True), ("/" * 134, False),  # escaped as %2F: three bytes each
    ("\U0001F600" * 100, True), ("\U0001F600" * 101, False), ("\ud800" * 44, True),
])
def test_round_trips_is_the_limit_of_unhashed_components(value: str, fits: bool) -> None:
    assert keys.round_trips(value) is fits
    assert keys.escape(value).startswith("~") is not fits


def test_fold_is_the_engine_comparison_not_full_case_folding() -> None:
    assert keys.fold("Stra\u00dfe") == fold("Stra\u00dfe") == "stra\u00dfe"
    assert keys.legacy_fold("Stra\u00dfe") == "strasse"
    assert keys.fold("\u212aelvin") != keys.fold("kelvin")
    assert keys.fold("\ufb01nance") != keys.fold("finance")


def test_a_key_with_a_lone_surrogate_is_a_lookup_that_finds_nothing(
        directory: Directory, tenant_id: str) -> None:
    """Against Azurite: the escaped key is legal, the lookups answer 'not found'."""
    assert directory.get(tenant_id, USER, "\ud800") is None
    assert directory.lookup_unique(tenant_id, "UN", "a\udfffb") is None
    assert directory.lookup_multi(tenant_id, "UX", "\ud800") == []
    assert not directory.has_member(tenant_id, "g", "\udc00")
    assert directory.members(tenant_id, "\ud800") == []
    assert list(directory.scan(tenant_id, GROUP, after="\ud800")) == []
