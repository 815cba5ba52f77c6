"""Client JSON bodies -> the canonical stored resource document (RFC 7643 layout).

`normalize` is the single gate every POST/PUT body and every PATCH result passes through:

- attribute names are matched case-insensitively and written canonically (`UserName` ->
  `userName`), extension attributes live in an object under the extension's URN;
- values are coerced per the schema (`"True"` -> true, numbers -> their JSON text for string
  attributes) and otherwise stored exactly as sent (phone numbers, whitespace, case untouched);
- what the client may not or need not send is dropped silently: `null`s, empty objects and
  lists, readOnly attributes (`id`, `meta`, `groups`, `manager.displayName`,
  `members.display`), unknown sub-attributes of declared attributes, `password`, unknown URIs
  in `schemas`;
- attributes no schema declares (Entra's custom extension attributes,
  `urn:…:CustomExtensionName:2.0:User:CustomAttribute`) follow the resource type's
  `undeclared` policy: `capture` keeps them as sent (any JSON value, under the name as first
  sent; extension ones in an object under their URN, where a later declaration reads them),
  within the limits of `shared.scim.undeclared`; `reject` refuses the request. Stored
  undeclared values a PATCH leaves alone are kept under both policies;
- Entra's quirks are turned into RFC shapes: URN-qualified top-level keys here, and the value
  shapes (string booleans, bare-string / list / empty `manager`, JSON-encoded `roles`) through
  `shared.scim.entra_values`, which the PATCH path shares.

`prepare_create`, `prepare_replace` and `check_update` add the required-attribute and
mutability rules for POST, PUT and PATCH. `diff_attributes` names what changed, for change
events; `undeclared_names` lists the undeclared attributes a document holds. Nothing here does
I/O; every client error is a `ScimError` with an actionable detail.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ..caseless import fold
from .entra_values import decode_role, is_absent, single_element, value_object
from .errors import (
    invalid_syntax,
    invalid_value,
    kind_of,
    mutability,
    show,
    undeclared_detail,
)
from .scalar_values import coerce_scalar
from .schema import (
    COMPLEX,
    READ_ONLY,
    REJECT,
    Attribute,
    Resolved,
    ResourceType,
    Schema,
    caseless_key,
    undeclared_in,
)
from .undeclared import check_limits, kept_value
from .undeclared import undeclared_names as undeclared_names  # part of this module's API

# An entity is at most 1 MiB; the document must leave room for index columns and metadata.
MAX_DOCUMENT_BYTES: Final = 900_000
# Built once: json.dumps with options builds a new encoder per call.
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Multi-valued attributes whose elements Entra may send as JSON-encoded role objects (see
# `entra_values.decode_role`). Limited to `roles` so that no other value that merely looks like
# JSON is ever rewritten.
_ROLE_ATTRIBUTES: Final = frozenset({"roles"})

# Top-level keys that are not attributes a client changes: skipped by `diff_attributes`.
_STRUCTURAL_KEYS: Final = frozenset({"schemas", "id", "meta"})



class _Absent:
    """Marks a value that normalizes to "not present" (null, {}, [], a readOnly attribute)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent()

# Working form while normalizing: schema id -> {canonical attribute name: coerced value}. An
# undeclared attribute is kept in the part of the schema it was named in (the core schema's for
# `fooBar`), an unknown extension's in a part under the URN as first sent.
_Parts = dict[str, dict[str, Any]]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def normalize(body: dict[str, Any], rtype: ResourceType) -> dict[str, Any]:
    """The canonical document for `body`: canonical names, coerced values, Entra quirks
    resolved, readOnly/unknown/empty values dropped, `schemas` = core URN + extensions with
    data. Raises ScimError (400) for values that cannot be stored."""
    doc = _assemble(_parse(body, rtype), rtype)
    _check_size(doc)
    return doc


def prepare_create(body: dict[str, Any], rtype: ResourceType) -> dict[str, Any]:
    """POST: `normalize` + required attributes present and non-blank. The result has no
    `id`/`meta` (the service assigns them); Group `members` stay as [{"value": id, …}]."""
    doc = normalize(body, rtype)
    _check_required(doc, rtype, removed_is_mutability=False)
    return doc


def prepare_replace(
    current: dict[str, Any], body: dict[str, Any], rtype: ResourceType
) -> dict[str, Any]:
    """PUT: like `prepare_create`, and an immutable attribute that has a value in `current`
    keeps it: sending the same value (or omitting it) is fine, a different value is 400
    `mutability`."""
    parts = _parse(body, rtype)
    _enforce_immutable(_split(current, rtype), parts, rtype, omitted_keeps_current=True)
    doc = _assemble(parts, rtype)
    _check_size(doc)
    _check_required(doc, rtype, removed_is_mutability=False)
    return doc


def check_update(
    current: dict[str, Any], updated: dict[str, Any], rtype: ResourceType
) -> dict[str, Any]:
    """After PATCH produced `updated` from `current`: normalize it and apply the mutability
    and required rules. Unlike PUT (where omission keeps the value), a PATCH may remove an
    immutable value, but never change it; removing a required attribute is refused
    (RFC 7644 §3.5.2.2). `current` is canonical (as stored); values PATCH left alone are
    the same objects in `updated` and are taken as they are (see `_parse_changes`)."""
    parts = _parse_changes(current, updated, rtype)
    _enforce_immutable(_split(current, rtype), parts, rtype, omitted_keeps_current=False)
    doc = _assemble(parts, rtype)
    _check_size(doc)
    _check_required(doc, rtype, removed_is_mutability=True)
    return doc


def diff_attributes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Canonical names of the top-level attributes whose values differ between two canonical
    documents; extension attributes as `urn:…:attr`. `schemas`, `id` and `meta` are ignored."""
    changed: list[str] = []
    for key in _union_keys(old, new):
        if key in _STRUCTURAL_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if a is b:  # untouched by a PATCH: the stored object itself
            continue
        if key.lower().startswith("urn:") and (isinstance(a, dict) or isinstance(b, dict)):
            ext_a = a if isinstance(a, dict) else {}
            ext_b = b if isinstance(b, dict) else {}
            changed.extend(
                f"{key}:{name}"
                for name in _union_keys(ext_a, ext_b)
                if not _same(ext_a.get(name), ext_b.get(name))
            )
        elif not _same(a, b):
            changed.append(key)
    return changed


# --------------------------------------------------------------------------------------------
# Parsing a body into parts
# --------------------------------------------------------------------------------------------


def _parse(body: Any, rtype: ResourceType) -> _Parts:
    if not isinstance(body, dict):
        raise invalid_syntax(
            f"The request body must be a JSON object (a {rtype.name} resource), "
            f"not a JSON {kind_of(body, article=False)}."
        )
    parts: _Parts = {s.id: {} for s in rtype.all_schemas}
    for key, value in body.items():
        if isinstance(key, str):
            _absorb(parts, rtype, key, value)
    return parts


def _parse_changes(current: dict[str, Any], updated: dict[str, Any], rtype: ResourceType
                   ) -> _Parts:
    """`_parse(updated)` for a PATCH result. apply_patch copies only what it writes, so an
    attribute it did not touch is the very object `current` holds, and `current` is canonical:
    coercing it again would only reproduce it. Only the touched attributes are parsed, which
    keeps a PATCH's cost to what it changes rather than to the size of the resource."""
    if not isinstance(updated, dict):
        return _parse(updated, rtype)
    parts: _Parts = {s.id: {} for s in rtype.all_schemas}
    for key, value in updated.items():
        if not isinstance(key, str):
            continue
        old = current.get(key)
        if old is value and _as_stored(rtype.schema, key, value):
            parts[rtype.schema.id][key] = value
            continue
        extension = rtype.extension_by_urn(key)
        if extension is not None:
            if extension.id == key and isinstance(old, dict) and isinstance(value, dict):
                part = parts[key]
                for sub_key, sub_value in value.items():
                    if old.get(sub_key) is sub_value and (
                        _as_stored(extension, sub_key, sub_value)
                        or _undeclared_as_stored(extension, sub_key, sub_value)
                    ):
                        part[sub_key] = sub_value
                    elif isinstance(sub_key, str) and not _absorb_local(
                            part, extension, sub_key, sub_value, f"{key}:"):
                        _capture_local(parts, rtype, extension, sub_key, sub_value, f"{key}:")
                continue
        elif old is value and key != "schemas":
            if _undeclared_as_stored(rtype.schema, key, value):
                parts[rtype.schema.id][key] = value
                continue
            if isinstance(value, dict) and _undeclared_extension(key, rtype):
                parts[key] = value  # an unknown extension PATCH left alone
                continue
        elif isinstance(old, dict) and isinstance(value, dict) and key[:1] in ("u", "U") \
                and _undeclared_extension(key, rtype):
            _parse_undeclared_changes(parts, rtype, key, old, value)
            continue
        _absorb(parts, rtype, key, value)
    return parts


def _parse_undeclared_changes(
    parts: _Parts, rtype: ResourceType, key: str, old: dict[str, Any], value: dict[str, Any]
) -> None:
    """An unknown extension's object a PATCH changed: what it left alone is carried."""
    part = parts.setdefault(key, {})
    schema = Schema(key, "", "", ())
    for sub_key, sub_value in value.items():
        if old.get(sub_key) is sub_value and sub_value is not None:
            part[sub_key] = sub_value
        elif isinstance(sub_key, str):
            _capture_local(parts, rtype, schema, sub_key, sub_value, f"{key}:")


def _as_stored(schema: Schema, key: str, value: Any) -> bool:
    """Whether coercing a canonical `value` of `key` would return it unchanged: a schema
    attribute spelled canonically, with a value, and not readOnly (which coercion drops)."""
    attr = schema.attribute(key)
    return (attr is not None and attr.name == key and value is not None
            and attr.mutability != READ_ONLY)


def _undeclared_as_stored(schema: Schema, key: str, value: Any) -> bool:
    """Whether `key` of a stored part is an undeclared attribute, kept as stored whatever the
    policy: refusing it would fail every PATCH of a resource captured before the tenant chose
    `reject`. (URN keys, with a ':', hold extensions: handled as such.)"""
    return (value is not None and key != "schemas" and ":" not in key
            and schema.attribute(key) is None)


def _undeclared_extension(key: str, rtype: ResourceType) -> bool:
    """Whether the top-level `key` of a stored document is an unknown extension's URN."""
    return key[:4].lower() == "urn:" and rtype.split_urn(key)[0] is None


def _absorb(parts: _Parts, rtype: ResourceType, key: str, value: Any) -> None:
    """Route one top-level member of the body to the schema part it belongs to."""
    if key.lower() == "schemas":
        _check_schemas(value, rtype)
        return
    extension = rtype.extension_by_urn(key)
    if extension is not None:
        _absorb_extension_object(parts, rtype, extension, value)
        return
    # Entra sends extension attributes as top-level URN-qualified keys too
    # ("urn:…:enterprise:2.0:User:department": "x"); a fully qualified core name works alike.
    schema, local = rtype.split_urn(key)
    if key[:4].lower() == "urn:":
        if schema is None:  # an unknown URN: a whole extension or one of its attributes
            found = rtype.resolve_undeclared(key)
            if found is not None and found.attribute is None:
                _absorb_extension_object(parts, rtype, found.schema, value)
            elif found is not None:
                _capture(parts, rtype, found, value, key)
            return  # e.g. the "…enterprise:2.0User" typo: no attribute name, dropped
        if not local:
            return
    schema = schema or rtype.schema
    prefix = _label(schema, rtype, "")
    if not _absorb_local(parts[schema.id], schema, local, value, prefix):
        _capture_local(parts, rtype, schema, local, value, prefix)


def _absorb_extension_object(
    parts: _Parts, rtype: ResourceType, extension: Schema, value: Any
) -> None:
    """An extension's object of attributes; `extension` is a stand-in without attributes for
    an unknown URN (see `ResourceType.resolve_undeclared`)."""
    if not extension.attributes and rtype.undeclared == REJECT:
        # Name an attribute the object holds: the operator declares attributes, not URNs.
        named = [str(k) for k in value] if isinstance(value, dict) else []
        raise invalid_value(undeclared_detail(
            f"{extension.id}:{named[0]}" if named else extension.id))
    if value is None or value == []:
        return  # "no value", like null and {} (which the loop below handles)
    if not isinstance(value, dict):
        example = extension.attributes[0].name if extension.attributes else "attribute"
        raise invalid_value(
            f"{extension.id} must be a JSON object of {extension.name or 'its'} attributes, "
            f'e.g. {{"{example}": "…"}}; got a JSON {kind_of(value, article=False)}.'
        )
    part, prefix = _part(parts, extension.id), f"{extension.id}:"
    for key, sub_value in value.items():
        # (A `schemas` key in it is no attribute: dropped.)
        if isinstance(key, str) and not _absorb_local(part, extension, key, sub_value, prefix):
            _capture_local(parts, rtype, extension, key, sub_value, prefix)


def _capture_local(
    parts: _Parts, rtype: ResourceType, schema: Schema, local: str, value: Any, prefix: str
) -> None:
    """`local` names nothing `schema` declares: an undeclared attribute for `_capture`, unless
    it cannot be one. A core name some extension declares (`department`) is misplaced, not
    undeclared (resolve_undeclared leaves it out), and is dropped."""
    found = rtype.resolve_undeclared(local) if schema is rtype.schema \
        else undeclared_in(schema, local, is_extension=True)
    if found is not None:  # e.g. Postman's misspelled "adreses"
        _capture(parts, rtype, found, value, prefix + local)


def _absorb_local(
    part: dict[str, Any], schema: Schema, local: str, value: Any, prefix: str
) -> bool:
    """Set `attr` or `attr.sub` (a dotted key, as in Entra's path-less PATCH values); False,
    setting nothing, when `schema` declares no `attr`. `prefix` is "" for core attributes and
    "urn:…:" for extension ones (error details)."""
    head, _, tail = local.partition(".")
    attr = schema.attribute(head)
    if attr is None:
        return False
    label = prefix + attr.name
    if not tail:
        coerced = _coerce_attribute(attr, value, label)
        if coerced is _ABSENT:
            part.pop(attr.name, None)
        else:
            part[attr.name] = coerced
        return True
    sub = attr.sub(tail)
    if sub is None:
        return True  # an unknown sub-attribute of a declared attribute: dropped
    if attr.multi_valued:
        raise invalid_value(
            f"{label} names a sub-attribute of the multi-valued attribute {attr.name} without "
            f"saying which element: send {attr.name} as a list of objects, e.g. "
            f'"{attr.name}": [{{"{sub.name}": "…"}}].'
        )
    current = part.get(attr.name)
    merged = dict(current) if isinstance(current, dict) else {}
    coerced = _coerce_attribute(sub, value, f"{label}.{sub.name}")
    if coerced is _ABSENT:
        merged.pop(sub.name, None)
    else:
        merged[sub.name] = coerced
    if merged:
        part[attr.name] = _in_schema_order(attr, merged)
    else:
        part.pop(attr.name, None)
    return True


def _capture(
    parts: _Parts, rtype: ResourceType, found: Resolved, value: Any, label: str
) -> None:
    """An undeclared attribute (`found`, from `resolve_undeclared`) under the resource type's
    policy: refused, or kept as sent, matched case-insensitively to one already taken (whose
    spelling stays). Sub-attributes of undeclared attributes are not kept: nothing says what
    the attribute is, so `fooBar.baz` is dropped as unknown sub-attributes are."""
    if rtype.undeclared == REJECT:
        raise invalid_value(undeclared_detail(label))
    assert found.attribute is not None
    if found.sub is not None:
        return
    part = _part(parts, found.schema.id)
    name = caseless_key(part, found.attribute.name)
    kept = kept_value(value, label)
    if kept is None:
        part.pop(name, None)  # "no value", as for declared attributes
    else:
        part[name] = kept


def _part(parts: _Parts, urn: str) -> dict[str, Any]:
    """The part for schema `urn`, matched case-insensitively (a declared schema's part always
    exists under its canonical URN; an unknown one is created under `urn` as first sent)."""
    part = parts.get(urn)
    if part is None:
        part = parts.setdefault(caseless_key(parts, urn), {})
    return part


def _check_schemas(value: Any, rtype: ResourceType) -> None:
    # The URIs themselves are not trusted: the output lists the schemas that have data.
    # Unknown URIs (Entra's ADSCIM Group URI, typos) are therefore harmless and ignored.
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_syntax(
            f'schemas must be a JSON array of schema URI strings, e.g. ["{rtype.schema.id}"]; '
            f"got {show(value)}."
        )


# --------------------------------------------------------------------------------------------
# Coercing values per attribute definition
# --------------------------------------------------------------------------------------------


def _coerce_attribute(attr: Attribute, value: Any, label: str) -> Any:
    if value is None or value == {} or value == [] or attr.mutability == READ_ONLY:
        # null, {} and [] mean "no value" (Entra sends "roles": [], "addresses": null).
        # readOnly values belong to the service (id, meta, groups, manager.displayName, …);
        # clients echo them back, so they are ignored rather than refused.
        return _ABSENT
    if attr.multi_valued:
        return _coerce_multi(attr, value, label)
    if attr.type == COMPLEX:
        return _coerce_complex(attr, value, label)
    return coerce_scalar(attr, value, label)


def _coerce_multi(attr: Attribute, value: Any, label: str) -> Any:
    # A single value for a multi-valued attribute is read as a one-element list.
    items = value if isinstance(value, list) else [value]
    out = []
    for index, item in enumerate(items):
        coerced = _coerce_element(attr, item, f"{label}[{index}]")
        if coerced is not _ABSENT:
            out.append(coerced)
    return out or _ABSENT


def _coerce_element(attr: Attribute, item: Any, label: str) -> Any:
    if item is None:
        return _ABSENT
    if attr.type != COMPLEX:
        return coerce_scalar(attr, item, label)
    if attr.sub("value") is not None:
        item = value_object(item)  # "emails": ["a@b"], "members": ["<id>"]
    if not isinstance(item, dict):
        raise invalid_value(
            f"{label} must be a JSON object such as {_example_object(attr)}; "
            f"got a JSON {kind_of(item, article=False)}."
        )
    if attr.name in _ROLE_ATTRIBUTES:
        item = decode_role(item)
    return _coerce_sub_object(attr, item, label)


def _coerce_complex(attr: Attribute, value: Any, label: str) -> Any:
    # Entra's manager shapes: [{"$ref": …, "value": "<id>"}] and the bare "<id>".
    value = single_element(value, label, f'"{attr.name}": {_example_object(attr)}')
    if value is None:
        return _ABSENT
    if attr.sub("value") is not None:
        value = value_object(value)
    if not isinstance(value, dict):
        raise invalid_value(
            f"{label} must be a JSON object, e.g. \"{attr.name}\": {_example_object(attr)}; "
            f"got a JSON {kind_of(value, article=False)}."
        )
    return _coerce_sub_object(attr, value, label)


def _coerce_sub_object(attr: Attribute, obj: dict[str, Any], label: str) -> Any:
    collected: dict[str, Any] = {}
    for key, value in obj.items():
        sub = attr.sub(key) if isinstance(key, str) else None
        if sub is None:
            continue  # unknown sub-attribute (e.g. a role's `id`): dropped silently
        coerced = _coerce_attribute(sub, value, f"{label}.{sub.name}")
        if coerced is _ABSENT:
            collected.pop(sub.name, None)
        else:
            collected[sub.name] = coerced
    return _in_schema_order(attr, collected) if collected else _ABSENT


# --------------------------------------------------------------------------------------------
# Assembling, required attributes, mutability, size
# --------------------------------------------------------------------------------------------


def _assemble(parts: _Parts, rtype: ResourceType) -> dict[str, Any]:
    """Parts -> document: `schemas` first, then attributes in schema order (undeclared ones
    after them), then extensions, then unknown extensions (which `schemas` does not list: no
    /Schemas document describes them). Refuses more undeclared data than a resource may hold."""
    doc: dict[str, Any] = {"schemas": [rtype.schema.id]}
    undeclared_seen = False
    for schema in rtype.all_schemas:
        part = parts.get(schema.id, _NO_PART)
        finished = _finish_part(schema, part)
        if len(finished) != len(part):  # undeclared attributes, or an empty manager skipped
            undeclared_seen = _add_undeclared(schema, part, finished) or undeclared_seen
        if schema is rtype.schema:
            doc.update(finished)
        elif finished:
            doc["schemas"].append(schema.id)
            doc[schema.id] = finished
    if len(parts) > len(rtype.all_schemas):
        for urn, part in parts.items():
            if part and urn not in doc and rtype.schema_by_urn(urn) is None:
                doc[urn] = part
                undeclared_seen = True
    if undeclared_seen:
        check_limits(doc, rtype)
    return doc


_NO_PART: Final[dict[str, Any]] = {}


def _finish_part(schema: Schema, part: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in schema.attributes:
        if attr.name not in part:
            continue
        value = part[attr.name]
        if _is_empty_reference(attr, value):
            # manager {"value": ""} / "" is how Entra and the SCIM Validator remove a manager.
            continue
        out[attr.name] = value
    return out


def _add_undeclared(schema: Schema, part: dict[str, Any], out: dict[str, Any]) -> bool:
    """Appends the part's undeclared attributes to `out`; whether there were any."""
    extra = {k: v for k, v in part.items() if schema.attribute(k) is None}
    out.update(extra)
    return bool(extra)


def _is_empty_reference(attr: Attribute, value: Any) -> bool:
    """A single-valued complex with a `value` sub-attribute (a reference such as manager)
    means nothing without its value."""
    return (
        attr.type == COMPLEX
        and not attr.multi_valued
        and attr.sub("value") is not None
        and isinstance(value, dict)
        and is_absent(value.get("value"))
    )


def _split(doc: dict[str, Any], rtype: ResourceType) -> _Parts:
    """A stored canonical document -> parts, without coercion (it is ours already)."""
    parts: _Parts = {s.id: {} for s in rtype.all_schemas}
    for key, value in doc.items():
        if key in parts and key != rtype.schema.id:  # an extension's URN, spelled as stored
            if isinstance(value, dict):
                parts[key] = dict(value)
        elif key != "schemas":
            parts[rtype.schema.id][key] = value
    return parts


def _enforce_immutable(
    current: _Parts, new: _Parts, rtype: ResourceType, *, omitted_keeps_current: bool
) -> None:
    """An immutable attribute may be set once (RFC 7644 §3.5.2: "a client MAY 'add' a value
    to an 'immutable' attribute if the attribute had no previous value"), never changed.
    Equal values keep the stored spelling, so immutability holds byte for byte."""
    for schema in rtype.all_schemas:
        old_part, new_part = current[schema.id], new[schema.id]
        for attr in schema.immutable:
            # Immutable sub-attributes of multi-valued attributes (members.value) identify
            # elements that are added and removed whole; they are not checked here.
            if old_part.get(attr.name) is None:
                continue
            old = old_part[attr.name]
            label = _label(schema, rtype, attr.name)
            if attr.name not in new_part:
                # PUT omitting it keeps it. A PATCH `remove` clears it: RFC 7643 forbids
                # *updating* an immutable value, and clearing is an explicit, visible act
                # (scim2-tester expects an extension to be removable as a whole).
                if omitted_keeps_current:
                    new_part[attr.name] = old
            elif _same_under_case_rules(attr, old, new_part[attr.name]):
                new_part[attr.name] = old
            else:
                raise mutability(
                    f"{label} is immutable: it was set to {show(old)} at creation and cannot "
                    f"be changed to {show(new_part[attr.name])}; in Entra set 'Apply this "
                    f"mapping' to 'Only during object creation' for this attribute."
                )


def _check_required(
    doc: dict[str, Any], rtype: ResourceType, *, removed_is_mutability: bool
) -> None:
    for schema in rtype.all_schemas:
        part = doc if schema is rtype.schema else doc.get(schema.id)
        if not isinstance(part, dict):
            continue
        for attr in schema.required:
            label = _label(schema, rtype, attr.name)
            value = part.get(attr.name)
            if value is None and removed_is_mutability:
                # RFC 7644 §3.5.2.2: removing a required attribute is a mutability error.
                raise mutability(
                    f"{label} is required and cannot be removed; replace it with a new "
                    f"non-empty value instead."
                )
            if value is None or (isinstance(value, str) and not value.strip()):
                raise invalid_value(
                    f"{label} is required: the request has no non-empty {label}. Send "
                    f'"{label}" as a non-empty string; if Entra sent this, check that the '
                    f"source attribute mapped to {label} has a value for this object."
                )


def _check_size(doc: dict[str, Any]) -> None:
    size = len(_compact_json(doc).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise invalid_value(
            f"The resource is {size} bytes as JSON; the store accepts at most "
            f"{MAX_DOCUMENT_BYTES} bytes per resource. Send fewer or shorter values "
            f"(for Groups, add members with PATCH rather than in the body)."
        )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _in_schema_order(attr: Attribute, obj: dict[str, Any]) -> dict[str, Any]:
    return {s.name: obj[s.name] for s in attr.sub_attributes if s.name in obj}


def _label(schema: Schema, rtype: ResourceType, local: str) -> str:
    """How error details name an attribute: `userName`, `urn:…:8x8:1.1:User:site`."""
    return local if schema is rtype.schema else f"{schema.id}:{local}"


def _example_object(attr: Attribute) -> str:
    names = [n for n in ("value", "type") if attr.sub(n) is not None]
    names = names or [s.name for s in attr.sub_attributes[:1]] or ["value"]
    return "{" + ", ".join(f'"{n}": "…"' for n in names) + "}"


def _union_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 (numbers compare by value)."""
    if a is b:  # what a PATCH left alone is the stored object itself
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_under_case_rules(attr: Attribute, a: Any, b: Any) -> bool:
    # A caseExact=false string ("site") compares case-insensitively (RFC 7643 §2.2): sending
    # "paris" for a stored "Paris" is the same value, not a change.
    if isinstance(a, str) and isinstance(b, str) and attr.type != COMPLEX and not attr.case_exact:
        return fold(a) == fold(b)
    return _same(a, b)
