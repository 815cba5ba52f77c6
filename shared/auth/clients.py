"""OAuth 2.0 clients of the token endpoint: issuing them, their secrets and federated
credentials, and checking what a token request presents.

A client id is `{tenant id}.{16 hex}`: the token endpoint is one URL for every tenant, and the
client id tells it which tenant record to read (tenant ids never contain '.'). Secrets are like
Secret Tokens: 256 random bits, shown once, stored as a SHA-256 digest, compared in constant
time; each expires (1 day to 3 years; Microsoft's gallery asks for 1-3 years) and a client
holds at most two at once, so a secret is rotated without a moment in which Entra's copy is
invalid."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..store.tenants import ClientSecretRecord, FederatedCredential, OAuthClient, Tenant
from ..timestamps import iso, parse_iso
from .tenants import TENANT_ID

SECRET_PREFIX = "scimcs_"  # noqa: S105 - a marker, not a secret
MAX_ACTIVE_SECRETS = 2
DEFAULT_SECRET_DAYS = 365
MAX_SECRET_DAYS = 3 * 365
EXPIRY_WARNING = timedelta(days=30)  # `client list` and the reconciler warn this long ahead
_CLIENT_SUFFIX_HEX = 16
# Entra shows the workload identity's audience as a scope (`api://{app id}/.default`); the
# assertion's `aud` claim carries it without the scope suffix.
_SCOPE_SUFFIX = "/.default"


class ClientError(ValueError):
    """An operator request that cannot be done; the message says what to do instead."""


def new_client_id(tenant_id: str) -> str:
    return f"{tenant_id}.{secrets.token_hex(_CLIENT_SUFFIX_HEX // 2)}"


def tenant_of(client_id: str) -> str | None:
    """The tenant a client id names, or None when it cannot be one of ours (no lookup)."""
    tenant_id, dot, suffix = client_id.rpartition(".")
    if (not dot or len(suffix) != _CLIENT_SUFFIX_HEX or not TENANT_ID.fullmatch(tenant_id)
            or any(c not in "0123456789abcdef" for c in suffix)):
        return None
    return tenant_id


def add_client(tenant: Tenant, now: datetime, *, name: str = "") -> OAuthClient:
    client = OAuthClient(id=new_client_id(tenant.id), name=name, created=iso(now))
    tenant.clients.append(client)
    return client


def add_secret(client: OAuthClient, now: datetime, days: int = DEFAULT_SECRET_DAYS) -> str:
    """Add a secret to the client and return it in clear: the only time it exists in clear."""
    if not 1 <= days <= MAX_SECRET_DAYS:
        raise ClientError(f"a client secret expires after 1 to {MAX_SECRET_DAYS} days, not "
                          f"{days}")
    if len(client.secrets) >= MAX_ACTIVE_SECRETS:
        raise ClientError(
            f"client {client.id} already has {MAX_ACTIVE_SECRETS} secrets; revoke one first "
            f"(python -m shared.admin client revoke TENANT {client.id} --secret SECRET_ID)")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    client.secrets.append(ClientSecretRecord(
        id=secrets.token_hex(4), prefix=secret[:len(SECRET_PREFIX) + 6],
        digest=_digest(secret), created=iso(now), expires=iso(now + timedelta(days=days))))
    return secret


def set_federation(client: OAuthClient, now: datetime, *, entra_tenant_id: str, subject: str,
                   audience: str) -> FederatedCredential:
    """Trust Entra's assertions about `subject` for `audience` (replacing any earlier trust)."""
    audience = audience.strip()
    if audience.endswith(_SCOPE_SUFFIX):
        audience = audience[: -len(_SCOPE_SUFFIX)]
    if not subject.strip() or not audience:
        raise ClientError("a federated credential needs the subject and audience Entra shows "
                          "for the workload identity")
    client.federation = FederatedCredential(
        id=secrets.token_hex(4), entra_tenant_id=entra_tenant_id, subject=subject.strip(),
        audience=audience, created=iso(now))
    return client.federation


@dataclass(frozen=True)
class SecretCheck:
    """The outcome of a presented secret: the record it matched (None: no match) and whether
    that record had expired (then it does not authenticate)."""

    record: ClientSecretRecord | None
    expired: bool = False

    @property
    def ok(self) -> bool:
        return self.record is not None and not self.expired


def check_secret(client: OAuthClient, secret: str, now: datetime) -> SecretCheck:
    """Compare the secret with every stored digest, each in constant time, whatever the
    outcome."""
    candidate = _digest(secret)
    found: ClientSecretRecord | None = None
    for record in client.secrets:
        if hmac.compare_digest(candidate, record.digest):
            found = record
    if found is None:
        return SecretCheck(None)
    return SecretCheck(found, expired=parse_iso(found.expires) <= now)


@dataclass(frozen=True)
class Expiring:
    tenant_id: str
    client_id: str
    secret_id: str
    expires: str
    days_left: float


def expiring(tenant: Tenant, now: datetime, within: timedelta = EXPIRY_WARNING) -> list[Expiring]:
    """The tenant's client secrets that expire within `within` (or have expired)."""
    found = []
    for client in tenant.clients:
        for record in client.secrets:
            left = parse_iso(record.expires) - now
            if left <= within:
                found.append(Expiring(tenant.id, client.id, record.id, record.expires,
                                      left.total_seconds() / 86400))
    return found


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
