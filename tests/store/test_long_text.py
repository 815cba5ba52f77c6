"""`shared.store.long_text`: text split across properties `name`, `name1`, … comes back whole,
each property within what Table Storage holds (64 KiB of UTF-16: a character outside the Basic
Multilingual Plane counts twice), and `text_size` is what a transaction's text is counted by."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.store.long_text import PROPERTY_CHARS, join_text, split_text, text_size
from shared.store.table import Table

# Any code point, lone surrogates included (they reach documents from JSON escapes).
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())
astral_char = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF)
# Long texts quickly: runs of one character, so lengths around and far past a property's limit
# are common while hypothesis draws only a few values.
runs = st.lists(st.tuples(any_char | astral_char, st.integers(1, 2 * PROPERTY_CHARS)),
                max_size=4).map(lambda rs: "".join(c * n for c, n in rs))
texts = st.text(any_char, max_size=50) | runs


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def numbered(parts: dict[str, str], name: str) -> list[str]:
    return [name if n == 0 else f"{name}{n}" for n in range(len(parts))]


@settings(max_examples=300, deadline=None)
@given(texts)
def test_split_then_join_gives_the_text_back(text: str) -> None:
    assert join_text(split_text(text, "doc"), "doc") == text


@settings(max_examples=300, deadline=None)
@given(texts)
def test_every_part_fits_one_property_and_no_part_is_wasted(text: str) -> None:
    parts = split_text(text, "doc")
    assert list(parts) == numbered(parts, "doc")  # name, name1, name2, … without gaps
    sizes = [utf16_units(p) for p in parts.values()]
    assert all(size <= PROPERTY_CHARS for size in sizes)
    # Full parts but the last (an astral character that would straddle the limit moves on).
    assert all(size >= PROPERTY_CHARS - 1 for size in sizes[:-1])
    assert all(parts.values()) or parts == {"doc": ""}


def test_empty_text_is_one_empty_property() -> None:
    assert split_text("", "body") == {"body": ""}
    assert join_text({"body": ""}, "body") == ""


def test_text_of_exactly_one_property_is_not_split_and_one_more_is() -> None:
    assert split_text("a" * PROPERTY_CHARS, "x") == {"x": "a" * PROPERTY_CHARS}
    assert split_text("a" * PROPERTY_CHARS + "b", "x") == {"x": "a" * PROPERTY_CHARS, "x1": "b"}


def test_astral_characters_count_twice() -> None:
    smile = "\U0001F600"
    parts = split_text(smile * PROPERTY_CHARS, "x")
    assert [len(p) for p in parts.values()] == [PROPERTY_CHARS // 2, PROPERTY_CHARS // 2]


def test_join_reads_the_named_properties_only_and_stops_at_a_gap() -> None:
    entity = {"PartitionKey": "p", "RowKey": "r", "doc": "a", "doc1": "b", "doc2": "c",
              "doc4": "lost", "docs": "other", "ops": "other", "done": 3}
    assert join_text(entity, "doc") == "abc"
    assert join_text(entity, "missing") == ""


def test_text_size_counts_the_characters_of_string_properties() -> None:
    entity = {"PartitionKey": "pk", "RowKey": "rk1", "attempts": 12345, "active": True,
              "ratio": 1.5, **split_text("z" * (PROPERTY_CHARS + 7), "body")}
    assert text_size(entity) == 2 + 3 + PROPERTY_CHARS + 7
    assert text_size({"PartitionKey": "pk", "RowKey": "rk"}) == 4


@settings(deadline=None)
@given(texts)
def test_text_size_of_a_split_text_is_its_length(text: str) -> None:
    assert text_size(split_text(text, "doc")) == len(text)


# -- against Table Storage (Azurite enforces the 64 KiB property limit as Azure does) --------

@pytest.mark.parametrize("text", [
    "a" * (3 * PROPERTY_CHARS + 11),
    "\u00e9" * (2 * PROPERTY_CHARS + 1),                 # two bytes in UTF-16, one unit
    "\U0001F600" * (PROPERTY_CHARS + 3),                # every character two units
    ("x" + "\U00020000") * PROPERTY_CHARS,              # CJK extension B mixed with ASCII
    "\ud800" + "a" * PROPERTY_CHARS + "\udfff",         # lone surrogates at both ends
], ids=["ascii", "latin", "emoji", "mixed-astral", "lone-surrogates"])
def test_split_text_is_stored_and_read_back_by_table_storage(empty_table: Table,
                                                             text: str) -> None:
    empty_table.upsert_entity({"PartitionKey": "p", "RowKey": "r", **split_text(text, "doc")})
    assert join_text(empty_table.get_entity("p", "r"), "doc") == text
