"""Operator commands for the pull API's credentials (shared/auth/feed_tokens.py):

    feed token TENANT [--json]            # a tenant's feed credential, printed once
    feed token --deployment [--json]      # one that reads every tenant's feed
    feed tokens (TENANT | --deployment) [--json]   # ids and creation, never a token
    feed revoke (TENANT | --deployment) TOKEN_ID

Up to two credentials each (rotation: issue the second, switch the reader, revoke the first).
A revoke takes effect on every instance within 30 s (their caches)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..auth import feed_tokens
from ..settings import Settings
from ..store.connection import open_tables
from ..store.feed_tokens import DeploymentFeedTokens
from ..store.tenants import Tenant, TenantTable
from .output import show

AREAS = ("feed",)


def add_parsers(sub: Any) -> None:
    area = sub.add_parser("feed", help="credentials of the pull API (GET /feed/v1/…)"
                          ).add_subparsers(dest="action", required=True)
    token = area.add_parser("token", help="issue a feed credential; printed once")
    token.add_argument("tenant", nargs="?")
    token.add_argument("--deployment", action="store_true",
                       help="a credential that reads every tenant's feed")
    token.add_argument("--json", action="store_true", help="machine-readable output")
    listing = area.add_parser("tokens", help="list feed credentials (ids, never tokens)")
    listing.add_argument("tenant", nargs="?")
    listing.add_argument("--deployment", action="store_true")
    listing.add_argument("--json", action="store_true")
    revoke = area.add_parser("revoke", help="revoke a feed credential: TENANT TOKEN_ID, or "
                             "--deployment TOKEN_ID")
    revoke.add_argument("names", nargs="+", metavar="TENANT TOKEN_ID")
    revoke.add_argument("--deployment", action="store_true")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    tables.ensure()
    tenants, deployment = TenantTable(tables.tenants), DeploymentFeedTokens(tables.tenants)
    if args.action == "revoke":
        return _revoke(args, tenants, deployment)
    tenant_id = _scope(args.tenant, args.deployment, args.action)
    if args.action == "token":
        if tenant_id is None:
            try:
                row, secret = feed_tokens.issue_deployment(deployment.all())
            except ValueError as exc:
                raise SystemExit(f"error: {exc}") from None
            deployment.create(row)
            show({"scope": "deployment", "feed_url": settings.feed_url("{tenant}"),
                  "token": secret, "token_id": row.id}, args.json)
            return 0
        record = _tenant(tenants, tenant_id)
        try:
            secret = feed_tokens.issue(record)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
        tenants.save(record)  # only over the version read: a concurrent revoke is kept
        show({"tenant_id": record.id, "feed_url": settings.feed_url(record.id),
              "token": secret, "token_id": record.feed_tokens[-1].id}, args.json)
        return 0
    issued = (deployment.all() if tenant_id is None
              else _tenant(tenants, tenant_id).feed_tokens)
    rows = [{"token_id": t.id, "created": t.created} for t in issued]
    if args.json:
        print(json.dumps(rows))
    else:
        for listed in rows:
            print(f"{listed['token_id']}  created {listed['created']}")
        if not rows:
            print("no feed tokens")
    return 0


def _scope(tenant: str | None, deployment: bool, action: str) -> str | None:
    """The tenant id a command is about, or None for the deployment's credentials."""
    if deployment == (tenant is not None):
        raise SystemExit(f"error: `feed {action}` takes a TENANT or --deployment (one of "
                         "them); see `python -m shared.admin tenant list`.")
    return tenant


def _tenant(tenants: TenantTable, tenant_id: str) -> Tenant:
    record = tenants.get(tenant_id)
    if record is None:
        raise SystemExit(f"error: no tenant {tenant_id!r}; see `python -m shared.admin tenant "
                         "list`.")
    return record


def _revoke(args: argparse.Namespace, tenants: TenantTable,
            deployment: DeploymentFeedTokens) -> int:
    names: list[str] = args.names
    if args.deployment:
        if len(names) != 1:
            raise SystemExit("error: `feed revoke --deployment TOKEN_ID` takes one token id "
                             "(see `feed tokens --deployment`).")
        if not deployment.revoke(names[0]):
            raise SystemExit(f"error: the deployment has no feed token {names[0]!r}")
        print(f"revoked deployment feed token {names[0]} (cached sessions end within 30 s)")
        return 0
    if len(names) != 2:
        raise SystemExit("error: `feed revoke TENANT TOKEN_ID` (or `--deployment TOKEN_ID`).")
    tenant_id, token_id = names
    record = _tenant(tenants, tenant_id)
    before = len(record.feed_tokens)
    record.feed_tokens = [t for t in record.feed_tokens if t.id != token_id]
    if len(record.feed_tokens) == before:
        raise SystemExit(f"error: tenant {record.id} has no feed token {token_id!r} (see "
                         f"`feed tokens {record.id}`)")
    tenants.save(record)
    print(f"revoked feed token {token_id} of tenant {record.id} (cached sessions end within "
          "30 s)")
    return 0
