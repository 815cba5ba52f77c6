"""Credentials of the pull API (`GET /feed/v1/…`, shared/auth/feed_tokens.py): a tenant's own,
which read its feed only, or deployment-wide ones (tenant None), which read every tenant's.

Up to two each (rotation: issue the second, switch the reader, revoke the first). A token is
shown once, when issued; only its digest is stored. A revoke takes effect on every instance
within 30 s (their caches)."""

from __future__ import annotations

from typing import Any

from ..auth import feed_tokens
from .context import Deployment
from .errors import conflict, not_found
from .tenants import forget_sessions

DEPLOYMENT = "deployment"
TENANT = "tenant"


def issue_feed_token(d: Deployment, tenant_id: str | None) -> dict[str, Any]:
    """A new feed credential (shown this once) of the tenant, or of the deployment (None)."""
    if tenant_id is None:
        try:
            row, secret = feed_tokens.issue_deployment(d.deployment_feed_tokens.all())
        except ValueError as exc:
            raise conflict(str(exc)) from None
        d.deployment_feed_tokens.create(row)
        return {"token_id": row.id, "token": secret, "scope": DEPLOYMENT, "tenant_id": None,
                "feed_url": d.settings.feed_url("{tenant}")}
    record = d.tenant(tenant_id)
    try:
        secret = feed_tokens.issue(record)
    except ValueError as exc:
        raise conflict(str(exc)) from None
    d.tenants.save(record)  # only over the version read: a concurrent revoke is kept
    return {"token_id": record.feed_tokens[-1].id, "token": secret, "scope": TENANT,
            "tenant_id": record.id, "feed_url": d.settings.feed_url(record.id)}


def list_feed_tokens(d: Deployment, tenant_id: str | None) -> list[dict[str, Any]]:
    """The credentials' ids and creation times, never a token. `prefix` is None: only a
    digest of a feed token is stored."""
    if tenant_id is None:
        return [{"token_id": t.id, "prefix": None, "created": t.created, "scope": DEPLOYMENT}
                for t in d.deployment_feed_tokens.all()]
    return [{"token_id": t.id, "prefix": None, "created": t.created, "scope": TENANT}
            for t in d.tenant(tenant_id).feed_tokens]


def revoke_feed_token(d: Deployment, tenant_id: str | None, token_id: str) -> dict[str, Any]:
    """Revoke one credential; readers using it are refused within 30 s."""
    if tenant_id is None:
        if not d.deployment_feed_tokens.revoke(token_id):
            raise not_found(f"the deployment has no feed token {token_id!r}; list them "
                            "(`feed tokens --deployment`)")
        if d.service is not None:  # this process refuses it at once, others within 30 s
            d.service.feed_auth.forget()
        return {"token_id": token_id, "scope": DEPLOYMENT, "tenant_id": None, "revoked": True}
    record = d.tenant(tenant_id)
    kept = [t for t in record.feed_tokens if t.id != token_id]
    if len(kept) == len(record.feed_tokens):
        raise not_found(f"tenant {record.id} has no feed token {token_id!r}; list them "
                        f"(`feed tokens {record.id}`)")
    record.feed_tokens = kept
    d.tenants.save(record)
    forget_sessions(d, record.id)
    return {"token_id": token_id, "scope": TENANT, "tenant_id": record.id, "revoked": True}
