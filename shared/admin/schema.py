"""Operator commands for custom attributes (docs/entra-admin.md, "Custom attributes";
shared/manage/schemas.py does the work):

    schema add TENANT FILE.json [--resource-type User|Group]   # declare an extension schema
    schema list TENANT                  # the schemas in effect and the undeclared policy
    schema remove TENANT URN            # withdraw a schema the tenant declared
    schema undeclared TENANT            # attributes Entra sent that no schema declares
    schema policy TENANT capture|reject # what a request carrying such an attribute gets

Every command takes --json. Every instance applies a change within 30 s (it caches tenant
records that long).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..manage import schemas
from ..manage.context import Deployment
from ..manage.errors import ManageError
from ..service.tenant_schemas import POLICIES, RESOURCE_TYPE_NAMES
from ..store.tenants import MAX_UNDECLARED_NAMES
from .commands import group, leaf
from .output import print_json

_PROPAGATION = "instances apply it within 30 s"


def add_parsers(sub: Any) -> None:
    schema = group(sub, "schema", "custom attributes: declared extension schemas and "
                   "undeclared attributes")
    add = leaf(schema, "add", "declare an extension schema (an RFC 7643 schema document) for "
               "a tenant", _add)
    add.add_argument("tenant")
    add.add_argument("file", help="the schema document, a JSON file")
    add.add_argument("--resource-type", choices=RESOURCE_TYPE_NAMES,
                     help="the resource type it extends (default: the document's "
                     '"resourceType", else the end of its URN, as in …:2.0:User)')
    leaf(schema, "list", "the extension schemas in effect for a tenant",
         _list).add_argument("tenant")
    remove = leaf(schema, "remove", "withdraw a schema the tenant declared", _remove)
    remove.add_argument("tenant")
    remove.add_argument("urn")
    leaf(schema, "undeclared", "attributes Entra sent the tenant that no schema declares",
         _undeclared).add_argument("tenant")
    policy = leaf(schema, "policy", "capture (store as sent) or reject (400) undeclared "
                  "attributes", _policy)
    policy.add_argument("tenant")
    policy.add_argument("policy", choices=POLICIES)


def read_document(path: Path) -> dict[str, Any]:
    """The schema document in `path`, or SystemExit saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"error: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SystemExit(f"error: {path} is not UTF-8 text; save it as UTF-8 JSON") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: {path} is not JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})") from None
    if not isinstance(document, dict):
        raise SystemExit(f'error: {path} must hold one schema document: a JSON object with '
                         '"id", "name" and "attributes"')
    return document


def _add(args: argparse.Namespace, d: Deployment) -> int:
    document = read_document(Path(args.file))
    try:
        added = schemas.add_schema(d, args.tenant, document, resource_type=args.resource_type)
    except ManageError as exc:
        if exc.status == 404:
            raise
        raise SystemExit(f"error: {args.file}: {exc.detail}") from None
    if args.json:
        print_json(added)
        return 0
    count = sum(1 for a in added["attributes"] if "." not in a["path"][len(added["urn"]):])
    print(f"tenant {added['tenant_id']}: declared {added['urn']} for {added['resource_type']} "
          f"({count} attribute{'' if count == 1 else 's'}); {_PROPAGATION}")
    width = max((len(a["path"]) for a in added["attributes"]), default=0)
    for attr in added["attributes"]:
        print(f"  {attr['path']:{width}}  {_shape(attr)}")
    for note in added["notes"]:
        print(f"note: {note}")
    return 0


def _shape(attr: dict[str, Any]) -> str:
    parts = [attr["type"] + ("[]" if attr["multi_valued"] else ""), attr["mutability"]]
    if attr["required"]:
        parts.append("required")
    if attr["case_exact"]:
        parts.append("caseExact")
    if attr["uniqueness"] != "none":
        parts.append(f"uniqueness={attr['uniqueness']}")
    return "  ".join(parts)


def _list(args: argparse.Namespace, d: Deployment) -> int:
    listed = schemas.list_schemas(d, args.tenant)
    if args.json:
        print_json(listed)
        return 0
    policy = listed["undeclared_policy"]
    print(f"tenant {listed['tenant_id']}: undeclared attributes are "
          f"{'captured (stored as sent)' if policy == 'capture' else 'rejected (400)'}")
    declared = listed["schemas"]
    if not declared:
        print("no extension schemas besides the built-in ones")
    width = max((len(s["urn"]) for s in declared), default=0)
    for s in declared:
        shown = (", ".join(s["attributes"]) if s["problem"] is None
                 else f"NOT IN EFFECT: {s['problem']}")
        origin = "tenant" if s["origin"] == "tenant" else f"deployment ({s['origin']})"
        print(f"{s['urn']:{width}}  {s['resource_type']:5}  {origin}  {shown}")
    return 0


def _remove(args: argparse.Namespace, d: Deployment) -> int:
    removed = schemas.remove_schema(d, args.tenant, args.urn)
    if args.json:
        print_json(removed)
        return 0
    print(f"tenant {removed['tenant_id']}: removed {removed['urn']} "
          f"({removed['resource_type']}); values already stored stay in the resources as "
          f"undeclared attributes; {_PROPAGATION}")
    return 0


_COLUMNS = ("PATH", "RESOURCE TYPE", "FIRST SEEN", "LAST SEEN", "COUNT", "TYPES")


def _undeclared(args: argparse.Namespace, d: Deployment) -> int:
    found = schemas.list_undeclared(d, args.tenant)
    overflow = schemas.undeclared_overflow(d, args.tenant)
    beyond = (f"and {overflow['count']} sighting(s) of further names between "
              f"{overflow['first_seen']} and {overflow['last_seen']}, not recorded by name (at "
              f"most {MAX_UNDECLARED_NAMES} are)" if overflow else "")
    if args.json:
        print_json(found)
        if beyond:
            print(f"note: {beyond}", file=sys.stderr)
        return 0
    if not found:
        print(f"tenant {args.tenant}: no undeclared attributes recorded")
    else:
        rows = [_COLUMNS, *((a["path"], a["resource_type"], a["first_seen"], a["last_seen"],
                             str(a["count"]), ",".join(a["types"])) for a in found)]
        widths = [max(len(row[n]) for row in rows) for n in range(len(_COLUMNS))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())
    if beyond:
        print(beyond)
    return 0


def _policy(args: argparse.Namespace, d: Deployment) -> int:
    done = schemas.set_undeclared_policy(d, args.tenant, args.policy)
    if args.json:
        print_json(done)
        return 0
    effect = ("captured: stored as sent, listed by `schema undeclared`"
              if args.policy == "capture" else "rejected: a request carrying one gets a 400 "
              "naming it")
    print(f"tenant {done['tenant_id']}: undeclared attributes are {effect}; {_PROPAGATION}")
    return 0

