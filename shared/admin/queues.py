"""Operator commands for the storage queues (docs/operations.md "Reconciler"):

    queue status [--json]               # approximate message counts of the four queues
    queue poison list NAME [--json]     # the messages the host gave up on (NAME: deliver,
                                        #   work, or a poison queue's full name)
    queue poison replay NAME            # each body back on the queue it came from
    queue poison clear NAME             # drop them all

A message lands in a poison queue after failing the host's maxDequeueCount attempts (host.json),
typically during a storage outage; once the cause is fixed, replay it. The reconciler's timer
counts both poison queues in its summary (/health) and logs a warning while one is not empty.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..settings import Settings
from ..store.queues import POISON_SUFFIX, Queues, WorkQueue, open_queues
from .output import show

AREAS = ("queue",)
_BATCH = 32  # storage's most messages per receive
# Long enough for one batch to be sent back and deleted before it shows again.
_REPLAY_VISIBILITY_S = 60.0


def add_parsers(sub: Any) -> None:
    queue = sub.add_parser("queue", help="the deliver and work queues and their poison "
                           "queues").add_subparsers(dest="action", required=True)
    status = queue.add_parser("status", help="approximate message counts of the four queues")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    poison = queue.add_parser("poison", help="messages the host gave up on").add_subparsers(
        dest="poison_action", required=True)
    for action, help_text in (("list", "show the messages (up to 32)"),
                              ("replay", "put every body back on the queue it came from"),
                              ("clear", "delete every message")):
        command = poison.add_parser(action, help=help_text)
        command.add_argument("name", help="deliver, work, or the poison queue's full name")
        if action == "list":
            command.add_argument("--json", action="store_true", help="a JSON list")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.queues_enabled:
        raise SystemExit("error: queues are off: set SCIM_QUEUE_STORAGE (a connection string) "
                         "or SCIM_QUEUE_STORAGE__queueServiceUri")
    queues = open_queues(settings)
    if args.action == "status":
        show({q.name: q.count() for q in queues.all()}, args.json)
        return 0
    poisoned, home = _poison_pair(queues, args.name)
    if args.poison_action == "list":
        messages = [{"id": m.id, "inserted": m.inserted, "dequeue_count": m.dequeue_count,
                     "body": m.text} for m in poisoned.peek(_BATCH)]
        if args.json:
            print(json.dumps(messages))
        else:
            for m in messages:
                print(f"{m['inserted']} {m['id']} {m['body']}")
        return 0
    if args.poison_action == "clear":
        poisoned.clear()
        print(f"cleared {poisoned.name}")
        return 0
    print(f"replayed {replay(poisoned, home)} message(s) from {poisoned.name} to {home.name}")
    return 0


def replay(poisoned: WorkQueue, home: WorkQueue) -> int:
    """Move every message from `poisoned` back to `home`; sent before it is deleted, so a
    failure in between repeats a message (every consumer is idempotent) but loses none."""
    moved = 0
    while batch := poisoned.receive(_BATCH, visibility=_REPLAY_VISIBILITY_S):
        for message in batch:
            home.send_text(message.text)
            poisoned.delete(message)
            moved += 1
    return moved


def _poison_pair(queues: Queues, name: str) -> tuple[WorkQueue, WorkQueue]:
    """(the poison queue, the queue its messages came from) that NAME means."""
    pairs = {"deliver": (queues.deliver_poison, queues.deliver),
             "work": (queues.work_poison, queues.work)}
    for pair in list(pairs.values()):
        pairs[pair[0].name] = pair
    if name not in pairs:
        raise SystemExit(f"error: no poison queue {name!r}: one of deliver, work, "
                         f"{queues.deliver.name}{POISON_SUFFIX}, {queues.work.name}{POISON_SUFFIX}")
    return pairs[name]
