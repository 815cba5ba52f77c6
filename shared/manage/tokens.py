"""A tenant's Secret Tokens (what Entra's provisioning job holds): add a second one to rotate
without downtime (shown once), list them with their last use, revoke one."""

from __future__ import annotations

from typing import Any

from ..auth.tenants import issue_token
from ..store.tenants import Tenant
from .context import Deployment
from .errors import conflict, not_found


def token_rows(d: Deployment, tenant: Tenant) -> list[dict[str, Any]]:
    # Last use is written at most hourly per token and instance (the authenticator): "last
    # used" is accurate to the hour.
    used = d.tenants.last_uses(tenant.id)
    return [{"token_id": t.id, "prefix": t.prefix, "created": t.created,
             "last_used": used.get(t.id)} for t in tenant.tokens]


def add_token(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """A new Secret Token for the tenant (in the answer only: stored as a digest). At most two
    are active: a third is a 409 that says to revoke one."""
    tenant = d.tenant(tenant_id)
    if tenant.deleting:
        raise conflict(f"tenant {tenant_id} is being deleted; it gets no new token")
    try:
        token = issue_token(tenant)
    except ValueError as exc:
        raise conflict(f"tenant {tenant_id} already has two active tokens; revoke one first "
                       "(the one Entra no longer uses: see each token's last use)") from exc
    d.tenants.save(tenant)  # only over the version read: a concurrent revoke is kept
    issued = tenant.tokens[-1]
    return {"tenant_id": tenant.id, "tenant_url": d.tenant_url(tenant.id), "token": token,
            "token_id": issued.id, "prefix": issued.prefix, "created": issued.created}


def list_tokens(d: Deployment, tenant_id: str) -> list[dict[str, Any]]:
    return token_rows(d, d.tenant(tenant_id))


def revoke_token(d: Deployment, tenant_id: str, token_id: str) -> dict[str, Any]:
    """Revoke a token: refused at once by this process, by other instances within 30 s."""
    tenant = d.tenant(tenant_id)
    kept = [t for t in tenant.tokens if t.id != token_id]
    if len(kept) == len(tenant.tokens):
        raise not_found(f"tenant {tenant_id} has no token {token_id!r}; list its tokens for "
                        "their ids")
    tenant.tokens = kept
    d.tenants.save(tenant)
    if d.service is not None:
        d.service.auth.forget(tenant_id)
    return {"tenant_id": tenant.id, "token_id": token_id, "revoked": True}
