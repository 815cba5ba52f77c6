"""Operator CLI: a thin client of the operations in shared/manage (the management API runs the
same ones). Every command has --help and --json (one JSON document on stdout).

    python -m shared.admin tenant create NAME            # prints Tenant URL + Secret Token once
    python -m shared.admin tenant list
    python -m shared.admin tenant show TENANT            # tokens, webhook, schemas, clients …
    python -m shared.admin tenant disable|enable TENANT
    python -m shared.admin tenant delete TENANT --yes    # with all its data; progress on stderr
    python -m shared.admin tenant jwt-enable TENANT ENTRA_TENANT_ID   # also accept Entra JWTs
    python -m shared.admin tenant jwt-disable TENANT
    python -m shared.admin tenant auth TENANT [--allow secret-token,oauth]
    python -m shared.admin token add TENANT
    python -m shared.admin token list TENANT [--prefix scim_AbC]     # with last use
    python -m shared.admin token revoke TENANT TOKEN_ID
    python -m shared.admin webhook set|types|show|clear|test TENANT …   (shared/admin/feed.py)
    python -m shared.admin deadletter list|show|replay TENANT … [--deployment]
    python -m shared.admin audit TENANT [--since 2h] [--status 4xx] [--limit N]
    python -m shared.admin reconcile run [--tenant TENANT]…          # progress on stderr
    python -m shared.admin subscription set|types|show|clear|test …  (subscriptions.py)
    python -m shared.admin feed token|tokens|revoke …   # pull API credentials (feed_tokens.py)
    python -m shared.admin schema add TENANT FILE.json [--resource-type User|Group]
    python -m shared.admin schema list|undeclared TENANT
    python -m shared.admin schema remove TENANT URN
    python -m shared.admin schema policy TENANT capture|reject   (see shared/admin/schema.py)
    python -m shared.admin client add|federate|list|revoke TENANT …   # OAuth 2.0 clients
    python -m shared.admin signing-key list|rotate   (see shared/admin/clients.py)
    python -m shared.admin queue status | queue poison list|replay|clear NAME   (queues.py)

Storage comes from SCIM_STORAGE_CONNECTION_STRING or SCIM_STORAGE_TABLE_ENDPOINT (Azure, with
your `az login` identity), else from local.settings.json, else the local Azurite default. Only
`tenant create` creates the tables; every other command reads or writes what exists.
A mistake, or storage that cannot be used, is one line on stderr (`error: …`) and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ..manage import tenants, tokens
from ..manage.context import Deployment
from ..manage.errors import ManageError
from ..settings import Settings, SettingsError, from_environ
from ..store.errors import (
    AccessDenied,
    NotFound,
    NotSignedIn,
    PreconditionFailed,
    StoreError,
    Unavailable,
)
from . import clients, feed, feed_tokens, queues, schema, subscriptions
from .commands import group, leaf
from .output import print_json, progress, show

LOCAL_SETTINGS = Path("local.settings.json")
ROLE_DOCS = "docs/deploy.md, \"Create the first tenant\""


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


# -- tenant ----------------------------------------------------------------------------------


def _create(args: argparse.Namespace, d: Deployment) -> int:
    created = tenants.create_tenant(d, args.name)
    show(created if args.json else {k: created[k] for k in ("tenant_id", "tenant_url",
                                                            "token")}, args.json)
    return 0


def _list(args: argparse.Namespace, d: Deployment) -> int:
    rows = tenants.list_tenants(d)
    if args.json:
        print_json(rows)
        return 0
    for t in rows:
        print(f"{t['tenant_id']}  {t['state']:8}  tokens={t['tokens']}  {t['name']}  "
              f"{t['tenant_url']}")
    return 0


def _show(args: argparse.Namespace, d: Deployment) -> int:
    shown = tenants.show_tenant(d, args.tenant)
    if args.json:
        print_json(shown)
        return 0
    print(_tenant_text(shown))
    return 0


def _tenant_text(t: dict[str, Any]) -> str:
    hook = t["webhook"]
    lines = [f"tenant_id: {t['tenant_id']}", f"name: {t['name']}", f"state: {t['state']}",
             f"created: {t['created']}", f"tenant_url: {t['tenant_url']}",
             f"auth_methods: {', '.join(t['auth_methods'])}",
             f"entra_tenant_id: {t['entra_tenant_id'] or 'none (Entra JWTs not accepted)'}",
             f"tokens: {len(t['tokens'])}"]
    lines += [f"  {r['token_id']}  {r['prefix']}…  created {r['created']}  last used "
              f"{r['last_used'] or 'never'}" for r in t["tokens"]]
    lines.append("webhook: " + (f"{hook['url']} (secret {hook['secret_prefix']}…, types "
                                f"{feed.types_text(hook['types'])})" if hook else "none"))
    lines.append(f"schemas: {', '.join(t['schemas']) or 'none'} (undeclared attributes: "
                 f"{t['undeclared_policy']})")
    lines.append(f"feed_tokens: {len(t['feed_tokens'])}")
    lines.append(f"clients: {t['clients']}")
    return "\n".join(lines)


def _delete(args: argparse.Namespace, d: Deployment) -> int:
    if not args.yes:
        raise SystemExit(f"error: `tenant delete` removes tenant {args.tenant} with all of its "
                         "data (users, groups, events, audit log) and cannot be undone: add "
                         "--yes to delete it")
    done = tenants.delete_tenant(d, args.tenant, progress=progress)
    if args.json:
        print_json(done)
        return 0 if done["complete"] else 1
    removed = done["removed"]
    counts = (f"{removed['data_rows']} data, {removed['audit_rows']} audit and "
              f"{removed['other_rows']} other rows removed")
    if done["complete"]:
        print(f"tenant {done['tenant_id']} deleted ({counts})")
        return 0
    print(f"tenant {done['tenant_id']} is being deleted ({counts} so far): run the command "
          "again to finish")
    return 1


def _state(args: argparse.Namespace, d: Deployment) -> int:
    shown = tenants.set_tenant_state(d, args.tenant, disabled=args.action == "disable")
    if args.json:
        print_json(shown)
    else:
        print(f"tenant {shown['tenant_id']} {args.action}d")
    return 0


# -- token -----------------------------------------------------------------------------------


def _token_add(args: argparse.Namespace, d: Deployment) -> int:
    issued = tokens.add_token(d, args.tenant)
    show(issued if args.json else {k: issued[k] for k in ("tenant_id", "tenant_url", "token",
                                                          "token_id")}, args.json)
    return 0


def _token_list(args: argparse.Namespace, d: Deployment) -> int:
    rows = [t for t in tokens.list_tokens(d, args.tenant)
            if t["prefix"].startswith(args.prefix) or args.prefix.startswith(t["prefix"])]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['token_id']}  {row['prefix']}…  created {row['created']}  "
              f"last used {row['last_used'] or 'never'}")
    return 0


def _token_revoke(args: argparse.Namespace, d: Deployment) -> int:
    done = tokens.revoke_token(d, args.tenant, args.token_id)
    if args.json:
        print_json(done)
    else:
        print(f"revoked token {done['token_id']} of tenant {done['tenant_id']} (cached "
              "sessions end within 30 s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="area", required=True)
    tenant = group(sub, "tenant", "tenants: create, list, show, disable, enable, delete")
    leaf(tenant, "create", "create a tenant (and the tables, on a fresh deployment); prints "
         "its URL and token once", _create).add_argument("name", help="a display name")
    leaf(tenant, "list", "list tenants: id, state, token count, name, Tenant URL", _list)
    leaf(tenant, "show", "one tenant: state, tokens, webhook, schemas, credentials",
         _show).add_argument("tenant")
    leaf(tenant, "disable", "refuse every request of the tenant (401); data is kept",
         _state).add_argument("tenant")
    leaf(tenant, "enable", "accept the tenant's requests again", _state).add_argument("tenant")
    delete = leaf(tenant, "delete", "delete a tenant with all of its data (offboarding; "
                  "resumable, progress on stderr)", _delete)
    delete.add_argument("tenant")
    delete.add_argument("--yes", action="store_true",
                        help="yes, delete it: the command asks no question and needs this")
    clients.add_tenant_parsers(tenant)
    token = group(sub, "token", "a tenant's Secret Tokens: add (rotate), list, revoke")
    leaf(token, "add", "issue a second token (for rotation); printed once",
         _token_add).add_argument("tenant")
    listing = leaf(token, "list", "tokens with prefix, creation and last use", _token_list)
    listing.add_argument("tenant")
    listing.add_argument("--prefix", default="", help="only tokens starting with this")
    revoke = leaf(token, "revoke", "revoke a token (its sessions end within 30 s)",
                  _token_revoke)
    revoke.add_argument("tenant")
    revoke.add_argument("token_id")
    feed.add_parsers(sub)
    subscriptions.add_parsers(sub)
    feed_tokens.add_parsers(sub)
    schema.add_parsers(sub)
    clients.add_parsers(sub)
    queues.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The library loggers' warnings (a credential that found no identity, a retried call)
    # would add lines to the one-line error below: the CLI reports what went wrong itself.
    logging.getLogger().addHandler(logging.NullHandler())
    settings = load_settings()
    try:
        code: int = args.handler(args, Deployment.open(settings))
    except ManageError as exc:
        raise SystemExit(f"error: {_one_line(exc.detail)}") from None
    except StoreError as exc:
        raise SystemExit(f"error: {_one_line(storage_problem(exc, settings))}") from None
    return code


def storage_problem(exc: StoreError, settings: Settings) -> str:
    """What a store error means to the operator, and what to do about it."""
    if isinstance(exc, NotSignedIn) and not settings.storage_connection_string:
        return ("not signed in to Azure: run `az login` (or set "
                "SCIM_STORAGE_CONNECTION_STRING)")
    if isinstance(exc, AccessDenied):
        if settings.storage_connection_string:
            return ("storage refused the account key of SCIM_STORAGE_CONNECTION_STRING: "
                    "check that it is the account's current key")
        return (f"your identity lacks the Storage Table Data Contributor role on "
                f"{settings.storage_table_endpoint}: assign it ({ROLE_DOCS}), then allow a "
                "few minutes for it to apply")
    if isinstance(exc, PreconditionFailed):
        return ("the record changed while this command ran (another operator command at the "
                "same time?); nothing was written: run it again")
    if isinstance(exc, Unavailable):
        return (f"storage did not answer ({exc}); check that it is running and reachable "
                "(SCIM_STORAGE_CONNECTION_STRING or SCIM_STORAGE_TABLE_ENDPOINT; locally: "
                "`make run` or `python tools/azurite.py`).")
    if isinstance(exc, NotFound) and "TableNotFound" in str(exc):
        return ("the tables do not exist yet: create the first tenant (`python -m "
                "shared.admin tenant create NAME`), which creates them")
    return str(exc)  # e.g. a connection string without an account key


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
