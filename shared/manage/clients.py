"""OAuth 2.0 (the token endpoint): a tenant's clients (secrets, workload identity
federation), which ways its SCIM requests may authenticate (and whether Entra-issued JWTs are
accepted), and the deployment's signing keys.

A client secret is in the answer of `add_client_secret` only; only its digest is stored.
Operations that leave the tenant in a state an operator should know about (OAuth refused while
clients exist, no usable credential at all) say so in `warnings`."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..auth import clients
from ..auth.signing_keys import KEY_SET_TTL, RETIRE_AFTER, SigningKey
from ..store.tenants import AUTH_METHODS, AuthMethod, OAuthClient, Tenant
from ..timestamps import iso, parse_iso
from .context import Deployment
from .errors import conflict, invalid, not_found
from .tenants import forget_sessions

# The issuer the token endpoint requires of a federated credential's assertions: Entra's v2.0
# issuer for the credential's Entra tenant (shared/auth/entra_jwt.py verifies them).
ASSERTION_ISSUER = "https://login.microsoftonline.com/{tid}/v2.0"
_EXPIRES = re.compile(r"(\d{1,5})([dy])")
_DAYS_PER_YEAR = 365
# Federated credential fields come from Entra's portal by copy and paste: bounded, one line.
_MAX_FIELD = 1024


# -- checks -------------------------------------------------------------------------------------


def entra_tenant_id(value: str) -> str:
    """An Entra tenant id in its canonical spelling, or a 400 saying where to find it."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(f"{value!r} is not an Entra tenant id (a GUID; Entra admin center > "
                      "Overview > Tenant ID)") from None


def parse_expires(value: str) -> int:
    """A secret's lifetime, Nd or Ny (365 days a year), as days within what a secret may
    live."""
    match = _EXPIRES.fullmatch(value.strip().lower())
    if match is None:
        raise invalid(f"--expires {value!r} is not a lifetime; write days or years as 90d or "
                      "2y")
    days = int(match[1]) * (_DAYS_PER_YEAR if match[2] == "y" else 1)
    if not 1 <= days <= clients.MAX_SECRET_DAYS:
        raise invalid(f"--expires {value!r} is {days} days; a client secret lives 1 to "
                      f"{clients.MAX_SECRET_DAYS} days (3y)")
    return days


def parse_methods(value: str) -> list[AuthMethod]:
    """A comma list of authentication methods, in the canonical order."""
    given = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = sorted(given - set(AUTH_METHODS))
    if unknown:
        raise invalid(f"--allow {value!r}: unknown method(s) {', '.join(unknown)}; choose "
                      f"from {','.join(AUTH_METHODS)}")
    if not given:
        raise invalid(f"--allow needs at least one of {','.join(AUTH_METHODS)} (to refuse "
                      "every request, `tenant disable` the tenant)")
    return [m for m in AUTH_METHODS if m in given]


def _field(option: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > _MAX_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise invalid(f"{option} must be one line of 1 to {_MAX_FIELD} characters, copied "
                      "from the workload identity's federated credential in Entra")
    return value


def _where(d: Deployment, tenant: Tenant) -> dict[str, str]:
    return {"tenant_id": tenant.id, "tenant_url": d.tenant_url(tenant.id),
            "token_endpoint": d.settings.token_endpoint}


def _existing(tenant: Tenant, client_id: str, *, with_name: str | None) -> OAuthClient:
    if with_name is not None:
        raise invalid("--name names a new client; leave out --client to create one (an "
                      "existing client keeps its name)")
    client = tenant.client(client_id)
    if client is None:
        raise not_found(f"tenant {tenant.id} has no client {client_id!r}; see `python -m "
                        f"shared.admin client list {tenant.id}`.")
    return client


# -- clients ------------------------------------------------------------------------------------


def add_client_secret(d: Deployment, tenant_id: str, *, days: int = clients.DEFAULT_SECRET_DAYS,
                      client_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """A new client with a secret, or (client_id) a second secret for rotation; the secret is
    in this answer only."""
    if not 1 <= days <= clients.MAX_SECRET_DAYS:
        raise invalid(f"a client secret lives 1 to {clients.MAX_SECRET_DAYS} days, not {days}")
    tenant = d.tenant(tenant_id)
    now = datetime.now(UTC)
    if client_id is None:
        client = clients.add_client(tenant, now, name=(name or "").strip())
    else:
        client = _existing(tenant, client_id, with_name=name)
        if len(client.secrets) >= clients.MAX_ACTIVE_SECRETS:
            raise conflict(
                f"client {client.id} already has {clients.MAX_ACTIVE_SECRETS} secrets "
                f"({', '.join(s.id for s in client.secrets)}); revoke one first: python -m "
                f"shared.admin client revoke {tenant.id} {client.id} --secret SECRET_ID")
    try:
        secret = clients.add_secret(client, now, days)
    except clients.ClientError as exc:
        raise conflict(str(exc)) from None
    d.tenants.save(tenant)
    record = client.secrets[-1]
    return {**_where(d, tenant), "client_id": client.id, "client_secret": secret,
            "secret_id": record.id, "expires": record.expires,
            "warnings": _oauth_refused(tenant)}


def federate_client(d: Deployment, tenant_id: str, *, entra_tenant: str, subject: str,
                    audience: str, client_id: str | None = None, name: str | None = None
                    ) -> dict[str, Any]:
    """Trust Entra's assertions for a workload identity: a new client, or (client_id) set or
    replace an existing client's federated credential."""
    entra = entra_tenant_id(entra_tenant)
    subject, audience = _field("--subject", subject), _field("--audience", audience)
    tenant = d.tenant(tenant_id)
    now = datetime.now(UTC)
    if client_id is None:
        client = clients.add_client(tenant, now, name=(name or "").strip())
        replaced = None
    else:
        client = _existing(tenant, client_id, with_name=name)
        replaced = client.federation
    try:
        credential = clients.set_federation(client, now, entra_tenant_id=entra,
                                            subject=subject, audience=audience)
    except clients.ClientError as exc:
        raise invalid(str(exc)) from None
    d.tenants.save(tenant)
    warnings = []
    if replaced is not None:
        warnings.append(f"replaced federated credential {replaced.id} (subject "
                        f"{replaced.subject}): its assertions are refused from now on")
    return {**_where(d, tenant), "client_id": client.id,
            "credential": {"id": credential.id, "issuer": ASSERTION_ISSUER.format(tid=entra),
                           "subject": credential.subject, "audience": credential.audience},
            "warnings": warnings + _oauth_refused(tenant)}


def list_clients(d: Deployment, tenant_id: str) -> dict[str, Any]:
    """The tenant's clients with their secrets (expiry, last use) and federated credential;
    never a secret."""
    tenant = d.tenant(tenant_id)
    now = datetime.now(UTC)
    used = d.tenants.last_uses(tenant.id)  # recorded at most hourly per credential, instance
    return {"tenant_id": tenant.id, "auth_methods": list(tenant.auth_methods),
            "token_endpoint": d.settings.token_endpoint,
            "clients": [_client_json(c, now, used) for c in tenant.clients]}


def _client_json(client: OAuthClient, now: datetime, used: dict[str, str]) -> dict[str, Any]:
    secrets = []
    for record in client.secrets:
        left = parse_iso(record.expires) - now
        expired = left <= timedelta(0)
        secrets.append({
            "secret_id": record.id, "prefix": record.prefix, "created": record.created,
            "expires": record.expires, "days_left": round(left.total_seconds() / 86400, 1),
            "expired": expired,
            "expires_soon": not expired and left <= clients.EXPIRY_WARNING,
            "last_used": used.get(record.id)})
    federation = None
    if (f := client.federation) is not None:
        federation = {"id": f.id, "entra_tenant_id": f.entra_tenant_id,
                      "issuer": ASSERTION_ISSUER.format(tid=f.entra_tenant_id),
                      "subject": f.subject, "audience": f.audience, "created": f.created,
                      "last_used": used.get(f.id)}
    return {"client_id": client.id, "name": client.name, "created": client.created,
            "secrets": secrets, "federation": federation}


def revoke_client(d: Deployment, tenant_id: str, client_id: str, *,
                  secret_id: str | None = None, federation: bool = False) -> dict[str, Any]:
    """Remove a client, one of its secrets (secret_id) or its federated credential. The
    token endpoint refuses it at once; access tokens already issued stop within 30 s."""
    if secret_id is not None and federation:
        raise invalid("revoke a secret or the federated credential, not both")
    tenant = d.tenant(tenant_id)
    client = _existing(tenant, client_id, with_name=None)
    if secret_id is not None:
        kept = [s for s in client.secrets if s.id != secret_id]
        if len(kept) == len(client.secrets):
            ids = ", ".join(s.id for s in client.secrets) or "none"
            raise not_found(f"client {client.id} has no secret {secret_id!r}; its secrets: "
                            f"{ids}")
        client.secrets = kept
        what = f"secret {secret_id} of client {client.id}"
    elif federation:
        if client.federation is None:
            raise not_found(f"client {client.id} has no federated credential; see `python -m "
                            f"shared.admin client list {tenant.id}`.")
        what = f"federated credential {client.federation.id} of client {client.id}"
        client.federation = None
    else:
        tenant.clients = [c for c in tenant.clients if c.id != client.id]
        what = f"client {client.id}"
    d.tenants.save(tenant)
    forget_sessions(d, tenant.id)
    warnings = []
    if tenant.client(client.id) is not None and not client.credential_ids():
        warnings.append(f"client {client.id} has no credential left; add one (client add "
                        f"{tenant.id} --client {client.id}) or revoke the client")
    return {"tenant_id": tenant.id, "client_id": client.id, "revoked": what,
            "warnings": warnings + _stranded(tenant)}


# -- how the tenant's requests authenticate -------------------------------------------------------


def tenant_auth(d: Deployment, tenant_id: str, allow: str | None = None) -> dict[str, Any]:
    """How the tenant's SCIM requests may authenticate; with `allow` (a comma list of
    secret-token, oauth), set that first."""
    tenant = d.tenant(tenant_id)
    if allow is not None:
        tenant.auth_methods = parse_methods(allow)
        d.tenants.save(tenant)
        forget_sessions(d, tenant.id)
    warnings = []
    if tenant.disabled:
        warnings.append(f"tenant {tenant.id} is disabled: every request gets 401 whatever "
                        "the methods")
    warnings += _refused(tenant) + _stranded(tenant)
    return {"tenant_id": tenant.id, "auth_methods": list(tenant.auth_methods),
            "secret_tokens": len(tenant.tokens), "usable_clients": len(_usable(tenant)),
            "entra_tenant_id": tenant.entra_tenant_id, "changed": allow is not None,
            "warnings": warnings}


def set_entra_jwt(d: Deployment, tenant_id: str, entra_tenant: str | None) -> dict[str, Any]:
    """Also accept Entra-issued JWTs for this Entra tenant (issuer
    https://sts.windows.net/ENTRA_TENANT_ID/), or (None) no longer."""
    tenant = d.tenant(tenant_id)
    tenant.entra_tenant_id = entra_tenant_id(entra_tenant) if entra_tenant is not None else None
    d.tenants.save(tenant)
    forget_sessions(d, tenant.id)
    return {"tenant_id": tenant.id, "entra_tenant_id": tenant.entra_tenant_id}


def _usable(tenant: Tenant) -> list[OAuthClient]:
    """Clients that can get a token now: a federated credential or an unexpired secret."""
    now = datetime.now(UTC)
    return [c for c in tenant.clients if c.federation is not None
            or any(parse_iso(s.expires) > now for s in c.secrets)]


def _refused(tenant: Tenant) -> list[str]:
    """Credentials the tenant holds but its methods refuse: Entra may still be set up with
    them (switching to oauth only breaks a connection that still uses a Secret Token)."""
    found = _oauth_refused(tenant)
    if "secret-token" not in tenant.auth_methods and tenant.tokens:
        found.append(f"tenant {tenant.id} does not accept Secret Tokens: requests with its "
                     f"{len(tenant.tokens)} token(s) get 401; revoke them once Entra uses "
                     f"OAuth (python -m shared.admin token list {tenant.id})")
    return found


def _oauth_refused(tenant: Tenant) -> list[str]:
    if "oauth" not in tenant.auth_methods and tenant.clients:
        return [f"tenant {tenant.id} does not accept OAuth: the token endpoint refuses its "
                f"{len(tenant.clients)} client(s); python -m shared.admin tenant auth "
                f"{tenant.id} --allow secret-token,oauth"]
    return []


def _stranded(tenant: Tenant) -> list[str]:
    """No allowed method has a credential: Entra cannot authenticate at all."""
    if "secret-token" in tenant.auth_methods and tenant.tokens:
        return []
    if "oauth" in tenant.auth_methods and _usable(tenant):
        return []
    hints = []
    if "oauth" in tenant.auth_methods:
        hints.append(f"python -m shared.admin client add {tenant.id}")
    if "secret-token" in tenant.auth_methods:
        hints.append(f"python -m shared.admin token add {tenant.id}")
    return [f"tenant {tenant.id} accepts {', '.join(tenant.auth_methods)} but holds no usable "
            f"credential for it: no SCIM request can authenticate; {' or '.join(hints)}"]


# -- signing keys ---------------------------------------------------------------------------------


def key_states(keys: list[SigningKey], now: datetime) -> list[dict[str, Any]]:
    """Each published key (oldest first) with its state: pending (published, not signing yet),
    signing (the newest active key), retiring (replaced; published until `retires` so tokens
    it signed still verify) or retired (deleted when the token endpoint next signs)."""
    active = [k for k in keys if k.activates <= now]
    rows = []
    for key in keys:
        retires: datetime | None = None
        if key.activates > now:
            state = "pending"
        elif key is active[-1]:
            state = "signing"
        else:
            successor = active[active.index(key) + 1]
            retires = successor.activates + RETIRE_AFTER
            state = "retiring" if retires > now else "retired"
        rows.append({"kid": key.kid, "created": key.stored.created,
                     "activates": key.stored.activates, "state": state,
                     "retires": iso(retires) if retires else None})
    return rows


def list_signing_keys(d: Deployment) -> list[dict[str, Any]]:
    """The published keys, oldest first, with their state; never a private key."""
    return key_states(d.signing_keys.published(), datetime.now(UTC))


def rotate_signing_key(d: Deployment, *, immediately: bool = False) -> dict[str, Any]:
    """Publish the next key: it signs once every instance has it (the current one signs until
    then, and is deleted once every token it signed has expired). `immediately`, for a leaked
    key: the new key signs now and every other key is deleted, so tokens they signed are
    refused within KEY_SET_TTL."""
    ring = d.signing_keys
    before = ring.published()
    now = datetime.now(UTC)
    pending = [k for k in before if k.activates > now]
    if pending and not immediately:
        raise conflict(f"key {pending[-1].kid} is already waiting to sign (from "
                       f"{pending[-1].stored.activates}); to replace every key now: python -m "
                       "shared.admin signing-key rotate --immediately")
    key = ring.rotate(immediately=immediately)
    replaced_active = any(k.activates <= now for k in before)
    return {"kid": key.kid, "activates": key.stored.activates, "immediately": immediately,
            "deleted": len(before) if immediately else 0,
            "refused_within_s": KEY_SET_TTL if immediately and before else None,
            "current_retires": (iso(key.activates + RETIRE_AFTER)
                                if replaced_active and not immediately else None)}
