"""PATCH paths (RFC 7644 §3.5.2): an attribute path, optionally narrowed by a value filter.

    PATH      = attrPath / valuePath [subAttr]
    valuePath = attrPath "[" valFilter "]"

Parsing is purely syntactic; `shared.scim.patch_operation.resolve_target` maps a parsed path
onto a resource type's schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .attr_path import AttrPath, is_attr_name, split_attr_path
from .errors import invalid_path
from .filter import Filter, parse_value_filter, to_text

MAX_LENGTH = 4096

_PATH_HEAD = re.compile(r"[^\[\]\s]*")


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
        text = f"{self.attr}[{to_text(self.value_filter)}]"
        return f"{text}.{self.sub}" if self.sub else text


@lru_cache(maxsize=1024)
def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH path. A malformed path raises ScimError(400, invalidPath); a malformed
    filter inside `[...]` raises invalidFilter, as RFC 7644 §3.12 (Table 9) assigns it to path
    filters. Cached: Entra sends the same few paths all day and the result is immutable
    (errors are raised each time, never cached)."""
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
    if not is_attr_name(sub):
        raise invalid_path(
            f"Invalid sub-attribute name {sub!r} at position {pos + 1}{where}; "
            "names start with a letter and contain only letters, digits, '-' and '_'"
        )
    return PatchPath(attr, value_filter, sub)
