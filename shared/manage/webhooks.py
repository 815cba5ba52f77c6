"""A tenant's webhook (docs/change-feed.md): the endpoint its change events are POSTed to, the
secret they are signed with and the event types it receives. Also the checks the
deployment-wide subscription (subscription.py) shares: URL, secret, type patterns, and sending
a signed test event.

Instances read tenant records through a 30 s cache: a change reaches every one within that."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..feed import events, filters, signing
from ..feed.delivery import Sender
from ..settings import Settings
from ..store.tenants import Tenant
from ..timestamps import iso
from .context import Deployment
from .errors import conflict, invalid

TYPES_HELP = ("comma-separated event types: user.deactivated, user.*, group.members.*, or * "
              "for every type")
# Enough of a secret to tell two apart, far too little to sign with.
SECRET_PREFIX_LENGTH = 10


def check_url(url: str) -> str:
    """https, or http to a loopback address (local receivers and tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise invalid("the webhook URL must be https:// (http:// only to localhost)")


def event_types(patterns: Sequence[str]) -> list[str]:
    """Type patterns as stored ([] = every type); the error names the known types. Each item
    may itself be a comma list, as an operator types it."""
    try:
        return filters.parse(",".join(patterns))
    except filters.FilterError as exc:
        raise invalid(f"types: {exc}") from None


def signing_secret(given: str | None) -> str:
    """The secret given, checked, or a new random one."""
    secret = given or signing.new_secret()
    if not signing.is_secret(secret):
        raise invalid("the secret must be whsec_ followed by base64 (≥ 16 bytes)")
    return secret


def secret_prefix(secret: str | None) -> str | None:
    return secret[:SECRET_PREFIX_LENGTH] if secret else None


def send_test_event(settings: Settings, url: str, secret: str,
                    event: events.ChangeEvent) -> dict[str, Any]:
    """POST one signed test event now, as delivery would: its HTTP status (0: no answer) and
    what went wrong (None when delivered)."""
    sender = Sender(settings.webhook_timeout_seconds)
    try:
        attempt = sender.send(url, secret, event.id, event.body)
    finally:
        sender.close()
    return {"status": attempt.status, "url": url, "event_id": event.id,
            "error": None if attempt.ok else attempt.error}


def _shown(tenant: Tenant) -> dict[str, Any]:
    return {"tenant_id": tenant.id, "url": tenant.webhook_url,
            "secret_prefix": secret_prefix(tenant.webhook_secret),
            "types": list(tenant.webhook_types)}


def set_webhook(d: Deployment, tenant_id: str, url: str, *, secret: str | None = None,
                types: Sequence[str] | None = None) -> dict[str, Any]:
    """Set the URL and secret (a new random one unless given; shown this once) and, when
    given, the types (else the current filter stays)."""
    tenant = d.tenant(tenant_id)
    checked_url, chosen = check_url(url), signing_secret(secret)
    if types is not None:
        tenant.webhook_types = event_types(types)
    tenant.webhook_url, tenant.webhook_secret = checked_url, chosen
    d.tenants.save(tenant)
    out = _shown(tenant)
    if secret is None:
        out["secret"] = chosen
    return out


def show_webhook(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """URL (None when there is none), secret prefix and types: never the secret."""
    return _shown(d.tenant(tenant_id))


def set_webhook_types(d: Deployment, tenant_id: str, patterns: Sequence[str]
                      ) -> dict[str, Any]:
    """Which event types the webhook receives from now on (`*`: every type)."""
    tenant = d.tenant(tenant_id)
    tenant.webhook_types = event_types(patterns)
    d.tenants.save(tenant)
    return _shown(tenant)


def clear_webhook(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """Stop delivering: the tenant's pending events are held, then discarded."""
    tenant = d.tenant(tenant_id)
    tenant.webhook_url = tenant.webhook_secret = None
    d.tenants.save(tenant)
    return _shown(tenant)


def test_webhook(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """Send a signed `webhook.test` event to the webhook now (never stored)."""
    tenant = d.tenant(tenant_id)
    if tenant.webhook_url is None or tenant.webhook_secret is None:
        raise conflict(f"tenant {tenant.id} has no webhook; set one first (`webhook set` or "
                       f"PUT /manage/v1/tenants/{tenant.id}/webhook)")
    event = events.webhook_test_event(tenant.id, d.tenant_url(tenant.id),
                                      iso(datetime.now(UTC)),
                                      type_prefix=d.settings.event_type_prefix)
    return {"tenant_id": tenant.id,
            **send_test_event(d.settings, tenant.webhook_url, tenant.webhook_secret, event)}
