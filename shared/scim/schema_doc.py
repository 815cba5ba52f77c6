"""Schema documents (RFC 7643 §7) read into `Schema` definitions: how an operator declares an
extension schema (custom attributes) without writing Python.

The reader is strict because a mistake here changes how every later request is validated: an
unknown key, a misspelt characteristic or a value of the wrong JSON type is refused with a
`SchemaError` that names the key and lists what is allowed, instead of being ignored. Keys and
the characteristic values (`readWrite`, `server`, …) are matched case-insensitively, as RFC 7643
§2.1 does for attribute names, and stored in their canonical spelling. Characteristics left out
take the defaults of RFC 7643 §2.2 (type string, readWrite, returned default, uniqueness none).

The reader takes a parsed document, never a file: the engine does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import kind_of
from .schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    DEFAULT,
    INTEGER,
    READ_WRITE,
    REFERENCE,
    STRING,
    Attribute,
    Schema,
)
from .schemas import ALL_SCHEMAS, GROUP, USER

SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

_TYPES = (STRING, BOOLEAN, DECIMAL, INTEGER, DATETIME, REFERENCE, COMPLEX, BINARY)
_MUTABILITIES = ("readOnly", "readWrite", "immutable", "writeOnly")
_RETURNED = ("always", "never", "default", "request")
# `global` (unique across every tenant of the service) is not offered: tenants share nothing.
_UNIQUENESS = ("none", "server")
# RFC 7643 §2.1 ATTRNAME; "$ref" is the one name outside it, used by reference sub-attributes.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# The URN characters attribute paths accept (attr_path.py): a schema whose URN a filter or a
# PATCH path could not spell would be declared but unreachable.
_URN = re.compile(r"urn:[A-Za-z0-9._~%+-]+(?::[A-Za-z0-9._~%+-]+)+", re.IGNORECASE)

_DOCUMENT_KEYS = ("schemas", "id", "name", "description", "attributes", "meta")
_ATTRIBUTE_KEYS = ("name", "type", "multiValued", "description", "required", "canonicalValues",
                   "caseExact", "mutability", "returned", "uniqueness", "referenceTypes",
                   "subAttributes")
_BUILT_IN_URNS = tuple(s.id for s in ALL_SCHEMAS)
_RESOURCE_TYPE_NAMES = (USER.name, GROUP.name)


class SchemaError(ValueError):
    """A schema document this connector cannot use; the message says which key and why."""


def load_schema(document: Mapping[str, Any]) -> Schema:
    """The `Schema` an RFC 7643 §7 document describes (`id`, `attributes`, optional `name`,
    `description`; `schemas` and `meta` as served by /Schemas are accepted and ignored).

    Refuses, with a `SchemaError` naming the key: a URN of a built-in schema (or one inside
    or around it), attribute types, mutability, returned or uniqueness values outside RFC 7643
    §7, complex attributes nested deeper than one level of `subAttributes`, duplicate names,
    and any key RFC 7643 does not define."""
    if not isinstance(document, Mapping):
        raise SchemaError(f"A schema document must be a JSON object, not {kind_of(document)}")
    doc = _keyed(document, _DOCUMENT_KEYS, "the schema document")
    urn = _urn(doc)
    where = f"schema {urn}"
    schemas = doc.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or SCHEMA_SCHEMA.lower() not in
        [s.lower() for s in schemas if isinstance(s, str)]
    ):
        raise SchemaError(
            f"'schemas' in {where} must be a list holding {SCHEMA_SCHEMA!r} (or be left out)")
    name = _text(doc, "name", where, default=_default_name(urn))
    description = _text(doc, "description", where, default="")
    if "attributes" not in doc:
        raise SchemaError(f"{where} has no 'attributes': list the attributes it declares")
    raw = doc["attributes"]
    if not isinstance(raw, list) or not raw:
        raise SchemaError(
            f"'attributes' in {where} must be a non-empty list of attribute objects, "
            f"not {kind_of(raw)}")
    attributes = tuple(_attribute(item, where, depth=0) for item in raw)
    _unique_names(attributes, f"'attributes' of {where}")
    return Schema(id=urn, name=name, description=description, attributes=attributes)


def resource_type_of(urn: str) -> str | None:
    """The resource type a schema URN names by its last segment, as Entra's extension URNs do
    (`urn:…:CustomExtensionName:2.0:User` -> "User"); None when the last segment names none."""
    last = urn.rpartition(":")[2].lower()
    for name in _RESOURCE_TYPE_NAMES:
        if name.lower() == last:
            return name
    return None


def _urn(doc: Mapping[str, Any]) -> str:
    if "id" not in doc:
        raise SchemaError(
            "The schema document has no 'id': give the schema's URN, e.g. "
            "'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User'")
    urn = doc["id"]
    if not isinstance(urn, str) or not _URN.fullmatch(urn):
        raise SchemaError(
            f"'id' must be a schema URN ('urn:' and ':'-separated segments of letters, digits "
            f"and ._~%+-), not {urn!r}")
    low = urn.lower()
    for built_in in _BUILT_IN_URNS:
        other = built_in.lower()
        if low == other or low.startswith(other + ":") or other.startswith(low + ":"):
            raise SchemaError(
                f"'id' {urn!r} clashes with the built-in schema {built_in}: built-in schemas "
                "cannot be redefined or nested; choose a URN of your own, e.g. "
                "'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User'")
    return urn


def _attribute(raw: Any, where: str, depth: int) -> Attribute:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"Each attribute in {where} must be a JSON object, not {kind_of(raw)}")
    name = next((v for k, v in raw.items() if isinstance(k, str) and k.lower() == "name"), None)
    if not isinstance(name, str) or not (_NAME.fullmatch(name) or name == "$ref"):
        raise SchemaError(
            f"An attribute in {where} has the name {name!r}; 'name' is required and starts "
            "with a letter followed by letters, digits, '-' or '_'")
    here = f"attribute {name!r} of {where}"
    attr = _keyed(raw, _ATTRIBUTE_KEYS, here)
    kind = _choice(attr, "type", _TYPES, here, default=STRING)
    subs_raw = attr.get("subAttributes")
    if kind == COMPLEX:
        if depth > 0:
            raise SchemaError(
                f"{here} is complex inside a complex attribute; RFC 7643 §2.3.8 allows one "
                "level of subAttributes, so give it a simple type")
        if not isinstance(subs_raw, list) or not subs_raw:
            raise SchemaError(
                f"{here} is complex and needs 'subAttributes', a non-empty list of attribute "
                "objects")
        subs = tuple(_attribute(item, here, depth + 1) for item in subs_raw)
        _unique_names(subs, f"'subAttributes' of {here}")
    elif subs_raw is not None:
        raise SchemaError(
            f"{here} has 'subAttributes' but is of type {kind!r}; only type 'complex' has "
            "sub-attributes")
    else:
        subs = ()
    multi_valued = _flag(attr, "multiValued", here)
    uniqueness = _choice(attr, "uniqueness", _UNIQUENESS, here, default="none",
                         why="; 'global' is not offered because tenants share no data")
    if uniqueness != "none" and (kind == COMPLEX or multi_valued or depth > 0):
        raise SchemaError(
            f"{here} has 'uniqueness' {uniqueness!r}; only a single-valued, simple, top-level "
            "attribute can be unique")
    return Attribute(
        name,
        type=kind,
        multi_valued=multi_valued,
        required=_flag(attr, "required", here),
        case_exact=_flag(attr, "caseExact", here),
        mutability=_choice(attr, "mutability", _MUTABILITIES, here, default=READ_WRITE),
        returned=_choice(attr, "returned", _RETURNED, here, default=DEFAULT),
        uniqueness=uniqueness,
        description=_text(attr, "description", here, default=""),
        canonical_values=_strings(attr, "canonicalValues", here),
        reference_types=_strings(attr, "referenceTypes", here),
        sub_attributes=subs,
    )


def _keyed(raw: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    """`raw` with its keys spelt canonically; unknown or repeated keys are refused."""
    canonical = {key.lower(): key for key in allowed}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        known = canonical.get(key.lower()) if isinstance(key, str) else None
        if known is None:
            raise SchemaError(
                f"Unknown key {key!r} in {where}; allowed keys: {', '.join(allowed)}")
        if known in out:
            raise SchemaError(f"Key {known!r} appears twice (in different cases) in {where}")
        out[known] = value
    return out


def _choice(
    attr: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str, *, default: str,
    why: str = "",
) -> str:
    value = attr.get(key, default)
    if isinstance(value, str):
        for option in allowed:
            if option.lower() == value.lower():
                return option
    raise SchemaError(
        f"'{key}' of {where} is {value!r}; allowed values: {', '.join(allowed)}{why}")


def _flag(attr: Mapping[str, Any], key: str, where: str) -> bool:
    value = attr.get(key, False)
    if not isinstance(value, bool):
        raise SchemaError(f"'{key}' of {where} must be true or false, not {value!r}")
    return value


def _text(doc: Mapping[str, Any], key: str, where: str, *, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise SchemaError(f"'{key}' of {where} must be a string, not {kind_of(value)}")
    return value


def _strings(attr: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = attr.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"'{key}' of {where} must be a list of strings, not {value!r}")
    return tuple(value)


def _unique_names(attributes: tuple[Attribute, ...], where: str) -> None:
    seen: set[str] = set()
    for attr in attributes:
        low = attr.name.lower()
        if low in seen:
            raise SchemaError(
                f"The name {attr.name!r} appears twice in {where}; names are "
                "case-insensitive (RFC 7643 §2.1)")
        seen.add(low)


def _default_name(urn: str) -> str:
    # `…:CustomExtensionName:2.0:User` -> "CustomExtensionName": the segment Entra's pattern
    # leaves to the application, the closest thing to a name the URN carries.
    segments = urn.split(":")
    if len(segments) >= 4 and resource_type_of(urn) is not None:
        return segments[-3]
    return segments[-1]
