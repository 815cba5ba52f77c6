"""Operator commands for the deployment-wide subscription (one endpoint receiving every
tenant's events, each naming its tenant; store/subscriptions.py):

    subscription set URL [--types user.*,group.*] [--secret whsec_…] [--json]
                                          # prints a generated secret once
    subscription types PATTERNS           # change the filter only (`*`: every type)
    subscription show [--json]
    subscription clear                    # its pending events are held, then discarded
    subscription test                     # a signed `webhook.test` event, tenant null

Instances read the subscription through a 30 s cache: a change reaches every one within that.
Its dead letters are per tenant: `deadletter list TENANT --deployment` (feed.py).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..feed import events
from ..settings import Settings
from ..store.connection import open_tables
from ..store.errors import PreconditionFailed
from ..store.subscriptions import Subscription, SubscriptionTable
from ..timestamps import iso
from .feed import TYPES_HELP, check_url, event_types, new_secret, send_test_event, types_text
from .output import show

AREAS = ("subscription",)


def add_parsers(sub: Any) -> None:
    area = sub.add_parser("subscription", help="the deployment-wide subscription: every "
                          "tenant's events to one endpoint").add_subparsers(
        dest="action", required=True)
    set_ = area.add_parser("set", help="set URL and signing secret (generated unless given)")
    set_.add_argument("url")
    set_.add_argument("--secret", help="whsec_<base64>; default: a new random secret")
    set_.add_argument("--types", help=TYPES_HELP + "; default: keep the current filter")
    set_.add_argument("--json", action="store_true")
    area.add_parser("types", help="which event types it receives").add_argument(
        "patterns", help=TYPES_HELP)
    area.add_parser("show", help="URL, secret prefix and event types").add_argument(
        "--json", action="store_true")
    area.add_parser("clear", help="stop delivering to it")
    area.add_parser("test", help="send a signed test event now")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    tables.ensure()
    table = SubscriptionTable(tables.tenants)
    try:
        return _run(args, settings, table)
    except PreconditionFailed:
        raise SystemExit("error: the subscription changed while this command ran (another "
                         "operator command at the same time?); nothing was written: run it "
                         "again") from None


def _run(args: argparse.Namespace, settings: Settings, table: SubscriptionTable) -> int:
    current = table.get()
    now = iso(datetime.now(UTC))
    if args.action == "set":
        secret = new_secret(args.secret)
        url = check_url(args.url)
        types = event_types(args.types) if args.types is not None else (
            current.types if current else [])
        if current is None:
            current = Subscription(url=url, secret=secret, types=types, created=now,
                                   updated=now)
        else:
            current.url, current.secret, current.types, current.updated = (
                url, secret, types, now)
        table.save(current)
        out: dict[str, Any] = {"url": current.url, "types": current.types}
        if not args.secret:
            out["secret"] = secret  # generated: shown this once
        show(out if args.json else {**out, "types": types_text(current.types)}, args.json)
        return 0
    if current is None:
        raise SystemExit("error: there is no deployment-wide subscription; "
                         "`subscription set URL` first")
    if args.action == "types":
        current.types, current.updated = event_types(args.patterns), now
        table.save(current)
        print(f"the subscription receives {types_text(current.types)} "
              "(events published from now on)")
        return 0
    if args.action == "show":
        details = {"url": current.url, "secret": current.secret[:10] + "…",
                   "types": current.types, "created": current.created,
                   "updated": current.updated}
        show(details if args.json else {**details, "types": types_text(current.types)},
             args.json)
        return 0
    if args.action == "clear":
        table.clear(current)
        print("subscription cleared (within 30 s on every instance; its pending events are "
              "held, then discarded)")
        return 0
    event = events.webhook_test_event(None, settings.public_base_url, now,
                                      type_prefix=settings.event_type_prefix)
    return send_test_event(settings, current.url, current.secret, event)
