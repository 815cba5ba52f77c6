"""Attribute paths (RFC 7644 §3.10), the grammar PATCH paths and filters are both built on.

    attrPath = [URI ":"] ATTRNAME *1subAttr
    subAttr  = "." ATTRNAME

Parsing is purely syntactic; `resolve_path` maps a parsed path onto a resource type's schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ScimError, invalid_path
from .schema import ATTR_NAME as _NAME
from .schema import URN_SEGMENT as _URN_SEGMENT
from .schema import Resolved, ResourceType


@dataclass(frozen=True)
class AttrPath:
    """`urn:…:User:manager.value` -> urn=`urn:…:User`, attr=`manager`, sub=`value`."""

    urn: str | None
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attr}" if self.urn else self.attr
        return f"{text}.{self.sub}" if self.sub else text


def is_attr_name(text: str) -> bool:
    """Whether `text` is one ATTRNAME (no URN, no dot)."""
    return _NAME.fullmatch(text) is not None


def parse_attr_path(text: str) -> AttrPath:
    """Parse `attr`, `attr.sub` or `urn:…:attr[.sub]`; ScimError(400, invalidPath) if malformed."""
    return split_attr_path(text, 0, invalid_path, f" in path {text!r}")


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

