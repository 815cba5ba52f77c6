"""shared.sanitize: client text on its way to a log line, an audit entry or a response header
is one printable line of bounded length; a request id is kept only when it is a short safe
token. (That every sink uses it is tests/security/test_logs.py.)"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sanitize import REQUEST_ID, clean, request_id

FRESH = re.compile(r"[0-9a-f]{32}")
# Any text, lone surrogates (what a JSON or percent-decoded `\ud800` becomes) included.
ANY_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)),
                    max_size=300).map("".join)
# Line breaks a log reader or terminal may honour, besides every other control character.
BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


# --------------------------------------------------------------------------------------------
# request_id
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["req-42.a_B", "a", "0" * 64,
                                  "3fa85f64-5717-4562-b3fc-2c963f66afa6"])
def test_a_short_safe_request_id_is_kept(sent: str) -> None:
    assert request_id(sent) == sent


@pytest.mark.parametrize("sent", [
    None, "", "0" * 65, "a b", "abc\r\nforged: 1", "abc\n", "id/1", "id;x", "é", "\x1b[31m",
    "a" * 10_000,
])
def test_anything_else_gets_a_fresh_id(sent: str | None) -> None:
    made = request_id(sent)
    assert made != sent
    assert FRESH.fullmatch(made)


def test_fresh_ids_do_not_repeat() -> None:
    assert len({request_id(None) for _ in range(1000)}) == 1000


@given(st.none() | ANY_TEXT)
def test_a_request_id_is_always_a_safe_token(sent: str | None) -> None:
    made = request_id(sent)
    assert REQUEST_ID.fullmatch(made)
    assert len(made) <= 64
    assert (made == sent) is bool(sent and REQUEST_ID.fullmatch(sent))


# --------------------------------------------------------------------------------------------
# clean
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "GET", "Users/2819c223", "émoji 😀 and 中文", "a" * 100])
def test_short_printable_text_is_unchanged(text: str) -> None:
    assert clean(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("a\r\nb", "a\\x0d\\x0ab"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("tab\there", "tab\\x09here"),
    ("nul\x00", "nul\\x00"),
    ("del\x7f", "del\\x7f"),
    ("next\x85line", "next\\x85line"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("half \ud800 pair", "half \\ud800 pair"),
    ("tag \U000e0041", "tag \\U000e0041"),
])
def test_control_characters_and_separators_are_escaped(text: str, expected: str) -> None:
    assert clean(text) == expected


def test_long_text_is_cut_to_the_limit_with_a_marker() -> None:
    assert clean("a" * 101) == "a" * 97 + "..."
    assert clean("a" * 10, 5) == "aa..."
    assert len(clean("\n" * 1000, 40)) == 40  # escaping counts towards the limit


def test_a_value_that_is_not_text_is_shown_as_str() -> None:
    assert clean(ValueError("bad\nthing")) == "bad\\x0athing"
    assert clean(404) == "404"
    assert clean(None) == "None"


@given(ANY_TEXT, st.integers(0, 200))
def test_the_result_is_one_printable_line_within_the_limit(text: str, limit: int) -> None:
    out = clean(text, limit)
    assert len(out) <= limit
    assert out.isprintable()
    assert not set(out) & set(BREAKS)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
    out.encode("utf-8")  # writable to any UTF-8 sink
    if len(text) <= limit and text.isprintable():
        assert out == text


@given(ANY_TEXT, st.integers(3, 200))
def test_what_is_kept_is_the_start_of_the_escaped_text(text: str, limit: int) -> None:
    escaped = "".join(c if c.isprintable() else clean(c, 20) for c in text)
    out = clean(text, limit)
    if len(escaped) <= limit:
        assert out == escaped
    else:
        assert out == escaped[: limit - 3] + "..."
