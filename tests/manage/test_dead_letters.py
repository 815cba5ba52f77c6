"""Dead-letter operations over Azurite: listing per lane with the contract's keys, one with its
event, replays of named ones (an unknown id replays nothing) or all, and the deliver queue
signalled when queues are on."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.manage import dead_letters
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.service.app import ScimService
from shared.service.kinds import USERS
from shared.settings import from_environ
from shared.store.outbox import Outbox
from shared.store.queues import open_queues
from shared.timestamps import now_iso

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LISTED = {"event_id", "type", "subject", "resource_id", "attempts", "error", "dead_at", "lane"}


@pytest.fixture
def tid(tenant: tuple[str, str]) -> str:
    return tenant[0]


def make_dead(service: ScimService, outbox: Outbox, tenant_id: str, n: int) -> list[str]:
    """n users created (one event each), then each event dead-lettered; their user ids."""
    made = [service.resources.create(USERS, tenant_id, {"schemas": [USER],
                                                        "userName": f"d{i}@contoso.example"})
            [0].id for i in range(n)]
    for row in list(outbox.pending(tenant_id)):
        outbox.dead_letter(tenant_id, row, attempts=3, error="HTTP 500", now=now_iso())
    return made


def test_list_and_show(opened_deployment: Deployment, scim_service: ScimService,
                       outbox: Outbox, tid: str) -> None:
    assert dead_letters.list_dead_letters(opened_deployment, tid) == []
    [uid] = make_dead(scim_service, outbox, tid, 1)
    [row] = dead_letters.list_dead_letters(opened_deployment, tid)
    assert set(row) == LISTED
    assert (row["resource_id"], row["subject"], row["attempts"], row["error"], row["lane"]) == (
        uid, f"Users/{uid}", 3, "HTTP 500", "tenant")
    assert row["type"].endswith(".user.created")
    assert dead_letters.list_dead_letters(opened_deployment, tid, lane="deployment") == []
    shown = dead_letters.show_dead_letter(opened_deployment, tid, row["event_id"])
    assert set(shown) == LISTED | {"created", "event"}
    assert shown["event"]["data"]["id"] == uid
    with pytest.raises(ManageError) as caught:
        dead_letters.show_dead_letter(opened_deployment, tid, row["event_id"],
                                      lane="deployment")
    assert caught.value.status == 404


def test_replay_named_then_all(opened_deployment: Deployment, scim_service: ScimService,
                               outbox: Outbox, tid: str) -> None:
    make_dead(scim_service, outbox, tid, 3)
    dead = [r.id for r in outbox.dead_letters(tid)]
    with pytest.raises(ManageError) as unknown:
        dead_letters.replay_dead_letters(opened_deployment, tid, [dead[0], "nope"])
    assert unknown.value.status == 404
    assert [r.id for r in outbox.dead_letters(tid)] == dead  # nothing replayed
    with pytest.raises(ManageError) as empty:
        dead_letters.replay_dead_letters(opened_deployment, tid, [])
    assert empty.value.status == 400
    done = dead_letters.replay_dead_letters(opened_deployment, tid, [dead[1]])
    assert done == {"tenant_id": tid, "lane": "tenant", "replayed": 1, "signalled": False}
    assert [p.id for p in outbox.pending(tid)] == [dead[1]]
    rest = dead_letters.replay_dead_letters(opened_deployment, tid, None)
    assert rest["replayed"] == 2
    assert outbox.dead_letters(tid) == []
    assert dead_letters.replay_dead_letters(opened_deployment, tid, None)["replayed"] == 0


def test_an_unknown_lane_is_a_400(opened_deployment: Deployment, tid: str) -> None:
    for call in (dead_letters.list_dead_letters, dead_letters.replay_dead_letters):
        args = (opened_deployment, tid) if call is dead_letters.list_dead_letters else (
            opened_deployment, tid, None)
        with pytest.raises(ManageError) as bad:
            call(*args, lane="webhook")  # type: ignore[operator]
        assert (bad.value.status, "tenant, deployment" in bad.value.detail) == (400, True)


def test_a_replay_signals_the_deliver_queue(app_env: dict[str, str], scim_service: ScimService,
                                            outbox: Outbox, tid: str,
                                            queue_connection_string: str) -> None:
    name = uuid.uuid4().hex[:12]
    queued = from_environ({**app_env, "SCIM_QUEUE_STORAGE": queue_connection_string,
                           "SCIM_DELIVER_QUEUE": f"d{name}", "SCIM_WORK_QUEUE": f"w{name}"})
    queues = open_queues(queued)
    queues.ensure()
    try:
        make_dead(scim_service, outbox, tid, 2)
        d = Deployment.open(queued)
        done = dead_letters.replay_dead_letters(d, tid, None)
        assert (done["replayed"], done["signalled"]) == (2, True)
        assert [json.loads(m.text) for m in queues.deliver.receive(32)] == [
            {"v": 1, "tenant": tid, "why": "commit"}]
    finally:
        for queue in queues.all():
            queue.client.delete_queue()
