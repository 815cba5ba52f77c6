"""The store's queue client over Azurite's Queue service."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import azurite
import pytest
from azure.storage.queue import QueueClient

from shared.settings import Settings
from shared.store import wire
from shared.store.errors import StoreError, TransportFailed
from shared.store.queues import Queues, WorkQueue, open_queues, queues_for
from tests.support.storage_faults import hooked, own_thread


@pytest.fixture
def queues(queue_connection_string: str) -> Iterator[Queues]:
    name = f"q{uuid.uuid4().hex[:12]}"
    made = open_queues(Settings(queue_connection_string=queue_connection_string,
                                deliver_queue=name, work_queue=f"w{name[1:]}"))
    made.ensure()
    yield made
    for queue in made.all():
        queue.client.delete_queue()


def test_a_message_round_trips_as_base64_json_on_the_wire(
        queues: Queues, queue_connection_string: str) -> None:
    queues.deliver.send({"v": 1, "tenant": "t1", "why": "commit"})
    # What storage holds is what the Functions host decodes with messageEncoding base64.
    raw = QueueClient.from_connection_string(queue_connection_string, queues.deliver.name)
    [stored] = list(raw.peek_messages(max_messages=1))
    assert json.loads(base64.b64decode(stored.content)) == {"v": 1, "tenant": "t1",
                                                            "why": "commit"}
    [message] = queues.deliver.receive(1)
    assert message.payload() == {"v": 1, "tenant": "t1", "why": "commit"}
    assert message.dequeue_count == 1
    queues.deliver.delete(message)
    assert queues.deliver.peek() == []


def test_a_delayed_message_stays_hidden_until_due(queues: Queues) -> None:
    queues.deliver.send({"n": 1}, delay=1.2)
    assert queues.deliver.receive(1) == []
    assert queues.deliver.count() == 1  # counted while invisible
    time.sleep(2.2)
    [message] = queues.deliver.receive(1)
    assert message.payload() == {"n": 1}


def test_ensure_is_idempotent_and_creates_the_poison_queue(queues: Queues) -> None:
    queues.ensure()
    queues.deliver_poison.send({"x": 1})
    assert queues.deliver_poison.name == queues.deliver.name + "-poison"
    assert queues.deliver_poison.count() == 1
    queues.deliver_poison.clear()
    assert queues.deliver_poison.count() == 0
    # the work queue and its poison queue too: operators find them before any message
    assert queues.work_poison.name == queues.work.name + "-poison"
    assert [q.count() for q in (queues.work, queues.work_poison)] == [0, 0]


def test_queues_are_off_without_a_connection_setting() -> None:
    assert queues_for(Settings()) is None


def test_a_token_over_plain_http_is_refused() -> None:
    with pytest.raises(StoreError, match="https"):
        open_queues(Settings(queue_service_uri="http://acct.queue.example"))


def test_a_transport_failure_after_retries_is_transport_failed(queues: Queues) -> None:
    attempts: list[str] = []

    def fail(request: wire.Request, send: wire.Send) -> wire.Response:
        attempts.append(request.method)
        raise TransportFailed("connection reset (injected)")

    # own_thread: another test's background writer (the audit batcher) may send meanwhile
    with hooked(own_thread(fail)), pytest.raises(TransportFailed):
        queues.deliver.send({"n": 1})
    assert len(attempts) == wire.RETRIES + 1  # azure-core retried through the hook


def test_a_queue_that_does_not_exist_is_a_store_error(queue_connection_string: str) -> None:
    missing = WorkQueue("nosuchqueue" + uuid.uuid4().hex[:8],
                        open_queues(Settings(queue_connection_string=queue_connection_string)
                                    ).deliver._open)
    with pytest.raises(StoreError):
        missing.send({"n": 1})


def test_the_managed_identity_path_sends_over_https_with_a_token(
        tmp_path: Path) -> None:
    """SCIM_QUEUE_STORAGE__queueServiceUri as in Azure: HTTPS, a token from the (local)
    managed-identity endpoint for AZURE_CLIENT_ID, no key. Azurite's Queue service with
    `--oauth basic` refuses a request without a valid bearer token."""
    import local_tls

    from tests.support import managed_identity
    from tests.support.storage_modes import environment

    certificate = local_tls.self_signed(tmp_path)
    ca_file = local_tls.bundle(certificate, None, tmp_path / "ca.pem")
    client_id = str(uuid.uuid4())
    port = azurite.free_port()
    with azurite.running_queue(port, certificate=certificate), \
            managed_identity.serving(client_id) as identity, \
            environment({"SSL_CERT_FILE": str(ca_file), "REQUESTS_CA_BUNDLE": str(ca_file),
                         **identity.environ()}):
        queues = open_queues(Settings(
            queue_service_uri=f"https://127.0.0.1:{port}/devstoreaccount1",
            azure_client_id=client_id, deliver_queue="oauth-deliver"))
        queues.ensure()
        queues.deliver.send({"v": 1, "tenant": "t1", "why": "commit"})
        [message] = queues.deliver.receive(1)
        assert message.payload()["tenant"] == "t1"
        assert identity.granted()  # the token came from the managed identity
