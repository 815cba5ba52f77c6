"""shared.auth.tokens: secret tokens are 256 random bits in a recognisable format, stored only
as SHA-256 digests, and checked by comparing fixed-length digests in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth import tokens

TOKEN = re.compile(r"scim_[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding
HEX64 = re.compile(r"[0-9a-f]{64}")
# Any text a client can put after "Bearer " (HTTP header values reach us as str).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x10FFFF,
                                    exclude_categories=("Cs",)), min_size=1, max_size=200)


def test_a_new_token_is_the_prefix_and_256_random_bits_in_base64url() -> None:
    token = tokens.new_token()
    assert TOKEN.fullmatch(token), token
    assert token.startswith(tokens.PREFIX)


def test_new_tokens_do_not_repeat() -> None:
    made = {tokens.new_token() for _ in range(2000)}
    assert len(made) == 2000
    # Every position after the prefix varies: no fixed or counter-like part.
    for position in range(len(tokens.PREFIX), len(tokens.PREFIX) + 43):
        assert len({t[position] for t in made}) > 10, position


def test_digest_is_sha256_of_the_utf8_text_in_lowercase_hex() -> None:
    # FIPS 180-2 test vector for "abc".
    assert tokens.digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert tokens.digest("é") == hashlib.sha256(b"\xc3\xa9").hexdigest()  # UTF-8, not Latin-1


@given(HEADER_TEXT)
def test_every_digest_has_the_same_length_whatever_the_token(token: str) -> None:
    # What is compared is always 64 hex characters, so compare_digest's time says nothing
    # about the length or content of the stored or the presented token.
    assert HEX64.fullmatch(tokens.digest(token))


def test_display_prefix_identifies_a_token_without_revealing_it() -> None:
    token = tokens.new_token()
    shown = tokens.display_prefix(token)
    assert shown == token[:11]
    assert token.startswith(shown)
    assert len(token) - len(shown) == 37  # the rest (222 bits) is never shown


@given(HEADER_TEXT, HEADER_TEXT)
def test_matches_only_the_tokens_own_digest(token: str, other: str) -> None:
    assert tokens.matches(token, [tokens.digest(token)])
    assert tokens.match(token, [tokens.digest(token)]) == 0
    if other != token:
        assert not tokens.matches(token, [tokens.digest(other)])
        assert tokens.match(token, [tokens.digest(other)]) is None


def test_match_names_the_digest_that_matched() -> None:
    a, b, c = (tokens.new_token() for _ in range(3))
    stored = [tokens.digest(a), tokens.digest(b)]
    assert (tokens.match(a, stored), tokens.match(b, stored), tokens.match(c, stored)) == (
        0, 1, None)
    assert tokens.match(a, []) is None
    assert not tokens.matches(a, [])
    # The digest itself is not a token: presenting what is stored does not authenticate.
    assert tokens.match(stored[0], stored) is None


@pytest.mark.parametrize("position", ["first", "last", "none"])
def test_each_candidate_is_compared_with_compare_digest_on_digests(
        monkeypatch: pytest.MonkeyPatch, position: str) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    token = tokens.new_token()
    others = [tokens.digest(tokens.new_token()) for _ in range(3)]
    stored = {"first": [tokens.digest(token), *others], "last": [*others, tokens.digest(token)],
              "none": others}[position]
    assert tokens.matches(token, stored) is (position != "none")
    assert len(compared) == len(stored)
    assert all(HEX64.fullmatch(a) and HEX64.fullmatch(b) for a, b in compared)
