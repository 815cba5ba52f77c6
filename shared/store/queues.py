"""Storage queues: the deliver queue's "tenant has due events" messages (signals.py sends
them, the deliver queue trigger consumes them), the work queue's reconciler work items (the
timer sends them, the work queue trigger runs them) and their poison queues.

Messages are JSON text, Base64 on the wire: the Functions host's default `messageEncoding`,
so the host (and devhost) hands the trigger the JSON itself. Microsoft's client
(azure-storage-queue) is imported on first use only: queue traffic is a message per tenant and
burst, off the request path, and `import function_app` must not load azure-core.

Errors come out as the store's (errors.py), as the table backends' do: an outage is
`Unavailable`, a transport failure after retries `TransportFailed`. `wire.TRANSPORT_HOOKS` see
every attempt, so the tests' fault injection reaches queue calls too."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from . import wire
from .errors import AlreadyExists, StoreError

POISON_SUFFIX = "-poison"  # the Functions host's name for a queue's poison queue
# A queue message is invisible for at most 7 days; a later wake-up is the timer's.
MAX_DELAY_SECONDS = 7 * 24 * 3600
_CALL_TIMEOUT = 30  # seconds per call: queue calls run off the request path


@dataclass(frozen=True)
class Message:
    id: str
    pop_receipt: str
    text: str
    dequeue_count: int
    inserted: str

    def payload(self) -> Any:
        return json.loads(self.text)


@contextmanager
def _store_errors() -> Iterator[None]:
    from azure.core.exceptions import AzureError

    from .sdk_table import store_error

    try:
        yield
    except AzureError as exc:
        raise store_error(exc) from None  # not chained: storage's messages may quote keys


class WorkQueue:
    """One storage queue (thread-safe: azure-core clients are)."""

    def __init__(self, name: str, open_client: Callable[[str], Any]) -> None:
        self.name = name
        self._open = open_client
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._open(self.name)
        return self._client

    def send(self, payload: Mapping[str, Any], *, delay: float = 0.0,
             ttl: float = 86_400) -> None:
        """Enqueue `payload` as JSON, invisible for `delay` seconds (rounded up, at most 7
        days)."""
        self.send_text(json.dumps(payload, separators=(",", ":")), delay=delay, ttl=ttl)

    def send_text(self, text: str, *, delay: float = 0.0, ttl: float = 86_400) -> None:
        """Enqueue a body as it is (the admin CLI replays poisoned bodies unchanged)."""
        visibility = min(MAX_DELAY_SECONDS, max(0, int(-(-delay // 1))))
        with _store_errors():
            self.client.send_message(text, visibility_timeout=visibility or None,
                                     time_to_live=int(ttl), timeout=_CALL_TIMEOUT)

    def receive(self, n: int = 1, *, visibility: float = 30.0) -> list[Message]:
        with _store_errors():
            got = self.client.receive_messages(messages_per_page=n, max_messages=n,
                                               visibility_timeout=int(visibility),
                                               timeout=_CALL_TIMEOUT)
            return [_message(m) for m in got]

    def delete(self, message: Message) -> None:
        with _store_errors():
            self.client.delete_message(message.id, message.pop_receipt, timeout=_CALL_TIMEOUT)

    def peek(self, n: int = 32) -> list[Message]:
        with _store_errors():
            return [_message(m) for m in self.client.peek_messages(max_messages=n,
                                                                   timeout=_CALL_TIMEOUT)]

    def count(self) -> int:
        """Approximate number of messages (visible or not)."""
        with _store_errors():
            props = self.client.get_queue_properties(timeout=_CALL_TIMEOUT)
        return int(props.approximate_message_count or 0)

    def create(self) -> None:
        """Create the queue; one that exists is fine."""
        try:
            with _store_errors():
                self.client.create_queue(timeout=_CALL_TIMEOUT)
        except AlreadyExists:
            pass

    def clear(self) -> None:
        with _store_errors():
            self.client.clear_messages(timeout=_CALL_TIMEOUT)


def _message(raw: Any) -> Message:
    inserted = raw.inserted_on.isoformat() if raw.inserted_on else ""
    return Message(id=str(raw.id), pop_receipt=str(raw.pop_receipt or ""),
                   text=str(raw.content or ""), dequeue_count=int(raw.dequeue_count or 0),
                   inserted=inserted)


@dataclass(frozen=True)
class Queues:
    deliver: WorkQueue
    deliver_poison: WorkQueue
    work: WorkQueue
    work_poison: WorkQueue

    def by_name(self) -> dict[str, WorkQueue]:
        return {q.name: q for q in self.all()}

    def all(self) -> tuple[WorkQueue, ...]:
        return (self.deliver, self.deliver_poison, self.work, self.work_poison)

    def ensure(self) -> None:
        """Create the queues; the poison queue too, so that operators find it before the
        host's first poisoned message creates it."""
        for queue in self.all():
            queue.create()


def open_queues(settings: Settings) -> Queues:
    opener = _opener(settings)
    return Queues(deliver=WorkQueue(settings.deliver_queue, opener),
                  deliver_poison=WorkQueue(settings.deliver_queue + POISON_SUFFIX, opener),
                  work=WorkQueue(settings.work_queue, opener),
                  work_poison=WorkQueue(settings.work_queue + POISON_SUFFIX, opener))


def _opener(settings: Settings) -> Callable[[str], Any]:
    connection, uri = settings.queue_connection_string, settings.queue_service_uri
    if not connection and not uri:
        raise StoreError("queues are off: set SCIM_QUEUE_STORAGE (a connection string) or "
                         "SCIM_QUEUE_STORAGE__queueServiceUri")
    if not connection and uri is not None and not uri.startswith("https://"):
        # A token must never travel in clear text (as the table endpoint's rule).
        raise StoreError(f"SCIM_QUEUE_STORAGE__queueServiceUri must be https://, not {uri!r}: "
                         "the managed identity's token is sent with every call")

    def open_client(name: str) -> Any:
        from azure.storage.queue import (
            LinearRetry,
            QueueClient,
            TextBase64DecodePolicy,
            TextBase64EncodePolicy,
        )

        from .sdk_table import _TransportHooks

        options: dict[str, Any] = {
            "message_encode_policy": TextBase64EncodePolicy(),
            "message_decode_policy": TextBase64DecodePolicy(),
            # After the storage SDK's retry policy: each attempt runs the hooks.
            "_additional_pipeline_policies": [_TransportHooks()],
            # The SDK's default back-off (15 s, then 18 s, …) would hold a delivery pass for
            # a minute; the Table clients' few retries a second apart fit its budget.
            "retry_policy": LinearRetry(backoff=1, random_jitter_range=1,
                                        retry_total=wire.RETRIES),
            "connection_timeout": wire.CONNECT_TIMEOUT,
            "read_timeout": wire.READ_TIMEOUT}
        with _store_errors():
            try:
                if connection:
                    return QueueClient.from_connection_string(connection, name, **options)
                from .connection import _managed_identity

                return QueueClient(str(uri), name, credential=_managed_identity(settings),
                                   **options)
            except ValueError as exc:
                raise StoreError(f"SCIM_QUEUE_STORAGE is not usable: {exc}") from None

    return open_client


_lock = threading.Lock()
_cached: dict[tuple[str | None, str | None, str, str], Queues] = {}


def queues_for(settings: Settings) -> Queues | None:
    """The process-wide queues for these settings; None when queues are off."""
    if not settings.queues_enabled:
        return None
    key = (settings.queue_connection_string, settings.queue_service_uri,
           settings.deliver_queue, settings.work_queue)
    with _lock:
        if key not in _cached:
            _cached[key] = open_queues(settings)
        return _cached[key]
