"""Operator commands for the change feed, the audit log and the reconciler:

    webhook set TENANT URL [--secret whsec_…] [--types user.*,group.*]
                                                         # prints a generated secret once
    webhook types TENANT PATTERNS                        # change the filter only (`*`: all)
    webhook show|clear|test TENANT
    deadletter list TENANT [--deployment]                # --deployment: the dead letters of
    deadletter show TENANT EVENT_ID [--deployment]       # the deployment-wide subscription's
    deadletter replay TENANT (EVENT_ID… | --all) [--deployment]   # lane (subscriptions.py)
    audit TENANT [--since 2h|2026-11-26T10:00Z] [--status 4xx|401,409] [--limit N]
    reconcile run [--tenant TENANT]…                     # progress on stderr

Every command takes --json. The work is done by shared/manage (webhooks.py, dead_letters.py,
audit_log.py, reconcile.py).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..manage import audit_log, dead_letters, reconcile, webhooks
from ..manage.context import Deployment
from .commands import group, leaf
from .output import print_json, progress, show, table

TYPES_HELP = webhooks.TYPES_HELP


def add_parsers(sub: Any) -> None:
    hook = group(sub, "webhook", "the tenant's change feed endpoint")
    set_ = leaf(hook, "set", "set URL and signing secret (generated unless given)", _set)
    set_.add_argument("tenant")
    set_.add_argument("url")
    set_.add_argument("--secret", help="whsec_<base64>; default: a new random secret")
    set_.add_argument("--types", help=TYPES_HELP + "; default: keep the current filter")
    types = leaf(hook, "types", "which event types the webhook receives", _types)
    types.add_argument("tenant")
    types.add_argument("patterns", help=TYPES_HELP)
    for action, text, handler in (("show", "URL, secret prefix and event types", _show),
                                  ("clear", "stop delivering", _clear),
                                  ("test", "send a signed test event now", _test)):
        leaf(hook, action, text, handler).add_argument("tenant")
    dead = group(sub, "deadletter", "events that exhausted their delivery attempts")
    listing = leaf(dead, "list", "the tenant's dead letters, oldest first", _dead_list)
    listing.add_argument("tenant")
    one = leaf(dead, "show", "one dead letter with its event body", _dead_show)
    one.add_argument("tenant")
    one.add_argument("event_id")
    replay = leaf(dead, "replay", "put dead letters back into the outbox", _dead_replay)
    replay.add_argument("tenant")
    replay.add_argument("event_ids", nargs="*", metavar="EVENT_ID")
    replay.add_argument("--all", action="store_true", help="every dead letter of the lane")
    for parser in (listing, one, replay):
        parser.add_argument("--deployment", action="store_true",
                            help="the deployment-wide subscription's dead letters of the "
                            "tenant, not its webhook's")
    audit = leaf(sub, "audit", "the tenant's audit log, newest first", _audit)
    audit.add_argument("tenant")
    audit.add_argument("--since", help="ISO time, or a duration back from now: 90m, 2h, 7d")
    audit.add_argument("--status", help="401, 4xx, or a comma list: 409,412")
    audit.add_argument("--limit", type=int, default=100,
                       help=f"at most this many entries, 1 to {audit_log.MAX_LIMIT} "
                       "(default %(default)s)")
    rec = group(sub, "reconcile", "the reconciler: delivery, repair, audit purge")
    leaf(rec, "run", "run it once, now (progress on stderr, the summary on stdout)",
         _reconcile).add_argument("--tenant", action="append",
                                  help="only this tenant (repeatable)")


# -- webhook -------------------------------------------------------------------------------

def types_text(patterns: list[str]) -> str:
    return ",".join(patterns) if patterns else "* (every type)"


def _set(args: argparse.Namespace, d: Deployment) -> int:
    done = webhooks.set_webhook(d, args.tenant, args.url, secret=args.secret,
                                types=None if args.types is None else [args.types])
    show(done if args.json else {**done, "types": types_text(done["types"])}, args.json)
    return 0


def _types(args: argparse.Namespace, d: Deployment) -> int:
    done = webhooks.set_webhook_types(d, args.tenant, [args.patterns])
    if args.json:
        print_json(done)
    else:
        print(f"tenant {done['tenant_id']}: webhook receives {types_text(done['types'])} "
              "(events published from now on)")
    return 0


def _show(args: argparse.Namespace, d: Deployment) -> int:
    shown = webhooks.show_webhook(d, args.tenant)
    if args.json:
        print_json(shown)
    elif shown["url"] is None:
        print(f"tenant {shown['tenant_id']} has no webhook (add one: webhook set "
              f"{shown['tenant_id']} URL)")
    else:
        print(f"url: {shown['url']}\nsecret: {shown['secret_prefix']}…\n"
              f"types: {types_text(shown['types'])}")
    return 0


def _clear(args: argparse.Namespace, d: Deployment) -> int:
    done = webhooks.clear_webhook(d, args.tenant)
    if args.json:
        print_json(done)
    else:
        print(f"webhook of tenant {done['tenant_id']} cleared (events are held, then "
              "discarded)")
    return 0


def _test(args: argparse.Namespace, d: Deployment) -> int:
    return print_test(webhooks.test_webhook(d, args.tenant), args.json)


def print_test(result: dict[str, Any], as_json: bool) -> int:
    """A test event's outcome; delivered or not is the exit status."""
    if as_json:
        print_json(result)
    else:
        outcome = "delivered" if result["error"] is None else f"failed: {result['error']}"
        print(f"test event {result['event_id']}: {outcome}")
    return 0 if result["error"] is None else 1


# -- dead letters ---------------------------------------------------------------------------

def _lane(args: argparse.Namespace) -> str:
    return "deployment" if args.deployment else "tenant"


def _dead_list(args: argparse.Namespace, d: Deployment) -> int:
    rows = dead_letters.list_dead_letters(d, args.tenant, lane=_lane(args))
    if args.json:
        print_json(rows)
        return 0
    prefix = d.settings.event_type_prefix + "."
    # The type without this deployment's prefix (events stored under an earlier prefix keep
    # theirs, so they stay recognisable).
    print(table(["event id", "type", "subject", "attempts", "dead since", "last error"],
                [[r["event_id"], r["type"].removeprefix(prefix), r["subject"],
                  str(r["attempts"]), r["dead_at"], r["error"]] for r in rows]))
    return 0


def _dead_show(args: argparse.Namespace, d: Deployment) -> int:
    shown = dead_letters.show_dead_letter(d, args.tenant, args.event_id, lane=_lane(args))
    if args.json:
        print_json(shown)
    else:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def _dead_replay(args: argparse.Namespace, d: Deployment) -> int:
    if args.all == bool(args.event_ids):
        raise SystemExit("error: name EVENT_IDs or pass --all (one of them)")
    done = dead_letters.replay_dead_letters(d, args.tenant, None if args.all
                                            else args.event_ids, lane=_lane(args))
    if args.json:
        print_json(done)
        return 0
    when = ("delivered within seconds by the deliver queue" if done["signalled"]
            else "delivered by the next reconciler run")
    print(f"{done['replayed']} event(s) back in the outbox: {when}")
    return 0


# -- audit ----------------------------------------------------------------------------------

def _audit(args: argparse.Namespace, d: Deployment) -> int:
    rows = audit_log.query_audit(d, args.tenant, since=args.since, status=args.status,
                                 limit=args.limit)
    if args.json:
        print_json(rows)
        return 0
    print(table(["time", "method", "path", "resource id", "status", "scimType", "ms",
                 "request id", "count"],
                [[str(row.get(f) if row.get(f) is not None else "") for f in audit_log.FIELDS]
                 for row in rows]))
    return 0


# -- reconcile --------------------------------------------------------------------------------

def _reconcile(args: argparse.Namespace, d: Deployment) -> int:
    summary = reconcile.run_reconcile(d, args.tenant, progress=progress)
    if args.json:
        print_json(summary)
    else:
        print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] else 0
