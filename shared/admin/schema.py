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
from .output import report, table

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
    return report(added, args.json, _added_text)


def _added_text(added: dict[str, Any]) -> str:
    count = sum(1 for a in added["attributes"] if "." not in a["path"][len(added["urn"]):])
    lines = [f"tenant {added['tenant_id']}: declared {added['urn']} for "
             f"{added['resource_type']} ({count} attribute{'' if count == 1 else 's'}); "
             f"{_PROPAGATION}"]
    width = max((len(a["path"]) for a in added["attributes"]), default=0)
    lines += [f"  {attr['path']:{width}}  {_shape(attr)}" for attr in added["attributes"]]
    lines += [f"note: {note}" for note in added["notes"]]
    return "\n".join(lines)


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
    return report(schemas.list_schemas(d, args.tenant), args.json, _schemas_text)


def _schemas_text(listed: dict[str, Any]) -> str:
    policy = listed["undeclared_policy"]
    lines = [f"tenant {listed['tenant_id']}: undeclared attributes are "
             f"{'captured (stored as sent)' if policy == 'capture' else 'rejected (400)'}"]
    declared = listed["schemas"]
    if not declared:
        lines.append("no extension schemas besides the built-in ones")
    width = max((len(s["urn"]) for s in declared), default=0)
    for s in declared:
        shown = (", ".join(s["attributes"]) if s["problem"] is None
                 else f"NOT IN EFFECT: {s['problem']}")
        origin = "tenant" if s["origin"] == "tenant" else f"deployment ({s['origin']})"
        lines.append(f"{s['urn']:{width}}  {s['resource_type']:5}  {origin}  {shown}")
    return "\n".join(lines)


def _remove(args: argparse.Namespace, d: Deployment) -> int:
    return report(schemas.remove_schema(d, args.tenant, args.urn), args.json,
                  lambda removed: f"tenant {removed['tenant_id']}: removed {removed['urn']} "
                  f"({removed['resource_type']}); values already stored stay in the resources "
                  f"as undeclared attributes; {_PROPAGATION}")


_COLUMNS = ["PATH", "RESOURCE TYPE", "FIRST SEEN", "LAST SEEN", "COUNT", "TYPES"]


def _undeclared(args: argparse.Namespace, d: Deployment) -> int:
    found = schemas.list_undeclared(d, args.tenant)
    overflow = schemas.undeclared_overflow(d, args.tenant)
    beyond = (f"and {overflow['count']} sighting(s) of further names between "
              f"{overflow['first_seen']} and {overflow['last_seen']}, not recorded by name (at "
              f"most {MAX_UNDECLARED_NAMES} are)" if overflow else "")
    code = report(found, args.json, lambda found: _undeclared_text(args.tenant, found, beyond))
    if args.json and beyond:  # the JSON document stays the list alone
        print(f"note: {beyond}", file=sys.stderr)
    return code


def _undeclared_text(tenant_id: str, found: list[dict[str, Any]], beyond: str) -> str:
    lines = [table(_COLUMNS, [[a["path"], a["resource_type"], a["first_seen"], a["last_seen"],
                               str(a["count"]), ",".join(a["types"])] for a in found])
             if found else f"tenant {tenant_id}: no undeclared attributes recorded"]
    if beyond:
        lines.append(beyond)
    return "\n".join(lines)


def _policy(args: argparse.Namespace, d: Deployment) -> int:
    effect = ("captured: stored as sent, listed by `schema undeclared`"
              if args.policy == "capture" else "rejected: a request carrying one gets a 400 "
              "naming it")
    return report(schemas.set_undeclared_policy(d, args.tenant, args.policy), args.json,
                  lambda done: f"tenant {done['tenant_id']}: undeclared attributes are "
                  f"{effect}; {_PROPAGATION}")
