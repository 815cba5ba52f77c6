"""Tenants: create one (its Tenant URL and first Secret Token, shown once), list them, show one
with everything an operator checks (tokens, webhook, schemas, feed credentials, clients),
disable or enable one, and delete one with all of its data (offboarding)."""

from __future__ import annotations

from typing import Any

from ..auth.tenants import issue_token, new_tenant_id
from ..store.tenants import Tenant
from ..timestamps import now_iso
from .context import Deployment
from .errors import conflict, invalid
from .tokens import token_rows

MAX_NAME = 100
# What an operator sees of a webhook's signing secret: enough to tell two apart.
SECRET_PREFIX_CHARS = 10


def create_tenant(d: Deployment, name: str) -> dict[str, Any]:
    """A new tenant with its first Secret Token (in the answer only: stored as a digest)."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise invalid(f"a tenant name is 1 to {MAX_NAME} printable characters (no line breaks "
                      "or control characters)")
    # The first tenant of a fresh deployment may come before any table exists; the only
    # operation that creates them (a read needs none, and a read-only role could not).
    d.tables.ensure()
    tenant = Tenant(id=new_tenant_id(), name=name, created=now_iso())
    token = issue_token(tenant)
    d.tenants.create(tenant)
    return {"tenant_id": tenant.id, "name": tenant.name, "tenant_url": d.tenant_url(tenant.id),
            "token": token, "token_id": tenant.tokens[0].id, "created": tenant.created}


def state_of(tenant: Tenant) -> str:
    if tenant.deleting:
        return "deleting"
    return "disabled" if tenant.disabled else "active"


def tenant_row(d: Deployment, tenant: Tenant) -> dict[str, Any]:
    """A tenant as `list_tenants` lists it."""
    return {"tenant_id": tenant.id, "name": tenant.name, "state": state_of(tenant),
            "created": tenant.created, "tenant_url": d.tenant_url(tenant.id),
            "tokens": len(tenant.tokens)}


def list_tenants(d: Deployment) -> list[dict[str, Any]]:
    return [tenant_row(d, t) for t in sorted(d.tenants.all(), key=lambda t: (t.created, t.id))]


def show_tenant(d: Deployment, tenant_id: str) -> dict[str, Any]:
    tenant = d.tenant(tenant_id)
    webhook = None
    if tenant.webhook_url is not None:
        webhook = {"url": tenant.webhook_url,
                   "secret_prefix": (tenant.webhook_secret or "")[:SECRET_PREFIX_CHARS] or None,
                   "types": list(tenant.webhook_types)}
    return {
        "tenant_id": tenant.id, "name": tenant.name, "state": state_of(tenant),
        "created": tenant.created, "tenant_url": d.tenant_url(tenant.id),
        "auth_methods": list(tenant.auth_methods), "entra_tenant_id": tenant.entra_tenant_id,
        "tokens": token_rows(d, tenant), "webhook": webhook,
        "schemas": [str(s.get("id")) for s in tenant.schemas],
        "undeclared_policy": tenant.undeclared,
        # Feed credentials keep no display prefix (only a digest): all begin with `feed_`.
        "feed_tokens": [{"token_id": t.id, "prefix": None, "created": t.created}
                        for t in tenant.feed_tokens],
        "clients": len(tenant.clients),
    }


def set_tenant_state(d: Deployment, tenant_id: str, *, disabled: bool) -> dict[str, Any]:
    """Disable (every request of the tenant gets 401) or enable it again. Another instance's
    cached authentications end within 30 s; this process's at once."""
    tenant = d.tenant(tenant_id)
    if tenant.deleting:
        raise conflict(f"tenant {tenant_id} is being deleted; it cannot be enabled or disabled "
                       "(finish the deletion: DELETE /manage/v1/tenants/{id} again)")
    if tenant.disabled != disabled:
        tenant.disabled = disabled
        d.tenants.save(tenant)  # only over the version read: PreconditionFailed -> 409
        forget_sessions(d, tenant_id)
    return show_tenant(d, tenant_id)


def forget_sessions(d: Deployment, tenant_id: str) -> None:
    """Drop what this process cached about the tenant's credentials, so a change of them holds
    here at once (other instances' caches expire within 30 s)."""
    if d.service is not None:
        d.service.auth.forget(tenant_id)
        d.service.feed_auth.forget()
