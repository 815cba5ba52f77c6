"""Filter validation: a well-formed filter (`shared.scim.filter`) checked against a resource
type, so that a filter which cannot mean anything for it is a 400 invalidFilter with a detail
saying why (RFC 7644 §3.4.2.2), rather than a query that silently matches nothing.
"""

from __future__ import annotations

from .attr_path import AttrPath, resolve_path
from .entra_values import as_boolean
from .errors import invalid_filter, undeclared_detail
from .filter import (
    ORDER_OPS,
    And,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    as_instant,
    element_attribute,
    render_value,
)
from .schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    REJECT,
    Attribute,
    Resolved,
    ResourceType,
)


def validate_filter(f: Filter, rtype: ResourceType) -> None:
    """Reject filters that are well-formed but cannot be meaningful for `rtype`, with
    ScimError(400, invalidFilter): an unknown schema URN, `gt`/`ge`/`lt`/`le` on boolean,
    binary or complex attributes (RFC 7644 §3.4.2.2), `co`/`sw`/`ew` on booleans, values that
    are not booleans/dateTimes where the attribute needs one, and `[...]` on a non-complex
    attribute. Unknown attribute names are not errors: they match what was captured under them
    (see `ResourceType.resolve_undeclared`), or nothing; unless the type refuses undeclared
    attributes, where a filter naming one is refused too."""
    match f:
        case And(left, right) | Or(left, right):
            validate_filter(left, rtype)
            validate_filter(right, rtype)
        case Not(inner):
            validate_filter(inner, rtype)
        case Compare(path, _, _) | Present(path):
            resolved = _resolve(path, rtype)
            if resolved is not None and isinstance(f, Compare):
                target = resolved.target
                if target is not None:
                    _check_compare(f, target, str(path))
        case ValuePath(path, inner):
            resolved = _resolve(path, rtype)
            if resolved is None:
                return
            target = resolved.target
            if target is None or target.type != COMPLEX:
                raise invalid_filter(f"'{path}[...]': value filters apply only to complex "
                                     "attributes")
            _validate_element_filter(inner, target, str(path))


def _validate_element_filter(f: Filter, attribute: Attribute, parent: str) -> None:
    match f:
        case And(left, right) | Or(left, right):
            _validate_element_filter(left, attribute, parent)
            _validate_element_filter(right, attribute, parent)
        case Not(inner):
            _validate_element_filter(inner, attribute, parent)
        case Compare(path, _, _):
            sub = element_attribute(path, attribute)
            if sub is not None:
                _check_compare(f, sub, f"{parent}.{sub.name}")
        case Present() | ValuePath():
            pass


def _resolve(path: AttrPath, rtype: ResourceType) -> Resolved | None:
    resolved = resolve_path(path, rtype)
    if resolved is not None:
        return resolved
    if rtype.resolve_undeclared(str(path)) is not None:
        if rtype.undeclared == REJECT:
            raise invalid_filter(undeclared_detail(str(path), in_filter=True))
        return None  # captured values have no declared type to check the filter against
    if path.urn is not None and rtype.split_urn(str(path))[0] is None:
        known = ", ".join(s.id for s in rtype.all_schemas)
        raise invalid_filter(f"Unknown schema URN in '{path}'; {rtype.name} supports {known}")
    return None


def _check_compare(f: Compare, target: Attribute, shown: str) -> None:
    kind = target.type
    if f.op in ORDER_OPS and kind in (BOOLEAN, BINARY, COMPLEX):
        raise invalid_filter(f"'{shown} {f.op}' is not allowed: {kind} attributes cannot be "
                             "ordered; use eq, ne or pr")
    if kind == COMPLEX:
        value_sub = target.sub("value")
        if value_sub is None:
            names = ", ".join(a.name for a in target.sub_attributes)
            raise invalid_filter(f"'{shown}' is complex; compare one of its sub-attributes "
                                 f"({names}) instead, e.g. '{shown}.<subAttribute>'")
        target, shown, kind = value_sub, f"{shown}.value", value_sub.type
    if f.value is None:
        return
    if kind == BOOLEAN:
        if f.op not in ("eq", "ne"):
            raise invalid_filter(f"'{shown} {f.op}' is not allowed: boolean attributes take "
                                 "only eq, ne and pr")
        if as_boolean(f.value) is None:
            raise invalid_filter(f"'{shown}' is boolean; expected true or false, got "
                                 f"{render_value(f.value)}")
    elif kind == DATETIME and f.op not in ("co", "sw", "ew") and as_instant(f.value) is None:
        raise invalid_filter(f"'{shown}' is a dateTime; expected an ISO 8601 timestamp such as "
                             f"\"2011-05-13T04:42:34Z\", got {render_value(f.value)}")
