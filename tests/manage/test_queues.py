"""Queue operations over Azurite's Queue service, with queue names of this test's own: counts,
a poison queue's messages listed, replayed to where they came from (none lost) and cleared;
an unknown name is a 404, queues off a 409."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from shared.manage import queues as operations
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.settings import from_environ
from shared.store.queues import Queues, open_queues


@pytest.fixture
def deployment_with_queues(app_env: dict[str, str], queue_connection_string: str
                           ) -> Iterator[tuple[Deployment, Queues]]:
    name = uuid.uuid4().hex[:12]
    settings = from_environ({**app_env, "SCIM_QUEUE_STORAGE": queue_connection_string,
                             "SCIM_DELIVER_QUEUE": f"d{name}", "SCIM_WORK_QUEUE": f"w{name}"})
    made = open_queues(settings)
    made.ensure()
    yield Deployment.open(settings), made
    for queue in made.all():
        queue.client.delete_queue()


def test_status_poison_list_replay_and_clear(
        deployment_with_queues: tuple[Deployment, Queues]) -> None:
    d, queues = deployment_with_queues
    bodies = [{"v": 1, "tenant": f"t{n}", "task": "tenant", "tick": "x"} for n in range(35)]
    for body in bodies:
        queues.work_poison.send(body)
    queues.deliver_poison.send({"v": 1, "tenant": "t1", "why": "commit"})
    assert operations.queue_status(d) == {
        queues.deliver.name: 0, queues.deliver_poison.name: 1, queues.work.name: 0,
        queues.work_poison.name: 35}
    listed = operations.list_poison(d, "work")
    assert len(listed) == operations.PEEK_LIMIT
    assert set(listed[0]) == {"id", "inserted", "dequeue_count", "body"}
    assert queues.work_poison.count() == 35  # peeked, not taken
    assert operations.replay_poison(d, queues.work_poison.name) == {
        "queue": queues.work_poison.name, "to": queues.work.name, "replayed": 35}
    back = []
    while batch := queues.work.receive(32, visibility=30):
        back += [m.payload() for m in batch]
    assert sorted(json.dumps(b, sort_keys=True) for b in back) == sorted(
        json.dumps(b, sort_keys=True) for b in bodies)
    assert operations.clear_poison(d, "deliver") == {"queue": queues.deliver_poison.name,
                                                     "cleared": True}
    assert queues.deliver_poison.count() == 0
    with pytest.raises(ManageError) as unknown:
        operations.list_poison(d, "scim-data")
    assert unknown.value.status == 404


def test_queues_off_is_a_409(opened_deployment: Deployment) -> None:
    with pytest.raises(ManageError, match="queues are off") as caught:
        operations.queue_status(opened_deployment)
    assert caught.value.status == 409
