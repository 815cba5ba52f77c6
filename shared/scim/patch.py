"""RFC 7644 §3.5.2 PATCH, applied structurally to a canonical resource document.

`apply_patch(doc, ops, rtype)` returns the patched document and, for groups, the member changes.
It never mutates `doc`: the top level is copied once, and nested containers are copied only
along the paths an operation touches (copy-on-write), so a 3-op PATCH costs microseconds.

Operations arrive already normalised from Entra's dialect (`shared.scim.dialect`); this module
is the RFC semantics, schema-driven through `ResourceType`/`resolve_path`:

- add:     single-valued -> set; multi-valued -> append (elements already present are skipped);
           complex single-valued -> merge sub-attributes; path-less -> each key as its own add.
- replace: like add, except a multi-valued attribute without a filter is replaced as a whole.
           With a value filter, matching elements are updated; if none matches and the filter is
           `sub eq v` (or an `and` of those) a new element is created from the filter, which is
           how Entra sets `emails[type eq "work"].value` on a user that has no work email.
- remove:  deletes the attribute, sub-attribute or matching elements. Removing something that
           is not there is a no-op (idempotent, Entra retries).

Decisions on points RFC 7644 leaves open (documented here because callers rely on them):

- `null` and `""` mean "no value" (Entra item 13, gallery test SCIM_Null_Update): add/replace
  with either removes the target; inside an object value they remove that sub-attribute.
- `add` with a value filter (`emails[type eq "work"].value`) behaves like `replace` — RFC 7644
  does not define it, and the SCIM Validator's "Add Attributes" test sends it.
- Replace through a filter without a sub-attribute (`emails[type eq "work"]` with an object)
  merges the object into each matching element, so `type` survives.
- An element left with nothing but `type`/`primary` is dropped once all operations have run:
  `{"type": "work"}` carries no data and would read back as a phantom email (this is how
  `emails[type eq "work"].value` set to "" or null empties the work email).
- Add skips a new element whose every sub-attribute already appears with the same value in an
  existing element (RFC 7644 §3.5.2.1: no change if the value is already there).
- Setting `primary: true` on an element clears `primary` on the others (RFC 7644 §3.5.2).
- `remove` with a value on a multi-valued attribute removes the elements that match each given
  value; a value naming nothing is rejected rather than widened to "remove all".
- Path-less values follow PUT's rule for readOnly attributes (RFC 7644 §3.5.1): `id`, `meta`,
  `groups` keys are ignored, so a client echoing the resource back does not fail. An explicit
  path to a readOnly attribute is a 400 `mutability`. `schemas` operations are ignored: the
  resource layer derives `schemas` from the extensions present.
- Group `members` are storage rows, not part of the document: every member operation becomes a
  `MemberChanges` entry, applied in order. Only `remove` of `members` with neither a value nor a
  filter removes everyone (RFC 7644 §3.5.2.2); it is represented as `replace=[]`. A remove that
  names members — by value list or by `members[value eq "…"]` — only ever removes those.
- Whole-document checks (required attributes, `site` immutability, type coercion of everything
  else, `schemas`) belong to `resource.check_update`, which runs on the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from .attr_path import AttrPath, resolve_path
from .entra_values import (
    coerce_boolean,
    get_caseless,
    is_absent,
    single_element,
    value_object,
)
from .errors import (
    ScimError,
    invalid_filter,
    invalid_path,
    invalid_syntax,
    invalid_value,
    kind_of,
    no_target,
    show,
)
from .errors import mutability as mutability_error
from .filter import And, Compare, Filter, Or, matches_element, to_text
from .patch_path import PatchPath, parse_patch_path
from .schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    READ_ONLY,
    REFERENCE,
    STRING,
    Attribute,
    ResourceType,
    Schema,
)
from .schemas import GROUP_URN

ADD: Final = "add"
REMOVE: Final = "remove"
REPLACE: Final = "replace"
OPS: Final = frozenset({ADD, REMOVE, REPLACE})

# Sub-attributes that only qualify an element; an element left with just these is dropped.
_QUALIFIERS: Final = frozenset({"type", "primary"})
_TEXT_TYPES: Final = frozenset({STRING, REFERENCE, BINARY})


@dataclass(frozen=True)
class PatchOperation:
    """One RFC 7644 PATCH operation. `op` is lower-case; `path` None targets the resource."""

    op: str
    path: PatchPath | None
    value: Any = None


@dataclass
class MemberChanges:
    """Group membership changes of one PATCH, net of their order.

    The new member set is `(replace if replace is not None else current) - remove | add`.
    `add` and `remove` are disjoint, and both are empty when `replace` is set."""

    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    replace: list[str] | None = None
    # Member type ("User"/"Group") where the client said it, for ids in add/replace: the
    # store keeps it so members can be rendered with the right `$ref`.
    types: dict[str, str] = field(default_factory=dict)

    def apply_to(self, current: set[str]) -> set[str]:
        """The member set after these changes (the reference model for the store's rows)."""
        base = set(self.replace) if self.replace is not None else set(current)
        return (base - set(self.remove)) | set(self.add)


@dataclass
class PatchResult:
    doc: dict[str, Any]
    members: MemberChanges | None = None


@dataclass(frozen=True)
class Target:
    """A PATCH path resolved against a resource type. `attribute` None = a whole extension."""

    schema: Schema
    attribute: Attribute | None
    sub: Attribute | None
    value_filter: Filter | None
    is_extension: bool

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
        raise invalid_path(_unknown_detail(ap, rtype))
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

    Keys may be attribute names, `attr.sub` dotted names or URN-qualified names (Entra's
    `aadOptscim062020` shape, entra-scim.md b.3) or an extension URN whose value is an object
    of that extension's attributes (RFC 7643 layout). readOnly attributes and `schemas` are
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
            out.extend(_expand_schema_object(op, schema, item, rtype))
            continue
        path = parse_patch_path(key)
        target = resolve_target(path, rtype)
        if target is None or _readonly(target):
            continue
        if target.attribute is None:  # `urn:…:User` spelled with odd case or spacing
            out.extend(_expand_schema_object(op, target.schema, item, rtype))
            continue
        out.append(PatchOperation(op, path, item))
    return out


def _expand_schema_object(
    op: str, schema: Schema, item: Any, rtype: ResourceType
) -> list[PatchOperation]:
    if is_absent(item) and schema is not rtype.schema:
        # `"urn:…:enterprise:2.0:User": null` = no value for the whole extension. (The core
        # schema's URN with null falls through to the error below: it would wipe userName.)
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


def _readonly(target: Target) -> bool:
    leaf = target.leaf
    return leaf is not None and (
        leaf.mutability == READ_ONLY
        or (target.attribute is not None and target.attribute.mutability == READ_ONLY)
    )




def apply_patch(
    doc: dict[str, Any], ops: list[PatchOperation], rtype: ResourceType
) -> PatchResult:
    """Apply `ops` in order to a copy of `doc` (RFC 7644 §3.5.2: all or nothing — any error
    raises before the caller sees a partial result)."""
    patcher = _Patcher(doc, rtype)
    for op in ops:
        patcher.apply(op)
    patcher.finish()
    return PatchResult(patcher.root, patcher.members.result() if patcher.members else None)


class _Members:
    """Member operations folded in order into (replace | add/remove) with disjoint sets."""

    def __init__(self) -> None:
        self.add: dict[str, None] = {}
        self.remove: dict[str, None] = {}
        self.replace: dict[str, None] | None = None
        self.types: dict[str, str] = {}

    def add_ids(self, ids: list[str]) -> None:
        for mid in ids:
            if self.replace is not None:
                self.replace[mid] = None
            else:
                self.remove.pop(mid, None)
                self.add[mid] = None

    def remove_ids(self, ids: list[str]) -> None:
        for mid in ids:
            if self.replace is not None:
                self.replace.pop(mid, None)
            else:
                self.add.pop(mid, None)
                self.remove[mid] = None

    def replace_ids(self, ids: list[str]) -> None:
        self.replace = dict.fromkeys(ids)
        self.add.clear()
        self.remove.clear()

    def note_types(self, value: Any) -> None:
        self.types.update(member_types(value))

    def result(self) -> MemberChanges:
        kept = set(self.add) | set(self.replace or ())
        return MemberChanges(
            list(self.add),
            list(self.remove),
            list(self.replace) if self.replace is not None else None,
            {mid: t for mid, t in self.types.items() if mid in kept},
        )


def member_ids(value: Any) -> list[str]:
    """Member ids from any shape Entra and the reference tests send: `[{"value": id, "$ref":
    null}]`, `{"value": id}`, a bare `"id"` (Postman rows 67-68) or a list of those.
    Anything that names no member is a 400: a malformed member remove must neither be
    widened to "remove all" nor silently succeed (peers.md §3.1)."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        mid: Any = item
        if isinstance(item, dict):
            mid = get_caseless(item, "value")
        if not isinstance(mid, str) or not mid.strip():
            raise invalid_value(
                "Each member must be an object with a non-empty string 'value' (the member's "
                f"id), e.g. {{\"value\": \"2819c223\"}}; got {show(item)}"
            )
        out.append(mid)
    return out


_UNTYPED_MEMBER_KEYS = frozenset({"value", "$ref", "display"})


def member_types(value: Any) -> dict[str, str]:
    """{id: "User" | "Group"} for member elements that state a known `type`."""
    out: dict[str, str] = {}
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict) or item.keys() <= _UNTYPED_MEMBER_KEYS:
            continue  # Entra's `{"value": id, "$ref": null}` states no type
        low = {k.lower(): v for k, v in item.items() if isinstance(k, str)}
        mid, kind = low.get("value"), low.get("type")
        if isinstance(mid, str) and isinstance(kind, str) and kind.lower() in ("user", "group"):
            out[mid] = kind.capitalize()
    return out




class _Patcher:
    def __init__(self, doc: dict[str, Any], rtype: ResourceType) -> None:
        self.rtype = rtype
        self.root: dict[str, Any] = dict(doc)
        self.members: _Members | None = None
        # Extension objects already copied in this call (safe to mutate in place).
        self._own_ext: set[str] = set()
        # Multi-valued attributes written or trimmed, as (extension URN or None, name): their
        # elements left with only `type`/`primary` are dropped once all operations have run,
        # not after each one, so `[type eq "work"].primary` then `.value` keeps the primary
        # flag whichever order the client sends them in (and replays stay idempotent).
        self._touched: set[tuple[str | None, str]] = set()

    # -- dispatch -----------------------------------------------------------------------

    def apply(self, op: PatchOperation) -> None:
        if op.op not in OPS:
            raise invalid_syntax(f"Unsupported PATCH op {op.op!r}; expected add, remove or replace")
        if op.path is None:
            if op.op == REMOVE:
                raise no_target("A 'remove' operation needs a 'path' (RFC 7644 §3.5.2.2)")
            for sub_op in expand_pathless(op.op, op.value, self.rtype):
                self.apply(sub_op)
            return
        target = resolve_target(op.path, self.rtype)
        if target is None:
            return  # `schemas`: derived by the resource layer
        if target.is_members:
            self._members_op(op, target)
            return
        if _readonly(target):
            raise mutability_error(
                f"'{target.spell()}' is readOnly and cannot be changed by PATCH"
            )
        if target.attribute is None:
            self._extension_op(op, target)
        elif op.op == REMOVE:
            self._remove(target, target.attribute, op.value)
        elif is_absent(op.value) or (
            op.op == REPLACE and op.value == [] and target.sub is None
            and target.value_filter is None
        ):
            self._remove(target, target.attribute, None)
        elif op.op == ADD and op.value == []:
            return
        else:
            self._write(op.op, target, target.attribute, op.value)

    def _extension_op(self, op: PatchOperation, target: Target) -> None:
        if op.op == REMOVE:
            self.root.pop(target.schema.id, None)
            self._own_ext.discard(target.schema.id)
            return
        for sub_op in _expand_schema_object(op.op, target.schema, op.value, self.rtype):
            self.apply(sub_op)

    # -- containers ---------------------------------------------------------------------

    def _container(self, target: Target, create: bool) -> dict[str, Any] | None:
        if not target.is_extension:
            return self.root
        key = target.schema.id
        if key in self._own_ext:
            ext: dict[str, Any] = self.root[key]
            return ext
        cur = self.root.get(key)
        if isinstance(cur, dict):
            cur = dict(cur)
        elif create:
            cur = {}
        else:
            return None
        self.root[key] = cur
        self._own_ext.add(key)
        return cur

    def finish(self) -> None:
        for urn, name in self._touched:
            if urn is not None and urn not in self._own_ext:
                continue  # the extension was removed after being touched
            container = self.root if urn is None else self.root[urn]
            cur = container.get(name)
            if isinstance(cur, list):
                kept = [e for e in cur if not (isinstance(e, dict) and _empty_element(e))]
                if len(kept) != len(cur):
                    if kept:
                        container[name] = kept
                    else:
                        del container[name]
            if urn is not None and not container:
                del self.root[urn]
                self._own_ext.discard(urn)

    def _touch(self, target: Target, attr: Attribute) -> None:
        self._touched.add((target.schema.id if target.is_extension else None, attr.name))

    def _tidy(self, target: Target, container: dict[str, Any]) -> None:
        """Drop an extension object emptied by a removal (the resource layer fixes schemas)."""
        if target.is_extension and not container:
            self.root.pop(target.schema.id, None)
            self._own_ext.discard(target.schema.id)

    # -- remove -------------------------------------------------------------------------

    def _remove(self, target: Target, attr: Attribute, value: Any) -> None:
        by_value = attr.multi_valued and not is_absent(value) and value != [] \
            and target.value_filter is None and target.sub is None
        # Validated before looking at the document, so a bad request fails the same way
        # whether or not the attribute happens to be present.
        criteria = self._criteria(attr, value) if by_value else []
        container = self._container(target, create=False)
        if container is None or attr.name not in container:
            return
        cur = container[attr.name]
        if target.value_filter is None and target.sub is None:
            if by_value and isinstance(cur, list):
                kept = [e for e in cur if not _named(e, criteria, attr)]
                self._store(container, attr, kept or None)
            else:
                del container[attr.name]
        elif not attr.multi_valued:
            assert target.sub is not None
            if isinstance(cur, dict) and target.sub.name in cur:
                rest = {k: v for k, v in cur.items() if k != target.sub.name}
                self._store(container, attr, rest or None)
        elif isinstance(cur, list):
            kept = []
            for element in cur:
                if not self._selects(target, attr, element):
                    kept.append(element)
                elif target.sub is not None:
                    kept.append({k: v for k, v in element.items() if k != target.sub.name})
            self._store(container, attr, kept or None)
            self._touch(target, attr)
        self._tidy(target, container)

    def _criteria(self, attr: Attribute, value: Any) -> list[Any]:
        """The values a remove-by-value names (Entra's member remove shape, entra-scim.md b.3,
        generalised to every multi-valued attribute): an element is removed when it has every
        sub-attribute of one of them. A value naming nothing is refused, never widened."""
        if attr.type != COMPLEX:
            return [_scalar(v, attr, attr.name) for v in _as_list(value)]
        criteria = [self._element(attr, v, drop_absent=True) for v in _as_list(value)]
        for c in criteria:
            if not c:
                raise invalid_value(
                    f"A 'remove' of '{attr.name}' with a value must name the values to remove; "
                    f"got {show(value)}. Omit 'value' to remove the attribute."
                )
        return criteria

    def _selects(self, target: Target, attr: Attribute, element: Any) -> bool:
        if not isinstance(element, dict):
            return False
        if target.value_filter is None:
            return True
        return matches_element(target.value_filter, element, attr)

    # -- add / replace ------------------------------------------------------------------

    def _write(self, op: str, target: Target, attr: Attribute, value: Any) -> None:
        container = self._container(target, create=True)
        assert container is not None
        if not attr.multi_valued:
            if attr.type != COMPLEX:
                container[attr.name] = _scalar(value, attr, attr.name)
            elif target.sub is not None:
                cur = container.get(attr.name)
                merged = dict(cur) if isinstance(cur, dict) else {}
                sub = target.sub
                merged[sub.name] = _scalar(value, sub, f"{attr.name}.{sub.name}")
                container[attr.name] = merged
            else:
                value = single_element(value, attr.name, _example(attr))
                cur = container.get(attr.name)
                merged = _merge(cur if isinstance(cur, dict) else {},
                                self._element(attr, value, drop_absent=False))
                self._store(container, attr, merged or None)
        elif attr.type != COMPLEX:
            self._write_simple_multi(op, container, attr, value)
        elif target.value_filter is not None or target.sub is not None:
            self._write_selected(target, container, attr, value)
        else:
            new = [self._element(attr, v, drop_absent=True) for v in _as_list(value)]
            self._touch(target, attr)
            cur = container.get(attr.name)
            old = list(cur) if op == ADD and isinstance(cur, list) else []
            written: list[dict[str, Any]] = []
            for element in new:
                if not any(_contains(e, element) for e in old):
                    old.append(element)
                    written.append(element)
            self._store(container, attr, _fix_primary(old, written) or None)
        self._tidy(target, container)

    def _write_simple_multi(
        self, op: str, container: dict[str, Any], attr: Attribute, value: Any
    ) -> None:
        values = [_scalar(v, attr, attr.name) for v in _as_list(value)]
        cur = container.get(attr.name)
        old = list(cur) if op == ADD and isinstance(cur, list) else []
        old.extend(v for v in values if v not in old)
        self._store(container, attr, old or None)

    def _write_selected(
        self, target: Target, container: dict[str, Any], attr: Attribute, value: Any
    ) -> None:
        """`emails[type eq "work"].value`, `emails[type eq "work"]` or `emails.value`."""
        if target.sub is not None:
            sub = target.sub
            patch = {sub.name: _scalar(value, sub, f"{attr.name}.{sub.name}")}
        else:
            patch = self._element(attr, single_element(value, target.spell(), _example(attr)),
                                  drop_absent=False)
        cur = container.get(attr.name)
        elements = list(cur) if isinstance(cur, list) else []
        written: list[dict[str, Any]] = []
        for i, element in enumerate(elements):
            if self._selects(target, attr, element):
                merged = _merge(element, patch)
                elements[i] = merged
                written.append(merged)
        if not written:
            seed = {} if target.value_filter is None \
                else _element_from_filter(target.value_filter, attr)
            if seed is None:
                raise no_target(
                    f"No value of '{attr.name}' matches '{target.spell()}', and the filter is not "
                    "a plain 'eq' to create one from (RFC 7644 §3.5.2.3)"
                )
            created = _merge(seed, patch)
            if target.value_filter is not None \
                    and not matches_element(target.value_filter, created, attr):
                # `emails[value eq "a"].value` = "b" with no "a": the element we would create
                # is not one the path selects, so a retry would add it again. RFC noTarget.
                raise no_target(
                    f"No value of '{attr.name}' matches '{target.spell()}', and the operation "
                    "would change the very sub-attribute the filter selects on"
                )
            elements.append(created)
            written.append(created)
        self._store(container, attr, _fix_primary(elements, written) or None)
        self._touch(target, attr)

    def _element(self, attr: Attribute, value: Any, *, drop_absent: bool) -> dict[str, Any]:
        """An element value with canonical sub-attribute names and coerced booleans. Absent
        sub-values stay as None (meaning "remove") unless `drop_absent`."""
        if attr.sub("value") is not None and not is_absent(value):
            value = value_object(value)  # `"emails": ["a@x"]`: the value, qualified by nothing
        if not isinstance(value, dict):
            raise invalid_value(
                f"'{attr.name}' takes an object of sub-attributes "
                f"({', '.join(a.name for a in attr.sub_attributes)}), got {kind_of(value)}"
            )
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = attr.sub(key) if isinstance(key, str) else None
            if sub is None:
                # Unknown sub-attributes (a member's "$ref": null, a role's "id") are dropped,
                # as resource.check_update would; keeping them would defeat duplicate checks.
                continue
            scalar = _scalar(item, sub, f"{attr.name}.{sub.name}")
            if scalar is None:
                if not drop_absent:
                    out[sub.name] = None
            else:
                out[sub.name] = scalar
        return out

    @staticmethod
    def _store(container: dict[str, Any], attr: Attribute, value: Any) -> None:
        if value is None:
            container.pop(attr.name, None)
        else:
            container[attr.name] = value

    # -- members ------------------------------------------------------------------------

    def _members_op(self, op: PatchOperation, target: Target) -> None:
        if self.members is None:
            self.members = _Members()
        if target.sub is not None:
            raise invalid_path(
                f"'{target.spell()}': members are changed as a whole — add or remove "
                "'members' with values, or remove 'members[value eq \"id\"]'"
            )
        if target.value_filter is not None:
            if op.op != REMOVE:
                raise invalid_path(
                    f"'{op.op}' with a filter on members is not supported; use "
                    "add of 'members' with values"
                )
            self.members.remove_ids(member_filter_ids(target.value_filter))
            return
        if op.op == REPLACE:
            self.members.replace_ids([] if op.value is None else member_ids(op.value))
            self.members.note_types(op.value)
        elif op.op == ADD:
            if op.value is None:
                raise invalid_value("An 'add' of members needs a value: [{\"value\": \"id\"}]")
            self.members.add_ids(member_ids(op.value))
            self.members.note_types(op.value)
        elif op.value is None:
            # RFC 7644 §3.5.2.2: remove of a multi-valued attribute without a filter removes
            # all its values. Only reachable with neither a value nor a filter.
            self.members.replace_ids([])
        else:
            self.members.remove_ids(member_ids(op.value))


def member_filter_ids(f: Filter) -> list[str]:
    """The ids named by `members[value eq "id"]` (or an `or` of such terms). Members are rows
    the engine never sees, so only filters that name ids can be honoured; anything else is a
    400 rather than a guess (a wrong guess here removes people from groups)."""
    ids = _value_eq_terms(f)
    if ids is None:
        raise invalid_filter(
            f"Unsupported member filter '{to_text(f)}': only 'value eq \"<id>\"' terms "
            "(optionally joined by 'or') can select members"
        )
    return ids


# -- filter introspection (the parts of a value filter that name concrete values) ----------


def _value_eq_terms(f: Filter) -> list[str] | None:
    if isinstance(f, Compare):
        p, v = f.path, f.value
        if f.op != "eq" or p.urn is not None or p.sub is not None or p.attr.lower() != "value":
            return None
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)  # `members[value eq 12345]`: the filter parser read an unquoted id
        return [v] if isinstance(v, str) and v else None
    if isinstance(f, Or):
        left, right = _value_eq_terms(f.left), _value_eq_terms(f.right)
        return None if left is None or right is None else left + right
    return None


def _element_from_filter(f: Filter, attr: Attribute) -> dict[str, Any] | None:
    """`type eq "work"` -> {"type": "work"}; `primary eq "True"` -> {"primary": True}; an `and`
    of such terms -> their union. None for anything else (nothing to create from)."""
    if isinstance(f, Compare):
        if f.op != "eq" or f.path.urn is not None or f.path.sub is not None:
            return None
        sub = attr.sub(f.path.attr)
        if sub is None or is_absent(f.value):
            return None
        return {sub.name: _scalar(f.value, sub, f"{attr.name}.{sub.name}")}
    if isinstance(f, And):
        left = _element_from_filter(f.left, attr)
        right = _element_from_filter(f.right, attr)
        if left is None or right is None:
            return None
        if any(k in left and left[k] != v for k, v in right.items()):
            return None  # `type eq "a" and type eq "b"` selects nothing creatable
        return {**left, **right}
    return None


# -- values ------------------------------------------------------------------------------


def _scalar(value: Any, attr: Attribute, where: str) -> Any:
    """A simple value for `attr`: booleans coerced, None for Entra's null/""; objects and
    arrays rejected (the rest of the type checking is resource.check_update's)."""
    if is_absent(value):
        return None
    if isinstance(value, dict | list):
        raise invalid_value(f"'{where}' takes a single {attr.type} value, got {kind_of(value)}")
    if attr.type == BOOLEAN:
        return coerce_boolean(value)
    if attr.type in _TEXT_TYPES and isinstance(value, bool | int | float):
        # As resource.check_update stores it (5 -> "5"), so duplicate checks compare alike.
        return json.dumps(value)
    return value


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _contains(element: Any, probe: dict[str, Any]) -> bool:
    """Every sub-attribute of `probe` appears in `element` with the same value."""
    if not isinstance(element, dict) or not probe:
        return False
    for key, value in probe.items():
        if key not in element or element[key] != value \
                or isinstance(element[key], bool) != isinstance(value, bool):
            return False
    return True


def _named(element: Any, criteria: list[Any], attr: Attribute) -> bool:
    if attr.type != COMPLEX:
        return element in criteria
    return any(_contains(element, c) for c in criteria)


def _empty_element(element: dict[str, Any]) -> bool:
    return all(k in _QUALIFIERS for k in element)


def _fix_primary(elements: list[Any], written: list[dict[str, Any]]) -> list[Any]:
    """RFC 7644 §3.5.2: setting `primary` true on a value makes every other value non-primary."""
    if not any(e.get("primary") is True for e in written):
        return elements
    keep = {id(e) for e in written}
    return [
        {**e, "primary": False}
        if isinstance(e, dict) and id(e) not in keep and e.get("primary") is True else e
        for e in elements
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _example(attr: Attribute) -> str:
    """One object of `attr` for error details: `{"value": "…"}`."""
    name = "value" if attr.sub("value") is not None else attr.sub_attributes[0].name
    return f'{{"{name}": "…"}}'


__all__ = [
    "ADD",
    "OPS",
    "REMOVE",
    "REPLACE",
    "MemberChanges",
    "PatchOperation",
    "PatchResult",
    "ScimError",
    "Target",
    "apply_patch",
    "expand_pathless",
    "member_filter_ids",
    "member_ids",
    "member_types",
    "resolve_target",
]
