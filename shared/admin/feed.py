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
from .output import fields, progress, report, table

TYPES_HELP = webhooks.TYPES_HELP


def add_parsers(sub: Any) -> None:
    hook = group(sub, "webhook", "the tenant's change feed endpoint")
    set_ = leaf(hook, "set", "set URL and signing secret (generated unless given)", _set)
    set_.add_argument("tenant")
    set_.add_argument("url")
    add_endpoint_options(set_)
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


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """`--secret` and `--types` of `webhook set` and `subscription set`."""
    parser.add_argument("--secret", help="whsec_<base64>; default: a new random secret")
    parser.add_argument("--types", help=TYPES_HELP + "; default: keep the current filter")


# -- webhook -------------------------------------------------------------------------------

def types_text(patterns: list[str]) -> str:
    return ",".join(patterns) if patterns else "* (every type)"


def _set(args: argparse.Namespace, d: Deployment) -> int:
    done = webhooks.set_webhook(d, args.tenant, args.url, secret=args.secret,
                                types=None if args.types is None else [args.types])
    return report(done, args.json,
                  lambda done: fields({**done, "types": types_text(done["types"])}))


def _types(args: argparse.Namespace, d: Deployment) -> int:
    return report(webhooks.set_webhook_types(d, args.tenant, [args.patterns]), args.json,
                  lambda done: f"tenant {done['tenant_id']}: webhook receives "
                  f"{types_text(done['types'])} (events published from now on)")


def _show(args: argparse.Namespace, d: Deployment) -> int:
    return report(webhooks.show_webhook(d, args.tenant), args.json, _webhook_text)


def _webhook_text(shown: dict[str, Any]) -> str:
    if shown["url"] is None:
        return (f"tenant {shown['tenant_id']} has no webhook (add one: webhook set "
                f"{shown['tenant_id']} URL)")
    return (f"url: {shown['url']}\nsecret: {shown['secret_prefix']}…\n"
            f"types: {types_text(shown['types'])}")


def _clear(args: argparse.Namespace, d: Deployment) -> int:
    return report(webhooks.clear_webhook(d, args.tenant), args.json,
                  lambda done: f"webhook of tenant {done['tenant_id']} cleared (events are "
                  "held, then discarded)")


def _test(args: argparse.Namespace, d: Deployment) -> int:
    return print_test(webhooks.test_webhook(d, args.tenant), args.json)


def print_test(result: dict[str, Any], as_json: bool) -> int:
    """A test event's outcome; delivered or not is the exit status."""
    return report(result, as_json, _test_text, ok=result["error"] is None)


def _test_text(result: dict[str, Any]) -> str:
    outcome = "delivered" if result["error"] is None else f"failed: {result['error']}"
    return f"test event {result['event_id']}: {outcome}"


# -- dead letters ---------------------------------------------------------------------------

def _lane(args: argparse.Namespace) -> str:
    return "deployment" if args.deployment else "tenant"


def _dead_list(args: argparse.Namespace, d: Deployment) -> int:
    prefix = d.settings.event_type_prefix + "."
    return report(dead_letters.list_dead_letters(d, args.tenant, lane=_lane(args)), args.json,
                  lambda rows: _dead_letters_text(rows, prefix))


def _dead_letters_text(rows: list[dict[str, Any]], prefix: str) -> str:
    # The type without this deployment's prefix (events stored under an earlier prefix keep
    # theirs, so they stay recognisable).
    return table(["event id", "type", "subject", "attempts", "dead since", "last error"],
                 [[r["event_id"], r["type"].removeprefix(prefix), r["subject"],
                   str(r["attempts"]), r["dead_at"], r["error"]] for r in rows])


def _dead_show(args: argparse.Namespace, d: Deployment) -> int:
    shown = dead_letters.show_dead_letter(d, args.tenant, args.event_id, lane=_lane(args))
    return report(shown, args.json, lambda shown: json.dumps(shown, indent=2,
                                                             ensure_ascii=False))


def _dead_replay(args: argparse.Namespace, d: Deployment) -> int:
    if args.all == bool(args.event_ids):
        raise SystemExit("error: name EVENT_IDs or pass --all (one of them)")
    done = dead_letters.replay_dead_letters(d, args.tenant, None if args.all
                                            else args.event_ids, lane=_lane(args))
    return report(done, args.json, _replayed_text)


def _replayed_text(done: dict[str, Any]) -> str:
    when = ("delivered within seconds by the deliver queue" if done["signalled"]
            else "delivered by the next reconciler run")
    return f"{done['replayed']} event(s) back in the outbox: {when}"


# -- audit ----------------------------------------------------------------------------------

def _audit(args: argparse.Namespace, d: Deployment) -> int:
    rows = audit_log.query_audit(d, args.tenant, since=args.since, status=args.status,
                                 limit=args.limit)
    return report(rows, args.json, lambda rows: table(
        ["time", "method", "path", "resource id", "status", "scimType", "ms", "request id",
         "count"],
        [[str(row.get(f) if row.get(f) is not None else "") for f in audit_log.FIELDS]
         for row in rows]))


# -- reconcile --------------------------------------------------------------------------------

def _reconcile(args: argparse.Namespace, d: Deployment) -> int:
    summary = reconcile.run_reconcile(d, args.tenant, progress=progress)
    return report(summary, args.json, lambda summary: json.dumps(summary, indent=2),
                  ok=not summary["errors"])
