"""Case-insensitive comparison of caseExact=false values (RFC 7643 §2.2: userName, group
displayName, email addresses), shared by the unique indexes and the filter engine so that an
index lookup and the in-memory re-check of a filter always agree.

Two values are the same iff they are equal once `fold` is applied. `fold` lowers each
character on its own and changes nothing else, so it only ever merges two spellings that
differ in the case of single letters. Unicode full case folding (`str.casefold`) also merges
names people and directories keep apart - `straße` with `strasse`, `ﬁnance` (U+FB01) with
`finance` - and lowering alone merges look-alike symbols with letters: U+212A KELVIN SIGN
lowers to `k`. Such a symbol is not the capital of the letter it lowers to (that letter's
capital is another character, `K`), so it is kept as it is. Normalisation (NFC) is not
applied either: it maps U+212A to `K`, and values are stored and compared as sent.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    low = ch.lower()
    if low == ch:
        # Final sigma (U+03C2) is how sigma (U+03C3) is written at the end of a word, and
        # lowering a capital sigma gives either: both stand for the same letter.
        return "\u03c3" if ch == "\u03c2" else ch
    if len(low) != 1:
        return ch  # İ (U+0130) lowers to two characters: not a plain case pair, kept
    partners = {p for p in (low.upper(), low.title()) if len(p) == 1}
    if partners and ch not in partners:
        return ch  # a look-alike of another letter's capital: U+212A, U+2126, U+212B, U+03F4
    return low


def fold(value: str) -> str:
    """The form two caseExact=false values are compared in: equal iff the values are."""
    if value.isascii():
        return value.lower()
    return "".join(map(_fold_char, value))
