"""Operator commands for custom attributes (docs/entra-admin.md, "Custom attributes"):

    schema add TENANT FILE.json [--resource-type User|Group]   # declare an extension schema
    schema list TENANT [--json]         # the schemas in effect and the undeclared policy
    schema remove TENANT URN            # withdraw a schema the tenant declared
    schema undeclared TENANT [--json]   # attributes Entra sent that no schema declares
    schema policy TENANT capture|reject # what a request carrying such an attribute gets

Every instance applies a change within 30 s (it caches tenant records that long).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..scim.schema import Attribute, Schema
from ..scim.schema_doc import SchemaError
from ..service import tenant_schemas
from ..service.tenant_schemas import POLICIES, RESOURCE_TYPE_NAMES, TenantSchemaError
from ..settings import Settings
from ..store.connection import open_tables
from ..store.directory import Directory
from ..store.tenants import MAX_UNDECLARED_NAMES, TenantTable, UndeclaredAttribute

AREAS = ("schema",)
_PROPAGATION = "instances apply it within 30 s"


def add_parsers(sub: Any) -> None:
    schema = sub.add_parser("schema", help="custom attributes: declared extension schemas "
                            "and undeclared attributes").add_subparsers(dest="action",
                                                                        required=True)
    add = schema.add_parser("add", help="declare an extension schema (an RFC 7643 schema "
                            "document) for a tenant")
    add.add_argument("tenant")
    add.add_argument("file", help="the schema document, a JSON file")
    add.add_argument("--resource-type", choices=RESOURCE_TYPE_NAMES,
                     help="the resource type it extends (default: the document's "
                     '"resourceType", else the end of its URN, as in …:2.0:User)')
    listing = schema.add_parser("list", help="the extension schemas in effect for a tenant")
    listing.add_argument("tenant")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    remove = schema.add_parser("remove", help="withdraw a schema the tenant declared")
    remove.add_argument("tenant")
    remove.add_argument("urn")
    seen = schema.add_parser("undeclared", help="attributes Entra sent the tenant that no "
                             "schema declares")
    seen.add_argument("tenant")
    seen.add_argument("--json", action="store_true", help="a JSON list")
    policy = schema.add_parser("policy", help="capture (store as sent) or reject (400) "
                               "undeclared attributes")
    policy.add_argument("tenant")
    policy.add_argument("policy", choices=POLICIES)


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    tables = open_tables(settings)
    tables.ensure()
    tenants = TenantTable(tables.tenants)
    try:
        return _ACTIONS[args.action](args, tenants, Directory(tables.data))
    except SchemaError as exc:
        where = f"{args.file}: " if args.action == "add" else ""
        raise SystemExit(f"error: {where}{exc}") from None
    except TenantSchemaError as exc:
        raise SystemExit(f"error: {exc}") from None


def _add(args: argparse.Namespace, tenants: TenantTable,
         directory: Directory) -> int:
    document = read_document(Path(args.file))
    earlier = {(a.resource_type, a.path.lower()): a
               for a in tenant_schemas.undeclared(tenants, args.tenant)}
    # With the directory: values stored before a unique declaration are checked and indexed.
    schema = tenant_schemas.add_schema(tenants, args.tenant, document, args.resource_type,
                                       directory=directory)
    declared = next(d for d in tenant_schemas.list_schemas(tenants, args.tenant)
                    if d.urn == schema.id)
    count = len(schema.attributes)
    print(f"tenant {args.tenant}: declared {schema.id} for {declared.resource_type} "
          f"({count} attribute{'' if count == 1 else 's'}); {_PROPAGATION}")
    for line in _attribute_lines(schema):
        print(line)
    for attr in schema.attributes:
        seen = earlier.get((declared.resource_type, f"{schema.id}:{attr.name}".lower()))
        if seen is not None:
            print(f"note: Entra sent {seen.path} {seen.count} time(s) before, as "
                  f"{', '.join(seen.types)}; values stored then are returned as stored until "
                  f"their next write checks them against type {attr.type}")
    return 0


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


def _attribute_lines(schema: Schema) -> list[str]:
    rows = [(f"{schema.id}:{a.name}", _shape(a)) for a in schema.attributes]
    rows += [(f"{schema.id}:{a.name}.{s.name}", _shape(s))
             for a in schema.attributes for s in a.sub_attributes]
    width = max((len(path) for path, _ in rows), default=0)
    return [f"  {path:{width}}  {shape}" for path, shape in rows]


def _shape(attr: Attribute) -> str:
    parts = [attr.type + ("[]" if attr.multi_valued else ""), attr.mutability]
    if attr.required:
        parts.append("required")
    if attr.case_exact:
        parts.append("caseExact")
    if attr.uniqueness != "none":
        parts.append(f"uniqueness={attr.uniqueness}")
    return "  ".join(parts)


def _list(args: argparse.Namespace, tenants: TenantTable,
          directory: Directory) -> int:
    declared = tenant_schemas.list_schemas(tenants, args.tenant)
    tenant = tenants.get(args.tenant)
    policy = tenant.undeclared if tenant is not None else "capture"
    if args.json:
        print(json.dumps({"tenant_id": args.tenant, "undeclared": policy, "schemas": [
            {"id": d.urn, "resourceType": d.resource_type, "origin": d.origin,
             "attributes": [a.name for a in d.schema.attributes] if d.schema else [],
             "problem": d.problem, "document": d.document} for d in declared]}))
        return 0
    print(f"tenant {args.tenant}: undeclared attributes are "
          f"{'captured (stored as sent)' if policy == 'capture' else 'rejected (400)'}")
    if not declared:
        print("no extension schemas besides the built-in ones")
    width = max((len(d.urn) for d in declared), default=0)
    for d in declared:
        shown = (", ".join(a.name for a in d.schema.attributes) if d.schema
                 else f"NOT IN EFFECT: {d.problem}")
        origin = "tenant" if d.origin == "tenant" else f"deployment ({d.origin})"
        print(f"{d.urn:{width}}  {d.resource_type:5}  {origin}  {shown}")
    return 0


def _remove(args: argparse.Namespace, tenants: TenantTable,
            directory: Directory) -> int:
    removed = tenant_schemas.remove_schema(tenants, args.tenant, args.urn)
    print(f"tenant {args.tenant}: removed {removed.urn} ({removed.resource_type}); values "
          f"already stored stay in the resources as undeclared attributes; {_PROPAGATION}")
    return 0


_COLUMNS = ("PATH", "RESOURCE TYPE", "FIRST SEEN", "LAST SEEN", "COUNT", "TYPES")


def _undeclared(args: argparse.Namespace, tenants: TenantTable,
                directory: Directory) -> int:
    found = tenant_schemas.undeclared(tenants, args.tenant)
    overflow = tenant_schemas.undeclared_overflow(tenants, args.tenant)
    beyond = (f"and {overflow.count} sighting(s) of further names between "
              f"{overflow.first_seen} and {overflow.last_seen}, not recorded by name (at most "
              f"{MAX_UNDECLARED_NAMES} are)" if overflow else "")
    if args.json:
        print(json.dumps([_as_json(a) for a in found]))
        if beyond:
            print(f"note: {beyond}", file=sys.stderr)
        return 0
    if not found:
        print(f"tenant {args.tenant}: no undeclared attributes recorded")
    else:
        rows = [_COLUMNS, *((a.path, a.resource_type, a.first_seen, a.last_seen,
                             str(a.count), ",".join(a.types)) for a in found)]
        widths = [max(len(row[n]) for row in rows) for n in range(len(_COLUMNS))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())
    if beyond:
        print(beyond)
    return 0


def _as_json(attr: UndeclaredAttribute) -> dict[str, Any]:
    return {"path": attr.path, "resourceType": attr.resource_type,
            "firstSeen": attr.first_seen, "lastSeen": attr.last_seen, "count": attr.count,
            "types": list(attr.types)}


def _policy(args: argparse.Namespace, tenants: TenantTable,
            directory: Directory) -> int:
    tenant_schemas.set_policy(tenants, args.tenant, args.policy)
    effect = ("captured: stored as sent, listed by `schema undeclared`"
              if args.policy == "capture" else "rejected: a request carrying one gets a 400 "
              "naming it")
    print(f"tenant {args.tenant}: undeclared attributes are {effect}; {_PROPAGATION}")
    return 0


_ACTIONS: dict[str, Callable[[argparse.Namespace, TenantTable, Directory], int]] = {
    "add": _add, "list": _list, "remove": _remove, "undeclared": _undeclared,
    "policy": _policy}
