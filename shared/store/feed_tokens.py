"""Deployment-wide feed credentials: rows of the tenants table in partition
`layout.FEED_TOKENS_PARTITION` (`~feed`, never a tenant id), one per credential, holding its
SHA-256 digest (never the token) and when it was issued. A deployment credential reads every
tenant's pull feed; a tenant's own feed credentials live in its record
(tenants.Tenant.feed_tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from . import keys, layout
from .backend import Backend
from .errors import NotFound, PreconditionFailed


@dataclass(frozen=True)
class DeploymentFeedToken:
    id: str
    digest: str
    created: str
    etag: str | None = None


class DeploymentFeedTokens:
    def __init__(self, table: Backend) -> None:
        self.table = table  # the tenants table

    def all(self) -> list[DeploymentFeedToken]:
        low, high = keys.prefix_range(layout.FEED_TOKEN_PREFIX)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": layout.FEED_TOKENS_PARTITION, "lo": low, "hi": high})
        return [DeploymentFeedToken(id=layout.feed_token_id(str(r["RowKey"])),
                                    digest=str(r["digest"]), created=str(r["created"]),
                                    etag=r.metadata.get("etag")) for r in rows]

    def create(self, token: DeploymentFeedToken) -> None:
        """AlreadyExists when a credential of that id exists (ids are random: practically
        never)."""
        self.table.create_entity({
            "PartitionKey": layout.FEED_TOKENS_PARTITION,
            "RowKey": layout.feed_token_key(token.id), "digest": token.digest,
            "created": token.created})

    def revoke(self, token_id: str) -> bool:
        """Delete a credential as read (its ETag); False when there is none of that id."""
        try:
            row = self.table.get_entity(layout.FEED_TOKENS_PARTITION,
                                        layout.feed_token_key(token_id))
        except NotFound:
            return False
        try:
            self.table.delete_entity(layout.FEED_TOKENS_PARTITION,
                                     layout.feed_token_key(token_id),
                                     etag=row.metadata.get("etag"))
        except PreconditionFailed:
            return False  # changed meanwhile: another operator revoked (or replaced) it
        return True
