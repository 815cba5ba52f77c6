"""What differs between Users and Groups for the service: their resource type, storage kind,
index rows and filter-pushdown columns. Everything else is shared.

A tenant that declares extension schemas gets copies of USERS and GROUPS carrying its own
resource types (`TenantKinds.of`), so code tells the kinds apart by `is_group`, never by
identity with the module's objects."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from ..scim.errors import invalid_value, show
from ..scim.schema import (
    BINARY,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    INTEGER,
    REFERENCE,
    STRING,
    Attribute,
    ResourceType,
)
from ..scim.schemas import GROUP, GROUP_URN, USER
from ..store import keys, layout
from ..store.directory import Indexes


@dataclass(frozen=True)
class Kind:
    rtype: ResourceType
    rows: str  # the store's resource kind (layout.USER / layout.GROUP)
    noun: str
    unique_attr: str  # the attribute with a unique index (userName / displayName)
    unique_index: str  # index names (layout.INDEXES)
    external_index: str
    email_index: str | None = None  # work emails (Entra's other documented matching attribute)

    @property
    def endpoint(self) -> str:
        return self.rtype.endpoint

    @property
    def is_group(self) -> bool:
        return self.rows == layout.GROUP

    @cached_property
    def declared_unique(self) -> tuple[DeclaredUnique, ...]:
        """The extension attributes of this kind's resource type declared with `uniqueness:
        server` (none for the built-in schemas): each gets a unique index row."""
        index = layout.GROUP_DECLARED if self.is_group else layout.USER_DECLARED
        return tuple(
            DeclaredUnique(schema.id, attr,
                           layout.declared_index(index, f"{schema.id}:{attr.name}"))
            for schema, _ in self.rtype.extensions for attr in schema.attributes
            if attr.uniqueness == "server" and not attr.multi_valued
            and attr.type in _UNIQUE_TYPES)

    def indexes(self, doc: dict[str, Any]) -> Indexes:
        unique = {}
        value = doc.get(self.unique_attr)
        if isinstance(value, str):
            unique[self.unique_index] = keys.fold(value)
        multi: dict[str, tuple[str, ...]] = {}
        ext = doc.get("externalId")
        if isinstance(ext, str) and ext:
            multi[self.external_index] = (ext,)  # externalId is caseExact: not folded
        if self.email_index:
            emails = work_emails(doc)
            if len(emails) > MAX_WORK_EMAILS:
                raise invalid_value(
                    f"A user may have at most {MAX_WORK_EMAILS} work email addresses (this one "
                    f"has {len(emails)}); they are indexed for Entra's email matching.")
            if emails:
                multi[self.email_index] = tuple(keys.fold(e) for e in emails)
        for declared in self.declared_unique:
            text = declared.key(declared.value_in(doc))
            if text is not None:
                unique[declared.index] = text
        return Indexes(unique=unique, multi=multi)

    def columns(self, doc: dict[str, Any], *, deactivated_at: str | None = None,
                now: str | None = None) -> dict[str, Any]:
        """Scalar copies of filterable attributes, for operators and monitoring queries.
        `deactivatedAt` records since when `active` is false (kept from `deactivated_at`, the
        stored row's value, or else `now`); the row is replaced on every write, so it
        disappears when the user is reactivated. Retention (SCIM_RETENTION_DAYS) reads it."""
        cols: dict[str, Any] = {}
        for name in (self.unique_attr, "externalId", "active"):
            value = doc.get(name)
            if isinstance(value, str | bool):
                cols[name] = value
        since = deactivated_at or now
        if doc.get("active") is False and since:
            cols["deactivatedAt"] = since
        return cols


MAX_WORK_EMAILS = 20  # each is an index row in the user's create transaction (max 100 rows)
# Simple values only: Entra's custom attributes are never complex or multi-valued, and a
# unique row holds one value.
_UNIQUE_TYPES = frozenset({STRING, REFERENCE, BINARY, DATETIME, BOOLEAN, DECIMAL, INTEGER})


@dataclass(frozen=True)
class DeclaredUnique:
    """A declared extension attribute with `uniqueness: server`, kept unique per tenant by
    index rows `XU:{path}:{value}` (layout.declared_index) like userName's."""

    urn: str  # its schema's id
    attribute: Attribute
    index: str  # the index name its rows are kept under

    @property
    def path(self) -> str:
        return f"{self.urn}:{self.attribute.name}"

    def value_in(self, doc: Mapping[str, Any]) -> Any:
        """Its value in a stored document (spelled as declared; else matched
        case-insensitively, as a value captured before the declaration is spelled as sent)."""
        part = doc.get(self.urn)
        if part is None:
            part = _caseless_get(doc, self.urn)
        if not isinstance(part, dict):
            return None
        value = part.get(self.attribute.name)
        return _caseless_get(part, self.attribute.name) if value is None else value

    def key(self, value: Any) -> str | None:
        """The index key of a value (stored, or a filter's `eq` operand), folded unless the
        attribute is caseExact; None for no value or one that is not simple."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value if self.attribute.case_exact else keys.fold(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and math.isfinite(value):
            # 1 and 1.0 are one decimal value: one key.
            return str(int(value)) if value.is_integer() else repr(value)
        return None


def _caseless_get(mapping: Mapping[str, Any], name: str) -> Any:
    low = name.lower()
    return next((v for k, v in mapping.items() if isinstance(k, str) and k.lower() == low), None)


def check_member_values(values: Iterable[str]) -> None:
    """400 invalidValue for a member value too long for a membership row's key. Such rows
    (layout.member_key) are read back to list the members, so the value must be kept as
    it is: storing it by digest (as long indexed values are) answered a changed member."""
    for value in values:
        if not keys.round_trips(value):
            size = len(value.encode("utf-8", "surrogatepass"))
            raise invalid_value(
                f"The member value {show(value, 60)} is {size} bytes of "
                f"UTF-8; member values (ids) may be at most {keys.MAX_COMPONENT_BYTES} bytes "
                "(fewer with the characters /\\#?%:' and control characters, stored "
                "escaped). Send the member's id.")


def names_members(body: dict[str, Any]) -> bool:
    """Whether a Group body states `members` at all (`[]` and null included): a PUT that
    does replaces the members; one that leaves them out keeps them."""
    qualified = f"{GROUP_URN}:members".lower()
    return any(isinstance(k, str) and k.lower() in ("members", qualified) for k in body)


def work_emails(doc: dict[str, Any]) -> list[str]:
    """Values of emails whose type is "work" (case-insensitive), in order, without repeats."""
    emails = doc.get("emails")
    if not isinstance(emails, list):
        return []
    out = [e["value"] for e in emails if isinstance(e, dict) and isinstance(e.get("value"), str)
           and isinstance(e.get("type"), str) and e["type"].lower() == "work"]
    return list(dict.fromkeys(out))


USERS = Kind(USER, layout.USER, "user", "userName", layout.USER_NAME.name,
             layout.USER_EXTERNAL_ID.name, layout.USER_WORK_EMAIL.name)
GROUPS = Kind(GROUP, layout.GROUP, "group", "displayName", layout.GROUP_NAME.name,
              layout.GROUP_EXTERNAL_ID.name)
KINDS = {"users": USERS, "groups": GROUPS}


@dataclass(frozen=True)
class TenantKinds:
    """The kinds one tenant's requests use: USERS and GROUPS themselves, or copies carrying
    the tenant's resource types (its declared extension schemas and undeclared-attribute
    policy). Only the resource type differs; rows, indexes and nouns are the kind's."""

    users: Kind
    groups: Kind

    @staticmethod
    def of(user: ResourceType, group: ResourceType) -> TenantKinds:
        """The kinds for these resource types; the shared DEFAULT_KINDS when they are the
        module's own (a tenant that declares nothing: no copy, nothing new to cache)."""
        if user is USERS.rtype and group is GROUPS.rtype:
            return DEFAULT_KINDS
        # Resource types are built once per tenant record version (tenant_schemas caches
        # them), so their identity keys the copies: their derived data (declared_unique) is
        # then computed once, not per request. The entry holds the types themselves, so their
        # ids cannot be reused by other objects while it is cached.
        key = (id(user), id(group))
        hit = _BY_TYPES.get(key)
        if hit is not None and hit.users.rtype is user and hit.groups.rtype is group:
            return hit
        if len(_BY_TYPES) >= _MAX_CACHED:
            _BY_TYPES.clear()
        made = TenantKinds(replace(USERS, rtype=user), replace(GROUPS, rtype=group))
        _BY_TYPES[key] = made
        return made

    def at(self, endpoint: str) -> Kind | None:
        """The kind served at a lower-cased endpoint name ("users", "groups")."""
        if endpoint == "users":
            return self.users
        if endpoint == "groups":
            return self.groups
        return None

    @property
    def rtypes(self) -> tuple[ResourceType, ResourceType]:
        return self.users.rtype, self.groups.rtype

    def stored_indexes(self, rows: str, doc: dict[str, Any]) -> Indexes:
        """The index rows a stored resource of a kind (layout.USER / layout.GROUP) calls for:
        the indexer the store's invariant check and repair compare its rows with."""
        return (self.groups if rows == layout.GROUP else self.users).indexes(doc)


DEFAULT_KINDS = TenantKinds(USERS, GROUPS)
_MAX_CACHED = 1024  # tenants with declarations served by one instance, about
_BY_TYPES: dict[tuple[int, int], TenantKinds] = {}


def stored_indexes(rows: str, doc: dict[str, Any]) -> Indexes:
    """`stored_indexes` of a tenant that declares no extension schema."""
    return DEFAULT_KINDS.stored_indexes(rows, doc)
