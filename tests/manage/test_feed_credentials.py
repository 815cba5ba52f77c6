"""Feed credential operations over Azurite: a token shown once that reads the tenant's feed
(or, deployment-wide, every tenant's), listings without a token, the two-token limit as a 409,
and revokes (404 when there is none)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.auth import tokens
from shared.manage import feed_credentials
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from shared.service.app import ScimService
from shared.service.messages import FeedRequest

LISTED = {"token_id", "prefix", "created", "scope"}


def _pull(service: ScimService, tenant_id: str, token: str) -> int:
    service.feed_auth.forget()  # this process's 30 s cache
    return service.feed_api.handle(FeedRequest("GET", tenant_id, headers={
        "authorization": f"Bearer {token}"})).status


@pytest.fixture
def deployment_tokens(opened_deployment: Deployment) -> Iterator[None]:
    """Deployment credentials are one set for the session: those a test issued are revoked."""
    before = {t.id for t in opened_deployment.deployment_feed_tokens.all()}
    yield
    for token in opened_deployment.deployment_feed_tokens.all():
        if token.id not in before:
            opened_deployment.deployment_feed_tokens.revoke(token.id)


def test_a_tenant_credential(opened_deployment: Deployment, scim_service: ScimService) -> None:
    tid = create_tenant(opened_deployment, "Feed")["tenant_id"]
    other = create_tenant(opened_deployment, "Other")["tenant_id"]
    issued = feed_credentials.issue_feed_token(opened_deployment, tid)
    assert set(issued) == {"token_id", "token", "scope", "tenant_id", "feed_url"}
    assert (issued["scope"], issued["tenant_id"]) == ("tenant", tid)
    assert issued["token"].startswith("feed_")
    assert (_pull(scim_service, tid, issued["token"]),
            _pull(scim_service, other, issued["token"])) == (200, 401)
    listed = feed_credentials.list_feed_tokens(opened_deployment, tid)
    assert [set(r) for r in listed] == [LISTED]
    assert listed[0]["token_id"] == issued["token_id"]
    assert issued["token"] not in str(listed)
    assert tokens.digest(issued["token"]) not in str(listed)
    feed_credentials.issue_feed_token(opened_deployment, tid)
    with pytest.raises(ManageError) as third:
        feed_credentials.issue_feed_token(opened_deployment, tid)
    assert (third.value.status, "revoke one first" in third.value.detail) == (409, True)
    assert feed_credentials.revoke_feed_token(opened_deployment, tid, issued["token_id"]) == {
        "token_id": issued["token_id"], "scope": "tenant", "tenant_id": tid, "revoked": True}
    assert _pull(scim_service, tid, issued["token"]) == 401
    with pytest.raises(ManageError) as again:
        feed_credentials.revoke_feed_token(opened_deployment, tid, issued["token_id"])
    assert again.value.status == 404


def test_a_deployment_credential(opened_deployment: Deployment, scim_service: ScimService,
                                 deployment_tokens: None) -> None:
    a, b = (create_tenant(opened_deployment, n)["tenant_id"] for n in ("A", "B"))
    issued = feed_credentials.issue_feed_token(opened_deployment, None)
    assert (issued["scope"], issued["tenant_id"]) == ("deployment", None)
    assert issued["feed_url"].endswith("/feed/v1/{tenant}/events")
    assert [_pull(scim_service, t, issued["token"]) for t in (a, b)] == [200, 200]
    listed = feed_credentials.list_feed_tokens(opened_deployment, None)
    assert issued["token_id"] in [r["token_id"] for r in listed]
    assert all(r["scope"] == "deployment" for r in listed)
    feed_credentials.revoke_feed_token(opened_deployment, None, issued["token_id"])
    assert _pull(scim_service, a, issued["token"]) == 401
    with pytest.raises(ManageError) as gone:
        feed_credentials.revoke_feed_token(opened_deployment, None, issued["token_id"])
    assert gone.value.status == 404


def test_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    for call in (feed_credentials.issue_feed_token, feed_credentials.list_feed_tokens):
        with pytest.raises(ManageError) as caught:
            call(opened_deployment, "nosuchtenant0")
        assert caught.value.status == 404


def test_served_a_revoke_holds_at_once_in_this_process(served_deployment: Deployment,
                                                       scim_service: ScimService) -> None:
    """The API runs in the app: its revoke ends the credential's cached sessions here."""
    tid = create_tenant(served_deployment, "Served")["tenant_id"]
    issued = feed_credentials.issue_feed_token(served_deployment, tid)

    def pull() -> int:  # no forget(): what a reader sees, cache included
        return scim_service.feed_api.handle(FeedRequest("GET", tid, headers={
            "authorization": f"Bearer {issued['token']}"})).status

    assert pull() == 200  # now cached as valid
    feed_credentials.revoke_feed_token(served_deployment, tid, issued["token_id"])
    assert pull() == 401
