"""Operator commands for the change feed, the audit log and the reconciler:

    webhook set TENANT URL [--secret whsec_…] [--types user.*,group.*] [--json]
                                                         # prints a generated secret once
    webhook types TENANT PATTERNS                        # change the filter only (`*`: all)
    webhook show|clear|test TENANT
    deadletter list TENANT [--deployment]                # --deployment: the dead letters of
    deadletter show TENANT EVENT_ID [--deployment]       # the deployment-wide subscription's
    deadletter replay TENANT (EVENT_ID… | --all) [--deployment]   # lane (subscriptions.py)
    audit TENANT [--since 2h|2026-11-26T10:00Z] [--status 4xx|401,409] [--limit N] [--json]
    reconcile run [--tenant TENANT]…
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..feed import events, filters, signing
from ..feed.delivery import Sender
from ..settings import Settings
from ..store.audit import AuditTable
from ..store.connection import Tables, open_tables
from ..store.errors import NotFound, StoreError
from ..store.outbox import DEPLOYMENT_LANE, TENANT_LANE, Lane, Outbox, OutboxRow
from ..store.tenants import Tenant, TenantTable
from ..timestamps import iso

AREAS = ("webhook", "deadletter", "audit", "reconcile")
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_parsers(sub: Any) -> None:
    hook = sub.add_parser("webhook", help="the tenant's change feed endpoint").add_subparsers(
        dest="action", required=True)
    set_ = hook.add_parser("set", help="set URL and signing secret (generated unless given)")
    set_.add_argument("tenant")
    set_.add_argument("url")
    set_.add_argument("--secret", help="whsec_<base64>; default: a new random secret")
    set_.add_argument("--types", help=TYPES_HELP + "; default: keep the current filter")
    set_.add_argument("--json", action="store_true")
    types = hook.add_parser("types", help="which event types the webhook receives")
    types.add_argument("tenant")
    types.add_argument("patterns", help=TYPES_HELP)
    for action, text in (("show", "URL, secret prefix and event types"),
                         ("clear", "stop delivering"), ("test", "send a signed test event now")):
        hook.add_parser(action, help=text).add_argument("tenant")
    dead = sub.add_parser("deadletter", help="events that exhausted their attempts"
                          ).add_subparsers(dest="action", required=True)
    listing = dead.add_parser("list")
    listing.add_argument("tenant")
    show = dead.add_parser("show", help="one dead letter with its event body")
    show.add_argument("tenant")
    show.add_argument("event_id")
    replay = dead.add_parser("replay", help="put dead letters back into the outbox")
    replay.add_argument("tenant")
    replay.add_argument("event_ids", nargs="*")
    replay.add_argument("--all", action="store_true")
    for parser in (listing, show, replay):
        parser.add_argument("--deployment", action="store_true",
                            help="the deployment-wide subscription's dead letters of the "
                            "tenant, not its webhook's")
    audit = sub.add_parser("audit", help="the tenant's audit log, newest first")
    audit.add_argument("tenant")
    audit.add_argument("--since", help="ISO time, or a duration back from now: 90m, 2h, 7d")
    audit.add_argument("--status", help="401, 4xx, or a comma list: 409,412")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    rec = sub.add_parser("reconcile", help="run the reconciler once, now").add_subparsers(
        dest="action", required=True)
    rec.add_parser("run").add_argument("--tenant", action="append",
                                       help="only this tenant (repeatable)")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    tables.ensure()
    if args.area == "reconcile":
        return _reconcile(settings, tables, args.tenant)
    tenants = TenantTable(tables.tenants)
    tenant = tenants.get(args.tenant)
    if tenant is None:
        raise SystemExit(f"error: no tenant {args.tenant!r}; see `python -m shared.admin "
                         "tenant list`.")
    if args.area == "webhook":
        return _webhook(args, settings, tenants, tenant)
    if args.area == "audit":
        return _audit(args, AuditTable(tables.audit), tenant.id)
    return _deadletter(args, _outbox(tables), tenant.id, settings.event_type_prefix,
                       DEPLOYMENT_LANE if args.deployment else TENANT_LANE,
                       lambda: _signal(settings, tables, tenant.id))


def _signal(settings: Settings, tables: Tables, tenant: str) -> str:
    """Signal the tenant as a commit does, so replayed events go out within seconds instead
    of at the next reconciler run; says when they will be delivered."""
    from ..store.queues import queues_for
    from ..store.signals import DeliverySignals

    later = "delivered by the next reconciler run"
    try:
        queues = queues_for(settings)
        if queues is None:
            return later
        DeliverySignals(tables.data, queues.deliver).signal(tenant, "commit")
    except StoreError as exc:
        return f"{later}: the deliver queue could not be signalled ({type(exc).__name__})"
    # Signalled now, or a signal or a pass was already on its way (it reads the outbox after
    # these rows landed): either way, a queued pass delivers them.
    return "delivered within seconds by the deliver queue"


def _outbox(tables: Tables) -> Outbox:
    from ..store.directory import Directory

    return Outbox(Directory(tables.data))


# -- webhook -------------------------------------------------------------------------------

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
    raise SystemExit("error: the webhook URL must be https:// (http:// only to localhost)")


TYPES_HELP = ("comma-separated event types: user.deactivated, user.*, group.members.*, or * "
              "for every type")


def event_types(text: str) -> list[str]:
    """An operator's --types as stored ([] = every type); the error names the known types."""
    try:
        return filters.parse(text)
    except filters.FilterError as exc:
        raise SystemExit(f"error: --types: {exc}") from None


def types_text(patterns: list[str]) -> str:
    return ",".join(patterns) if patterns else "* (every type)"


def new_secret(given: str | None) -> str:
    secret = given or signing.new_secret()
    if not signing.is_secret(secret):
        raise SystemExit("error: --secret must be whsec_ followed by base64 (≥ 16 bytes)")
    return secret


def _webhook(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
             tenant: Tenant) -> int:
    if args.action == "set":
        secret = new_secret(args.secret)
        if args.types is not None:
            tenant.webhook_types = event_types(args.types)
        tenant.webhook_url, tenant.webhook_secret = check_url(args.url), secret
        tenants.save(tenant)
        out = {"tenant_id": tenant.id, "webhook_url": tenant.webhook_url,
               "webhook_types": tenant.webhook_types}
        if not args.secret:
            out["webhook_secret"] = secret  # generated: shown this once
        print(json.dumps(out) if args.json else "\n".join(
            f"{k}: {types_text(v) if isinstance(v, list) else v}" for k, v in out.items()))
        return 0
    if args.action == "types":
        tenant.webhook_types = event_types(args.patterns)
        tenants.save(tenant)
        print(f"tenant {tenant.id}: webhook receives {types_text(tenant.webhook_types)} "
              "(events published from now on)")
        return 0
    if args.action == "clear":
        tenant.webhook_url = tenant.webhook_secret = None
        tenants.save(tenant)
        print(f"webhook of tenant {tenant.id} cleared (events are held, then discarded)")
        return 0
    if tenant.webhook_url is None or tenant.webhook_secret is None:
        raise SystemExit(f"error: tenant {tenant.id} has no webhook; `webhook set` first")
    if args.action == "show":
        print(f"url: {tenant.webhook_url}\nsecret: {tenant.webhook_secret[:10]}…\n"
              f"types: {types_text(tenant.webhook_types)}")
        return 0
    event = events.webhook_test_event(tenant.id, settings.tenant_url(tenant.id),
                                      iso(datetime.now(UTC)),
                                      type_prefix=settings.event_type_prefix)
    return send_test_event(settings, tenant.webhook_url, tenant.webhook_secret, event)


def send_test_event(settings: Settings, url: str, secret: str, event: events.ChangeEvent) -> int:
    """POST one signed test event now, as delivery would; its outcome is the exit status."""
    sender = Sender(settings.webhook_timeout_seconds)
    try:
        attempt = sender.send(url, secret, event.id, event.body)
    finally:
        sender.close()
    print(f"test event {event.id}: {'delivered' if attempt.ok else 'failed: ' + attempt.error}")
    return 0 if attempt.ok else 1


# -- dead letters ---------------------------------------------------------------------------

def _deadletter(args: argparse.Namespace, outbox: Outbox, tenant: str, type_prefix: str,
                lane: Lane, signal: Callable[[], str]) -> int:
    if args.action == "list":
        rows = outbox.dead_letters(tenant, lane=lane)
        # The type without this deployment's prefix (events stored under an earlier prefix
        # keep theirs, so they stay recognisable).
        print(_table(["event id", "type", "subject", "attempts", "dead since", "last error"],
                     [[r.id, r.type.removeprefix(type_prefix + "."), r.subject,
                       str(r.attempts), r.dead_at, r.last_error] for r in rows]))
        return 0
    if args.action == "show":
        row = _dead(outbox, tenant, args.event_id, lane)
        print(json.dumps({"id": row.id, "type": row.type, "subject": row.subject,
                          "created": row.created, "attempts": row.attempts,
                          "dead_at": row.dead_at, "last_error": row.last_error,
                          "event": json.loads(row.body)}, indent=2, ensure_ascii=False))
        return 0
    ids = [r.id for r in outbox.dead_letters(tenant, lane=lane)] if args.all else args.event_ids
    if not ids:
        raise SystemExit("error: name EVENT_IDs or pass --all")
    for event_id in ids:
        try:
            outbox.replay(tenant, event_id, lane=lane)
        except NotFound:
            raise SystemExit(f"error: no dead letter {event_id!r} in tenant {tenant}") from None
        print(f"replayed {event_id}")
    print(f"{len(ids)} event(s) back in the outbox: {signal()}")
    return 0


def _dead(outbox: Outbox, tenant: str, event_id: str, lane: Lane) -> OutboxRow:
    try:
        return outbox.dead_letter_row(tenant, event_id, lane=lane)
    except NotFound:
        raise SystemExit(f"error: no dead letter {event_id!r} in tenant {tenant}") from None


# -- audit ----------------------------------------------------------------------------------

def parse_since(value: str, now: datetime) -> datetime:
    match = _RELATIVE.fullmatch(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"error: --since {value!r} is neither an ISO time nor 90m/2h/7d"
                         ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def status_matches(spec: str | None, status: int) -> bool:
    if not spec:
        return True
    for part in spec.split(","):
        part = part.strip().lower()
        if part.endswith("xx") and part[:1].isdigit() and str(status)[:1] == part[0]:
            return True
        if part.isdigit() and int(part) == status:
            return True
    return False


def _audit(args: argparse.Namespace, table: AuditTable, tenant: str) -> int:
    since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    rows: list[dict[str, Any]] = []
    for entry in table.query(tenant, since=since):
        if status_matches(args.status, int(entry.get("status", 0))):
            rows.append(entry)
            if len(rows) >= args.limit:
                break
    fields = ["time", "method", "path", "resourceId", "status", "scimType", "latencyMs",
              "requestId", "count"]  # count: a row of authentication failures
    if args.json:
        for row in rows:
            print(json.dumps({f: row.get(f) for f in fields}))
        return 0
    print(_table(["time", "method", "path", "resource id", "status", "scimType", "ms",
                  "request id", "count"],
                 [[str(row.get(f, "")) for f in fields] for row in rows]))
    return 0


# -- reconcile --------------------------------------------------------------------------------

def _reconcile(settings: Settings, tables: Tables, tenants: list[str] | None) -> int:
    from ..service.app import ScimService
    from ..service.reconcile import run

    summary = run(ScimService(settings, tables), tenants=tenants)
    print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] else 0


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
