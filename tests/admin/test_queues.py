"""shared.admin.queues: `queue status` and `queue poison list|replay|clear`, run in-process
through `main(argv)` against Azurite's Queue service with queue names of this test's own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from shared.admin.__main__ import main
from shared.settings import Settings, from_environ
from shared.store.queues import Queues, open_queues


@pytest.fixture
def settings(app_env: dict[str, str], queue_connection_string: str,
             monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Queues of this test's own, in the environment the CLI reads."""
    name = uuid.uuid4().hex[:12]
    values = {"SCIM_QUEUE_STORAGE": queue_connection_string, "SCIM_DELIVER_QUEUE": f"d{name}",
              "SCIM_WORK_QUEUE": f"w{name}"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return from_environ({**app_env, **values})


@pytest.fixture
def queues(settings: Settings) -> Iterator[Queues]:
    made = open_queues(settings)
    made.ensure()
    yield made
    for queue in made.all():
        queue.client.delete_queue()


def test_status_counts_the_four_queues(settings: Settings, queues: Queues,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    queues.deliver.send({"v": 1, "tenant": "t1", "why": "commit"})
    for _ in range(3):
        queues.work_poison.send({"v": 1, "task": "audit-sweep", "tick": "x"})
    assert main(["queue", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        queues.deliver.name: 1, queues.deliver_poison.name: 0, queues.work.name: 0,
        queues.work_poison.name: 3}


def test_poison_list_replay_and_clear(settings: Settings, queues: Queues,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bodies = [{"v": 1, "tenant": f"t{n}", "task": "tenant", "tick": "x"} for n in range(40)]
    for body in bodies:
        queues.work_poison.send(body)
    queues.deliver_poison.send({"v": 1, "tenant": "t1", "why": "commit"})

    assert main(["queue", "poison", "list", "work", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 32  # one page
    assert {json.loads(m["body"])["tenant"] for m in listed} <= {b["tenant"] for b in bodies}

    assert main(["queue", "poison", "replay", queues.work_poison.name]) == 0
    assert "replayed 40 message(s)" in capsys.readouterr().out
    assert queues.work_poison.count() == 0
    back = []
    while batch := queues.work.receive(32, visibility=30):
        back += [m.payload() for m in batch]
    assert sorted(back, key=lambda b: b["tenant"]) == sorted(bodies, key=lambda b: b["tenant"])
    assert queues.deliver_poison.count() == 1  # the other poison queue is untouched

    assert main(["queue", "poison", "clear", "deliver"]) == 0
    assert queues.deliver_poison.count() == 0
    assert queues.deliver.count() == 0  # cleared, not replayed


def test_an_unknown_queue_name_and_queues_off_are_errors(
        settings: Settings, queues: Queues, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="no poison queue 'scim-data'"):
        main(["queue", "poison", "list", "scim-data"])
    monkeypatch.delenv("SCIM_QUEUE_STORAGE")
    with pytest.raises(SystemExit, match="queues are off"):
        main(["queue", "status"])


def test_the_cli_registers_the_area() -> None:
    from shared.admin.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["queue", "--help"])
    assert exited.value.code == 0
