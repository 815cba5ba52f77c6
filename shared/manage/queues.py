"""The storage queues (docs/operations.md "Reconciler"): the deliver and work queues and their
poison queues, where the host puts a message after its maxDequeueCount failed attempts
(host.json), typically during a storage outage. Once the cause is fixed, replay them.

The reconciler's timer counts both poison queues in its summary (/health) and logs a warning
while one is not empty."""

from __future__ import annotations

from typing import Any

from ..store.queues import POISON_SUFFIX, Queues, WorkQueue, open_queues
from .context import Deployment
from .errors import conflict, not_found

PEEK_LIMIT = 32  # storage's most messages per receive
# Long enough for one batch to be sent back and deleted before it shows again.
_REPLAY_VISIBILITY_S = 60.0


def _queues(d: Deployment) -> Queues:
    if not d.settings.queues_enabled:
        raise conflict("queues are off: set SCIM_QUEUE_STORAGE (a connection string) or "
                       "SCIM_QUEUE_STORAGE__queueServiceUri")
    return open_queues(d.settings)


def queue_status(d: Deployment) -> dict[str, int]:
    """The approximate message count of each of the four queues, by name."""
    return {q.name: q.count() for q in _queues(d).all()}


def list_poison(d: Deployment, name: str) -> list[dict[str, Any]]:
    """Up to PEEK_LIMIT messages of a poison queue, left where they are."""
    poisoned, _ = _poison_pair(_queues(d), name)
    return [{"id": m.id, "inserted": m.inserted, "dequeue_count": m.dequeue_count,
             "body": m.text} for m in poisoned.peek(PEEK_LIMIT)]


def replay_poison(d: Deployment, name: str) -> dict[str, Any]:
    poisoned, home = _poison_pair(_queues(d), name)
    return {"queue": poisoned.name, "to": home.name, "replayed": replay(poisoned, home)}


def clear_poison(d: Deployment, name: str) -> dict[str, Any]:
    poisoned, _ = _poison_pair(_queues(d), name)
    poisoned.clear()
    return {"queue": poisoned.name, "cleared": True}


def replay(poisoned: WorkQueue, home: WorkQueue) -> int:
    """Move every message from `poisoned` back to `home`; sent before it is deleted, so a
    failure in between repeats a message (every consumer is idempotent) but loses none."""
    moved = 0
    while batch := poisoned.receive(PEEK_LIMIT, visibility=_REPLAY_VISIBILITY_S):
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
        raise not_found(f"no poison queue {name!r}: one of deliver, work, "
                        f"{queues.deliver.name}{POISON_SUFFIX}, {queues.work.name}"
                        f"{POISON_SUFFIX}")
    return pairs[name]
