"""Operator commands for the deployment-wide subscription (one endpoint receiving every
tenant's events, each naming its tenant; shared/manage/subscription.py):

    subscription set URL [--types user.*,group.*] [--secret whsec_…]
                                          # prints a generated secret once
    subscription types PATTERNS           # change the filter only (`*`: every type)
    subscription show
    subscription clear                    # its pending events are held, then discarded
    subscription test                     # a signed `webhook.test` event, tenant null

Every command takes --json. Instances read the subscription through a 30 s cache: a change
reaches every one within that. Its dead letters are per tenant: `deadletter list TENANT
--deployment` (feed.py).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..manage import subscription
from ..manage.context import Deployment
from .commands import group, leaf
from .feed import TYPES_HELP, print_test, types_text
from .output import print_json, show


def add_parsers(sub: Any) -> None:
    area = group(sub, "subscription", "the deployment-wide subscription: every tenant's "
                 "events to one endpoint")
    set_ = leaf(area, "set", "set URL and signing secret (generated unless given)", _set)
    set_.add_argument("url")
    set_.add_argument("--secret", help="whsec_<base64>; default: a new random secret")
    set_.add_argument("--types", help=TYPES_HELP + "; default: keep the current filter")
    leaf(area, "types", "which event types it receives", _types).add_argument(
        "patterns", help=TYPES_HELP)
    leaf(area, "show", "URL, secret prefix and event types", _show)
    leaf(area, "clear", "stop delivering to it", _clear)
    leaf(area, "test", "send a signed test event now", _test)


def _set(args: argparse.Namespace, d: Deployment) -> int:
    done = subscription.set_subscription(d, args.url, secret=args.secret,
                                         types=None if args.types is None else [args.types])
    shown = {k: v for k, v in done.items() if k in ("url", "types", "secret")}
    show(done if args.json else {**shown, "types": types_text(done["types"])}, args.json)
    return 0


def _types(args: argparse.Namespace, d: Deployment) -> int:
    done = subscription.set_subscription_types(d, [args.patterns])
    if args.json:
        print_json(done)
    else:
        print(f"the subscription receives {types_text(done['types'])} (events published "
              "from now on)")
    return 0


def _show(args: argparse.Namespace, d: Deployment) -> int:
    shown = subscription.show_subscription(d)
    if args.json:
        print_json(shown)
    elif shown["url"] is None:
        print("there is no deployment-wide subscription (add one: subscription set URL)")
    else:
        show({"url": shown["url"], "secret": f"{shown['secret_prefix']}…",
              "types": types_text(shown["types"]), "created": shown["created"],
              "updated": shown["updated"]}, as_json=False)
    return 0


def _clear(args: argparse.Namespace, d: Deployment) -> int:
    done = subscription.clear_subscription(d)
    if args.json:
        print_json(done)
    else:
        print("subscription cleared (within 30 s on every instance; its pending events are "
              "held, then discarded)")
    return 0


def _test(args: argparse.Namespace, d: Deployment) -> int:
    return print_test(subscription.test_subscription(d), args.json)
