"""Custom attributes of a tenant (docs/entra-admin.md, "Custom attributes"): the extension
schemas it declares, the attributes Entra sent that no schema declares, and what a request
carrying one gets (the undeclared policy). shared/service/tenant_schemas.py holds the rules;
this is their operator's face.

Every instance applies a change within 30 s (it caches tenant records that long)."""

from __future__ import annotations

from typing import Any

from ..scim.schema import Attribute
from ..scim.schema_doc import SchemaError
from ..service import tenant_schemas
from ..service.tenant_schemas import POLICIES, TenantSchemaError
from ..store.tenants import UndeclaredAttribute
from .context import Deployment
from .errors import ManageError, conflict, invalid, not_found


def _attribute(path: str, attr: Attribute) -> dict[str, Any]:
    return {"path": path, "type": attr.type, "multi_valued": attr.multi_valued,
            "mutability": attr.mutability, "required": attr.required,
            "case_exact": attr.case_exact, "uniqueness": attr.uniqueness}


def _refused(exc: TenantSchemaError) -> ManageError:
    text = str(exc)
    return conflict(text) if "already declared" in text else invalid(text)


def add_schema(d: Deployment, tenant_id: str, document: dict[str, Any], *,
               resource_type: str | None = None) -> dict[str, Any]:
    """Declare an RFC 7643 schema document for the tenant; the resource type it extends is
    `resource_type`, else the document's "resourceType", else the end of its URN
    (`…:2.0:User`). Values Entra sent earlier under its attribute names are noted."""
    tenant = d.tenant(tenant_id)
    earlier = {(a.resource_type, a.path.lower()): a
               for a in tenant_schemas.undeclared(d.tenants, tenant.id)}
    try:
        # With the directory: values stored before a unique declaration are checked and
        # indexed.
        schema = tenant_schemas.add_schema(d.tenants, tenant.id, document, resource_type,
                                           directory=d.directory)
    except SchemaError as exc:
        raise invalid(str(exc)) from None
    except TenantSchemaError as exc:
        raise _refused(exc) from None
    declared = next(s for s in tenant_schemas.list_schemas(d.tenants, tenant.id)
                    if s.urn == schema.id)
    attributes = [_attribute(f"{schema.id}:{a.name}", a) for a in schema.attributes]
    attributes += [_attribute(f"{schema.id}:{a.name}.{s.name}", s)
                   for a in schema.attributes for s in a.sub_attributes]
    notes = []
    for attr in schema.attributes:
        seen = earlier.get((declared.resource_type, f"{schema.id}:{attr.name}".lower()))
        if seen is not None:
            notes.append(f"Entra sent {seen.path} {seen.count} time(s) before, as "
                         f"{', '.join(seen.types)}; values stored then are returned as stored "
                         f"until their next write checks them against type {attr.type}")
    return {"tenant_id": tenant.id, "urn": schema.id, "resource_type": declared.resource_type,
            "attributes": attributes, "notes": notes}


def list_schemas(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """The extension schemas in effect for the tenant (the deployment's, then its own) and
    its undeclared policy. A schema whose stored document no longer loads is listed with its
    `problem` and no attributes."""
    tenant = d.tenant(tenant_id)
    declared = tenant_schemas.list_schemas(d.tenants, tenant.id)
    return {"tenant_id": tenant.id, "undeclared_policy": tenant.undeclared, "schemas": [
        {"urn": s.urn, "resource_type": s.resource_type, "origin": s.origin,
         "attributes": [a.name for a in s.schema.attributes] if s.schema else [],
         "problem": s.problem, "document": s.document} for s in declared]}


def remove_schema(d: Deployment, tenant_id: str, urn: str) -> dict[str, Any]:
    """Withdraw a schema the tenant declared; values already stored stay in the resources as
    undeclared attributes."""
    tenant = d.tenant(tenant_id)
    try:
        removed = tenant_schemas.remove_schema(d.tenants, tenant.id, urn)
    except TenantSchemaError as exc:
        raise not_found(str(exc)) from None
    return {"tenant_id": tenant.id, "urn": removed.urn, "resource_type": removed.resource_type,
            "removed": True}


def _undeclared(attr: UndeclaredAttribute) -> dict[str, Any]:
    return {"path": attr.path, "resource_type": attr.resource_type,
            "first_seen": attr.first_seen, "last_seen": attr.last_seen, "count": attr.count,
            "types": list(attr.types)}


def list_undeclared(d: Deployment, tenant_id: str) -> list[dict[str, Any]]:
    """Attributes Entra sent the tenant that no schema declares, by resource type and path."""
    tenant = d.tenant(tenant_id)
    return [_undeclared(a) for a in tenant_schemas.undeclared(d.tenants, tenant.id)]


def undeclared_overflow(d: Deployment, tenant_id: str) -> dict[str, Any] | None:
    """Sightings of further undeclared names, beyond those recorded by name (None: none)."""
    tenant = d.tenant(tenant_id)
    overflow = tenant_schemas.undeclared_overflow(d.tenants, tenant.id)
    if overflow is None:
        return None
    return {"count": overflow.count, "first_seen": overflow.first_seen,
            "last_seen": overflow.last_seen}


def set_undeclared_policy(d: Deployment, tenant_id: str, policy: str) -> dict[str, Any]:
    """capture (stored as sent, listed as undeclared) or reject (a 400 naming it)."""
    if policy not in POLICIES:
        raise invalid(f"the policy must be {' or '.join(POLICIES)}, not {policy!r}")
    tenant = d.tenant(tenant_id)
    tenant_schemas.set_policy(d.tenants, tenant.id, policy)
    return {"tenant_id": tenant.id, "undeclared_policy": policy}
