"""Operator CLI: tenants and their secret tokens.

    python -m shared.admin tenant create NAME [--json]   # prints Tenant URL + Secret Token
    python -m shared.admin tenant list
    python -m shared.admin tenant disable|enable TENANT
    python -m shared.admin tenant jwt-enable TENANT ENTRA_TENANT_ID   # also accept Entra JWTs
    python -m shared.admin tenant jwt-disable TENANT
    python -m shared.admin token add TENANT [--json]
    python -m shared.admin token list TENANT [--prefix scim_AbC] [--json]   # with last use
    python -m shared.admin token revoke TENANT TOKEN_ID
    python -m shared.admin webhook|deadletter|audit|reconcile …   (see shared/admin/feed.py)
    python -m shared.admin subscription set|types|show|clear|test …   (subscriptions.py)
    python -m shared.admin feed token|tokens|revoke …   # pull API credentials (feed_tokens.py)
    python -m shared.admin schema add TENANT FILE.json [--resource-type User|Group]
    python -m shared.admin schema list|undeclared TENANT [--json]
    python -m shared.admin schema remove TENANT URN
    python -m shared.admin schema policy TENANT capture|reject   (see shared/admin/schema.py)
    python -m shared.admin client add|federate|list|revoke TENANT …   # OAuth 2.0 clients
    python -m shared.admin tenant auth TENANT [--allow secret-token,oauth]
    python -m shared.admin signing-key list|rotate   (see shared/admin/clients.py)
    python -m shared.admin queue status | queue poison list|replay|clear NAME   (queues.py)

Storage comes from SCIM_STORAGE_CONNECTION_STRING or SCIM_STORAGE_TABLE_ENDPOINT (Azure, with
your `az login` identity), else from local.settings.json, else the local Azurite default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..auth.tenants import issue_token, new_tenant_id
from ..settings import Settings, SettingsError, from_environ
from ..store.connection import open_tables
from ..store.errors import PreconditionFailed, StoreError, Unavailable
from ..store.tenants import Tenant, TenantTable
from ..timestamps import now_iso
from . import clients, feed, feed_tokens, queues, schema, subscriptions
from .output import show

LOCAL_SETTINGS = Path("local.settings.json")


def load_settings() -> Settings:
    env = dict(os.environ)
    if not env.get("SCIM_STORAGE_CONNECTION_STRING") and not env.get(
        "SCIM_STORAGE_TABLE_ENDPOINT"
    ):
        if LOCAL_SETTINGS.exists():
            try:
                values = dict(json.loads(LOCAL_SETTINGS.read_text()).get("Values", {}))
            except (OSError, ValueError, TypeError, AttributeError) as exc:  # the operator's
                raise SystemExit(f"error: {LOCAL_SETTINGS} is not a readable settings file "
                                 f"({exc}); fix it (see local.settings.example.json) or set "
                                 "SCIM_STORAGE_CONNECTION_STRING.") from None
            env = {**{k: str(v) for k, v in values.items()}, **env}
        env.setdefault("SCIM_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    try:
        return from_environ(env)
    except SettingsError as exc:  # the operator's to fix: the message, not a traceback
        raise SystemExit(f"error: {exc}") from None


def _table(settings: Settings) -> TenantTable:
    tables = open_tables(settings)
    tables.ensure()
    return TenantTable(tables.tenants)


def _require(table: TenantTable, tenant_id: str) -> Tenant:
    tenant = table.get(tenant_id)
    if tenant is None:
        raise SystemExit(f"error: no tenant {tenant_id!r}; see `python -m shared.admin tenant "
                         "list`.")
    return tenant



def create_tenant(settings: Settings, name: str) -> dict[str, str]:
    table = _table(settings)
    tenant = Tenant(id=new_tenant_id(), name=name, created=now_iso())
    token = issue_token(tenant)
    table.create(tenant)
    return {"tenant_id": tenant.id, "tenant_url": settings.tenant_url(tenant.id),
            "token": token}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="area", required=True)
    tenant = sub.add_parser("tenant", help="create and list tenants").add_subparsers(
        dest="action", required=True)
    create = tenant.add_parser("create", help="create a tenant; prints URL and token once")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    tenant.add_parser("list", help="list tenants")
    for action in ("disable", "enable"):
        tenant.add_parser(action).add_argument("tenant")
    jwt_on = tenant.add_parser("jwt-enable", help="also accept Entra-issued JWTs (issuer "
                               "https://sts.windows.net/ENTRA_TENANT_ID/)")
    jwt_on.add_argument("tenant")
    jwt_on.add_argument("entra_tenant_id", help="the customer's Entra (directory) tenant id")
    tenant.add_parser("jwt-disable", help="accept secret tokens only").add_argument("tenant")
    clients.add_tenant_parsers(tenant)
    token = sub.add_parser("token", help="rotate secret tokens").add_subparsers(
        dest="action", required=True)
    add = token.add_parser("add", help="issue a second token (for rotation)")
    add.add_argument("tenant")
    add.add_argument("--json", action="store_true")
    listing = token.add_parser("list", help="tokens with prefix, creation and last use")
    listing.add_argument("tenant")
    listing.add_argument("--prefix", default="", help="only tokens starting with this")
    listing.add_argument("--json", action="store_true")
    revoke = token.add_parser("revoke")
    revoke.add_argument("tenant")
    revoke.add_argument("token_id")
    feed.add_parsers(sub)
    subscriptions.add_parsers(sub)
    feed_tokens.add_parsers(sub)
    schema.add_parsers(sub)
    clients.add_parsers(sub)
    queues.add_parsers(sub)
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        return _run(args, settings)
    except PreconditionFailed as exc:
        raise SystemExit(f"error: tenant {exc} changed while this command ran (another operator "
                         "command at the same time?); nothing was written: run it again") from None
    except Unavailable as exc:
        raise SystemExit(f"error: storage did not answer ({exc}); check that it is running and "
                         "reachable (SCIM_STORAGE_CONNECTION_STRING or "
                         "SCIM_STORAGE_TABLE_ENDPOINT; locally: `make run` or "
                         "`python tools/azurite.py`).") from None
    except StoreError as exc:  # e.g. a connection string without an account key
        raise SystemExit(f"error: {exc}") from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.area in feed.AREAS:
        return feed.dispatch(args, settings)
    if args.area in subscriptions.AREAS:
        return subscriptions.dispatch(args, settings)
    if args.area in feed_tokens.AREAS:
        return feed_tokens.dispatch(args, settings)
    if args.area in queues.AREAS:
        return queues.dispatch(args, settings)
    if args.area in schema.AREAS:
        return schema.dispatch(args, settings)
    if clients.handles(args):
        return clients.dispatch(args, settings)
    if args.area == "tenant" and args.action == "create":
        show(create_tenant(settings, args.name), args.json)
        return 0
    table = _table(settings)
    if args.area == "tenant" and args.action == "list":
        for t in table.all():
            state = "disabled" if t.disabled else "active"
            print(f"{t.id}  {state:8}  tokens={len(t.tokens)}  {t.name}  "
                  f"{settings.tenant_url(t.id)}")
        return 0
    if args.area == "tenant" and args.action in ("jwt-enable", "jwt-disable"):
        record = _require(table, args.tenant)
        record.entra_tenant_id = (clients.entra_tenant_id(args.entra_tenant_id)
                                  if args.action == "jwt-enable" else None)
        table.save(record)
        state = (f"accepted for Entra tenant {record.entra_tenant_id}"
                 if record.entra_tenant_id else "not accepted")
        print(f"tenant {record.id}: Entra-issued JWTs {state}")
        return 0
    if args.area == "tenant":
        record = _require(table, args.tenant)
        record.disabled = args.action == "disable"
        table.save(record)
        print(f"tenant {record.id} {args.action}d")
        return 0
    record = _require(table, args.tenant)
    if args.action == "add":
        try:
            secret = issue_token(record)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
        table.save(record)
        show({"tenant_id": record.id, "tenant_url": settings.tenant_url(record.id),
                "token": secret, "token_id": record.tokens[-1].id}, args.json)
        return 0
    if args.action == "list":
        used = table.last_uses(record.id)  # recorded at most hourly per token (authenticator)
        rows = [{"token_id": t.id, "prefix": t.prefix, "created": t.created,
                 "last_used": used.get(t.id)} for t in record.tokens
                if t.prefix.startswith(args.prefix) or args.prefix.startswith(t.prefix)]
        for row in rows:
            if not args.json:
                print(f"{row['token_id']}  {row['prefix']}…  created {row['created']}  "
                      f"last used {row['last_used'] or 'never'}")
        if args.json:
            print(json.dumps(rows))
        return 0
    before = len(record.tokens)
    record.tokens = [t for t in record.tokens if t.id != args.token_id]
    if len(record.tokens) == before:
        raise SystemExit(f"error: tenant {record.id} has no token {args.token_id!r}")
    table.save(record)
    print(f"revoked token {args.token_id} of tenant {record.id} (cached sessions end within 30 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
