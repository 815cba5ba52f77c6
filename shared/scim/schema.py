"""Attribute and schema definitions as data (RFC 7643 §2, §7), and path resolution against them.

Everything schema-aware in the engine (validation, mutability, `returned`, case rules, PATCH,
filters, the /Schemas document) reads these definitions; nothing hard-codes attribute names
except the definitions in `shared.scim.schemas`.

Documents follow RFC 7643's JSON layout: core attributes at the top level under their canonical
names, extension attributes in an object keyed by the extension's URN.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

STRING = "string"
BOOLEAN = "boolean"
DECIMAL = "decimal"
INTEGER = "integer"
DATETIME = "dateTime"
REFERENCE = "reference"
COMPLEX = "complex"
BINARY = "binary"
# The type of an attribute no schema declares, as `ResourceType.resolve_undeclared` makes one:
# any JSON value, kept as sent. Internal only: never advertised, refused in schema documents.
ANY = "any"

READ_ONLY = "readOnly"
READ_WRITE = "readWrite"
IMMUTABLE = "immutable"
WRITE_ONLY = "writeOnly"

ALWAYS = "always"
NEVER = "never"
DEFAULT = "default"
REQUEST = "request"

# What the engine does with an attribute no schema of the resource type declares: keep it as
# sent (`capture`, the default: Entra's custom extension attributes arrive before anyone
# declares them) or refuse the request (`reject`).
CAPTURE: Literal["capture"] = "capture"
REJECT: Literal["reject"] = "reject"
UndeclaredPolicy = Literal["capture", "reject"]
UNDECLARED_POLICIES: tuple[str, ...] = (CAPTURE, REJECT)
# Names never taken as undeclared attributes: `schemas` is structural, and a connector that
# provisions no credentials must not keep a password a client sends (it is dropped).
_NOT_UNDECLARED: frozenset[str] = frozenset({"schemas", "password"})
_UNDECLARED_CACHE_SIZE = 512

# RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar); "$ref" is the one name outside that rule.
ATTR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*|(?i:\$ref)")
# Practical URN segment characters (RFC 8141 allows more, but none of them occur in SCIM schema
# URNs and several would be ambiguous inside a filter).
URN_SEGMENT = re.compile(r"[A-Za-z0-9._~%+-]+")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = STRING
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = READ_WRITE
    returned: str = DEFAULT
    uniqueness: str = "none"
    description: str = ""
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    # False for RFC 7643 §3.1 common attributes that belong to no schema (`id`, `meta`): they
    # resolve like any attribute but are left out of /Schemas, where clients that build models
    # from it (scim2-models) would otherwise shadow their own `Meta` type.
    advertised: bool = True
    _by_name: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    # The exact names of the sub-attributes a response shows by default, when all of them
    # hold single scalar values (an object of only these is copied shallowly by
    # projection.py); empty when a sub-attribute is complex or multi-valued.
    default_subs: frozenset[str] = field(
        default=frozenset(), init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # Exact names too: canonical documents spell them so, and skip the lower-casing.
        self._by_name.update({a.name: a for a in self.sub_attributes})
        self._by_name.update({a.name.lower(): a for a in self.sub_attributes})
        scalar = all(a.type != COMPLEX and not a.multi_valued for a in self.sub_attributes)
        object.__setattr__(self, "default_subs", frozenset(
            a.name for a in self.sub_attributes
            if scalar and a.returned not in (NEVER, REQUEST)))

    @property
    def declared(self) -> bool:
        """False for a stand-in `ResourceType.resolve_undeclared` made for a name no schema
        declares."""
        return self.type != ANY

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called `name`, matched case-insensitively (RFC 7643 §2.1)."""
        return self._by_name.get(name) or self._by_name.get(name.lower())

    def to_scim(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
        }
        if self.type in (STRING, REFERENCE, BINARY):
            out["caseExact"] = self.case_exact
            out["uniqueness"] = self.uniqueness
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [a.to_scim() for a in self.sub_attributes]
        return out


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_name: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    # The attributes each rule applies to, so that checking a document visits only those.
    required: tuple[Attribute, ...] = field(default=(), init=False, repr=False, compare=False)
    immutable: tuple[Attribute, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({a.name: a for a in self.attributes})  # exact names: see sub()
        self._by_name.update({a.name.lower(): a for a in self.attributes})
        object.__setattr__(self, "required", tuple(a for a in self.attributes if a.required))
        object.__setattr__(self, "immutable", tuple(
            a for a in self.attributes if a.mutability == IMMUTABLE))

    def attribute(self, name: str) -> Attribute | None:
        return self._by_name.get(name) or self._by_name.get(name.lower())

    def to_scim(self, base_url: str = "") -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_scim() for a in self.attributes if a.advertised],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{self.id}"},
        }


def _shown_whole(attr: Attribute) -> bool:
    return all(a.returned not in (NEVER, REQUEST) for a in (attr, *attr.sub_attributes))


@dataclass(frozen=True)
class Resolved:
    """An attribute path resolved against a resource type: `schema` owns `attribute`;
    `sub` is set for `attr.sub` paths. `attribute` is None when the path names a whole
    extension (e.g. the bare enterprise URN). `declared` is False when the path names what no
    schema declares (see `ResourceType.resolve_undeclared`)."""

    schema: Schema
    attribute: Attribute | None
    sub: Attribute | None = None
    is_extension: bool = False
    declared: bool = True

    @property
    def target(self) -> Attribute | None:
        return self.sub or self.attribute

    @property
    def canonical(self) -> str:
        """The path spelled canonically: `name.givenName`, `urn:…:User:department`."""
        parts = []
        if self.attribute is not None:
            parts.append(self.attribute.name)
        if self.sub is not None:
            parts.append(self.sub.name)
        local = ".".join(parts)
        if self.is_extension:
            return f"{self.schema.id}:{local}" if local else self.schema.id
        return local


@dataclass(frozen=True)
class ResourceType:
    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[tuple[Schema, bool], ...] = ()
    undeclared: UndeclaredPolicy = CAPTURE
    # The core schema, then the extensions; and the extensions by URN, exact and lower-cased.
    all_schemas: tuple[Schema, ...] = field(default=(), init=False, repr=False, compare=False)
    _extension_ids: dict[str, Schema] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    # The top-level keys (core attribute names, extension URNs) whose values in a canonical
    # document the default view shows whole: no `never` or `request` attribute inside them.
    shown_whole: frozenset[str] = field(
        default=frozenset(), init=False, repr=False, compare=False, hash=False
    )
    # resolve_undeclared's answers by path as written; bounded, cleared when full.
    _undeclared: dict[str, Resolved | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.undeclared not in UNDECLARED_POLICIES:
            raise ValueError(
                f"undeclared must be one of {', '.join(UNDECLARED_POLICIES)}, "
                f"not {self.undeclared!r}")
        object.__setattr__(self, "all_schemas", (self.schema, *(s for s, _ in self.extensions)))
        self._extension_ids.update({s.id: s for s, _ in self.extensions})
        self._extension_ids.update({s.id.lower(): s for s, _ in self.extensions})
        object.__setattr__(self, "shown_whole", frozenset(
            [a.name for a in self.schema.attributes if _shown_whole(a)]
            + [s.id for s, _ in self.extensions if all(map(_shown_whole, s.attributes))]))

    def extended(
        self, extra: Sequence[Schema] = (), *, undeclared: str = CAPTURE
    ) -> ResourceType:
        """This resource type with `extra` extensions (not required, after the existing ones)
        and the given policy for undeclared attributes. With nothing to change it returns
        itself, so a tenant that declares nothing shares the module's objects (and their
        caches). ValueError if an extra URN is already one of this type's schemas."""
        if not extra and undeclared == self.undeclared:
            return self
        if undeclared not in UNDECLARED_POLICIES:
            raise ValueError(
                f"undeclared must be one of {', '.join(UNDECLARED_POLICIES)}, not {undeclared!r}")
        known = {s.id.lower() for s in self.all_schemas}
        for schema in extra:
            if schema.id.lower() in known:
                raise ValueError(
                    f"{schema.id} is already a schema of the {self.name} resource type")
            known.add(schema.id.lower())
        policy: UndeclaredPolicy = CAPTURE if undeclared == CAPTURE else REJECT
        return replace(
            self, extensions=(*self.extensions, *((s, False) for s in extra)), undeclared=policy)

    def declares(self, schema: Schema) -> bool:
        """Whether `schema` is one of this type's own (not a stand-in for an unknown URN)."""
        return any(s is schema for s in self.all_schemas)

    def schema_by_urn(self, urn: str) -> Schema | None:
        low = urn.lower()
        for s in self.all_schemas:
            if s.id.lower() == low:
                return s
        return None

    def extension_by_urn(self, urn: str) -> Schema | None:
        if urn[:1] not in ("u", "U"):  # every document key is asked; most are not URNs
            return None
        return self._extension_ids.get(urn) or self._extension_ids.get(urn.lower())

    def split_urn(self, path: str) -> tuple[Schema | None, str]:
        """Split a possibly URN-qualified path into (schema, local part).

        `urn:…:enterprise:2.0:User:manager.value` -> (EnterpriseUser, "manager.value");
        `name.givenName` -> (None, "name.givenName"). The longest known URN wins, compared
        case-insensitively. An unknown URN prefix returns (None, path)."""
        low = path.lower()
        if not low.startswith("urn:"):
            return None, path
        best: Schema | None = None
        for s in self.all_schemas:
            sid = s.id.lower()
            if (low == sid or low.startswith(sid + ":")) and (
                best is None or len(s.id) > len(best.id)
            ):
                best = s
        if best is None:
            return None, path
        return best, path[len(best.id) + 1 :]

    def resolve(self, path: str) -> Resolved | None:
        """Resolve a plain attribute path (`attr`, `attr.sub`, optionally URN-prefixed).
        Value filters (`emails[type eq "work"]`) are parsed by `shared.scim.patch_path`, not here.
        Returns None for an unknown attribute."""
        schema, local = self.split_urn(path)
        if path.lower().startswith("urn:") and schema is None:
            return None
        is_ext = schema is not None and schema is not self.schema
        if schema is None:
            schema = self.schema
        if not local:
            return Resolved(schema, None, None, is_ext) if is_ext else None
        head, _, tail = local.partition(".")
        attr = schema.attribute(head)
        if attr is None:
            return None
        if not tail:
            return Resolved(schema, attr, None, is_ext)
        sub = attr.sub(tail)
        if sub is None:
            return None
        return Resolved(schema, attr, sub, is_ext)

    def resolve_any(self, path: str) -> Resolved | None:
        """`resolve`, and for a path it does not know, `resolve_undeclared`."""
        return self.resolve(path) or self.resolve_undeclared(path)

    def resolve_undeclared(self, path: str) -> Resolved | None:
        """What a path that names no declared attribute names instead: an undeclared attribute
        (`declared` False, its attribute of type ANY), so that it can be captured or refused.
        Call it only after `resolve` (and the unqualified-name fallback) found nothing.

        - `fooBar`, `urn:…:core:2.0:User:fooBar`: an undeclared core attribute, kept at the
          top level of the document under the name as sent;
        - `urn:…:enterprise:2.0:User:fooBar`: an undeclared attribute of a declared extension;
        - an unknown URN, if it ends with the segment naming this resource type, as Entra's
          custom extension attributes do: `urn:…:CustomExtensionName:2.0:User` is a whole
          extension (attribute None) and `…:2.0:User:CustomAttribute` its attribute. Other
          unknown URNs give None: `urn:a:b:c` could be read as extension `urn:a:b` or `urn:a`,
          and a stored extension would not read back as the same one; `…:2.0:Group` in a User
          belongs to the other resource type.
        `attr.sub` sets `sub` to a stand-in too. None for what is not an undeclared attribute:
        `schemas`, `password`, names that are not RFC 7643 attribute names, and unknown
        sub-attributes of declared attributes (`name.nickname`), which stay unknown."""
        found = self._undeclared.get(path, _UNRESOLVED)
        if found is _UNRESOLVED:
            if len(self._undeclared) >= _UNDECLARED_CACHE_SIZE:
                self._undeclared.clear()
            found = self._undeclared[path] = self._find_undeclared(path)
        assert not isinstance(found, _Unresolved)
        return found

    def _find_undeclared(self, path: str) -> Resolved | None:
        schema, local = self.split_urn(path)
        if schema is self.schema or path[:4].lower() != "urn:":
            head = local.partition(".")[0]
            if any(s.attribute(head) is not None for s in self.all_schemas):
                return None  # declared here or in an extension: only its sub is unknown
            return undeclared_in(self.schema, local, is_extension=False)
        if schema is not None:
            if not local or schema.attribute(local.partition(".")[0]) is not None:
                return None
            return undeclared_in(schema, local, is_extension=True)
        urn, _, local = path.rpartition(":")
        if local.lower() == self.name.lower():
            urn, local = path, ""
        segments = urn.split(":")[1:]
        if not segments or segments[-1].lower() != self.name.lower() \
                or not all(URN_SEGMENT.fullmatch(s) for s in segments):
            return None
        extension = Schema(urn, "", "", ())
        if not local:
            return Resolved(extension, None, None, is_extension=True, declared=False)
        return undeclared_in(extension, local, is_extension=True)

    def to_scim(self, base_url: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{self.name}",
            },
        }
        if self.extensions:
            out["schemaExtensions"] = [
                {"schema": s.id, "required": req} for s, req in self.extensions
            ]
        return out


class _Unresolved:
    """Marks a path `ResourceType.resolve_undeclared` has not looked at yet."""


_UNRESOLVED = _Unresolved()


def undeclared_in(schema: Schema, local: str, *, is_extension: bool) -> Resolved | None:
    """`local` (`attr` or `attr.sub`) as an undeclared attribute of `schema`, or None when it
    cannot be one (see `ResourceType.resolve_undeclared`)."""
    head, dot, tail = local.partition(".")
    if head.lower() in _NOT_UNDECLARED or not _undeclared_name(head) or (
        dot and not _undeclared_name(tail)
    ):
        return None
    sub = Attribute(tail, type=ANY) if dot else None
    return Resolved(schema, Attribute(head, type=ANY), sub, is_extension, declared=False)


def _undeclared_name(name: str) -> bool:
    return name[:1] != "$" and ATTR_NAME.fullmatch(name) is not None
