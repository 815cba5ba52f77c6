"""One RFC 7644 §3.5.2 PATCH operation, and what its path targets in a resource type.

`PatchOperation` is what `shared.scim.dialect` produces from a request body and
`shared.scim.patch.apply_patch` applies. `resolve_target` maps an operation's path onto the
schemas (refusing unknown attributes with invalidPath); `expand_pathless` turns a path-less
add/replace into one operation per attribute.

Path-less values follow PUT's rule for readOnly attributes (RFC 7644 §3.5.1): `id`, `meta` and
`groups` keys are ignored, so a client echoing the resource back does not fail. `schemas` is
never an operation's target: the resource layer derives it from the extensions present.

A path naming an attribute no schema declares (`urn:…:CustomExtensionName:2.0:User:
CustomAttribute`, see `ResourceType.resolve_undeclared`) targets it whole under the `capture`
policy (a sub-attribute or value filter of one is invalidPath: nothing says what it holds) and
is refused under `reject`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .attr_path import AttrPath, resolve_path
from .entra_values import is_absent
from .errors import DECLARE_HINT, invalid_path, invalid_value, kind_of, undeclared_detail
from .filter import Filter, to_text
from .patch_path import PatchPath, parse_patch_path
from .schema import COMPLEX, READ_ONLY, REJECT, Attribute, Resolved, ResourceType, Schema
from .schemas import GROUP_URN

ADD: Final = "add"
REMOVE: Final = "remove"
REPLACE: Final = "replace"
OPS: Final = frozenset({ADD, REMOVE, REPLACE})


@dataclass(frozen=True)
class PatchOperation:
    """One RFC 7644 PATCH operation. `op` is lower-case; `path` None targets the resource."""

    op: str
    path: PatchPath | None
    value: Any = None


@dataclass(frozen=True)
class Target:
    """A PATCH path resolved against a resource type. `attribute` None = a whole extension.
    `declared` False: an undeclared attribute or unknown extension, taken whole."""

    schema: Schema
    attribute: Attribute | None
    sub: Attribute | None
    value_filter: Filter | None
    is_extension: bool
    declared: bool = True

    @property
    def leaf(self) -> Attribute | None:
        return self.sub or self.attribute

    @property
    def is_members(self) -> bool:
        return (
            self.schema.id == GROUP_URN
            and self.attribute is not None
            and self.attribute.name == "members"
        )

    def spell(self) -> str:
        """The canonical spelling, for error details."""
        if self.attribute is None:
            return self.schema.id
        text = f"{self.schema.id}:{self.attribute.name}" if self.is_extension \
            else self.attribute.name
        if self.value_filter is not None:
            text += f"[{to_text(self.value_filter)}]"
        return f"{text}.{self.sub.name}" if self.sub is not None else text


def resolve_target(path: PatchPath, rtype: ResourceType) -> Target | None:
    """Resolve `path` against `rtype`; None for `schemas` (ignored). Raises invalidPath."""
    ap = path.attr
    if ap.urn is None and ap.sub is None and ap.attr.lower() == "schemas":
        if path.value_filter is not None or path.sub is not None:
            raise invalid_path(f"'schemas' has no sub-attributes or values to filter: {path}")
        return None
    resolved = resolve_path(ap, rtype)
    if resolved is None:
        found = rtype.resolve_undeclared(str(ap))
        if found is None:
            raise invalid_path(_unknown_detail(ap, rtype))
        return _undeclared_target(path, found, rtype)
    attr = resolved.attribute
    if attr is None:
        if path.value_filter is not None or path.sub is not None:
            raise invalid_path(f"A value filter needs an attribute, not the extension {ap}")
        return Target(resolved.schema, None, None, None, True)
    sub = resolved.sub
    if path.value_filter is not None and not (attr.multi_valued and attr.type == COMPLEX):
        raise invalid_path(
            f"'{attr.name}' is not a multi-valued complex attribute, so it cannot take a value "
            f"filter ({path})"
        )
    if path.sub is not None:
        if sub is not None:
            raise invalid_path(f"Path {path} names two sub-attributes")
        sub = attr.sub(path.sub)
        if sub is None:
            raise invalid_path(
                f"'{attr.name}' has no sub-attribute '{path.sub}' ({path}); known: "
                + ", ".join(a.name for a in attr.sub_attributes)
            )
    return Target(resolved.schema, attr, sub, path.value_filter, resolved.is_extension)


def _undeclared_target(path: PatchPath, found: Resolved, rtype: ResourceType) -> Target:
    if rtype.undeclared == REJECT:
        raise invalid_value(undeclared_detail(str(path)))
    if path.value_filter is not None or path.sub is not None or found.sub is not None:
        raise invalid_path(
            f"'{path}' goes inside {found.canonical.partition('.')[0]}, which no schema declares, "
            f"so nothing says what it holds: a PATCH can only set or remove it whole. To change "
            f"parts of it, {DECLARE_HINT} (with its sub-attributes) first"
        )
    return Target(found.schema, found.attribute, None, None, found.is_extension, declared=False)


def _unknown_detail(ap: AttrPath, rtype: ResourceType) -> str:
    schema, _ = rtype.split_urn(str(ap))
    if ap.urn is not None and schema is None:
        known = ", ".join(s.id for s in rtype.all_schemas)
        return f"Unknown schema URN '{ap.urn}' in path '{ap}' for {rtype.name}; known: {known}"
    owner = schema or rtype.schema
    base = owner.attribute(ap.attr)
    if base is not None and ap.sub is not None:
        return (
            f"'{base.name}' has no sub-attribute '{ap.sub}' (path '{ap}'); known: "
            + (", ".join(a.name for a in base.sub_attributes) or "none, it is not complex")
        )
    return f"Unknown attribute '{ap}' for {rtype.name} (schema {owner.id})"


def expand_pathless(op: str, value: Any, rtype: ResourceType) -> list[PatchOperation]:
    """A path-less add/replace: one operation per key of `value` (RFC 7644 §3.5.2.1/.3).

    Keys may be attribute names, `attr.sub` dotted names or URN-qualified names (the shape
    Entra sends with its `aadOptscim062020` feature flag) or an extension URN whose value is an
    object of that extension's attributes (RFC 7643 layout). readOnly attributes and `schemas` are
    skipped (PUT rule, RFC 7644 §3.5.1)."""
    if not isinstance(value, dict):
        raise invalid_value(
            f"A PATCH '{op}' without a path needs an object of attributes as its value, "
            f"got {kind_of(value)}"
        )
    out: list[PatchOperation] = []
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise invalid_value(f"Invalid attribute name {key!r} in a path-less '{op}' value")
        if key.lower() == "schemas":
            continue
        schema = rtype.schema_by_urn(key)
        if schema is not None:
            out.extend(expand_schema_object(op, schema, item, rtype))
            continue
        path = parse_patch_path(key)
        target = resolve_target(path, rtype)
        if target is None or is_read_only(target):
            continue
        if target.attribute is None:  # `urn:…:User` spelled with odd case or spacing
            out.extend(expand_schema_object(op, target.schema, item, rtype))
            continue
        out.append(PatchOperation(op, path, item))
    return out


def expand_schema_object(
    op: str, schema: Schema, item: Any, rtype: ResourceType
) -> list[PatchOperation]:
    """An add/replace of a whole schema (`urn:…:enterprise:2.0:User` with an object of its
    attributes): one operation per attribute, as `expand_pathless` makes them."""
    if is_absent(item) and schema is not rtype.schema:
        # `"urn:…:enterprise:2.0:User": null` = no value for the whole extension. (The core
        # schema's URN with null falls through to the error below: it would wipe userName.)
        if not rtype.declares(schema):  # an unknown extension: removed whole
            return [PatchOperation(REMOVE, parse_patch_path(schema.id))]
        return [
            PatchOperation(REMOVE, PatchPath(AttrPath(schema.id, a.name)))
            for a in schema.attributes
            if a.mutability != READ_ONLY
        ]
    if not isinstance(item, dict):
        raise invalid_value(
            f"The value of '{schema.id}' must be an object of its attributes, got {kind_of(item)}"
        )
    if schema is rtype.schema:
        return expand_pathless(op, item, rtype)
    # An extension object may carry its own `schemas` (clients serialise the extension as a
    # sub-resource); like `schemas` at the top level, it is not an attribute to set.
    return expand_pathless(
        op,
        {f"{schema.id}:{k}" if isinstance(k, str) else k: v for k, v in item.items()
         if not (isinstance(k, str) and k.lower() == "schemas")},
        rtype,
    )


def is_read_only(target: Target) -> bool:
    """Whether `target` is, or lies inside, a readOnly attribute."""
    leaf = target.leaf
    return leaf is not None and (
        leaf.mutability == READ_ONLY
        or (target.attribute is not None and target.attribute.mutability == READ_ONLY)
    )
