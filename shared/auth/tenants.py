"""Tenant records: one per customer directory, each with up to two active secret tokens
(two, so a token can be rotated without downtime)."""

from __future__ import annotations

import secrets

from pydantic import BaseModel, Field

from ..timestamps import now_iso
from . import tokens

MAX_ACTIVE_TOKENS = 2


class TokenRecord(BaseModel):
    id: str
    prefix: str
    digest: str
    created: str


class Tenant(BaseModel):
    id: str
    name: str
    created: str
    disabled: bool = False
    tokens: list[TokenRecord] = Field(default_factory=list)
    # Change feed endpoint (README: "Change feed, reconciler and audit"). Defaults keep rows
    # written before these fields existed valid. The signing secret must be usable to sign, so
    # it is stored as is (the tenants table is as sensitive as the data); never in a repr.
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    # When set, Entra-issued JWTs for this Entra tenant are accepted besides the secret tokens
    # (design.md §7; shared/auth/entra_jwt.py). Off (None) by default.
    entra_tenant_id: str | None = None

    def token_digests(self) -> list[str]:
        return [t.digest for t in self.tokens]


def new_tenant_id() -> str:
    # Lower-case hex: safe in URLs and as a Table PartitionKey, unguessable enough that ids
    # leak nothing, short enough to read out on a call.
    return secrets.token_hex(8)




def issue_token(tenant: Tenant) -> str:
    """Add a token to the tenant and return it in clear: the only time it exists in clear."""
    if len(tenant.tokens) >= MAX_ACTIVE_TOKENS:
        raise ValueError(
            f"tenant {tenant.id} already has {MAX_ACTIVE_TOKENS} active tokens; revoke one "
            "first (shared.admin token revoke TENANT TOKEN_ID)"
        )
    token = tokens.new_token()
    tenant.tokens.append(
        TokenRecord(
            id=secrets.token_hex(4),
            prefix=tokens.display_prefix(token),
            digest=tokens.digest(token),
            created=now_iso(),
        )
    )
    return token
