"""Tenants: create one (its Tenant URL and first Secret Token, shown once), list them, show one
with everything an operator checks (tokens, webhook, schemas, feed credentials, clients),
disable or enable one, and delete one with all of its data (offboarding).

Deleting marks the tenant `deleting` first (its SCIM, token-endpoint and feed requests are
refused from then on, delivery and the reconciler skip it), then purges every row keyed by it:
its data partition (users, groups, indexes, memberships, journals, outbox and dead letters of
both lanes, the published feed, its delivery lease), its audit partition and request counters,
its rows of the tenants table besides the record (token last use, undeclared attributes) and
its repair progress and mark in the runs table; the record goes last, so a deletion cut short
is found and resumed by calling again. Another instance may still accept a request for up to
its authentication cache's 30 s after the mark, so the record is deleted only after a purge
pass that began SETTLE_SECONDS after the mark found nothing left: a write that slipped in is
purged too, never orphaned."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..auth.tenants import issue_token, new_tenant_id
from ..store import layout
from ..store.backend import Backend
from ..store.purge import delete_partition
from ..store.tenants import Tenant
from ..timestamps import now_iso, parse_iso
from .context import Deployment
from .errors import conflict, invalid
from .tokens import token_rows

Progress = Callable[[str], None]
# Other instances' cached authentications (30 s) and a request's storage deadline: after this
# long past the mark, no request of the tenant can still be writing.
SETTLE_SECONDS = 40.0
_PROGRESS_EVERY = 1000  # rows between progress lines

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


def delete_tenant(d: Deployment, tenant_id: str, *, budget_seconds: float | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Offboard a tenant with all of its data (see the module's docstring). Resumable: a call
    continues whatever an earlier one left. With a budget, stops once it is spent (between
    transactions) and answers `complete: false`: call again. `removed` counts the rows this
    call deleted."""
    started = time.monotonic()

    def over() -> bool:
        return budget_seconds is not None and time.monotonic() - started >= budget_seconds

    tenant = d.tenant(tenant_id)
    if tenant.deleting_since is None:
        tenant.deleting_since, tenant.disabled = now_iso(), True
        d.tenants.save(tenant)  # only over the version read: PreconditionFailed -> 409
        forget_sessions(d, tenant_id)
        _say(progress, f"tenant {tenant_id} marked deleting: its requests are refused")
    settled_at = parse_iso(tenant.deleting_since).timestamp() + SETTLE_SECONDS
    counted = _Removed(progress)
    while True:
        pass_began = datetime.now(UTC).timestamp()
        if not _purge_pass(d, tenant_id, counted, over):
            return _outcome(tenant_id, False, counted)
        if pass_began >= settled_at:
            break  # began after every request of the tenant ended: nothing can come back
        wait = settled_at - datetime.now(UTC).timestamp()
        if budget_seconds is not None and time.monotonic() - started + wait > budget_seconds:
            _say(progress, f"waiting {wait:.0f} s for requests accepted before the mark to "
                 "end; call again to finish")
            return _outcome(tenant_id, False, counted)
        _say(progress, f"waiting {max(wait, 0):.0f} s for requests accepted before the mark "
             "to end, then checking once more")
        time.sleep(max(wait, 0.0))
    d.tenants.delete(tenant_id)
    counted.other += 1
    _say(progress, f"tenant {tenant_id} deleted ({counted.total} rows)")
    return _outcome(tenant_id, True, counted)


class _Removed:
    """Rows deleted so far, by table, with a progress line every _PROGRESS_EVERY."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.data = self.audit = self.other = 0
        self._reported = 0

    @property
    def total(self) -> int:
        return self.data + self.audit + self.other

    def adder(self, what: str) -> Callable[[int], None]:
        return lambda n: self.add(what, n)

    def add(self, what: str, n: int) -> None:
        setattr(self, what, getattr(self, what) + n)
        if self.total - self._reported >= _PROGRESS_EVERY:
            self._reported = self.total
            _say(self.progress, f"{self.total} rows deleted")


def _purge_pass(d: Deployment, tenant_id: str, counted: _Removed,
                over: Callable[[], bool]) -> bool:
    """Purge every row of the tenant but its record; False when the budget ran out."""
    partitions: list[tuple[str, Backend, str, frozenset[str]]] = [
        ("data", d.tables.data, tenant_id, frozenset()),
        ("audit", d.tables.audit, layout.audit_partition(tenant_id), frozenset()),
        ("audit", d.tables.audit, layout.stats_partition(tenant_id), frozenset()),
        ("other", d.tables.tenants, tenant_id, frozenset({layout.TENANT_ROW})),
    ]
    for what, table, partition, keep in partitions:
        if not delete_partition(table, partition, keep=keep, over=over,
                                deleted=counted.adder(what)):
            return False
        if over():
            return False
    counted.add("other", d.runs.forget_tenant(tenant_id))
    return True


def _outcome(tenant_id: str, complete: bool, counted: _Removed) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "complete": complete,
            "removed": {"data_rows": counted.data, "audit_rows": counted.audit,
                        "other_rows": counted.other}}


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
