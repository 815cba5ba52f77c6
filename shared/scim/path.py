"""Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2).

    attrPath  = [URI ":"] ATTRNAME *1subAttr
    PATH      = attrPath / valuePath [subAttr]
    valuePath = attrPath "[" valFilter "]"

Parsing is purely syntactic; `resolve_path` maps a parsed path onto a resource type's schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .errors import ScimError, invalid_path
from .schema import Resolved, ResourceType

if TYPE_CHECKING:
    from .filter import Filter

MAX_LENGTH = 4096

# RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar); "$ref" is the one name outside that rule.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|(?i:\$ref)")
# Practical URN segment characters (RFC 8141 allows more, but none of them occur in SCIM schema
# URNs and several would be ambiguous inside a filter).
_URN_SEGMENT = re.compile(r"[A-Za-z0-9._~%+-]+")
_PATH_HEAD = re.compile(r"[^\[\]\s]*")


@dataclass(frozen=True)
class AttrPath:
    """`urn:…:User:manager.value` -> urn=`urn:…:User`, attr=`manager`, sub=`value`."""

    urn: str | None
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attr}" if self.urn else self.attr
        return f"{text}.{self.sub}" if self.sub else text


@dataclass(frozen=True)
class PatchPath:
    """A PATCH `path`. `emails[type eq "work"].value` -> attr=emails, value_filter=`type eq
    "work"`, sub=`value`. For `name.givenName` the sub-attribute lives in `attr.sub`."""

    attr: AttrPath
    value_filter: Filter | None = None
    sub: str | None = None

    def __str__(self) -> str:
        if self.value_filter is None:
            return str(self.attr)
        from .filter import to_text  # filter imports this module at load time

        text = f"{self.attr}[{to_text(self.value_filter)}]"
        return f"{text}.{self.sub}" if self.sub else text


def parse_attr_path(text: str) -> AttrPath:
    """Parse `attr`, `attr.sub` or `urn:…:attr[.sub]`; ScimError(400, invalidPath) if malformed."""
    return split_attr_path(text, 0, invalid_path, f" in path {text!r}")


@lru_cache(maxsize=1024)
def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH path. A malformed path raises ScimError(400, invalidPath); a malformed
    filter inside `[...]` raises invalidFilter, as RFC 7644 §3.12 (Table 9) assigns it to path
    filters. Cached: Entra sends the same few paths all day and the result is immutable
    (errors are raised each time, never cached)."""
    from .filter import parse_value_filter  # filter imports this module at load time

    if len(text) > MAX_LENGTH:
        raise invalid_path(f"PATCH path is {len(text)} characters long; the limit is {MAX_LENGTH}")
    where = f" in path {text!r}"
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    if start >= end:
        raise invalid_path("PATCH path is empty; omit 'path' to target the whole resource")
    head = _PATH_HEAD.match(text, start, end)
    assert head is not None  # the pattern matches the empty string
    if head.end() == start:
        raise invalid_path(f"Expected an attribute name at position {start}{where}")
    attr = split_attr_path(head.group(), start, invalid_path, where)
    pos = head.end()
    if pos == end:
        return PatchPath(attr)
    if text[pos] != "[":
        raise invalid_path(
            f"Unexpected {text[pos]!r} at position {pos}{where}; expected '[' or end of path"
        )
    if attr.sub is not None:
        raise invalid_path(
            f"A value filter at position {pos} must follow a multi-valued attribute, not the "
            f"sub-attribute {str(attr)!r}{where}; write e.g. 'emails[type eq \"work\"].value'"
        )
    value_filter, pos = parse_value_filter(text, pos + 1, where)
    if pos == end:
        return PatchPath(attr, value_filter)
    if text[pos] != ".":
        raise invalid_path(
            f"Unexpected {text[pos:end]!r} at position {pos}{where}; after ']' only "
            "'.subAttribute' or the end of the path may follow"
        )
    sub = text[pos + 1 : end]
    if not _NAME.fullmatch(sub):
        raise invalid_path(
            f"Invalid sub-attribute name {sub!r} at position {pos + 1}{where}; "
            "names start with a letter and contain only letters, digits, '-' and '_'"
        )
    return PatchPath(attr, value_filter, sub)


def resolve_path(path: AttrPath, rtype: ResourceType) -> Resolved | None:
    """The schema attribute `path` names in `rtype`, or None if it names none. A bare extension
    URN (`urn:…:enterprise:2.0:User`) resolves to the extension with attribute None.

    An unqualified name missing from the core schema is looked up in the extensions, in order:
    RFC 7644 §3.10 only says clients SHOULD qualify extension attributes, and Entra's reference
    check sends a bare `manager eq …`."""
    text = str(path)
    resolved = rtype.resolve(text)
    if resolved is not None or path.urn is not None:
        return resolved
    for schema, _ in rtype.extensions:
        resolved = rtype.resolve(f"{schema.id}:{text}")
        if resolved is not None:
            return resolved
    return None


def split_attr_path(
    word: str, start: int, error: Callable[[str], ScimError], where: str = ""
) -> AttrPath:
    """Parse `word`, found at `start` of some larger text, as an attrPath; raise `error(detail)`
    if it is not one. Shared by the PATCH path and filter parsers so both report alike."""
    urn: str | None = None
    local, offset = word, start
    if ":" in word:
        if word[:4].lower() != "urn:":
            raise error(
                f"Invalid attribute path {word!r} at position {start}{where}; only a schema "
                "URN prefix ('urn:…:') may contain ':'"
            )
        urn, _, local = word.rpartition(":")
        offset = start + len(urn) + 1
        segments = urn.split(":")[1:]
        if not segments or not all(_URN_SEGMENT.fullmatch(s) for s in segments):
            raise error(f"Malformed schema URN {urn!r} at position {start}{where}")
        if not local:
            raise error(
                f"Expected an attribute name after the schema URN {urn!r} at position "
                f"{offset}{where}"
            )
    attr, dot, sub = local.partition(".")
    if not _NAME.fullmatch(attr):
        raise error(
            f"Invalid attribute name {attr!r} at position {offset}{where}; names start with a "
            "letter and contain only letters, digits, '-' and '_'"
        )
    if not dot:
        return AttrPath(urn, attr)
    if not _NAME.fullmatch(sub):
        hint = "; only one level of sub-attribute exists" if "." in sub else ""
        raise error(
            f"Invalid sub-attribute name {sub!r} at position {offset + len(attr) + 1}"
            f"{where}{hint}"
        )
    return AttrPath(urn, attr, sub)
