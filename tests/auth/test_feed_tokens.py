"""shared.auth.feed_tokens: feed credentials are `feed_` and 256 random bits, stored only as
digests; the feed authenticator accepts a tenant's own credential and a deployment-wide one,
and refuses everything else - no header, another scheme, a Secret Token, an access token,
another tenant's, a revoked or unknown credential, an unknown or disabled tenant - with one
identical 401. Records and deployment rows are real rows (Azurite, a table of its own)."""

from __future__ import annotations

import os
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.auth import feed_tokens, tokens
from shared.auth.feed_tokens import FeedAuthenticator
from shared.auth.tenants import issue_token, new_tenant_id
from shared.scim.errors import ScimError
from shared.settings import Settings
from shared.store.backend import Backend
from shared.store.connection import tables_for
from shared.store.feed_tokens import DeploymentFeedTokens
from shared.store.tenants import Tenant, TenantTable
from shared.timestamps import now_iso

TOKEN = re.compile(r"feed_[A-Za-z0-9_-]{43}")


@pytest.fixture
def table(storage_settings: dict[str, str]) -> Backend:
    """A tenants table of its own: deployment credentials are one partition for everyone."""
    tables = tables_for(Settings(**storage_settings,
                                 storage_client=os.environ.get("SCIM_STORAGE_CLIENT") or "direct"))
    made = tables.open_table("f" + uuid.uuid4().hex[:16])
    made.create_table()
    return made


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tenant(tenants: TenantTable) -> Tenant:
    record = Tenant(id=new_tenant_id(), name="t", created=now_iso())
    tenants.create(record)
    return record


def _refused(auth: FeedAuthenticator, tenant_id: str, header: str | None) -> ScimError:
    with pytest.raises(ScimError) as caught:
        auth.authenticate(tenant_id, header)
    return caught.value


def test_a_new_feed_token_is_the_prefix_and_256_random_bits() -> None:
    made = {feed_tokens.new_token() for _ in range(500)}
    assert len(made) == 500
    assert all(TOKEN.fullmatch(t) for t in made)


def test_a_tenant_holds_at_most_two_stored_as_digests(table: Backend) -> None:
    tenants = TenantTable(table)
    record = _tenant(tenants)
    first, second = feed_tokens.issue(record), feed_tokens.issue(record)
    with pytest.raises(ValueError, match="revoke one"):
        feed_tokens.issue(record)
    tenants.save(record)
    stored = tenants.get(record.id)
    assert stored is not None
    assert [t.digest for t in stored.feed_tokens] == [tokens.digest(first),
                                                      tokens.digest(second)]
    assert first not in stored.model_dump_json()
    assert second not in stored.model_dump_json()


def test_the_tenants_own_and_a_deployment_credential_are_accepted_nothing_else(
        table: Backend) -> None:
    tenants, deployment = TenantTable(table), DeploymentFeedTokens(table)
    a, b = _tenant(tenants), _tenant(tenants)
    scim_token = issue_token(a)
    own, others = feed_tokens.issue(a), feed_tokens.issue(b)
    tenants.save(a)
    tenants.save(b)
    row, wide = feed_tokens.issue_deployment(deployment.all())
    deployment.create(row)
    auth = FeedAuthenticator(tenants.get, deployment.all)
    assert auth.authenticate(a.id, f"Bearer {own}").id == a.id
    assert auth.authenticate(a.id, f"bearer {wide}").id == a.id
    assert auth.authenticate(b.id, f"Bearer {wide}").id == b.id  # every tenant's feed
    answers = [_refused(auth, tenant_id, header) for tenant_id, header in (
        (a.id, None), (a.id, ""), (a.id, f"Basic {own}"), (a.id, f"Bearer {scim_token}"),
        (a.id, "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),  # an access token / JWT
        (a.id, f"Bearer {others}"),  # tenant B's credential on A's feed
        (b.id, f"Bearer {own}"),
        (a.id, f"Bearer {feed_tokens.new_token()}"),  # unknown
        ("nosuchtenant", f"Bearer {wide}"), ("a/b", f"Bearer {own}"))]
    assert {(e.status, e.detail, tuple(e.headers.items())) for e in answers} == {
        (401, feed_tokens.refused().detail,
         (("WWW-Authenticate", 'Bearer realm="feed"'),))}


def test_a_revoke_ends_access_once_the_cache_expires(table: Backend) -> None:
    tenants, deployment = TenantTable(table), DeploymentFeedTokens(table)
    record = _tenant(tenants)
    own = feed_tokens.issue(record)
    tenants.save(record)
    row, wide = feed_tokens.issue_deployment(deployment.all())
    deployment.create(row)
    clock = Clock()
    auth = FeedAuthenticator(tenants.get, deployment.all, clock=clock)
    auth.authenticate(record.id, f"Bearer {own}")
    auth.authenticate(record.id, f"Bearer {wide}")
    record.feed_tokens = []
    tenants.save(record)
    assert deployment.revoke(row.id)
    assert not deployment.revoke(row.id)  # gone already
    clock.now += 29
    auth.authenticate(record.id, f"Bearer {own}")  # still cached: within 30 s
    clock.now += 2
    for token in (own, wide):
        assert _refused(auth, record.id, f"Bearer {token}").status == 401


def test_a_disabled_tenant_reads_no_feed(table: Backend) -> None:
    tenants, deployment = TenantTable(table), DeploymentFeedTokens(table)
    record = _tenant(tenants)
    own = feed_tokens.issue(record)
    record.disabled = True
    tenants.save(record)
    assert _refused(FeedAuthenticator(tenants.get, deployment.all), record.id,
                    f"Bearer {own}").status == 401


def test_a_tenant_being_deleted_reads_no_feed(table: Backend) -> None:
    tenants, deployment = TenantTable(table), DeploymentFeedTokens(table)
    record = _tenant(tenants)
    own = feed_tokens.issue(record)
    record.deleting_since = "2026-01-01T00:00:00.000Z"
    tenants.save(record)
    assert _refused(FeedAuthenticator(tenants.get, deployment.all), record.id,
                    f"Bearer {own}").status == 401


def test_the_deployment_holds_at_most_two(table: Backend) -> None:
    deployment = DeploymentFeedTokens(table)
    for _ in range(2):
        deployment.create(feed_tokens.issue_deployment(deployment.all())[0])
    with pytest.raises(ValueError, match="revoke one"):
        feed_tokens.issue_deployment(deployment.all())


@settings(max_examples=50)
@given(st.text(min_size=0, max_size=80))
def test_no_header_text_but_a_credential_gets_further_than_the_refusal(header: str) -> None:
    """Refused before any read: the loaders are never called for a malformed header."""
    def never(*_: object) -> list[object]:
        raise AssertionError("read for a header that cannot hold a feed credential")

    auth = FeedAuthenticator(never, never)  # type: ignore[arg-type]
    with pytest.raises(ScimError):
        auth.authenticate("t1", header)
