"""Which attributes a response carries: `attributes` / `excludedAttributes` (RFC 7644
§3.4.2.5, §3.9) combined with each attribute's `returned` characteristic (RFC 7643 §2.4).

- `always` (id; `schemas` is treated the same) is in every response, whatever was asked;
- `never` (password) is in none;
- `request` (User `groups`) only when named in `attributes`;
- `default` (everything else, including `meta`) unless `attributes` lists others, or
  `excludedAttributes` names it.

Names are matched case-insensitively; names that are neither declared nor could be undeclared
attributes are ignored (RFC 7644 allows this, and Entra's reads must never fail on a
projection). Undeclared attributes a document holds (see `shared.scim.resource`) are returned
by default and can be named and excluded like declared ones, under the spelling they were
stored with; naming a sub-attribute of one selects all of it. `schemas` in the output lists the
core URN and only the declared extensions that still have attributes in the output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .schema import ALWAYS, COMPLEX, NEVER, REQUEST, Attribute, ResourceType, Schema

# A selection of paths as a tree: top-level key (core attribute name or extension URN) ->
# None for "the whole thing", or a nested selection of its attributes / sub-attributes.
_Tree = dict[str, "_Tree | None"]
_Keep = Callable[[Attribute], bool]

# `emails[type eq "work"]` is not an attribute name (RFC 7644 allows none in `attributes`),
# but clients send it (requests of the AzureAD/SCIMReferenceCode Postman collection): read it
# as `emails`.
_VALUE_FILTER = re.compile(r"\[[^\]]*\]")


def default_view(doc: dict[str, Any], rtype: ResourceType) -> dict[str, Any] | None:
    """`project(doc, rtype)` for a canonical document (no empty values) whose every key the
    default view shows whole (`rtype.shown_whole`: a user without `groups`, a group and its
    members), else None.
    Nothing is copied: the result holds the document's own values, so it is for encoding,
    and neither may be changed afterwards. What a list page or a large group costs to render
    is mostly those copies."""
    keys = doc.keys() - {"schemas"}
    if not keys <= rtype.shown_whole and not all(
        _is_undeclared(key, rtype) for key in keys - rtype.shown_whole
    ):
        return None
    return {"schemas": _schemas(doc, rtype), **{k: v for k, v in doc.items() if k != "schemas"}}


def _is_undeclared(key: str, rtype: ResourceType) -> bool:
    """Whether a top-level key of a canonical document is an undeclared attribute or an unknown
    extension's URN (shown whole by default: nothing declares it `request` or `never`)."""
    if key[:4].lower() == "urn:":
        return rtype.schema_by_urn(key) is None
    return rtype.schema.attribute(key) is None


def _schemas(shown: dict[str, Any], rtype: ResourceType) -> list[str]:
    """The core URN and the extensions that still have attributes in what is shown."""
    return [rtype.schema.id, *(s.id for s, _ in rtype.extensions if s.id in shown)]


def parse_attribute_list(value: str | None) -> list[str] | None:
    """The comma-separated `attributes` / `excludedAttributes` query parameter as a list of
    names, spaces stripped, empties ignored; None when the parameter names nothing."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    return [name for name in names if name] or None


def project(
    doc: dict[str, Any],
    rtype: ResourceType,
    attributes: list[str] | None = None,
    excluded: list[str] | None = None,
) -> dict[str, Any]:
    """The response form of the canonical document `doc`. When `attributes` names anything it
    decides alone (RFC 7644 §3.9 gives the two parameters as alternatives); otherwise the
    default set minus `excluded`. The result shares nothing mutable with `doc`."""
    if attributes:
        body = _pick(doc, rtype, _tree(attributes, rtype))
    else:
        body = _defaults(doc, rtype)
        if excluded:
            _drop(body, rtype, _tree(excluded, rtype))
    return {"schemas": _schemas(body, rtype), **body}


# --------------------------------------------------------------------------------------------
# Building the selection tree
# --------------------------------------------------------------------------------------------


def _tree(paths: list[str], rtype: ResourceType) -> _Tree:
    """Declared names are keys as spelled canonically; undeclared ones lower-cased (documents
    hold them as first sent, so they are matched case-insensitively: see `_undeclared_node`)."""
    tree: _Tree = {}
    for raw in paths:
        resolved = rtype.resolve_any(_VALUE_FILTER.sub("", raw.strip()))
        if resolved is None:
            continue  # unknown name: ignored, not an error
        declared = rtype.declares(resolved.schema)
        urn = resolved.schema.id if declared else resolved.schema.id.lower()
        if resolved.attribute is None:  # a bare extension URN: the whole extension
            tree[urn] = None
            continue
        node = tree
        if resolved.is_extension:
            extension = tree.get(urn, {})
            if extension is None:
                continue  # the whole extension is already selected
            node = tree[urn] = extension
        if resolved.declared:
            _add(node, resolved.attribute.name, resolved.sub.name if resolved.sub else None)
        else:
            node[resolved.attribute.name.lower()] = None  # a sub-path selects all of it
    return tree


# Stands for an unknown extension: every attribute in it is undeclared.
_UNDECLARED = Schema("", "", "", ())


def _undeclared_node(tree: _Tree, key: str) -> tuple[bool, _Tree | None]:
    """Whether `tree` names the undeclared `key` (any letter case), and its node."""
    low = key.lower()
    return low in tree, tree.get(low)


def _add(node: _Tree, name: str, sub: str | None) -> None:
    if sub is None:
        node[name] = None  # whole attribute; wins over any sub-attribute selection
        return
    child = node.get(name, {})
    if child is not None:  # None: the whole attribute is already selected
        child[sub] = None
        node[name] = child


# --------------------------------------------------------------------------------------------
# Default set (+ excludedAttributes)
# --------------------------------------------------------------------------------------------


def _defaults(doc: dict[str, Any], rtype: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "schemas":
            continue
        extension = rtype.extension_by_urn(key)
        if extension is None:
            _default_into(out, rtype.schema, key, value)
        elif isinstance(value, dict):
            part: dict[str, Any] = {}
            for sub_key, sub_value in value.items():
                _default_into(part, extension, sub_key, sub_value)
            if part:
                out[extension.id] = part
    return out


def _default_into(out: dict[str, Any], schema: Schema, key: str, value: Any) -> None:
    attr = schema.attribute(key)
    if attr is None:
        out[key] = _copy(value)  # not in the schema: nothing says to hide it
    elif attr.returned not in (NEVER, REQUEST):
        _put(out, attr.name, _whole(attr, value))


def _drop(body: dict[str, Any], rtype: ResourceType, tree: _Tree) -> None:
    for key in list(body):
        extension = rtype.extension_by_urn(key)
        if extension is not None:
            named, node = key in tree, tree.get(key)
        elif key[:4].lower() == "urn:":
            extension = _UNDECLARED
            named, node = _undeclared_node(tree, key)
        else:
            continue  # core attributes: below
        if not named:
            continue
        part = body[key]
        if node is None or not isinstance(part, dict):
            del body[key]
            continue
        _drop_in(part, extension, node)
        if not part:
            del body[key]
    _drop_in(body, rtype.schema, tree)


def _drop_in(obj: dict[str, Any], schema: Schema, tree: _Tree) -> None:
    for name in list(obj):
        attr = schema.attribute(name)
        if attr is None:
            # Undeclared (named in any letter case); extensions are _drop's.
            if name[:4].lower() != "urn:" and _undeclared_node(tree, name)[0]:
                del obj[name]
            continue
        if attr.name not in tree or attr.returned == ALWAYS:
            continue  # `always` attributes cannot be excluded (RFC 7644 §3.9)
        subs = tree[attr.name]
        if subs is None:
            del obj[name]
            continue
        _put(obj, name, _map_subs(attr, obj[name], _not_excluded(subs)))


# --------------------------------------------------------------------------------------------
# attributes=
# --------------------------------------------------------------------------------------------


def _pick(doc: dict[str, Any], rtype: ResourceType, tree: _Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        extension = rtype.extension_by_urn(key)
        if extension is not None or key[:4].lower() == "urn:":
            if isinstance(value, dict):
                # Not named: only its `always` attributes; named bare: all of it (None).
                if extension is not None:
                    name, node = extension.id, tree.get(extension.id, {})
                else:
                    extension = _UNDECLARED
                    named, node = _undeclared_node(tree, key)
                    name, node = key, node if named else {}
                part = _pick_in(value, extension, node)
                if part:
                    out[name] = part
            continue
        picked = _pick_in({key: value}, rtype.schema, tree)
        out.update(picked)
    return out


def _pick_in(obj: dict[str, Any], schema: Schema, tree: _Tree | None) -> dict[str, Any]:
    """The members of `obj` selected by `tree` (None = all of them), plus `always` ones."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        attr = schema.attribute(key)
        if attr is None:  # undeclared: returned like a `default` attribute
            if key != "schemas" and (tree is None or _undeclared_node(tree, key)[0]):
                _put(out, key, _copy(value))
            continue
        if attr.returned == NEVER:
            continue
        if tree is None:
            if attr.returned != REQUEST:  # a whole extension still hides `request` ones
                _put(out, attr.name, _whole(attr, value))
        elif attr.returned == ALWAYS or (attr.name in tree and tree[attr.name] is None):
            _put(out, attr.name, _whole(attr, value))
        elif attr.name in tree:
            _put(out, attr.name, _map_subs(attr, value, _selected(tree[attr.name] or {})))
    return out


def _selected(subs: _Tree) -> _Keep:
    return lambda sub: sub.returned == ALWAYS or sub.name in subs


def _not_excluded(subs: _Tree) -> _Keep:
    return lambda sub: sub.returned == ALWAYS or sub.name not in subs


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _whole(attr: Attribute, value: Any) -> Any:
    """The attribute's value with `never`/`request` sub-attributes removed, copied."""
    if attr.type != COMPLEX:
        return _copy(value)
    if isinstance(value, list):
        elements = [_shown(attr, v) for v in value]
        return [e for e in elements if e]
    return _shown(attr, value)


def _shown(attr: Attribute, value: Any) -> Any:
    # Canonical objects name only default-returned sub-attributes, exactly spelled: copied
    # whole, without a schema lookup per key (the bulk of rendering a list page). default_subs
    # is only set when every sub-attribute holds a scalar, so a shallow copy shares nothing.
    if isinstance(value, dict) and value.keys() <= attr.default_subs:
        return dict(value)
    return _filter_object(attr, value, _default_returned)


def _default_returned(sub: Attribute) -> bool:
    return sub.returned not in (NEVER, REQUEST)


def _map_subs(attr: Attribute, value: Any, keep: _Keep) -> Any:
    """A copy keeping the sub-attributes for which `keep(sub)` holds, in every element of a
    multi-valued attribute; elements left empty are dropped. Canonical documents hold no
    sub-keys outside the schema; any that appear are dropped with the rest."""
    if attr.type != COMPLEX:
        return _copy(value)
    if isinstance(value, list):
        elements = [_filter_object(attr, v, keep) for v in value]
        return [e for e in elements if e]
    return _filter_object(attr, value, keep)


def _filter_object(attr: Attribute, value: Any, keep: _Keep) -> Any:
    if not isinstance(value, dict):
        return _copy(value)
    out = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        if sub is not None and keep(sub):
            out[key] = _copy(sub_value)
    return out


def _put(obj: dict[str, Any], name: str, value: Any) -> None:
    if value in ({}, [], None):
        obj.pop(name, None)
    else:
        obj[name] = value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
