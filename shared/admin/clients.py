"""Operator commands for OAuth 2.0 (the token endpoint): a tenant's clients, which ways its
SCIM requests may authenticate, and the deployment's signing keys.

    client add TENANT [--name N] [--expires 365d] [--client CLIENT_ID] [--json]
    client federate TENANT --entra-tenant TID --subject SUB --audience AUD
                    [--client CLIENT_ID] [--name N] [--json]
    client list TENANT [--json]     # secrets with expiry and last use; federated credential
    client revoke TENANT CLIENT_ID [--secret SECRET_ID | --federation]
    tenant auth TENANT [--allow secret-token,oauth]   # without --allow: show
    signing-key list [--json]
    signing-key rotate [--immediately]

A client secret is printed once, by `client add`; only its digest is stored.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..auth import clients
from ..auth.signing_keys import KEY_SET_TTL, RETIRE_AFTER, KeyRing, SigningKey
from ..settings import Settings
from ..store.connection import open_tables
from ..store.signing_keys import SigningKeyTable
from ..store.tenants import AUTH_METHODS, AuthMethod, OAuthClient, Tenant, TenantTable
from ..timestamps import iso, parse_iso
from .output import show

AREAS = ("client", "signing-key")
# The issuer the token endpoint requires of a federated credential's assertions: Entra's v2.0
# issuer for the credential's Entra tenant (shared/auth/entra_jwt.py verifies them).
ASSERTION_ISSUER = "https://login.microsoftonline.com/{tid}/v2.0"
_EXPIRES = re.compile(r"(\d{1,5})([dy])")
_DAYS_PER_YEAR = 365
# Federated credential fields come from Entra's portal by copy and paste: bounded, one line.
_MAX_FIELD = 1024
_PROPAGATION = "instances apply it within 30 s"
_REVOKED = ("the token endpoint refuses it at once; access tokens already issued with it stop "
            "working within 30 s")


def add_parsers(sub: Any) -> None:
    client = sub.add_parser("client", help="OAuth 2.0 clients of the token endpoint "
                            "(client credentials, workload identity federation)"
                            ).add_subparsers(dest="action", required=True)
    add = client.add_parser("add", help="a new client with a secret, or with --client a "
                            "second secret (rotation); prints the secret once")
    add.add_argument("tenant")
    add.add_argument("--name", help="a display name for a new client")
    add.add_argument("--expires", default=f"{clients.DEFAULT_SECRET_DAYS}d",
                     help="the secret's lifetime: Nd or Ny, 1d to "
                     f"{clients.MAX_SECRET_DAYS}d (default %(default)s)")
    add.add_argument("--client", help="add the secret to this existing client")
    add.add_argument("--json", action="store_true", help="machine-readable output")
    federate = client.add_parser("federate", help="trust Entra's assertions for a workload "
                                 "identity (a new client, or with --client an existing one)")
    federate.add_argument("tenant")
    federate.add_argument("--entra-tenant", required=True,
                          help="the Entra tenant id (a GUID) that issues the assertions")
    federate.add_argument("--subject", required=True,
                          help="the workload identity's subject, as Entra shows it")
    federate.add_argument("--audience", required=True,
                          help="the assertion's audience (a trailing /.default is dropped)")
    federate.add_argument("--client", help="set (or replace) this client's federated "
                          "credential")
    federate.add_argument("--name", help="a display name for a new client")
    federate.add_argument("--json", action="store_true", help="machine-readable output")
    listing = client.add_parser("list", help="clients with their secrets (expiry, last use) "
                                "and federated credential")
    listing.add_argument("tenant")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = client.add_parser("revoke", help="remove a client, one of its secrets, or its "
                               "federated credential")
    revoke.add_argument("tenant")
    revoke.add_argument("client_id")
    which = revoke.add_mutually_exclusive_group()
    which.add_argument("--secret", metavar="SECRET_ID", help="only this secret")
    which.add_argument("--federation", action="store_true",
                       help="only the federated credential")
    keys = sub.add_parser("signing-key", help="the keys that sign access tokens"
                          ).add_subparsers(dest="action", required=True)
    keys.add_parser("list", help="published keys: kid, created, activates, state").add_argument(
        "--json", action="store_true", help="machine-readable output")
    keys.add_parser("rotate", help="publish the next key (it signs once every instance has "
                    "it); --immediately for a leaked key").add_argument(
        "--immediately", action="store_true",
        help="the new key signs now and every other key is deleted: tokens they signed are "
        f"refused within {KEY_SET_TTL / 60:.0f} min")


def add_tenant_parsers(tenant: Any) -> None:
    """`tenant auth`, beside the other tenant commands."""
    auth = tenant.add_parser("auth", help="show or set how the tenant's SCIM requests may "
                             "authenticate: secret-token, oauth")
    auth.add_argument("tenant")
    auth.add_argument("--allow", metavar="METHODS",
                      help=f"comma-separated, of {','.join(AUTH_METHODS)} (a gallery listing "
                      "wants oauth only)")


def handles(args: argparse.Namespace) -> bool:
    return args.area in AREAS or (args.area, args.action) == ("tenant", "auth")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    tables.ensure()
    if args.area == "signing-key":
        ring = KeyRing(SigningKeyTable(tables.tenants))
        return _list_keys(ring, args.json) if args.action == "list" else _rotate(
            ring, args.immediately)
    tenants = TenantTable(tables.tenants)
    tenant = tenants.get(args.tenant)
    if tenant is None:
        raise SystemExit(f"error: no tenant {args.tenant!r}; see `python -m shared.admin "
                         "tenant list`.")
    action = "auth" if args.area == "tenant" else args.action
    return _ACTIONS[action](args, settings, tenants, tenant)


def entra_tenant_id(value: str) -> str:
    """An Entra tenant id in its canonical spelling, or SystemExit saying where to find it."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise SystemExit(f"error: {value!r} is not an Entra tenant id (a GUID; Entra admin "
                         "center > Overview > Tenant ID)") from None


def parse_expires(value: str) -> int:
    """`--expires`: Nd or Ny (365 days a year), as days within what a secret may live."""
    match = _EXPIRES.fullmatch(value.strip().lower())
    if match is None:
        raise SystemExit(f"error: --expires {value!r} is not a lifetime; write days or years "
                         "as 90d or 2y")
    days = int(match[1]) * (_DAYS_PER_YEAR if match[2] == "y" else 1)
    if not 1 <= days <= clients.MAX_SECRET_DAYS:
        raise SystemExit(f"error: --expires {value!r} is {days} days; a client secret lives "
                         f"1 to {clients.MAX_SECRET_DAYS} days (3y)")
    return days


# -- client add / federate --------------------------------------------------------------------


def _add(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
         tenant: Tenant) -> int:
    days = parse_expires(args.expires)
    now = datetime.now(UTC)
    if args.client is None:
        client = clients.add_client(tenant, now, name=(args.name or "").strip())
    else:
        client = _existing(tenant, args.client, with_name=args.name)
        if len(client.secrets) >= clients.MAX_ACTIVE_SECRETS:
            raise SystemExit(
                f"error: client {client.id} already has {clients.MAX_ACTIVE_SECRETS} secrets "
                f"({', '.join(s.id for s in client.secrets)}); revoke one first: python -m "
                f"shared.admin client revoke {tenant.id} {client.id} --secret SECRET_ID")
    try:
        secret = clients.add_secret(client, now, days)
    except clients.ClientError as exc:
        raise SystemExit(f"error: {exc}") from None
    tenants.save(tenant)
    record = client.secrets[-1]
    show({**_where(settings, tenant), "client_id": client.id, "client_secret": secret,
            "secret_id": record.id, "expires": record.expires}, args.json)
    _warn_if_oauth_refused(tenant)
    return 0


def _federate(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
              tenant: Tenant) -> int:
    entra_tenant = entra_tenant_id(args.entra_tenant)
    subject = _field("--subject", args.subject)
    audience = _field("--audience", args.audience)
    now = datetime.now(UTC)
    if args.client is None:
        client = clients.add_client(tenant, now, name=(args.name or "").strip())
        replaced = None
    else:
        client = _existing(tenant, args.client, with_name=args.name)
        replaced = client.federation
    try:
        credential = clients.set_federation(client, now, entra_tenant_id=entra_tenant,
                                            subject=subject, audience=audience)
    except clients.ClientError as exc:
        raise SystemExit(f"error: {exc}") from None
    tenants.save(tenant)
    shown = {"id": credential.id, "issuer": ASSERTION_ISSUER.format(tid=entra_tenant),
             "subject": credential.subject, "audience": credential.audience}
    if args.json:
        print(json.dumps({**_where(settings, tenant), "client_id": client.id,
                          "credential": shown}))
    else:
        show({**_where(settings, tenant), "client_id": client.id,
                **{f"credential_{k}" if k == "id" else k: v for k, v in shown.items()}},
               as_json=False)
    if replaced is not None:
        _warn(f"replaced federated credential {replaced.id} (subject {replaced.subject}): "
              f"its assertions are refused from now on")
    _warn_if_oauth_refused(tenant)
    return 0


def _where(settings: Settings, tenant: Tenant) -> dict[str, str]:
    return {"tenant_id": tenant.id, "tenant_url": settings.tenant_url(tenant.id),
            "token_endpoint": settings.token_endpoint}


def _existing(tenant: Tenant, client_id: str, *, with_name: str | None) -> OAuthClient:
    if with_name is not None:
        raise SystemExit("error: --name names a new client; leave out --client to create one "
                         "(an existing client keeps its name)")
    client = tenant.client(client_id)
    if client is None:
        raise SystemExit(f"error: tenant {tenant.id} has no client {client_id!r}; see "
                         f"`python -m shared.admin client list {tenant.id}`.")
    return client


def _field(option: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > _MAX_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SystemExit(f"error: {option} must be one line of 1 to {_MAX_FIELD} characters, "
                         "copied from the workload identity's federated credential in Entra")
    return value


# -- client list --------------------------------------------------------------------------------


def _list(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
          tenant: Tenant) -> int:
    now = datetime.now(UTC)
    used = tenants.last_uses(tenant.id)  # recorded at most hourly per credential and instance
    listed = [_client_json(c, now, used) for c in tenant.clients]
    if args.json:
        print(json.dumps({"tenant_id": tenant.id, "auth_methods": list(tenant.auth_methods),
                          "clients": listed}))
        return 0
    print(f"tenant {tenant.id}: accepts {', '.join(tenant.auth_methods)}; token endpoint "
          f"{settings.token_endpoint}")
    if not listed:
        print(f"no OAuth clients; add one: python -m shared.admin client add {tenant.id}")
    for client in listed:
        name = f"  {client['name']}" if client["name"] else ""
        print(f"client {client['client_id']}{name}  created {client['created']}")
        for s in client["secrets"]:
            print(f"  secret {s['secret_id']}  {s['prefix']}…  created {s['created']}  "
                  f"expires {s['expires']}  {_left(s)}  last used {s['last_used'] or 'never'}")
        if not client["secrets"] and client["federation"] is None:
            print("  no credential: add one with client add/federate --client "
                  f"{client['client_id']}")
        if (f := client["federation"]) is not None:
            print(f"  federation {f['id']}  issuer {f['issuer']}  subject {f['subject']}  "
                  f"audience {f['audience']}  last used {f['last_used'] or 'never'}")
    return 0


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


def _left(secret: dict[str, Any]) -> str:
    days = secret["days_left"]
    if secret["expired"]:
        return f"EXPIRED {math.floor(-days)} day(s) ago"
    text = f"{math.ceil(days)} day(s) left"
    return f"{text} EXPIRES SOON" if secret["expires_soon"] else text


# -- client revoke ------------------------------------------------------------------------------


def _revoke(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
            tenant: Tenant) -> int:
    client = _existing(tenant, args.client_id, with_name=None)
    if args.secret is not None:
        kept = [s for s in client.secrets if s.id != args.secret]
        if len(kept) == len(client.secrets):
            ids = ", ".join(s.id for s in client.secrets) or "none"
            raise SystemExit(f"error: client {client.id} has no secret {args.secret!r}; its "
                             f"secrets: {ids}")
        client.secrets = kept
        what = f"secret {args.secret} of client {client.id}"
    elif args.federation:
        if client.federation is None:
            raise SystemExit(f"error: client {client.id} has no federated credential; see "
                             f"`python -m shared.admin client list {tenant.id}`.")
        what = f"federated credential {client.federation.id} of client {client.id}"
        client.federation = None
    else:
        tenant.clients = [c for c in tenant.clients if c.id != client.id]
        what = f"client {client.id}"
    tenants.save(tenant)
    print(f"revoked {what} (tenant {tenant.id}): {_REVOKED}")
    if tenant.client(client.id) is not None and not client.credential_ids():
        _warn(f"client {client.id} has no credential left; add one (client add "
              f"{tenant.id} --client {client.id}) or revoke the client")
    _warn_if_stranded(tenant)
    return 0


# -- tenant auth --------------------------------------------------------------------------------


def _auth(args: argparse.Namespace, settings: Settings, tenants: TenantTable,
          tenant: Tenant) -> int:
    if args.allow is not None:
        tenant.auth_methods = parse_methods(args.allow)
        tenants.save(tenant)
    methods = ", ".join(tenant.auth_methods)
    tokens, usable = len(tenant.tokens), len(_usable_clients(tenant))
    print(f"tenant {tenant.id}: SCIM requests authenticate with {methods} ({tokens} secret "
          f"token(s), {usable} OAuth client(s) with a valid credential)"
          + (f"; {_PROPAGATION}" if args.allow is not None else ""))
    if tenant.entra_tenant_id:
        print(f"Entra-issued JWTs are also accepted, for Entra tenant {tenant.entra_tenant_id} "
              f"(tenant jwt-disable {tenant.id} to stop)")
    if tenant.disabled:
        _warn(f"tenant {tenant.id} is disabled: every request gets 401 whatever the methods")
    _warn_if_refused(tenant)
    _warn_if_stranded(tenant)
    return 0


def parse_methods(value: str) -> list[AuthMethod]:
    """`--allow`: a comma list of methods, in the canonical order."""
    given = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = sorted(given - set(AUTH_METHODS))
    if unknown:
        raise SystemExit(f"error: --allow {value!r}: unknown method(s) {', '.join(unknown)}; "
                         f"choose from {','.join(AUTH_METHODS)}")
    if not given:
        raise SystemExit(f"error: --allow needs at least one of {','.join(AUTH_METHODS)} (to "
                         "refuse every request, `tenant disable` the tenant)")
    return [m for m in AUTH_METHODS if m in given]


def _usable_clients(tenant: Tenant) -> list[OAuthClient]:
    """Clients that can get a token now: a federated credential or an unexpired secret."""
    now = datetime.now(UTC)
    return [c for c in tenant.clients if c.federation is not None
            or any(parse_iso(s.expires) > now for s in c.secrets)]


def _warn_if_refused(tenant: Tenant) -> None:
    """Credentials the tenant holds but its methods refuse: Entra may still be set up with
    them (switching to oauth only breaks a connection that still uses a Secret Token)."""
    _warn_if_oauth_refused(tenant)
    if "secret-token" not in tenant.auth_methods and tenant.tokens:
        _warn(f"tenant {tenant.id} does not accept Secret Tokens: requests with its "
              f"{len(tenant.tokens)} token(s) get 401; revoke them once Entra uses OAuth "
              f"(python -m shared.admin token list {tenant.id})")


def _warn_if_oauth_refused(tenant: Tenant) -> None:
    if "oauth" not in tenant.auth_methods and tenant.clients:
        _warn(f"tenant {tenant.id} does not accept OAuth: the token endpoint refuses its "
              f"{len(tenant.clients)} client(s); python -m shared.admin tenant auth {tenant.id} "
              "--allow secret-token,oauth")


def _warn_if_stranded(tenant: Tenant) -> None:
    """No allowed method has a credential: Entra cannot authenticate at all."""
    if "secret-token" in tenant.auth_methods and tenant.tokens:
        return
    if "oauth" in tenant.auth_methods and _usable_clients(tenant):
        return
    hints = []
    if "oauth" in tenant.auth_methods:
        hints.append(f"python -m shared.admin client add {tenant.id}")
    if "secret-token" in tenant.auth_methods:
        hints.append(f"python -m shared.admin token add {tenant.id}")
    _warn(f"tenant {tenant.id} accepts {', '.join(tenant.auth_methods)} but holds no usable "
          f"credential for it: no SCIM request can authenticate; {' or '.join(hints)}")


# -- signing keys -------------------------------------------------------------------------------


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


def _list_keys(ring: KeyRing, as_json: bool) -> int:
    rows = key_states(ring.published(), datetime.now(UTC))
    if as_json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no signing keys yet: the token endpoint creates the first when it issues its "
              "first token")
        return 0
    header = ("KID", "CREATED", "ACTIVATES", "STATE")
    cells = [header, *((r["kid"], r["created"], r["activates"],
                        r["state"] + (f" until {r['retires']}" if r["retires"] else ""))
                       for r in rows)]
    widths = [max(len(row[n]) for row in cells) for n in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _rotate(ring: KeyRing, immediately: bool) -> int:
    before = ring.published()
    now = datetime.now(UTC)
    pending = [k for k in before if k.activates > now]
    if pending and not immediately:
        raise SystemExit(f"error: key {pending[-1].kid} is already waiting to sign (from "
                         f"{pending[-1].stored.activates}); to replace every key now: python "
                         "-m shared.admin signing-key rotate --immediately")
    key = ring.rotate(immediately=immediately)
    if immediately:
        deleted = (f"; {len(before)} other key(s) deleted: access tokens they signed are "
                   f"refused within {KEY_SET_TTL / 60:.0f} min (instances re-read the key set "
                   "that often)") if before else " (the deployment's first key)"
        print(f"signing key {key.kid} signs now{deleted}")
    else:
        print(f"signing key {key.kid} published; it signs from {key.stored.activates}, once "
              "every instance has it")
        if any(k.activates <= now for k in before):
            print("the current key signs until then and is deleted after "
                  f"{iso(key.activates + RETIRE_AFTER)}, when every token it signed has expired")
    return 0



def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings, TenantTable, Tenant], int]] = {
    "add": _add, "federate": _federate, "list": _list, "revoke": _revoke, "auth": _auth}
