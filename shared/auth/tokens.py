"""Secret tokens: 256 random bits, shown once, stored only as SHA-256 digests, compared in
constant time. A plain digest is enough: the token has full entropy, so there is nothing for
a slow password hash to protect."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "scim_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """Enough of a token to recognise it in listings, too little to use it."""
    return token[: len(PREFIX) + 6]


def match(token: str, digests: list[str]) -> int | None:
    """The index of the digest the token matches, or None. Like `matches`, every candidate
    is compared in constant time whatever the outcome."""
    candidate = digest(token)
    found: int | None = None
    for n, d in enumerate(digests):
        if hmac.compare_digest(candidate, d):
            found = n
    return found


def matches(token: str, digests: list[str]) -> bool:
    """True when the token's digest equals one of `digests`. Every candidate is compared,
    each in constant time, so timing says nothing about which (if any) matched."""
    return digest_in(digest(token), digests)


def digest_in(candidate: str, digests: list[str]) -> bool:
    """`matches` for a token already digested (a caller that checks several lists)."""
    found = False
    for d in digests:
        found |= hmac.compare_digest(candidate, d)
    return found
