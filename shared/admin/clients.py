"""Operator commands for OAuth 2.0 (the token endpoint; shared/manage/clients.py): a tenant's
clients, which ways its SCIM requests may authenticate, and the deployment's signing keys.

    client add TENANT [--name N] [--expires 365d] [--client CLIENT_ID]
    client federate TENANT --entra-tenant TID --subject SUB --audience AUD
                    [--client CLIENT_ID] [--name N]
    client list TENANT              # secrets with expiry and last use; federated credential
    client revoke TENANT CLIENT_ID [--secret SECRET_ID | --federation]
    tenant auth TENANT [--allow secret-token,oauth]   # without --allow: show
    tenant jwt-enable TENANT ENTRA_TENANT_ID | tenant jwt-disable TENANT
    signing-key list
    signing-key rotate [--immediately]

Every command takes --json; warnings go to stderr. A client secret is printed once, by
`client add`; only its digest is stored.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..auth import clients as client_rules
from ..auth.signing_keys import KEY_SET_TTL
from ..manage import clients
from ..manage.context import Deployment
from ..store.tenants import AUTH_METHODS
from .commands import group, leaf
from .output import print_json, show, table, warn

_PROPAGATION = "instances apply it within 30 s"
_REVOKED = ("the token endpoint refuses it at once; access tokens already issued with it stop "
            "working within 30 s")


def add_parsers(sub: Any) -> None:
    client = group(sub, "client", "OAuth 2.0 clients of the token endpoint (client "
                   "credentials, workload identity federation)")
    add = leaf(client, "add", "a new client with a secret, or with --client a second secret "
               "(rotation); prints the secret once", _add)
    add.add_argument("tenant")
    add.add_argument("--name", help="a display name for a new client")
    add.add_argument("--expires", default=f"{client_rules.DEFAULT_SECRET_DAYS}d",
                     help="the secret's lifetime: Nd or Ny, 1d to "
                     f"{client_rules.MAX_SECRET_DAYS}d (default %(default)s)")
    add.add_argument("--client", help="add the secret to this existing client")
    federate = leaf(client, "federate", "trust Entra's assertions for a workload identity (a "
                    "new client, or with --client an existing one)", _federate)
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
    leaf(client, "list", "clients with their secrets (expiry, last use) and federated "
         "credential", _list).add_argument("tenant")
    revoke = leaf(client, "revoke", "remove a client, one of its secrets, or its federated "
                  "credential", _revoke)
    revoke.add_argument("tenant")
    revoke.add_argument("client_id")
    which = revoke.add_mutually_exclusive_group()
    which.add_argument("--secret", metavar="SECRET_ID", help="only this secret")
    which.add_argument("--federation", action="store_true",
                       help="only the federated credential")
    keys = group(sub, "signing-key", "the keys that sign access tokens")
    leaf(keys, "list", "published keys: kid, created, activates, state", _list_keys)
    leaf(keys, "rotate", "publish the next key (it signs once every instance has it); "
         "--immediately for a leaked key", _rotate).add_argument(
        "--immediately", action="store_true",
        help="the new key signs now and every other key is deleted: tokens they signed are "
        f"refused within {KEY_SET_TTL / 60:.0f} min")


def add_tenant_parsers(tenant: Any) -> None:
    """`tenant auth` and `tenant jwt-enable|jwt-disable`, beside the other tenant commands."""
    auth = leaf(tenant, "auth", "show or set how the tenant's SCIM requests may "
                "authenticate: secret-token, oauth", _auth)
    auth.add_argument("tenant")
    auth.add_argument("--allow", metavar="METHODS",
                      help=f"comma-separated, of {','.join(AUTH_METHODS)} (a gallery listing "
                      "wants oauth only)")
    jwt_on = leaf(tenant, "jwt-enable", "also accept Entra-issued JWTs (issuer "
                  "https://sts.windows.net/ENTRA_TENANT_ID/)", _jwt)
    jwt_on.add_argument("tenant")
    jwt_on.add_argument("entra_tenant_id", help="the customer's Entra (directory) tenant id")
    leaf(tenant, "jwt-disable", "accept secret tokens only (no Entra-issued JWTs)",
         _jwt).add_argument("tenant")


def _result(payload: dict[str, Any], as_json: bool) -> None:
    """The result on stdout (key: value lines, or JSON), its warnings on stderr."""
    warnings = payload.pop("warnings", [])
    show(payload, as_json)
    for text in warnings:
        warn(text)


# -- client --------------------------------------------------------------------------------------


def _add(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.add_client_secret(d, args.tenant, days=clients.parse_expires(args.expires),
                                     client_id=args.client, name=args.name)
    _result(done, args.json)
    return 0


def _federate(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.federate_client(d, args.tenant, entra_tenant=args.entra_tenant,
                                   subject=args.subject, audience=args.audience,
                                   client_id=args.client, name=args.name)
    if not args.json:
        credential = done.pop("credential")
        done = {**{k: v for k, v in done.items() if k != "warnings"},
                **{f"credential_{k}" if k == "id" else k: v for k, v in credential.items()},
                "warnings": done["warnings"]}
    _result(done, args.json)
    return 0


def _list(args: argparse.Namespace, d: Deployment) -> int:
    listed = clients.list_clients(d, args.tenant)
    if args.json:
        print_json(listed)
        return 0
    tenant_id = listed["tenant_id"]
    print(f"tenant {tenant_id}: accepts {', '.join(listed['auth_methods'])}; token endpoint "
          f"{listed['token_endpoint']}")
    if not listed["clients"]:
        print(f"no OAuth clients; add one: python -m shared.admin client add {tenant_id}")
    for client in listed["clients"]:
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


def _left(secret: dict[str, Any]) -> str:
    days = secret["days_left"]
    if secret["expired"]:
        return f"EXPIRED {math.floor(-days)} day(s) ago"
    text = f"{math.ceil(days)} day(s) left"
    return f"{text} EXPIRES SOON" if secret["expires_soon"] else text


def _revoke(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.revoke_client(d, args.tenant, args.client_id, secret_id=args.secret,
                                 federation=args.federation)
    warnings = done.pop("warnings")
    if args.json:
        print_json(done)
    else:
        print(f"revoked {done['revoked']} (tenant {done['tenant_id']}): {_REVOKED}")
    for text in warnings:
        warn(text)
    return 0


# -- tenant auth, jwt-enable/-disable --------------------------------------------------------------


def _auth(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.tenant_auth(d, args.tenant, args.allow)
    warnings = done.pop("warnings")
    if args.json:
        print_json(done)
    else:
        print(f"tenant {done['tenant_id']}: SCIM requests authenticate with "
              f"{', '.join(done['auth_methods'])} ({done['secret_tokens']} secret token(s), "
              f"{done['usable_clients']} OAuth client(s) with a valid credential)"
              + (f"; {_PROPAGATION}" if done["changed"] else ""))
        if done["entra_tenant_id"]:
            print(f"Entra-issued JWTs are also accepted, for Entra tenant "
                  f"{done['entra_tenant_id']} (tenant jwt-disable {done['tenant_id']} to stop)")
    for text in warnings:
        warn(text)
    return 0


def _jwt(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.set_entra_jwt(d, args.tenant, args.entra_tenant_id
                                 if args.action == "jwt-enable" else None)
    if args.json:
        print_json(done)
    else:
        state = (f"accepted for Entra tenant {done['entra_tenant_id']}"
                 if done["entra_tenant_id"] else "not accepted")
        print(f"tenant {done['tenant_id']}: Entra-issued JWTs {state}")
    return 0


# -- signing keys ---------------------------------------------------------------------------------


def _list_keys(args: argparse.Namespace, d: Deployment) -> int:
    rows = clients.list_signing_keys(d)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no signing keys yet: the token endpoint creates the first when it issues its "
              "first token")
        return 0
    print(table(["KID", "CREATED", "ACTIVATES", "STATE"],
                [[r["kid"], r["created"], r["activates"],
                  r["state"] + (f" until {r['retires']}" if r["retires"] else "")]
                 for r in rows]))
    return 0


def _rotate(args: argparse.Namespace, d: Deployment) -> int:
    done = clients.rotate_signing_key(d, immediately=args.immediately)
    if args.json:
        print_json(done)
        return 0
    if done["immediately"]:
        deleted = (f"; {done['deleted']} other key(s) deleted: access tokens they signed are "
                   f"refused within {KEY_SET_TTL / 60:.0f} min (instances re-read the key set "
                   "that often)") if done["deleted"] else " (the deployment's first key)"
        print(f"signing key {done['kid']} signs now{deleted}")
    else:
        print(f"signing key {done['kid']} published; it signs from {done['activates']}, once "
              "every instance has it")
        if done["current_retires"]:
            print("the current key signs until then and is deleted after "
                  f"{done['current_retires']}, when every token it signed has expired")
    return 0
