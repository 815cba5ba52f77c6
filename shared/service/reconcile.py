"""One reconciler run, bounded by SCIM_RECONCILE_BUDGET_SECONDS; whatever it does not reach,
the next tick does. Per tenant, in this order:

1. finish journalled changes a crash cut in half, and every SCIM_REPAIR_INTERVAL_HOURS, at the
   tenant's own time of the interval (repair_slots.py), or right after finishing one, check
   and repair the store invariants (store/invariants.py, given the tenant's indexer: the rows
   its kinds' `indexes` call for, declared unique extension attributes included). A pass
   walks the partition in RowKey order and may take several runs: its position is saved in
   the runs table every page and when the step stops (its row is also its lease: runs.py),
   and the next run goes on from there. A step takes at most half of what is left of the
   run's budget, so one large tenant's pass does not keep this and later tenants' outboxes
   from being delivered; a tenant is marked repaired when its pass reaches the end;
2. retention: hard-delete users deactivated longer than SCIM_RETENTION_DAYS (off by default),
   through the same path as a DELETE, so the same events are emitted; and drop the events of
   the published feed (store/feed_log.py) published longer than SCIM_FEED_HOLD_DAYS ago;
3. publish the tenant's new events and deliver the outbox to the tenant's webhook
   (feed/delivery.py), including step 2's events.
   With queues on (SCIM_QUEUE_STORAGE), commits signal a queue-triggered pass within seconds
   and this step is their safety net: it clears a stale signal (a crash between commit and
   signal) and delivers under the tenant's lease (service/deliver.py), skipping a tenant whose
   queue-triggered pass is running.

Before these steps, the tenant's OAuth client secrets that expire within
clients.EXPIRY_WARNING (or have expired) are counted and each logged as a warning, so the
operator adds a new secret before the one Entra holds stops working.

Then audit entries older than SCIM_AUDIT_RETENTION_DAYS are purged, and the run's summary is
written to the runs table (/health shows it) and logged as one structured record.
Every step is idempotent: a run cut short, or two overlapping runs, leave nothing wrong.

With queues on, the timer calls `schedule` instead of `run`: it sends one work item per tenant
(and the whole-table audit sweep when due) to SCIM_WORK_QUEUE and records a summary with the
poison queues' counts; the work queue trigger runs each item through `tenant_work`, within
SCIM_WORK_BUDGET_SECONDS: the same steps for that tenant alone, except that delivery is only
signalled (the deliver queue trigger delivers). A repair pass the budget cuts goes on in a
`repair` item. One tenant's work so never waits for, nor fails with, another's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import telemetry
from ..auth import clients
from ..feed.delivery import Deliverer, DeliveryStats, Sender
from ..store import invariants, layout
from ..store.audit import AuditTable
from ..store.errors import AlreadyExists, PreconditionFailed
from ..store.feed_log import FeedLog
from ..store.outbox import DEPLOYMENT_LANE, LANES, Outbox
from ..store.queues import WorkQueue, queues_for
from ..store.tenants import Tenant
from ..timestamps import iso, parse_iso
from .app import ScimService
from .deliver import deliverer, publish, run_pass
from .kinds import USERS, Kind, TenantKinds
from .repair_slots import repair_due

log = logging.getLogger("scim.reconcile")
_SWEEP_EVERY = timedelta(days=1)
# How long a repair pass stays held by the run that last saved it (every page renews it): a
# run that died is taken over after this. A run that stops on its budget releases it at once.
REPAIR_LEASE = timedelta(minutes=5)
# The part of what is left of the run's budget one tenant's repair step may take.
_REPAIR_SHARE = 0.5
WORK_VERSION = 1
TASKS = ("tenant", "repair", "audit-sweep")
# A repair continuation waits this long: the step just released its lease.
_CONTINUE_DELAY_S = 1.0


@dataclass
class _Run:
    service: ScimService
    deadline: float
    now: datetime
    marks: dict[str, str]
    passes: dict[str, tuple[invariants.Progress, str, str]]
    deliverer: Deliverer | None  # None for a queued work item: it signals, never delivers
    delivery: DeliveryStats
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    repair_share: float = _REPAIR_SHARE
    repaired: int = 0
    unrepaired: int = 0
    repair_incomplete: int = 0
    retention_deleted: int = 0
    feed_purged: int = 0
    expiring_secrets: int = 0
    errors: int = 0

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def due(self, mark: str, every: timedelta) -> bool:
        last = self.marks.get(mark)
        return not last or parse_iso(last) <= self.now - every


def run(service: ScimService, *, tenants: Iterable[str] | None = None,
        sender: Sender | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One run over every tenant (or the given tenant ids). Returns the summary it records.
    `progress` hears one line per tenant done (an operator's run can take minutes)."""
    settings = service.settings
    ids = list(tenants) if tenants is not None else None
    started = time.monotonic()
    now = datetime.now(UTC)
    own_sender = sender is None
    sender = sender or Sender(settings.webhook_timeout_seconds)
    state = _Run(service, started + settings.reconcile_budget_seconds, now,
                 service.runs.marks(), service.runs.repair_passes(),
                 deliverer(service, Outbox(service.directory), sender), DeliveryStats(),
                 repair_share=_REPAIR_SHARE)
    visited = 0
    audit_purged = 0
    try:
        for tenant in _tenants(service, ids):
            if state.over():
                state.delivery.incomplete = True
                break
            visited += 1
            state.expiring_secrets += _warn_expiring(tenant, now)
            try:
                _tenant(state, tenant)
            except Exception as exc:  # one tenant's failure must not stop the others
                state.errors += 1
                log.warning("reconcile tenant=%s failed (%s)", tenant.id, type(exc).__name__)
                if progress is not None:
                    progress(f"tenant {tenant.id} failed ({type(exc).__name__})")
            else:
                if progress is not None:
                    progress(f"tenant {tenant.id} done ({visited} so far)")
        if not state.over():
            if progress is not None:
                progress("purging expired audit entries")
            audit_purged = _purge_audit(state, ids)
    finally:
        if own_sender:
            sender.close()
    d = state.delivery
    # The deployment-wide subscription's share of the delivery counts (they cover both lanes).
    shared = d.lane(DEPLOYMENT_LANE.name)
    summary: dict[str, Any] = {
        "time": iso(now), "duration_s": round(time.monotonic() - started, 3),
        "tenants": visited, "delivered": d.delivered, "failed": d.failed,
        "dead_lettered": d.dead_lettered, "discarded": d.discarded, "backlog": d.backlog,
        "deployment_delivered": shared.delivered, "deployment_failed": shared.failed,
        "repaired": state.repaired, "unrepaired": state.unrepaired,
        "repair_incomplete": state.repair_incomplete,
        "retention_deleted": state.retention_deleted, "feed_purged": state.feed_purged,
        "audit_purged": audit_purged,
        "expiring_secrets": state.expiring_secrets, "errors": state.errors,
        "incomplete": d.incomplete,
    }
    try:
        service.runs.record(summary)
    except Exception as exc:
        state.errors += 1
        log.warning("reconcile summary not recorded (%s)", type(exc).__name__)
    log.info("reconcile run %s", json.dumps(summary), extra=telemetry.fields(
        telemetry.RECONCILE_RUN, mode="inline", tenants=visited, errors=state.errors,
        incomplete=d.incomplete, backlog=d.backlog,
        backlog_age_s=telemetry.age_seconds(d.oldest_pending, datetime.now(UTC)),
        failed=d.failed, dead_lettered=d.dead_lettered))
    return summary


def _tenants(service: ScimService, ids: Iterable[str] | None) -> Iterable[Tenant]:
    """The tenants to reconcile: not those being deleted (their rows are being purged)."""
    found = (service.tenants.all() if ids is None
             else (service.tenants.get(i) for i in ids))
    return (t for t in found if t is not None and not t.deleting)


def _warn_expiring(tenant: Tenant, now: datetime) -> int:
    """Log each client secret of the tenant that expires soon or has expired (ids only, never
    secret material); the number of them."""
    found = clients.expiring(tenant, now)
    for secret in found:
        if secret.days_left > 0:
            log.warning("client secret expires soon tenant=%s client=%s secret=%s "
                        "days_left=%.1f expires=%s: add a new one (python -m shared.admin "
                        "client add %s --client %s)", tenant.id, secret.client_id,
                        secret.secret_id, secret.days_left, secret.expires, tenant.id,
                        secret.client_id)
        else:
            log.warning("client secret expired tenant=%s client=%s secret=%s days_left=%.1f "
                        "expires=%s: it no longer authenticates; add a new one if Entra uses "
                        "this client, and revoke it (python -m shared.admin client revoke %s "
                        "%s --secret %s)", tenant.id, secret.client_id, secret.secret_id,
                        secret.days_left, secret.expires, tenant.id, secret.client_id,
                        secret.secret_id)
    return len(found)


def _tenant(state: _Run, tenant: Tenant) -> None:
    service = state.service
    _maintain(state, tenant)
    if state.over():
        state.delivery.incomplete = True
    elif state.deliverer is None:
        raise AssertionError("a run that delivers has a deliverer")
    elif service.delivery_signals is None:
        publish(service, tenant, datetime.now(UTC), over=state.over)
        state.delivery.add(state.deliverer.deliver(tenant, state.deadline))
    else:
        # Queues on: the safety net of the signals. Through the tenant's lease, so that this
        # pass and a queue-triggered one never overlap (per-resource order).
        service.delivery_signals.clear_stale(tenant.id, state.now)
        outcome = run_pass(service, service.delivery_signals, tenant,
                           sender=state.deliverer.sender, deadline=state.deadline)
        state.delivery.add(outcome.stats)


def _maintain(state: _Run, tenant: Tenant, *, retention: bool = True) -> None:
    """Journals, the repair step when one is due or under way, and retention."""
    service, settings = state.service, state.service.settings
    kinds = service.kinds_for(tenant)
    journals = service.directory.complete_pending(tenant.id)
    state.repaired += journals
    under_way = state.passes.get(tenant.id)
    last = state.marks.get(layout.repair_mark(tenant.id))
    if (under_way is not None or journals
            or repair_due(tenant.id, parse_iso(last) if last else None, state.now,
                          timedelta(hours=settings.repair_interval_hours))):
        _repair(state, tenant.id, kinds, under_way)
    if retention and settings.retention_days > 0 and not state.over():
        state.retention_deleted += purge_deactivated(
            service, tenant.id, state.now - timedelta(days=settings.retention_days), state,
            users=kinds.users)
    if retention and not state.over():
        # Pullable for the hold period, whether or not a webhook delivered them.
        state.feed_purged += FeedLog(service.directory).purge(
            tenant.id, state.now - timedelta(days=settings.feed_hold_days), over=state.over)


def _repair(state: _Run, tenant: str, kinds: TenantKinds,
            under_way: tuple[invariants.Progress, str, str] | None) -> None:
    """One step of the tenant's repair pass: a new pass, or the one under way unless another
    run holds it. Its row is saved (as this run's lease) before the step, every page and
    when the step stops; a save refused means another run took the pass over, and this one
    leaves it."""
    service, runs = state.service, state.service.runs

    def lease(at: datetime) -> str:
        return iso(at + REPAIR_LEASE)

    now = datetime.now(UTC)
    if under_way is None:
        progress, etag = invariants.Progress(started=iso(state.now)), None
    else:
        progress, etag, until = under_way
        if until and parse_iso(until) > now:
            return  # another run's step, still going
    held = {"etag": ""}

    def checkpoint(at: invariants.Progress) -> None:
        held["etag"] = runs.save_repair_progress(tenant, at, etag=held["etag"],
                                                 owner=state.owner,
                                                 lease_until=lease(datetime.now(UTC)))

    started = time.monotonic()
    step_ends = started + max(0.0, state.deadline - started) * state.repair_share
    try:
        held["etag"] = runs.save_repair_progress(tenant, progress, etag=etag,
                                                 owner=state.owner, lease_until=lease(now))
        report, left = invariants.repair_step(
            service.directory, tenant, indexer=kinds.stored_indexes, progress=progress,
            over=lambda: time.monotonic() >= step_ends,
            concurrency=service.settings.repair_concurrency, checkpoint=checkpoint)
    except (AlreadyExists, PreconditionFailed):
        log.info("repair tenant=%s taken over by another run", tenant)
        return
    state.repaired += report.repaired
    state.unrepaired += len(report.unrepaired)
    if report.repaired or report.unrepaired:
        log.warning("store repaired %s", json.dumps(report.as_dict()))
    if left is None:
        runs.mark(layout.repair_mark(tenant), iso(state.now))
        # Refused: another run took the pass over after our last save, and finishes it.
        with contextlib.suppress(PreconditionFailed):
            runs.finish_repair(tenant, held["etag"])
        return
    state.repair_incomplete += 1
    with contextlib.suppress(PreconditionFailed):  # released: the next run goes on at once
        runs.save_repair_progress(tenant, left, etag=held["etag"], owner=state.owner,
                                  lease_until=iso(datetime.now(UTC)))
    # Counts only: the position is a RowKey, which may hold an indexed value.
    log.info("repair tenant=%s continues next run found=%d repaired=%d unrepaired=%d", tenant,
             left.found, left.repaired, left.unrepaired)


def purge_deactivated(service: ScimService, tenant: str, cutoff: datetime,
                      state: _Run | None = None, *, users: Kind = USERS) -> int:
    """Hard-delete users deactivated before `cutoff`, each conditionally on the version that
    was read: a user reactivated (or changed) meanwhile is left alone. `users` is the tenant's
    kind: its index rows (declared unique attributes included) go with the user."""
    deleted = 0
    for stored in service.directory.deactivated_users(tenant, iso(cutoff)):
        if state is not None and state.over():
            break
        if stored.doc.get("active") is not False:
            continue
        try:
            service.resources.remove(users, tenant, stored)
        except PreconditionFailed:  # changed since read; the next run looks again
            continue
        deleted += 1
    return deleted


def _purge_audit(state: _Run, tenants: list[str] | None, *, sweep: bool = False) -> int:
    """Per-tenant range deletes every run; once a day (or when `sweep` is asked for) a sweep
    of the whole table (partitions of tenant ids that do not exist, from failed
    authentications)."""
    days = state.service.settings.audit_retention_days
    if days <= 0:
        return 0
    table = AuditTable(state.service.tables.audit)
    before = state.now - timedelta(days=days)
    if tenants is None and (sweep or state.due(layout.AUDIT_SWEEP_MARK, _SWEEP_EVERY)):
        removed = table.purge(before, deadline_check=state.over)
        if not state.over():
            state.service.runs.mark(layout.AUDIT_SWEEP_MARK, iso(state.now))
        return removed
    removed = 0
    for tenant in tenants if tenants is not None else (t.id for t in state.service.tenants.all()):
        if state.over():
            break
        removed += table.purge(before, tenant=tenant, deadline_check=state.over)
    return removed


def work_item(task: str, tick: str, tenant: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"v": WORK_VERSION, "task": task, "tick": tick}
    if tenant is not None:
        item["tenant"] = tenant
    return item


def schedule(service: ScimService, *, now: datetime | None = None) -> dict[str, Any]:
    """The timer's tick with queues on: one `tenant` work item per tenant, the audit sweep
    when due, and a summary (with both poison queues' counts) recorded for /health."""
    queues = queues_for(service.settings)
    if queues is None:
        raise RuntimeError("schedule needs queues (SCIM_QUEUE_STORAGE); run() works without")
    started = time.monotonic()
    now = now or datetime.now(UTC)
    tick = iso(now)
    tenants = scheduled = errors = 0
    for tenant in service.tenants.all():
        if tenant.deleting:
            continue  # being purged: no work item may write its rows again
        tenants += 1
        try:
            queues.work.send(work_item("tenant", tick, tenant.id))
            scheduled += 1
        except Exception as exc:  # the next tick sends it again
            errors += 1
            log.warning("reconcile tenant=%s not scheduled (%s)", tenant.id, type(exc).__name__)
    sweep = False
    if service.settings.audit_retention_days > 0:
        try:
            last = service.runs.marks().get(layout.AUDIT_SWEEP_MARK)
            if not last or parse_iso(last) <= now - _SWEEP_EVERY:
                queues.work.send(work_item("audit-sweep", tick))
                sweep = True
        except Exception as exc:  # the next tick looks again
            errors += 1
            log.warning("audit sweep not scheduled (%s)", type(exc).__name__)
    poison: dict[str, int | None] = {}
    for field_name, queue in (("poison_deliver", queues.deliver_poison),
                              ("poison_work", queues.work_poison)):
        poison[field_name] = _poison_count(queue)
        if poison[field_name] is None:
            errors += 1
    summary: dict[str, Any] = {
        "time": tick, "mode": "queued", "duration_s": round(time.monotonic() - started, 3),
        "tenants": tenants, "scheduled": scheduled, "audit_sweep": sweep, **poison,
        "errors": errors}
    try:
        service.runs.record(summary)
    except Exception as exc:
        summary["errors"] += 1
        log.warning("reconcile summary not recorded (%s)", type(exc).__name__)
    log.info("reconcile run %s", json.dumps(summary), extra=telemetry.fields(
        telemetry.RECONCILE_RUN, mode="queued", tenants=tenants, errors=summary["errors"],
        poison_deliver=poison["poison_deliver"], poison_work=poison["poison_work"]))
    return summary


def _poison_count(queue: WorkQueue) -> int | None:
    try:
        count = queue.count()
    except Exception as exc:
        log.warning("queue %s not counted (%s)", queue.name, type(exc).__name__)
        return None
    if count:
        # An alert rule may key on this text; the CLI shows and replays the messages.
        log.warning("queue poison %s=%d: python -m shared.admin queue poison list %s",
                    queue.name, count, queue.name)
    return count


def parse_work(body: bytes | str) -> dict[str, Any] | None:
    """The work item's fields, or None when it is no work item of this version."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("v") != WORK_VERSION:
        return None
    task, tenant = payload.get("task"), payload.get("tenant")
    if task not in TASKS or not isinstance(payload.get("tick"), str):
        return None
    if task != "audit-sweep" and (not isinstance(tenant, str) or not tenant
                                  or len(tenant) > 128):
        return None
    return payload


def tenant_work(service: ScimService, body: bytes | str, *,
                dequeue_count: int = 1) -> dict[str, Any] | None:
    """Run one work item within SCIM_WORK_BUDGET_SECONDS; its summary, or None when the item
    was only acknowledged (not understood, unknown tenant, queues off). A storage failure
    raises: the host retries the item and, after maxDequeueCount attempts, poisons it."""
    payload = parse_work(body)
    if payload is None:
        log.warning("work item not understood (acknowledged, dropped): %r",
                    (body if isinstance(body, str) else body.decode("utf-8", "replace"))[:200])
        return None
    queues = queues_for(service.settings)
    if queues is None:
        log.warning("work item while queues are off (SCIM_QUEUE_STORAGE unset): "
                    "acknowledged; the timer runs everything")
        return None
    started = time.monotonic()
    now = datetime.now(UTC)
    deadline = started + service.settings.work_budget_seconds
    task = payload["task"]
    if task == "audit-sweep":
        state = _Run(service, deadline, now, service.runs.marks(), {}, None, DeliveryStats())
        purged = _purge_audit(state, None, sweep=True)
        summary: dict[str, Any] = {"task": task, "tick": payload["tick"],
                                   "audit_purged": purged, "incomplete": state.over()}
        log.info("reconcile audit sweep %s", json.dumps(summary))
        return summary
    tenant = service.tenants.get(payload["tenant"])
    if tenant is None:
        log.warning("work item for unknown tenant=%s: acknowledged", str(payload["tenant"])[:64])
        return None
    if tenant.deleting:
        log.info("work item for tenant=%s being deleted: acknowledged", tenant.id)
        return None
    under_way = service.runs.repair_progress(tenant.id)
    state = _Run(service, deadline, now, service.runs.marks(),
                 {tenant.id: under_way} if under_way is not None else {}, None, DeliveryStats(),
                 # A continuation is the repair alone; a tenant item leaves retention its time.
                 repair_share=1.0 if task == "repair" else _REPAIR_SHARE)
    summary = {"tenant": tenant.id, "task": task, "tick": payload["tick"],
               "dequeue": dequeue_count}
    if task == "tenant":
        summary["expiring_secrets"] = _warn_expiring(tenant, now)
    _maintain(state, tenant, retention=task == "tenant")
    if state.repair_incomplete:
        queues.work.send(work_item("repair", payload["tick"], tenant.id),
                         delay=_CONTINUE_DELAY_S)
    if task == "tenant":
        summary["signalled"] = _delivery_net(service, tenant.id, now)
        summary["audit_purged"] = _purge_audit(state, [tenant.id])
    summary.update(repaired=state.repaired, unrepaired=state.unrepaired,
                   repair_continues=bool(state.repair_incomplete),
                   retention_deleted=state.retention_deleted, feed_purged=state.feed_purged,
                   duration_s=round(time.monotonic() - started, 3))
    log.info("reconcile tenant %s", json.dumps(summary), extra=telemetry.fields(
        telemetry.RECONCILE_TENANT, tenant=tenant.id, incomplete=state.over()))
    return summary


def _delivery_net(service: ScimService, tenant: str, now: datetime) -> bool:
    """The signals' safety net, without delivering here: a stale signal row is cleared, and a
    tenant with events in either lane of its outbox is signalled (deduplicated by the row as
    any signal)."""
    signals = service.delivery_signals
    if signals is None:
        return False
    signals.clear_stale(tenant, now)
    due_now, retry_at = Outbox(service.directory).due(tenant, now, lanes=LANES)
    if not due_now and retry_at is None and not FeedLog(service.directory).unpublished(tenant):
        return False
    return signals.signal(tenant, "sweep", now=now)
