"""RFC 7644 §3.5.2 PATCH, applied structurally to a canonical resource document.

`apply_patch(doc, ops, rtype)` returns the patched document and, for groups, the member changes
(`shared.scim.member_changes`). It never mutates `doc`: the top level is copied once, and
nested containers are copied only along the paths an operation touches (copy-on-write), so the
cost of a PATCH follows what it changes, not the size of the resource.

Operations arrive already normalised from Entra's dialect (`shared.scim.dialect`); this module
is the RFC semantics, schema-driven through `shared.scim.patch_operation.resolve_target`:

- add:     single-valued -> set; multi-valued -> append (elements already present are skipped);
           complex single-valued -> merge sub-attributes; path-less -> each key as its own add.
- replace: like add, except a multi-valued attribute without a filter is replaced as a whole.
           With a value filter, matching elements are updated; if none matches and the filter is
           `sub eq v` (or an `and` of those) a new element is created from the filter, which is
           how Entra sets `emails[type eq "work"].value` on a user that has no work email.
- remove:  deletes the attribute, sub-attribute or matching elements. Removing something that
           is not there is a no-op (idempotent, Entra retries).

Decisions on points RFC 7644 leaves open (documented here because callers rely on them):

- `null` and `""` mean "no value" (Entra's published requests carry explicit nulls; the gallery
  validation's null-update test sends `""`): add/replace with either removes the target;
  inside an object value they remove that sub-attribute.
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
- Path-less values skip readOnly attributes (see `patch_operation.expand_pathless`); an
  explicit path to a readOnly attribute is a 400 `mutability`. `schemas` operations are
  ignored: the resource layer derives `schemas` from the extensions present.
- An attribute no schema declares (captured, see `shared.scim.resource`) is set or removed
  whole, as sent; its stored name and extension URN are matched in any letter case and keep
  their stored spelling.
- Whole-document checks (required attributes, `site` immutability, type coercion of everything
  else, `schemas`) belong to `resource.check_update`, which runs on the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from .entra_values import coerce_boolean, is_absent, single_element, value_object
from .errors import invalid_syntax, invalid_value, kind_of, no_target, show
from .errors import mutability as mutability_error
from .filter import And, Compare, Filter, matches_element
from .member_changes import MemberChanges, MemberFold
from .patch_operation import (
    ADD,
    OPS,
    REMOVE,
    REPLACE,
    PatchOperation,
    Target,
    expand_pathless,
    expand_schema_object,
    is_read_only,
    resolve_target,
)
from .schema import BINARY, BOOLEAN, COMPLEX, REFERENCE, STRING, Attribute, ResourceType

# Sub-attributes that only qualify an element; an element left with just these is dropped.
_QUALIFIERS: Final = frozenset({"type", "primary"})
_TEXT_TYPES: Final = frozenset({STRING, REFERENCE, BINARY})


@dataclass
class PatchResult:
    doc: dict[str, Any]
    members: MemberChanges | None = None


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


class _Patcher:
    def __init__(self, doc: dict[str, Any], rtype: ResourceType) -> None:
        self.rtype = rtype
        self.root: dict[str, Any] = dict(doc)
        self.members: MemberFold | None = None
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
        if not target.declared:
            self._undeclared(op, target)
            return
        if target.is_members:
            if self.members is None:
                self.members = MemberFold()
            self.members.apply(op, target)
            return
        if is_read_only(target):
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
        for sub_op in expand_schema_object(op.op, target.schema, op.value, self.rtype):
            self.apply(sub_op)

    def _undeclared(self, op: PatchOperation, target: Target) -> None:
        if target.attribute is None:  # a whole unknown extension
            if op.op != REMOVE:
                for sub_op in expand_schema_object(op.op, target.schema, op.value, self.rtype):
                    self.apply(sub_op)
                return
            key = _caseless_key(self.root, target.schema.id)
            self.root.pop(key, None)
            self._own_ext.discard(key)
            return
        absent = op.op == REMOVE or is_absent(op.value) or op.value in ({}, [])
        container = self._container(target, create=not absent)
        if container is None:
            return
        name = _caseless_key(container, target.attribute.name)
        if absent:
            container.pop(name, None)
        else:
            container[name] = op.value
        if target.is_extension and not container:
            key = _caseless_key(self.root, target.schema.id)
            self.root.pop(key, None)
            self._own_ext.discard(key)

    # -- containers ---------------------------------------------------------------------

    def _container(self, target: Target, create: bool) -> dict[str, Any] | None:
        if not target.is_extension:
            return self.root
        key = target.schema.id
        if not target.declared:  # stored under the URN as first sent
            key = _caseless_key(self.root, key)
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
        """The values a remove-by-value names (the shape Entra sends to remove group members,
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


def _caseless_key(obj: dict[str, Any], name: str) -> str:
    """The key of `obj` equal to `name` in any letter case, else `name` itself."""
    if name in obj:
        return name
    low = name.lower()
    return next((k for k in obj if k.lower() == low), name)


def _example(attr: Attribute) -> str:
    """One object of `attr` for error details: `{"value": "…"}`."""
    name = "value" if attr.sub("value") is not None else attr.sub_attributes[0].name
    return f'{{"{name}": "…"}}'
