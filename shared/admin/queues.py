"""Operator commands for the storage queues (shared/manage/queues.py; docs/operations.md
"Reconciler"):

    queue status                        # approximate message counts of the four queues
    queue poison list NAME              # the messages the host gave up on (NAME: deliver,
                                        #   work, or a poison queue's full name)
    queue poison replay NAME            # each body back on the queue it came from
    queue poison clear NAME             # drop them all

Every command takes --json.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..manage import queues
from ..manage.context import Deployment
from .commands import group, leaf
from .output import print_json, show

_NAME_HELP = "deliver, work, or the poison queue's full name"


def add_parsers(sub: Any) -> None:
    queue = group(sub, "queue", "the deliver and work queues and their poison queues")
    leaf(queue, "status", "approximate message counts of the four queues", _status)
    poison = group(queue, "poison", "messages the host gave up on", dest="poison_action")
    for action, help_text, handler in (
            ("list", f"show the messages (up to {queues.PEEK_LIMIT})", _list),
            ("replay", "put every body back on the queue it came from", _replay),
            ("clear", "delete every message", _clear)):
        leaf(poison, action, help_text, handler).add_argument("name", help=_NAME_HELP)


def _status(args: argparse.Namespace, d: Deployment) -> int:
    show(queues.queue_status(d), args.json)
    return 0


def _list(args: argparse.Namespace, d: Deployment) -> int:
    messages = queues.list_poison(d, args.name)
    if args.json:
        print_json(messages)
    else:
        for m in messages:
            print(f"{m['inserted']} {m['id']} {m['body']}")
    return 0


def _replay(args: argparse.Namespace, d: Deployment) -> int:
    done = queues.replay_poison(d, args.name)
    if args.json:
        print_json(done)
    else:
        print(f"replayed {done['replayed']} message(s) from {done['queue']} to {done['to']}")
    return 0


def _clear(args: argparse.Namespace, d: Deployment) -> int:
    done = queues.clear_poison(d, args.name)
    if args.json:
        print_json(done)
    else:
        print(f"cleared {done['queue']}")
    return 0
