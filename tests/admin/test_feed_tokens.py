"""shared/admin/feed_tokens.py through the CLI (in-process, Azurite): a tenant's feed
credential is printed once and works on its feed only, a deployment credential reads every
tenant's, listings never show a token, revokes end access, and mistakes end with a message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.auth import tokens
from shared.service.app import ScimService
from shared.service.messages import FeedRequest, ScimRequest
from shared.store.feed_tokens import DeploymentFeedTokens
from tests.admin.test_main import created


def _pull(service: ScimService, tenant_id: str, token: str) -> int:
    service.feed_auth.forget()  # this process's 30 s cache: the CLI changed the records
    return service.feed_api.handle(FeedRequest("GET", tenant_id, headers={
        "authorization": f"Bearer {token}"})).status


@pytest.fixture
def deployment(scim_service: ScimService) -> Iterator[DeploymentFeedTokens]:
    """The deployment's credentials; those a test issued are revoked after it (they are one
    partition for the whole session)."""
    store = DeploymentFeedTokens(scim_service.tables.tenants)
    before = {t.id for t in store.all()}
    yield store
    for token in store.all():
        if token.id not in before:
            store.revoke(token.id)


def test_a_tenant_token_is_printed_once_and_reads_only_its_feed(
        cli: Any, scim_service: ScimService) -> None:
    a, b = created(cli), created(cli)
    run = cli("feed", "token", a["tenant_id"], "--json")
    assert run.code == 0, run.err
    issued = run.json()
    assert set(issued) == {"tenant_id", "feed_url", "token", "token_id", "scope"}
    assert (issued["tenant_id"], issued["scope"]) == (a["tenant_id"], "tenant")
    assert issued["feed_url"] == scim_service.settings.feed_url(a["tenant_id"])
    assert issued["token"].startswith("feed_")
    assert _pull(scim_service, a["tenant_id"], issued["token"]) == 200
    assert _pull(scim_service, b["tenant_id"], issued["token"]) == 401
    # Neither credential crosses over: the feed token is no Secret Token and vice versa.
    assert _pull(scim_service, a["tenant_id"], a["token"]) == 401
    scim_service.auth.forget(a["tenant_id"])
    assert scim_service.handle(ScimRequest("GET", a["tenant_id"], "Users", headers={
        "authorization": f"Bearer {issued['token']}"})).status == 401

    listed = cli("feed", "tokens", a["tenant_id"], "--json")
    assert listed.code == 0
    assert [t["token_id"] for t in listed.json()] == [issued["token_id"]]
    assert issued["token"] not in listed.out
    assert tokens.digest(issued["token"]) not in listed.out

    assert cli("feed", "token", a["tenant_id"]).code == 0
    third = cli("feed", "token", a["tenant_id"])
    assert third.code == 1
    assert "revoke one first" in third.err
    revoked = cli("feed", "revoke", a["tenant_id"], issued["token_id"])
    assert revoked.code == 0, revoked.err
    assert _pull(scim_service, a["tenant_id"], issued["token"]) == 401
    again = cli("feed", "revoke", a["tenant_id"], issued["token_id"])
    assert again.code == 1
    assert "no feed token" in again.err


def test_a_deployment_token_reads_every_tenant_until_revoked(
        cli: Any, scim_service: ScimService, deployment: DeploymentFeedTokens) -> None:
    a, b = created(cli), created(cli)
    run = cli("feed", "token", "--deployment", "--json")
    assert run.code == 0, run.err
    issued = run.json()
    assert issued["scope"] == "deployment"
    assert issued["feed_url"].endswith("/feed/v1/{tenant}/events")
    assert [_pull(scim_service, t["tenant_id"], issued["token"]) for t in (a, b)] == [200, 200]
    listed = cli("feed", "tokens", "--deployment")
    assert issued["token_id"] in listed.out
    assert issued["token"] not in listed.out
    assert cli("feed", "revoke", "--deployment", issued["token_id"]).code == 0
    assert _pull(scim_service, a["tenant_id"], issued["token"]) == 401


@pytest.mark.parametrize("argv", [
    ("feed", "token"), ("feed", "token", "t1", "--deployment"), ("feed", "tokens"),
    ("feed", "token", "nosuchtenant"), ("feed", "revoke", "t1"),
    ("feed", "revoke", "--deployment", "a", "b"), ("feed", "revoke", "--deployment", "nope"),
])
def test_mistakes_end_with_a_message(cli: Any, argv: tuple[str, ...]) -> None:
    run = cli(*argv)
    assert run.code == 1
    assert run.err.startswith("error: ")
    assert "Traceback" not in run.err
