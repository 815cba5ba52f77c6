"""Queue triggers over Azurite's Queue service: what the dev host does with a message as the
Functions host would (delete, retry, poison, decode, batch), and what it refuses at startup."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    QueueClient,
    QueueServiceClient,
)

from devhost import DevHost, QueueOptions, StartupError, running
from devhost.queues import QueuePoller
from tests.devhost.toy import QUEUE_CALLS, QUEUE_LOCK, QUEUE_STATE, queue_app

# Short intervals keep the tests fast: idle polling tops out at 200 ms, a failed message is
# visible again after 1 s.
QUEUES = {"maxPollingInterval": "00:00:00.200", "visibilityTimeout": "00:00:01",
          "maxDequeueCount": 3, "batchSize": 4, "newBatchThreshold": 2}


def host_json(**queues: Any) -> dict[str, Any]:
    return {"extensions": {"http": {"routePrefix": ""}, "queues": {**QUEUES, **queues}}}


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def queue_name(queue_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh queue for the toy app's function (%TOY_QUEUE%), its connection set."""
    name = f"toy-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TOY_QUEUE", name)
    monkeypatch.setenv("TOY_QUEUE_STORAGE", queue_connection_string)
    with QUEUE_LOCK:
        QUEUE_CALLS.clear()
        QUEUE_STATE.update(active=0, max_active=0)
    return name


def client(conn: str, name: str, *, base64_bodies: bool = True) -> QueueClient:
    """A client of queue `name`: Base64 bodies as the host's default encoding, or raw text."""
    if not base64_bodies:
        return QueueClient.from_connection_string(conn, name)
    return QueueClient.from_connection_string(
        conn, name, message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy())


def new_queue(conn: str, name: str, *, base64_bodies: bool = True) -> QueueClient:
    queue = client(conn, name, base64_bodies=base64_bodies)
    queue.create_queue()
    return queue


def count(queue: QueueClient) -> int:
    """Messages in the queue, invisible ones included (Azurite's count is exact)."""
    return int(queue.get_queue_properties().approximate_message_count)


def calls() -> list[Any]:
    with QUEUE_LOCK:
        return list(QUEUE_CALLS)


# -- what happens to a message ---------------------------------------------------------------


def test_a_processed_message_is_deleted(queue_connection_string: str, queue_name: str) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    sent = queue.send_message(b"hello")
    with running(queue_app(), host_json=host_json()):
        eventually(lambda: len(calls()) == 1)
        eventually(lambda: count(queue) == 0)
    (call,) = calls()
    assert (call.body, call.dequeue_count, call.id) == (b"hello", 1, sent.id)
    assert isinstance(call.insertion_time, datetime)


def test_a_failing_message_is_retried_then_moved_to_the_poison_queue(
    queue_connection_string: str, queue_name: str
) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    body = b"fail \x00\xff binary body"
    queue.send_message(body)
    poison = client(queue_connection_string, f"{queue_name}-poison")
    with running(queue_app(), host_json=host_json()):
        eventually(lambda: len(calls()) == 3)
        eventually(lambda: count(queue) == 0)
        time.sleep(1.5)  # past visibilityTimeout: nothing is left to retry
    assert [c.dequeue_count for c in calls()] == [1, 2, 3]
    assert [c.body for c in calls()] == [body] * 3
    gaps = [b.started - a.started for a, b in zip(calls(), calls()[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # visible again after visibilityTimeout (1 s)
    (moved,) = poison.receive_messages(max_messages=5)
    assert moved.content == body  # the body intact
    assert count(queue) == 0  # the original gone


def test_a_message_fetched_past_max_dequeue_count_is_poisoned_uninvoked(
    queue_connection_string: str, queue_name: str
) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    queue.send_message(b"tired")
    (taken,) = queue.receive_messages(max_messages=1, visibility_timeout=1)  # dequeue count 1
    assert taken.dequeue_count == 1
    time.sleep(1.1)
    poison = client(queue_connection_string, f"{queue_name}-poison")
    with running(queue_app(), host_json=host_json(maxDequeueCount=1)):
        eventually(lambda: count(queue) == 0)
    assert calls() == []
    assert [m.content for m in poison.receive_messages(max_messages=5)] == [b"tired"]


def test_a_queue_named_poison_has_no_poison_queue_of_its_own(
    queue_connection_string: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{queue_name}-poison"
    monkeypatch.setenv("TOY_QUEUE", name)
    queue = new_queue(queue_connection_string, name)
    queue.send_message(b"fail once")
    with running(queue_app(), host_json=host_json(maxDequeueCount=1)):
        eventually(lambda: len(calls()) == 1)
        time.sleep(1.5)  # past visibilityTimeout: the host leaves it invisible instead
    assert len(calls()) == 1
    assert count(queue) == 1
    service = QueueServiceClient.from_connection_string(queue_connection_string)
    assert f"{name}-poison" not in {q.name for q in service.list_queues(name_starts_with=name)}


@pytest.mark.parametrize("encoding", ["base64", "none"])
def test_message_encodings(
    queue_connection_string: str, queue_name: str, encoding: str
) -> None:
    raw = new_queue(queue_connection_string, queue_name, base64_bodies=False)
    text = 'héllo <tag> & {"json": 1}'
    if encoding == "base64":
        raw.send_message(base64.b64encode(b"\x00\x01binary\xff").decode())
        expected = b"\x00\x01binary\xff"
    else:
        raw.send_message(text)
        expected = text.encode("utf-8")
    with running(queue_app(), host_json=host_json(messageEncoding=encoding)):
        eventually(lambda: count(raw) == 0)
    assert [c.body for c in calls()] == [expected]


def test_a_body_that_is_not_base64_is_poisoned_uninvoked(
    queue_connection_string: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = new_queue(queue_connection_string, queue_name, base64_bodies=False)
    raw.send_message("not base64 at all!")
    poison = client(queue_connection_string, f"{queue_name}-poison", base64_bodies=False)
    with running(queue_app(), host_json=host_json()):
        eventually(lambda: count(raw) == 0)
    assert calls() == []
    assert [m.content for m in poison.receive_messages(max_messages=5)] == ["not base64 at all!"]
    assert any("not valid Base64" in r.getMessage() for r in caplog.records)


def test_never_more_than_batch_size_plus_threshold_at_once(
    queue_connection_string: str, queue_name: str
) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    for i in range(12):
        queue.send_message(b"sleep 0.2" if i % 2 else b"sleep 0.6")
    fetched: list[int] = []  # messages taken from the queue and not yet done, sampled
    with running(queue_app(), host_json=host_json(batchSize=2, newBatchThreshold=1)):
        while count(queue):
            # Visible first, then the total: the difference never overstates those taken.
            visible = len(queue.peek_messages(max_messages=32))
            fetched.append(count(queue) - visible)
            time.sleep(0.05)
    assert len(calls()) == 12
    # Two fetched; when one ends (1 running <= threshold) two more: 3, never 4.
    assert QUEUE_STATE["max_active"] == 3
    assert max(fetched) <= 3, fetched


def test_idle_polling_backs_off_no_further_than_max_polling_interval(
    queue_connection_string: str, queue_name: str
) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    with running(queue_app(), host_json=host_json()):
        time.sleep(2.0)  # idle: the interval has grown to its 200 ms cap
        sent = time.monotonic()
        queue.send_message(b"late")
        eventually(lambda: len(calls()) == 1)
    assert calls()[0].started - sent < 1.0  # uncapped, a wait would be 1.6 s by now


def test_a_queue_created_after_start_is_picked_up(
    queue_connection_string: str, queue_name: str
) -> None:
    with running(queue_app(), host_json=host_json()):
        time.sleep(0.5)  # polling a queue that does not exist yet: backing off, no error
        queue = new_queue(queue_connection_string, queue_name)
        queue.send_message(b"first")
        eventually(lambda: count(queue) == 0)
    assert [c.body for c in calls()] == [b"first"]


def test_a_running_message_stays_invisible(
    queue_connection_string: str, queue_name: str
) -> None:
    """The fetch visibility (2 s here, 10 minutes in the host) is renewed halfway while the
    function runs, so a 3.5 s invocation is never seen twice, nor by another consumer."""
    queue = new_queue(queue_connection_string, queue_name)
    queue.send_message(b"sleep 3.5")
    (function,) = DevHost(queue_app(), host_json()).queues
    stop = threading.Event()
    poller = QueuePoller(function, QueueOptions.from_host_json(host_json()), stop,
                         fetch_visibility=2.0)
    poller.start()
    try:
        eventually(lambda: len(calls()) == 1)
        seen = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            seen += list(queue.receive_messages(max_messages=1, visibility_timeout=1))
            time.sleep(0.2)
        assert seen == []
        eventually(lambda: count(queue) == 0)
    finally:
        stop.set()
        poller.join(10)
    assert [c.dequeue_count for c in calls()] == [1]


def test_stopping_lets_running_invocations_finish(
    queue_connection_string: str, queue_name: str
) -> None:
    queue = new_queue(queue_connection_string, queue_name)
    queue.send_message(b"sleep 0.8")
    before = set(threading.enumerate())
    with running(queue_app(), host_json=host_json()):
        eventually(lambda: len(calls()) == 1)
        queue.send_message(b"after stop")
        stopping = time.monotonic()
    assert time.monotonic() - stopping >= 0.5  # waited for the invocation
    assert QUEUE_STATE["active"] == 0
    assert [c.body for c in calls()] == [b"sleep 0.8"]  # nothing fetched after stop
    assert [m.content for m in queue.peek_messages(max_messages=5)] == [b"after stop"]
    leftover = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []


# -- connections -----------------------------------------------------------------------------


def test_a_missing_connection_is_logged_and_http_still_served(
    queue_name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("TOY_QUEUE_STORAGE")
    caplog.set_level(logging.INFO, logger="devhost")
    with running(queue_app(), host_json=host_json()) as url:
        assert httpx.get(f"{url}/ping", timeout=10).text == "pong"
        assert not [t for t in threading.enumerate() if t.name.startswith("devhost-queue-")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("'work' not started" in e and "'TOY_QUEUE_STORAGE'" in e for e in errors), errors


def test_a_malformed_connection_string_is_logged_and_http_still_served(
    queue_name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOY_QUEUE_STORAGE", "not a connection string")
    with running(queue_app(), host_json=host_json()) as url:
        assert httpx.get(f"{url}/ping", timeout=10).text == "pong"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("'work' not started: connection 'TOY_QUEUE_STORAGE'" in e for e in errors), errors


def test_the_connection_setting_may_carry_the_azure_web_jobs_prefix(
    queue_connection_string: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOY_QUEUE_STORAGE")
    monkeypatch.setenv("AzureWebJobsTOY_QUEUE_STORAGE", queue_connection_string)
    (function,) = DevHost(queue_app(), host_json()).queues
    assert function.connection_string == queue_connection_string
    assert queue_connection_string not in repr(function)  # holds the account key


def test_an_identity_based_connection_is_refused_at_startup(
    queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOY_QUEUE_STORAGE")
    monkeypatch.setenv("TOY_QUEUE_STORAGE__queueServiceUri",
                       "https://account.queue.core.windows.net")
    monkeypatch.setenv("TOY_QUEUE_STORAGE__credential", "managedidentity")
    with pytest.raises(StartupError) as info:
        DevHost(queue_app(), host_json())
    (problem,) = info.value.problems
    assert problem.startswith("function 'work': connection 'TOY_QUEUE_STORAGE' is "
                              "identity-based")
    assert "identity-based connections are not emulated" in problem


def test_an_unresolved_queue_name_is_refused_at_startup(
    queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOY_QUEUE")
    with pytest.raises(StartupError) as info:
        DevHost(queue_app(), host_json())
    assert info.value.problems == ["function 'work': app setting 'TOY_QUEUE' (in "
                                   "'%TOY_QUEUE%') is not set"]


# -- refused at startup ----------------------------------------------------------------------


def _queue_function(**binding: Any) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.queue_trigger(arg_name="msg", connection="C", **{"queue_name": "jobs", **binding})
    def jobs(msg: func.QueueMessage) -> None: ...

    return app


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"data_type": "string"}, "function 'jobs': queueTrigger properties ['dataType'] are "
                                  "not emulated"),
        ({"queue_name": "a--b"}, "function 'jobs': queue name 'a--b' is invalid"),
        ({"queue_name": "ab"}, "function 'jobs': queue name 'ab' is invalid"),
    ],
)  # fmt: skip
def test_queue_binding_features_not_emulated_fail_at_startup(
    binding: dict[str, Any], message: str
) -> None:
    with pytest.raises(StartupError) as info:
        DevHost(_queue_function(**binding), host_json())
    assert message in str(info.value)


def test_queue_names_are_lower_cased_as_by_the_host() -> None:
    (function,) = DevHost(_queue_function(queue_name="Jobs-Q"), host_json()).queues
    assert (function.queue_name, function.poison_queue_name) == ("jobs-q", "jobs-q-poison")
    assert function.connection_string is None  # C is not set: logged at start, not refused


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ({"batchSize": 33}, "extensions.queues.batchSize 33: expected an integer 1..32"),
        ({"newBatchThreshold": -1}, "extensions.queues.newBatchThreshold -1"),
        ({"maxDequeueCount": 0}, "extensions.queues.maxDequeueCount 0"),
        ({"maxPollingInterval": 2000}, "maxPollingInterval 2000: expected a TimeSpan"),
        ({"maxPollingInterval": "00:00:00.050"}, "maxPollingInterval '00:00:00.050' is out "
                                                 "of range"),
        ({"visibilityTimeout": "8.00:00:00"}, "visibilityTimeout '8.00:00:00' is out of range"),
        ({"messageEncoding": "utf8"}, "messageEncoding 'utf8': expected one of base64, none"),
        ({"prefetch": 1}, "extensions.queues: ['prefetch'] not emulated"),
    ],
)  # fmt: skip
def test_host_json_queue_options_out_of_range_fail_at_startup(
    queues: dict[str, Any], message: str
) -> None:
    with pytest.raises(StartupError) as info:
        DevHost(_queue_function(), host_json(**queues))
    assert message in str(info.value)


def test_dynamic_concurrency_is_refused_for_queue_functions() -> None:
    config = {**host_json(), "concurrency": {"dynamicConcurrencyEnabled": True}}
    with pytest.raises(StartupError) as info:
        DevHost(_queue_function(), config)
    assert ("function 'jobs': host.json concurrency.dynamicConcurrencyEnabled is not emulated"
            in str(info.value))


def test_host_defaults_and_case_insensitive_keys() -> None:
    defaults = QueueOptions.from_host_json(None)
    assert (defaults.batch_size, defaults.max_polling_interval, defaults.visibility_timeout,
            defaults.max_dequeue_count, defaults.message_encoding) == (16, 60.0, 0.0, 5,
                                                                       "base64")
    assert defaults.new_batch_threshold == 8 * (os.cpu_count() or 1)  # batchSize/2 per core
    given = QueueOptions.from_host_json(
        {"extensions": {"queues": {"BatchSize": 8, "visibilitytimeout": "00:01:30.5",
                                   "MessageEncoding": "None"}}})
    assert (given.batch_size, given.new_batch_threshold, given.visibility_timeout,
            given.message_encoding) == (8, 4 * (os.cpu_count() or 1), 90.5, "none")


def test_the_real_host_json_is_accepted() -> None:
    real = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
    QueueOptions.from_host_json(real)  # raises for what the dev host refuses
