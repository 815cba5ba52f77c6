"""Issuing tenants and their secret tokens: new tenant ids, and a token added to a tenant
record (the record and its storage are shared.store.tenants)."""

from __future__ import annotations

import re
import secrets

from ..store.tenants import Tenant, TokenRecord
from ..timestamps import now_iso
from . import tokens

MAX_ACTIVE_TOKENS = 2
# Tenant ids are generated (lower-case hex); anything that could not be one - or could not be
# a Table PartitionKey at all ('/', '#', control characters) - is refused without a lookup.
TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
