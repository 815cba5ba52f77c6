"""shared.store.feed_tokens: deployment-wide feed credentials as rows of partition `~feed`
of the tenants table (Azurite, a table of its own): created, listed, revoked as read."""

from __future__ import annotations

from shared.store import layout
from shared.store.backend import Backend
from shared.store.feed_tokens import DeploymentFeedToken, DeploymentFeedTokens


def test_credentials_are_rows_of_their_own_partition(empty_table: Backend) -> None:
    store = DeploymentFeedTokens(empty_table)
    assert store.all() == []
    store.create(DeploymentFeedToken("a1", "d" * 64, "2026-01-01T00:00:00Z"))
    store.create(DeploymentFeedToken("b2", "e" * 64, "2026-01-02T00:00:00Z"))
    assert [(t.id, t.digest, t.created) for t in store.all()] == [
        ("a1", "d" * 64, "2026-01-01T00:00:00Z"), ("b2", "e" * 64, "2026-01-02T00:00:00Z")]
    row = empty_table.get_entity(layout.FEED_TOKENS_PARTITION, layout.feed_token_key("a1"))
    assert row["digest"] == "d" * 64
    assert store.revoke("a1")
    assert not store.revoke("a1")
    assert not store.revoke("nope")
    assert [t.id for t in store.all()] == ["b2"]


def test_the_partition_is_never_a_tenant_id() -> None:
    from shared.auth.tenants import TENANT_ID

    assert not TENANT_ID.fullmatch(layout.FEED_TOKENS_PARTITION)
    assert layout.feed_token_id(layout.feed_token_key("x:y")) == "x:y"
