"""Queue triggers: the Functions host's Azure Queue storage listener, as the dev host runs it.

One ``QueuePoller`` thread per queue-triggered function does what the host's queue listener
does (storage extension 5.x; Microsoft Learn, "Azure Queue storage trigger" and its "host.json
settings"), with the options of host.json ``extensions.queues`` and the host's defaults:

* it fetches ``batchSize`` messages, and fetches again (at once) when the invocations still
  running drop to ``newBatchThreshold``, so at most ``batchSize + newBatchThreshold`` run at
  a time; an empty queue (or a queue not created yet, or a storage error) backs the polling
  off from 100 ms, doubling up to ``maxPollingInterval``;
* a fetched message is invisible for 10 minutes, renewed halfway for as long as its
  invocation runs, so no other consumer sees a running message;
* the body is decoded per ``messageEncoding`` (``base64``, the default, or ``none``) and the
  function gets a ``func.QueueMessage`` with its id, dequeue count, times and pop receipt;
* success deletes the message; an exception is logged and makes the message visible again
  after ``visibilityTimeout``, unless its dequeue count reached ``maxDequeueCount``: then its
  body moves, unchanged, to ``<queue>-poison`` (created on demand) and the original is
  deleted. A message fetched past the limit, or whose body is not valid Base64, moves there
  without an invocation. A queue named ``*-poison``, or too long for the suffix, has no poison
  queue: a failed message stays invisible until its fetch visibility ends;
* the ``connection`` setting (default ``AzureWebJobsStorage``) holds a connection string,
  looked up as ``NAME`` then ``AzureWebJobsNAME``. Identity-based connections
  (``NAME__queueServiceUri`` and the like) are refused at startup; a setting that is not
  there at all is logged as an error and that function's listener is not started, while the
  other functions run (the host does the same).

Not emulated, refused at startup: ``dataType`` and other binding properties, dynamic
concurrency (host.json ``concurrency.dynamicConcurrencyEnabled``), unknown keys or
out-of-range values under ``extensions.queues``. Invocations have no ``functionTimeout``;
the host's shared-queue notification (instant pickup of messages the app's own output
bindings wrote) does not exist here, as output bindings are not emulated.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# What the Python worker hands a function: func.QueueMessage with the trigger's metadata.
from azure.functions.queue import QueueMessage as InvocationMessage

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient, QueueMessage

__all__ = [
    "FETCH_VISIBILITY_SECONDS",
    "QueueFunction",
    "QueueOptions",
    "QueuePoller",
    "queue_function",
]

_log = logging.getLogger("devhost")

FETCH_VISIBILITY_SECONDS = 600.0  # the host's visibility for a fetched message (10 minutes)
MIN_POLLING_SECONDS = 0.1  # the host's shortest polling interval
MAX_BATCH_SIZE = 32  # what one Get Messages call returns at most
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600.0  # Queue storage's limit on a visibility timeout
POISON_SUFFIX = "-poison"
ENCODINGS = ("base64", "none")
_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?")
_BINDING_KEYS = frozenset({"type", "direction", "name", "queueName", "connection"})
_IDENTITY_KEYS = ("serviceUri", "queueServiceUri", "accountName", "credential", "clientId")


@dataclass(frozen=True)
class QueueOptions:
    """host.json ``extensions.queues`` with the host's defaults (seconds for TimeSpans)."""

    batch_size: int = 16
    new_batch_threshold: int = field(default_factory=lambda: 8 * (os.cpu_count() or 1))
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host_json: Mapping[str, Any] | None) -> QueueOptions:
        """The options of ``extensions.queues``; ValueError names what is refused."""
        section = ((host_json or {}).get("extensions") or {}).get("queues") or {}
        if not isinstance(section, Mapping):
            raise ValueError(f"extensions.queues must be an object: {section!r}")
        # The host binds host.json keys case-insensitively.
        given = {str(k).lower(): v for k, v in section.items()}
        known = {"batchsize", "newbatchthreshold", "maxpollinginterval", "visibilitytimeout",
                 "maxdequeuecount", "messageencoding"}
        unknown = sorted(k for k in section if str(k).lower() not in known)
        if unknown:
            raise ValueError(f"extensions.queues: {unknown} not emulated by the dev host (it "
                             "reads batchSize, newBatchThreshold, maxPollingInterval, "
                             "visibilityTimeout, maxDequeueCount, messageEncoding)")
        batch_size = _integer(given, "batchsize", "batchSize", 16, 1, MAX_BATCH_SIZE)
        threshold_default = (batch_size // 2) * (os.cpu_count() or 1)
        encoding = str(given.get("messageencoding", "base64")).lower()
        if encoding not in ENCODINGS:
            raise ValueError(f"extensions.queues.messageEncoding {encoding!r}: expected one "
                             f"of {', '.join(ENCODINGS)}")
        return cls(
            batch_size=batch_size,
            new_batch_threshold=_integer(given, "newbatchthreshold", "newBatchThreshold",
                                         threshold_default, 0, None),
            max_polling_interval=_timespan(given, "maxpollinginterval", "maxPollingInterval",
                                           60.0, MIN_POLLING_SECONDS),
            visibility_timeout=_timespan(given, "visibilitytimeout", "visibilityTimeout",
                                         0.0, 0.0),
            max_dequeue_count=_integer(given, "maxdequeuecount", "maxDequeueCount", 5, 1, None),
            message_encoding=encoding,
        )

    @property
    def concurrency(self) -> int:
        """The most invocations of one function at a time."""
        return self.batch_size + self.new_batch_threshold


def _integer(given: Mapping[str, Any], key: str, name: str, default: int, low: int,
             high: int | None) -> int:
    value = given.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"extensions.queues.{name} {value!r}: expected an integer {bounds}")
    return value


def _timespan(given: Mapping[str, Any], key: str, name: str, default: float,
              low: float) -> float:
    if key not in given:
        return default
    value = given[key]
    # A bare number would be read as days by the host's TimeSpan conversion: refused.
    m = _TIMESPAN.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"extensions.queues.{name} {value!r}: expected a TimeSpan "
                         "'hh:mm:ss[.fff]', e.g. '00:00:30'")
    days, hours, minutes, seconds, fraction = m.groups()
    total = (int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
             + float(f"0.{fraction or 0}"))
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59 or total < low or (
            total > MAX_VISIBILITY_SECONDS):
        raise ValueError(f"extensions.queues.{name} {value!r} is out of range "
                         f"({low:g} s to 7 days)")
    return total


@dataclass(frozen=True)
class QueueFunction:
    """A queue-triggered function, its queue and its storage connection."""

    name: str
    queue_name: str
    connection: str  # the setting's name
    connection_string: str | None = field(repr=False)  # None: not set, listener not started
    arg_name: str
    fn: Callable[..., object] = field(repr=False)

    @property
    def poison_queue_name(self) -> str | None:
        """``<queue>-poison``, or None where the host has none (see the module docstring)."""
        name = self.queue_name + POISON_SUFFIX
        if self.queue_name.endswith(POISON_SUFFIX) or len(name) > 63:
            return None
        return name


def queue_function(
    name: str, trigger: Mapping[str, Any], arg_name: str, fn: Callable[..., object],
    environ: Mapping[str, str], resolve: Callable[[str], str],
) -> QueueFunction:
    """The function a ``queueTrigger`` binding declares; ValueError for what is not emulated.
    ``resolve`` expands ``%SETTING%`` in the queue name."""
    extra = sorted(k for k in trigger if k not in _BINDING_KEYS)
    if extra:
        raise ValueError(f"queueTrigger properties {extra} are not emulated by the dev host "
                         "(it passes the message as func.QueueMessage)")
    # The host lower-cases the resolved name before validating it.
    queue_name = resolve(str(trigger.get("queueName") or "")).lower()
    if not _QUEUE_NAME.fullmatch(queue_name):
        raise ValueError(f"queue name {queue_name!r} is invalid (3-63 characters: lowercase "
                         "letters, digits and single dashes, starting and ending with a "
                         "letter or digit)")
    connection = str(trigger.get("connection") or "AzureWebJobsStorage")
    return QueueFunction(name=name, queue_name=queue_name, connection=connection,
                         connection_string=_connection_string(connection, environ),
                         arg_name=arg_name, fn=fn)


def _connection_string(setting: str, environ: Mapping[str, str]) -> str | None:
    for candidate in (setting, f"AzureWebJobs{setting}"):
        if environ.get(candidate):
            return environ[candidate]
    for candidate in (setting, f"AzureWebJobs{setting}"):
        identity = sorted(k for k in environ
                          if k.startswith(f"{candidate}__") and k[len(candidate) + 2:] in
                          _IDENTITY_KEYS)
        if identity:
            raise ValueError(f"connection {setting!r} is identity-based ({identity[0]}): "
                             "identity-based connections are not emulated by the dev host; "
                             f"set {setting} to a connection string (Azurite's, locally)")
    return None


class _Lease:
    """A fetched message's pop receipt, kept current while its visibility is renewed."""

    def __init__(self, message: QueueMessage) -> None:
        self.message_id: str = message.id
        self.pop_receipt: str = message.pop_receipt or ""
        self.renewed = time.monotonic()
        self.done = False
        self.lock = threading.Lock()


class QueuePoller(threading.Thread):
    """Polls one function's queue until ``stop`` is set, then lets running invocations end."""

    def __init__(
        self,
        function: QueueFunction,
        options: QueueOptions,
        stop: threading.Event,
        *,
        fetch_visibility: float = FETCH_VISIBILITY_SECONDS,
    ) -> None:
        if function.connection_string is None:
            raise ValueError(f"queue function {function.name!r} has no connection string")
        super().__init__(name=f"devhost-queue-{function.name}", daemon=True)
        self.function, self.options, self._stop_event = function, options, stop
        self._fetch_visibility = fetch_visibility
        self._running = 0
        self._changed = threading.Condition()
        self._leases: set[_Lease] = set()
        self._finished = threading.Event()
        self._failing = False
        self._queue: QueueClient | None = None
        self._poison: QueueClient | None = None

    def run(self) -> None:
        poison_name = self.function.poison_queue_name
        try:
            self._queue = self._client(self.function.queue_name)
            self._poison = self._client(poison_name) if poison_name else None
        except ValueError as exc:  # a malformed connection string
            _log.error("queue function %r not started: connection %r: %s", self.function.name,
                       self.function.connection, exc)
            return
        renewer = threading.Thread(target=self._renew, name=f"{self.name}-renew", daemon=True)
        renewer.start()
        with ThreadPoolExecutor(self.options.concurrency,
                                thread_name_prefix=f"{self.name}-run") as invocations:
            delay = MIN_POLLING_SECONDS
            while not self._stop_event.is_set():
                if not self._below_threshold():
                    continue
                messages = self._fetch()
                if not messages:
                    self._stop_event.wait(delay)
                    delay = min(delay * 2, self.options.max_polling_interval)
                    continue
                delay = MIN_POLLING_SECONDS
                for message in messages:
                    lease = _Lease(message)
                    with self._changed:
                        self._running += 1
                        self._leases.add(lease)
                    invocations.submit(self._process, message, lease)
        # Leaving the executor waited for the running invocations; the renewer ends with them.
        self._finished.set()
        renewer.join()

    # -- fetching -----------------------------------------------------------------------------

    def _client(self, queue_name: str) -> QueueClient:
        from azure.storage.queue import QueueClient  # loaded only when a queue trigger runs

        assert self.function.connection_string is not None
        return QueueClient.from_connection_string(
            self.function.connection_string, queue_name,
            connection_timeout=5, read_timeout=30, retry_total=2,
        )

    def _below_threshold(self) -> bool:
        """Wait (a little) for the running invocations to drop to newBatchThreshold."""
        with self._changed:
            if self._running <= self.options.new_batch_threshold:
                return True
            self._changed.wait(0.1)
            return False

    def _fetch(self) -> list[QueueMessage]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        assert self._queue is not None
        try:
            pages = self._queue.receive_messages(
                messages_per_page=self.options.batch_size,
                visibility_timeout=int(self._fetch_visibility),
                retry_total=0,  # the polling backs off itself
            ).by_page()
            messages = list(next(pages, []))
        except ResourceNotFoundError:
            return []  # the host waits for the queue to be created
        except AzureError as exc:
            if not self._failing:  # once per outage, not once per poll
                _log.warning("queue %r (function %r): fetching failed, backing off: %s",
                             self.function.queue_name, self.function.name, type(exc).__name__)
            self._failing = True
            return []
        if self._failing:
            _log.info("queue %r (function %r): fetching works again", self.function.queue_name,
                      self.function.name)
            self._failing = False
        return messages

    # -- one message --------------------------------------------------------------------------

    def _process(self, message: QueueMessage, lease: _Lease) -> None:
        try:
            self._handle(message, lease)
        except Exception:
            _log.exception("queue function %r: handling message %s failed", self.function.name,
                           message.id)
        finally:
            with self._changed:
                self._running -= 1
                self._leases.discard(lease)
                self._changed.notify_all()

    def _handle(self, message: QueueMessage, lease: _Lease) -> None:
        name, options = self.function.name, self.options
        count = int(message.dequeue_count or 0)
        if count > options.max_dequeue_count:
            self._to_poison(message, lease, f"dequeue count {count} is past maxDequeueCount")
            return
        text = message.content or ""
        try:
            body = (base64.b64decode(text, validate=True) if options.message_encoding == "base64"
                    else text.encode("utf-8"))
        except (binascii.Error, ValueError):
            _log.error("queue function %r: message %s is not valid Base64 (messageEncoding "
                       "base64)", name, message.id)
            self._to_poison(message, lease, "its body could not be decoded")
            return
        argument = InvocationMessage(  # type: ignore[no-untyped-call]
            id=message.id, body=body, dequeue_count=count, pop_receipt=lease.pop_receipt,
            insertion_time=message.inserted_on, expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
        )
        started = time.perf_counter()
        try:
            self.function.fn(**{self.function.arg_name: argument})
        except Exception:
            _log.exception("queue function %r raised (message %s, dequeue count %d)", name,
                           message.id, count)
            outcome = "failed"
        else:
            outcome = "ok"
        _log.info("queue %s %s %.1fms", name, outcome, (time.perf_counter() - started) * 1000)
        if outcome == "ok":
            self._settle(lease, delete=True)
        elif self._poison is None:
            pass  # no poison queue: left invisible, as the host does, so it cannot spin
        elif count >= options.max_dequeue_count:
            self._to_poison(message, lease, f"it reached maxDequeueCount {count}")
        else:
            self._settle(lease, delete=False)

    def _settle(self, lease: _Lease, *, delete: bool) -> None:
        """Delete the message, or make it visible after visibilityTimeout. A message someone
        else took over (pop receipt changed) or that is gone is left alone, as by the host."""
        from azure.core.exceptions import HttpResponseError

        assert self._queue is not None
        with lease.lock:
            lease.done = True
            try:
                if delete:
                    self._queue.delete_message(lease.message_id, lease.pop_receipt)
                else:
                    self._queue.update_message(
                        lease.message_id, lease.pop_receipt,
                        visibility_timeout=int(self.options.visibility_timeout))
            except HttpResponseError as exc:
                if exc.status_code not in (400, 404, 409):
                    raise
                _log.debug("queue %r: message %s already taken over or gone",
                           self.function.queue_name, lease.message_id)

    def _to_poison(self, message: QueueMessage, lease: _Lease, why: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        if self._poison is None:
            return
        _log.warning("queue function %r: message %s moved to queue %r: %s", self.function.name,
                     message.id, self._poison.queue_name, why)
        with contextlib.suppress(ResourceExistsError):
            self._poison.create_queue()
        # The raw text, not the decoded body: the poison message reads as the original did.
        self._poison.send_message(message.content or "")
        self._settle(lease, delete=True)

    # -- visibility while running -------------------------------------------------------------

    def _renew(self) -> None:
        """Renew each running message's visibility halfway to its end (the host's timer)."""
        from azure.core.exceptions import AzureError

        assert self._queue is not None
        half = self._fetch_visibility / 2
        while not self._finished.wait(min(max(half / 4, 0.05), 30.0)):
            with self._changed:
                due = [lease for lease in self._leases
                       if time.monotonic() - lease.renewed >= half]
            for lease in due:
                with lease.lock:
                    if lease.done:
                        continue
                    try:
                        receipt = self._queue.update_message(
                            lease.message_id, lease.pop_receipt,
                            visibility_timeout=int(self._fetch_visibility))
                    except AzureError as exc:
                        _log.warning("queue %r: renewing message %s failed: %s",
                                     self.function.queue_name, lease.message_id,
                                     type(exc).__name__)
                        continue
                    lease.pop_receipt = receipt.pop_receipt or lease.pop_receipt
                    lease.renewed = time.monotonic()
