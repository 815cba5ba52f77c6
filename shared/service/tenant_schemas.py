"""Custom extension schemas: which resource types each tenant's requests are read with, and the
operations that change them (the admin CLI's `schema` commands; an admin API would reuse them).

Two sources declare extension schemas (RFC 7643 §7 documents), besides the built-in ones:
- the deployment: `*.json` files in the folder SCIM_SCHEMAS_DIR (default: `schemas/`, shipped
  with the app), read once per process, declared for every tenant;
- the tenant: `Tenant.schemas`, added and removed by an operator (`add_schema`,
  `remove_schema`), stored in the tenant record.

What happens to attributes neither declares is the tenant's policy (`Tenant.undeclared`):
captured as sent, or refused. Captured names are recorded in a registry
(`note_undeclared`, `undeclared`) so an operator can see what Entra sends and declare it.

The tenant comes from authentication (cached 30 s per instance), so a change reaches every
instance within 30 s; the resource types built from a record are cached by (tenant id,
record ETag), and a tenant that declares nothing shares one set built once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..scim.schema import CAPTURE, REJECT, ResourceType, Schema, UndeclaredPolicy
from ..scim.schema_doc import load_schema, resource_type_of
from ..scim.schemas import GROUP, USER
from ..settings import current
from ..store.directory import Directory
from ..store.tenants import (
    MAX_RECORD_UNITS,
    MAX_UNDECLARED_NAMES,
    Tenant,
    TenantTable,
    UndeclaredAttribute,
    UndeclaredOverflow,
    record_units,
)
from ..timestamps import now_iso
from . import unique_backfill
from .kinds import TenantKinds

log = logging.getLogger(__name__)

POLICIES: tuple[UndeclaredPolicy, ...] = (CAPTURE, REJECT)
RESOURCE_TYPE_NAMES = ("User", "Group")
# Per tenant, checked when a schema is added: what one tenant record and one request's
# schema walk reasonably carry. Uniqueness rows of one resource share its transaction (at most
# 100 operations), hence the few unique attributes.
MAX_SCHEMAS = 10
MAX_ATTRIBUTES = 100
MAX_UNIQUE_ATTRIBUTES = 5
# Undeclared names are recorded on first sight by an instance, then their counts at most this
# often (seconds): a sync of thousands of users costs a handful of registry writes.
NOTE_INTERVAL = 600.0
_MAX_PENDING = 2 * MAX_UNDECLARED_NAMES  # distinct pending names per tenant and instance
_MAX_NOTED_TENANTS = 10_000
_MAX_CACHED_TYPES = 1_000
# The app's root (the folder of function_app.py): a relative SCIM_SCHEMAS_DIR starts there.
APP_ROOT = Path(__file__).resolve().parents[2]


class TenantSchemaError(ValueError):
    """An operation refused; the message says why and what to do instead."""


class NoSuchTenant(TenantSchemaError):
    pass


@dataclass(frozen=True)
class DeclaredSchema:
    """An extension schema in effect for a tenant: the loaded `schema` (None when its stored
    document no longer loads: `problem` says why, and it is left out of the resource types),
    the resource type it extends, the document as stored, and where it is declared:
    "tenant", or the deployment file's name."""

    urn: str
    resource_type: str
    document: Mapping[str, Any]
    origin: str
    schema: Schema | None
    problem: str | None = None


@dataclass(frozen=True)
class TenantTypes:
    """The resource types a tenant's requests are read with."""

    user: ResourceType
    group: ResourceType
    all: tuple[ResourceType, ...]


DEFAULT_TYPES = TenantTypes(USER, GROUP, (USER, GROUP))


# -- deployment schemas ----------------------------------------------------------------------

def load_folder(folder: Path) -> list[DeclaredSchema]:
    """The schema documents `*.json` directly in `folder`, by file name. A file that cannot
    be read, is not a schema document, or declares a URN an earlier file declared is logged
    and skipped: a bad file must not take the service down."""
    if not folder.is_dir():
        log.warning("schema folder %s not found: no deployment schemas", folder)
        return []
    loaded: list[DeclaredSchema] = []
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise TenantSchemaError("not a JSON object")
            declared = _declared(document, None, path.name)
            _refuse_duplicate(declared, loaded)
        except (OSError, ValueError) as exc:  # SchemaError, JSON and our errors are ValueErrors
            log.error("schema file %s skipped: %s", path.name, exc)
            continue
        loaded.append(declared)
    return loaded


def schemas_folder() -> Path:
    folder = Path(current().schemas_dir)
    return folder if folder.is_absolute() else APP_ROOT / folder


@lru_cache(maxsize=1)
def deployment_schemas() -> tuple[DeclaredSchema, ...]:
    """The deployment's schemas, read once per process (a redeploy restarts it)."""
    return tuple(load_folder(schemas_folder()))


# -- resource types per tenant ---------------------------------------------------------------

_types_lock = threading.Lock()
_types_cache: dict[tuple[str, str], TenantTypes] = {}


def types_for(tenant: Tenant) -> TenantTypes:
    """The resource types of `tenant`'s requests. A tenant that declares nothing shares the
    deployment's (the module's USER and GROUP when the deployment declares nothing either and
    the policy is capture): the common case costs nothing."""
    if not tenant.schemas:
        return _shared_types(tenant.undeclared)
    etag = tenant._etag
    if etag is None:  # a record not read from storage: no version to cache it by
        return _build(_effective(tenant), tenant.undeclared)
    key = (tenant.id, etag)
    with _types_lock:
        hit = _types_cache.get(key)
    if hit is not None:
        return hit
    built = _build(_effective(tenant), tenant.undeclared)
    with _types_lock:
        if len(_types_cache) >= _MAX_CACHED_TYPES:
            _types_cache.clear()
        _types_cache[key] = built
    return built


@lru_cache(maxsize=len(POLICIES))
def _shared_types(policy: UndeclaredPolicy) -> TenantTypes:
    return _build(list(deployment_schemas()), policy)


def _build(declared: Sequence[DeclaredSchema], policy: UndeclaredPolicy) -> TenantTypes:
    # `extended` returns the module's object itself when there is nothing to add.
    user, group = (base.extended([d.schema for d in declared if d.schema is not None
                                  and d.resource_type == base.name], undeclared=policy)
                   for base in (USER, GROUP))
    if user is USER and group is GROUP:
        return DEFAULT_TYPES
    return TenantTypes(user, group, (user, group))


def clear_caches() -> None:
    """Forget the deployment's schemas and every tenant's types (tests; a process reads the
    folder once)."""
    deployment_schemas.cache_clear()
    _shared_types.cache_clear()
    with _types_lock:
        _types_cache.clear()


# -- operations ------------------------------------------------------------------------------

def add_schema(tenants: TenantTable, tenant_id: str, document: Mapping[str, Any],
               resource_type: str | None = None, *,
               directory: Directory | None = None) -> Schema:
    """Declare an extension schema for a tenant: `document` is an RFC 7643 §7 schema
    document; the resource type it extends is `resource_type`, else the document's
    "resourceType", else the last segment of its URN (`…:2.0:User`). Returns the schema as
    loaded. SchemaError (shared.scim.schema_doc) for a document that is not a valid schema,
    TenantSchemaError for one the tenant cannot take (declared already, over a limit);
    PreconditionFailed when the record changed meanwhile (nothing written: run it again).

    With `directory` (the tenant's data), attributes declared `uniqueness: "server"` are
    checked against the values already stored (TenantSchemaError naming the duplicates, and
    nothing saved) and indexed once the declaration is saved (unique_backfill.py); without
    it, the reconciler's next repair pass indexes them."""
    tenant = _tenant(tenants, tenant_id)
    declared = _declared(document, resource_type, "tenant")
    assert declared.schema is not None
    _refuse_duplicate(declared, deployment_schemas())
    _refuse_duplicate(declared, _own(tenant))
    tenant.schemas.append(dict(declared.document))
    _check_limits(tenant)
    types = _build(_effective(tenant), tenant.undeclared)  # the new ones: not from the cache
    kinds = TenantKinds.of(types.user, types.group)
    checked = directory is not None and unique_backfill.declares_unique(kinds)
    if checked:
        assert directory is not None
        taken = unique_backfill.duplicates(directory, tenant_id, kinds)
        if taken:
            first = taken[0]
            raise TenantSchemaError(
                f"{len(taken)} value(s) of attributes declared unique are held by more than "
                f"one resource (e.g. {first.path}, by ids {', '.join(first.resource_ids[:3])})"
                "; make the stored values unique, or declare the attribute without "
                '"uniqueness": "server"')
    tenants.save(tenant)
    if checked:
        assert directory is not None
        report = unique_backfill.index(directory, tenant_id, kinds)
        if report.unrepaired:
            log.warning("schema add %s: %d index row(s) left for the reconciler",
                        declared.schema.id, len(report.unrepaired))
    return declared.schema


def list_schemas(tenants: TenantTable, tenant_id: str) -> list[DeclaredSchema]:
    """The extension schemas in effect for a tenant: the deployment's, then its own."""
    return _effective(_tenant(tenants, tenant_id))


def remove_schema(tenants: TenantTable, tenant_id: str, urn: str) -> DeclaredSchema:
    """Withdraw a schema the tenant declared. Values already stored stay in the resources,
    as undeclared attributes from then on."""
    tenant = _tenant(tenants, tenant_id)
    own = _own(tenant)
    for n, declared in enumerate(own):
        if declared.urn.lower() == urn.lower():
            del tenant.schemas[n]
            tenants.save(tenant)
            return declared
    for deployed in deployment_schemas():
        if deployed.urn.lower() == urn.lower():
            raise TenantSchemaError(
                f"{urn} is declared for every tenant by the deployment ({deployed.origin} in "
                "SCIM_SCHEMAS_DIR); remove that file and redeploy to withdraw it")
    names = ", ".join(d.urn for d in own) if own else "none"
    raise TenantSchemaError(f"tenant {tenant.id} declares no schema {urn!r}; it declares: "
                            f"{names} (see `schema list {tenant.id}`)")


def set_policy(tenants: TenantTable, tenant_id: str, policy: str) -> None:
    """What the tenant's requests get for an undeclared attribute: "capture" (stored as
    sent) or "reject" (400 naming it)."""
    if policy not in POLICIES:
        raise TenantSchemaError(f"the policy must be capture or reject, not {policy!r}")
    tenant = _tenant(tenants, tenant_id)
    if tenant.undeclared != policy:
        tenant.undeclared = policy
        tenants.save(tenant)


def undeclared(tenants: TenantTable, tenant_id: str) -> list[UndeclaredAttribute]:
    """The undeclared attributes Entra sent the tenant, by resource type and path; names
    declared since they were recorded are left out."""
    tenant = _tenant(tenants, tenant_id)
    types = types_for(tenant)
    by_name = {t.name: t for t in types.all}
    found = [a for a in tenants.undeclared(tenant.id)
             if (rtype := by_name.get(a.resource_type)) is None or _undeclared_in(rtype, a.path)]
    return sorted(found, key=lambda a: (a.resource_type, a.path.lower()))


def undeclared_overflow(tenants: TenantTable, tenant_id: str) -> UndeclaredOverflow | None:
    """Sightings of undeclared names beyond the registry's MAX_UNDECLARED_NAMES."""
    return tenants.undeclared_overflow(_tenant(tenants, tenant_id).id)


def _undeclared_in(rtype: ResourceType, path: str) -> bool:
    resolved = rtype.resolve(path)
    return resolved is None or (resolved.attribute is None and resolved.sub is None)


# -- the registry of undeclared names --------------------------------------------------------

@dataclass
class _Noted:
    known: set[tuple[str, str]] = field(default_factory=set)  # (resource type, lower path)
    pending: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    flushed: float = float("-inf")


class UndeclaredNotes:
    """Sightings of undeclared attributes on this instance, flushed to the registry: a name
    this instance has not seen at once, the counts of known ones at most every `interval`
    seconds. Counts are a lower bound: what an instance holds when it stops is not written."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 interval: float = NOTE_INTERVAL) -> None:
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._tenants: dict[str, _Noted] = {}

    def note(self, tenants: TenantTable, tenant_id: str, names: Sequence[tuple[str, str]],
             resource_type: str | ResourceType) -> None:
        """Count `names` ((path, JSON value type) each) sent for `tenant_id` in a committed
        write. Never raises: bookkeeping must not fail the request it is noted for."""
        if not names:
            return
        try:
            rtype = resource_type if isinstance(resource_type, str) else resource_type.name
            batch = self._take(tenant_id, names, rtype)
            if batch:
                try:
                    tenants.record_undeclared(tenant_id, batch, now_iso())
                except Exception:
                    self._give_back(tenant_id, batch)
                    raise
        except Exception as exc:
            log.warning("undeclared attributes not recorded (%s)", type(exc).__name__)

    def _take(self, tenant_id: str, names: Sequence[tuple[str, str]],
              rtype: str) -> dict[tuple[str, str, str], int]:
        now = self._clock()
        with self._lock:
            noted = self._tenants.get(tenant_id)
            if noted is None:
                if len(self._tenants) >= _MAX_NOTED_TENANTS:
                    self._tenants.clear()
                noted = self._tenants[tenant_id] = _Noted()
            first_sight = False
            for path, value_type in names:
                name = (rtype, path.lower())
                if name not in noted.known and len(noted.known) < MAX_UNDECLARED_NAMES:
                    noted.known.add(name)
                    first_sight = True
                item = (path, rtype, value_type)
                if item in noted.pending or len(noted.pending) < _MAX_PENDING:
                    noted.pending[item] += 1
            if not first_sight and now - noted.flushed < self._interval:
                return {}
            batch = dict(noted.pending)
            noted.pending.clear()
            noted.flushed = now
            return batch

    def _give_back(self, tenant_id: str, batch: Mapping[tuple[str, str, str], int]) -> None:
        """A failed flush: its counts wait for the next one (after `interval`)."""
        with self._lock:
            noted = self._tenants.get(tenant_id)
            if noted is not None:
                noted.pending.update(batch)


_notes = UndeclaredNotes()


def note_undeclared(tenants: TenantTable, tenant_id: str, names: Sequence[tuple[str, str]],
                    resource_type: str | ResourceType) -> None:
    """Record undeclared attributes sent in a write that has committed (never inside its
    transaction): throttled per instance, never raises (a failure is logged)."""
    _notes.note(tenants, tenant_id, names, resource_type)


# -- helpers ---------------------------------------------------------------------------------

def _tenant(tenants: TenantTable, tenant_id: str) -> Tenant:
    tenant = tenants.get(tenant_id)
    if tenant is None:
        raise NoSuchTenant(f"no tenant {tenant_id!r}; see `python -m shared.admin tenant list`")
    return tenant


def _declared(document: Mapping[str, Any], resource_type: str | None,
              origin: str) -> DeclaredSchema:
    """A schema document checked and loaded, with the resource type it extends."""
    given = document.get("resourceType")
    if given is not None and not isinstance(given, str):
        raise TenantSchemaError('"resourceType" must be "User" or "Group"')
    schema = load_schema({k: v for k, v in document.items() if k != "resourceType"})
    named = resource_type_of(schema.id)
    chosen = {_resource_type_name(t) for t in (resource_type, given) if t is not None}
    if len(chosen) > 1:
        raise TenantSchemaError(f'the resource type given ({resource_type}) differs from the '
                                f'document\'s "resourceType" ({given}); give one')
    rtype = chosen.pop() if chosen else named
    if rtype is None or rtype not in RESOURCE_TYPE_NAMES:
        raise TenantSchemaError(
            f"which resource type {schema.id} extends cannot be told from its URN (Entra's "
            'pattern ends in ":2.0:User"): add "resourceType": "User" or "Group" to the '
            "document, or give --resource-type")
    if named is not None and named != rtype:
        raise TenantSchemaError(f"{schema.id} names resource type {named} but extends {rtype} "
                                "here: give a URN that ends in :" + rtype)
    return DeclaredSchema(schema.id, rtype, {**document, "resourceType": rtype}, origin, schema)


def _resource_type_name(value: str) -> str:
    for name in RESOURCE_TYPE_NAMES:
        if value.lower() == name.lower():
            return name
    raise TenantSchemaError(f"the resource type must be User or Group, not {value!r}")


def _refuse_duplicate(new: DeclaredSchema, existing: Sequence[DeclaredSchema]) -> None:
    for other in existing:
        if other.urn.lower() != new.urn.lower():
            continue
        if other.origin == "tenant":
            raise TenantSchemaError(
                f"{new.urn} is already declared for this tenant (for {other.resource_type}); "
                f"to change it, `schema remove` it first, then add the new version")
        raise TenantSchemaError(f"{new.urn} is already declared for every tenant by the "
                                f"deployment ({other.origin})")


def _own(tenant: Tenant) -> list[DeclaredSchema]:
    """The tenant's declared schemas, loaded; one that no longer loads is kept with its
    problem (it can still be listed and removed)."""
    own = []
    for document in tenant.schemas:
        try:
            own.append(_declared(document, None, "tenant"))
        except ValueError as exc:
            urn = str(document.get("id", "?"))
            own.append(DeclaredSchema(urn, str(document.get("resourceType", "?")), document,
                                      "tenant", None, str(exc)))
            log.error("a schema declared by tenant %s does not load (%s)", tenant.id,
                      type(exc).__name__)
    return own


def _effective(tenant: Tenant) -> list[DeclaredSchema]:
    return [*deployment_schemas(), *_own(tenant)]


def _attributes(schema: Schema) -> int:
    return sum(1 + len(a.sub_attributes) for a in schema.attributes)


def _check_limits(tenant: Tenant) -> None:
    schemas = [d.schema for d in _own(tenant) if d.schema is not None]
    if len(tenant.schemas) > MAX_SCHEMAS:
        raise TenantSchemaError(f"a tenant declares at most {MAX_SCHEMAS} schemas; tenant "
                                f"{tenant.id} has {MAX_SCHEMAS} already: remove one first "
                                "(`schema remove`), or put the attributes into one schema")
    attributes = sum(map(_attributes, schemas))
    if attributes > MAX_ATTRIBUTES:
        raise TenantSchemaError(f"a tenant declares at most {MAX_ATTRIBUTES} attributes "
                                "(sub-attributes count too); with this schema tenant "
                                f"{tenant.id} would have {attributes}: declare only the "
                                "attributes Entra sends")
    unique = sum(1 for s in schemas for a in s.attributes if a.uniqueness != "none")
    if unique > MAX_UNIQUE_ATTRIBUTES:
        raise TenantSchemaError(f"a tenant declares at most {MAX_UNIQUE_ATTRIBUTES} attributes "
                                f'with "uniqueness" other than "none"; with this schema tenant '
                                f"{tenant.id} would have {unique}")
    units = record_units(tenant.model_dump_json())
    if units > MAX_RECORD_UNITS:
        raise TenantSchemaError(f"the tenant record would take {units} UTF-16 code units, more "
                                f"than the {MAX_RECORD_UNITS} stored: shorten the "
                                "descriptions, or declare fewer attributes")

