"""The token endpoint's signing keys, as rows of the tenants table (partition
`layout.SIGNING_KEYS_PARTITION`): one row per key, with its private key as PEM.

The private key is stored as is, like the webhook signing secrets: whoever can read this table
can already read and write every tenant's directory in the data table beside it, so a key that
only lets its holder call that directory's SCIM endpoint grants nothing more. (Key Vault would
keep it out of the table; see docs/authentication.md.)"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys, layout
from .backend import Backend


@dataclass(frozen=True)
class StoredSigningKey:
    """`activates`: when the key starts signing (ISO 8601 UTC); until then it is published
    only, so that every instance knows it before a token signed with it arrives."""

    kid: str
    created: str
    activates: str
    private_pem: str
    etag: str | None = None


class SigningKeyTable:
    def __init__(self, table: Backend) -> None:
        self.table = table

    def all(self) -> list[StoredSigningKey]:
        low, high = keys.prefix_range(layout.SIGNING_KEY_PREFIX)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": layout.SIGNING_KEYS_PARTITION, "lo": low, "hi": high})
        return [StoredSigningKey(kid=str(r["kid"]), created=str(r["created"]),
                                 activates=str(r["activates"]),
                                 private_pem=str(r["privateKey"]),
                                 etag=r.metadata.get("etag")) for r in rows]

    def create(self, key: StoredSigningKey) -> None:
        """AlreadyExists when a key of that kid exists (kids are random: practically never)."""
        self.table.create_entity({
            "PartitionKey": layout.SIGNING_KEYS_PARTITION,
            "RowKey": layout.signing_key_key(key.kid), "kid": key.kid,
            "created": key.created, "activates": key.activates, "privateKey": key.private_pem})

    def delete(self, key: StoredSigningKey) -> None:
        """Remove a retired key; one already removed (by another instance) is no error."""
        self.table.delete_entity(layout.SIGNING_KEYS_PARTITION, layout.signing_key_key(key.kid))
