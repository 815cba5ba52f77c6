"""Operator commands for the pull API's credentials (shared/manage/feed_credentials.py):

    feed token TENANT            # a tenant's feed credential, printed once
    feed token --deployment      # one that reads every tenant's feed
    feed tokens (TENANT | --deployment)   # ids and creation, never a token
    feed revoke (TENANT | --deployment) TOKEN_ID

Up to two credentials each (rotation: issue the second, switch the reader, revoke the first).
A revoke takes effect on every instance within 30 s (their caches). Every command takes --json.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..manage import feed_credentials
from ..manage.context import Deployment
from .commands import group, leaf
from .output import print_json, show


def add_parsers(sub: Any) -> None:
    area = group(sub, "feed", "credentials of the pull API (GET /feed/v1/…)")
    token = leaf(area, "token", "issue a feed credential; printed once", _issue)
    listing = leaf(area, "tokens", "list feed credentials (ids, never tokens)", _list)
    for parser in (token, listing):
        parser.add_argument("tenant", nargs="?")
        parser.add_argument("--deployment", action="store_true",
                            help="the deployment's credentials, which read every tenant's feed")
    revoke = leaf(area, "revoke", "revoke a feed credential: TENANT TOKEN_ID, or "
                  "--deployment TOKEN_ID", _revoke)
    revoke.add_argument("names", nargs="+", metavar="TENANT TOKEN_ID")
    revoke.add_argument("--deployment", action="store_true",
                        help="TOKEN_ID is one of the deployment's credentials")


def _scope(args: argparse.Namespace) -> str | None:
    """The tenant id a command is about, or None for the deployment's credentials."""
    if args.deployment == (args.tenant is not None):
        raise SystemExit(f"error: `feed {args.action}` takes a TENANT or --deployment (one of "
                         "them); see `python -m shared.admin tenant list`.")
    tenant: str | None = args.tenant
    return tenant


def _issue(args: argparse.Namespace, d: Deployment) -> int:
    issued = feed_credentials.issue_feed_token(d, _scope(args))
    if args.json:
        print_json(issued)
    else:
        show({k: v for k, v in issued.items() if v is not None}, as_json=False)
    return 0


def _list(args: argparse.Namespace, d: Deployment) -> int:
    rows = feed_credentials.list_feed_tokens(d, _scope(args))
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['token_id']}  created {row['created']}")
    if not rows:
        print("no feed tokens")
    return 0


def _revoke(args: argparse.Namespace, d: Deployment) -> int:
    names: list[str] = args.names
    if args.deployment:
        if len(names) != 1:
            raise SystemExit("error: `feed revoke --deployment TOKEN_ID` takes one token id "
                             "(see `feed tokens --deployment`).")
        tenant_id, token_id = None, names[0]
    elif len(names) != 2:
        raise SystemExit("error: `feed revoke TENANT TOKEN_ID` (or `--deployment TOKEN_ID`).")
    else:
        tenant_id, token_id = names
    done = feed_credentials.revoke_feed_token(d, tenant_id, token_id)
    if args.json:
        print_json(done)
    else:
        whose = f"of tenant {tenant_id}" if tenant_id else "of the deployment"
        print(f"revoked feed token {token_id} {whose} (cached sessions end within 30 s)")
    return 0
