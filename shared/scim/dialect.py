"""Microsoft Entra ID's PATCH dialect, normalised to RFC 7644 §3.5.2 operations in one place.

`normalize_patch(body, rtype)` validates the PatchOp envelope and returns `PatchOperation`s that
`shared.scim.patch.apply_patch` applies with plain RFC semantics. Every deviation Entra (or the
tools that certify against it) is known to send is handled here. Microsoft documents most of
them in "Known issues and resolutions with SCIM 2.0 protocol compliance"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility)
and in the SCIM endpoint tutorial
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
The value shapes themselves are read by `shared.scim.entra_values`, shared with POST and PUT.

1. `op` in any case: Entra sends `Add`, `Replace`, `Remove`, and lower case with its
   `aadOptscim062020` feature flag; the tutorial asks servers not to match structural elements
   case-sensitively. Member names of the envelope and of each operation (`Operations`, `op`,
   `path`, `value`) are matched case-insensitively too.
2. Path-less add/replace whose value has dotted and URN-qualified keys (what the feature flag
   sends): `{"name.givenName": "Kkom", "urn:…:enterprise:2.0:User:employeeNumber": "Aklq"}`
   -> one operation per key, with that key as its path. An extension URN key with an object
   value -> one operation per attribute of the object. Whole-extension paths are expanded the
   same way.
3. `"True"`/`"False"` strings (any case), as Entra sends to disable a user without the flag,
   for boolean targets such as `active` and `primary` -> booleans.
4. `manager`: the path may lack the enterprise URN (the tutorial's example sends `"path":
   "manager"`; generalised: an unqualified name that only an extension defines is that
   extension's attribute); the value may be `"id"`, `{"value": "id"}` or `[{"$ref": …,
   "value": "id"}]` -> `{"value": "id"}`, written as remove-then-add so a stale `$ref` or
   `displayName` never survives a manager change. `{"value": ""}`, `""`, `null`, `[]` or
   `op: remove` -> the manager is removed (the SCIM Validator removes a manager both ways).
5. `roles` values that are JSON-encoded role objects (the SingleAppRoleAssignment mapping,
   https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes):
   `{"value": "{\"id\":…,\"value\":\"25\",\"displayName\":\"Role1234\"}"}` ->
   `{"value": "25", "display": "Role1234"}`.
6. Group `members`: add/remove/replace values arrive as `[{"$ref": null, "value": "id"}]`
   (Entra), `{"value": "id"}`, a bare `"id"` (the AzureAD/SCIMReferenceCode Postman collection)
   or a list of bare ids -> `[{"value": "id"}, …]`. Entra's `Remove` of `members` *with* a value
   list (sent without the feature flag) removes only those members — never everyone. An element
   that names no member id is a 400, not a silent success and not "remove all": either would
   change a group's membership in a way the client did not ask for. An add naming nobody
   (`[]`, `null`) is a no-op; a replace with `null` means "no members".
7. `null` (Entra's published requests carry explicit nulls) and `""` (the gallery validation's
   null-update test) as the value of add/replace mean "no value": the operation becomes a
   remove of its path. A replace with `[]` of a whole multi-valued attribute likewise removes
   it.

The envelope: the body must be an object; `schemas`, when present, must be a list, and a
non-empty list must include the PatchOp URN (Entra always sends it, so a missing `schemas` is
tolerated rather than failing a provisioning cycle); `Operations` must be a non-empty list.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace
from typing import Any, Final

from .attr_path import AttrPath
from .entra_values import coerce_boolean, decode_roles, get_caseless, is_absent, manager_reference
from .errors import invalid_syntax, kind_of, no_target, show
from .member_changes import member_ids, member_types
from .patch_operation import (
    ADD,
    OPS,
    REMOVE,
    REPLACE,
    PatchOperation,
    Target,
    expand_pathless,
    resolve_target,
)
from .patch_path import PatchPath, parse_patch_path
from .schema import BOOLEAN, COMPLEX, READ_ONLY, ResourceType, Schema
from .schemas import ENTERPRISE_URN, USER_URN

PATCH_OP_URN: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Guards against hostile bodies: Entra sends a handful of operations per request and at most a
# few hundred members per group PATCH; Microsoft documents no maximum, so this leaves room.
MAX_OPERATIONS: Final = 1000

_MISSING: Final = object()


def normalize_patch(body: Any, rtype: ResourceType) -> list[PatchOperation]:
    """Validate a PatchOp request body and return its operations in RFC 7644 shapes.

    Raises ScimError 400: invalidSyntax for a malformed envelope or op, noTarget for a remove
    without a path, invalidPath/invalidFilter for bad paths, invalidValue for values that
    cannot be what the target needs."""
    if not isinstance(body, dict):
        raise invalid_syntax(
            "A PATCH body must be a JSON object with \"schemas\": "
            f"[\"{PATCH_OP_URN}\"] and an \"Operations\" array"
        )
    schemas = _member(body, "schemas")
    if schemas is not _MISSING:
        if not isinstance(schemas, list):
            raise invalid_syntax(f"'schemas' must be an array such as [\"{PATCH_OP_URN}\"]")
        if schemas and not any(
            isinstance(s, str) and s.strip().lower() == PATCH_OP_URN.lower() for s in schemas
        ):
            raise invalid_syntax(
                f"'schemas' must contain \"{PATCH_OP_URN}\" for a PATCH request; got "
                f"{show(schemas)}"
            )
    raw_ops = _member(body, "operations")
    if raw_ops is _MISSING:
        raise invalid_syntax("A PATCH body needs an 'Operations' array of operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise invalid_syntax(
            "'Operations' must be a non-empty array such as "
            "[{\"op\": \"replace\", \"path\": \"active\", \"value\": false}]"
        )
    if len(raw_ops) > MAX_OPERATIONS:
        raise invalid_syntax(
            f"'Operations' has {len(raw_ops)} entries; at most {MAX_OPERATIONS} are accepted "
            "per request"
        )
    out: list[PatchOperation] = []
    for index, raw in enumerate(raw_ops):
        out.extend(_normalize_op(index, raw, rtype))
    return out


def _normalize_op(index: int, raw: Any, rtype: ResourceType) -> list[PatchOperation]:
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise invalid_syntax(
            f"{where} must be an object with 'op', 'path' and 'value'; got {kind_of(raw)}"
        )
    op_raw = _member(raw, "op")
    op = op_raw.strip().lower() if isinstance(op_raw, str) else None
    if op not in OPS:
        shown = "missing" if op_raw is _MISSING else show(op_raw)
        raise invalid_syntax(
            f"{where}: unsupported op {shown}; expected \"add\", \"remove\" or \"replace\""
        )
    path_raw = _member(raw, "path")
    if path_raw is _MISSING or path_raw is None or (
        isinstance(path_raw, str) and not path_raw.strip()
    ):
        path_text: str | None = None
    elif isinstance(path_raw, str):
        path_text = path_raw.strip()
    else:
        raise invalid_syntax(f"{where}: 'path' must be a string, got {kind_of(path_raw)}")
    value = _member(raw, "value")
    if value is _MISSING:
        value = None

    if path_text is None:
        if op == REMOVE:
            raise no_target(f"{where}: 'remove' needs a 'path' naming what to remove")
        return _quirks_all(expand_pathless(op, value, rtype), rtype)
    extension = rtype.extension_by_urn(path_text)
    if extension is not None:
        # Quirk 2: a whole extension as the path, e.g. add `urn:…:enterprise:2.0:User` with
        # {"department": "x"} -> one operation per attribute, so the other quirks apply.
        if op == REMOVE:
            # Then the extension itself, for undeclared attributes captured in it.
            return [*(PatchOperation(REMOVE, _extension_attr_path(extension, a.name))
                      for a in extension.attributes if a.mutability != READ_ONLY),
                    PatchOperation(REMOVE, parse_patch_path(extension.id))]
        return _quirks_all(expand_pathless(op, {extension.id: value}, rtype), rtype)
    return _quirks(PatchOperation(op, parse_patch_path(path_text), value), rtype)


def _quirks_all(ops: list[PatchOperation], rtype: ResourceType) -> list[PatchOperation]:
    return [q for op in ops for q in _quirks(op, rtype)]


def _quirks(op: PatchOperation, rtype: ResourceType) -> list[PatchOperation]:
    """One operation with a path -> its RFC equivalent (zero, one or two operations)."""
    assert op.path is not None
    path = _qualify(op.path, rtype)
    if path is not op.path:
        op = PatchOperation(op.op, path, op.value)
    target = resolve_target(path, rtype)
    if target is None:
        return []  # `schemas`: derived by the resource layer
    if target.is_members:
        return _members(op, target)
    if target.attribute is None:
        # `urn:…:User` spelled unusually (so not caught before parsing): expand like quirk 2.
        if op.op == REMOVE:
            return [op]
        return _quirks_all(expand_pathless(op.op, {target.schema.id: op.value}, rtype), rtype)
    if target.schema.id == ENTERPRISE_URN and target.attribute.name == "manager":
        return _manager(op, target)
    value = op.value
    if target.schema.id == USER_URN and target.attribute.name == "roles" \
            and target.sub is None and target.value_filter is None:
        value = decode_roles(value)
    value = _coerce_booleans(value, target)
    if op.op != REMOVE and is_absent(value):
        return [PatchOperation(REMOVE, path)]  # quirk 7
    return [PatchOperation(op.op, path, value)]


def _qualify(path: PatchPath, rtype: ResourceType) -> PatchPath:
    """Quirk 4 (generalised): `manager` without its URN -> `urn:…:enterprise:2.0:User:manager`.
    Only when the core schema has no such attribute and exactly one extension does."""
    ap = path.attr
    if ap.urn is not None or rtype.schema.attribute(ap.attr) is not None \
            or ap.attr.lower() == "schemas":
        return path
    owners = [s for s, _ in rtype.extensions if s.attribute(ap.attr) is not None]
    if len(owners) != 1:
        return path
    return dc_replace(path, attr=AttrPath(owners[0].id, ap.attr, ap.sub))


def _extension_attr_path(extension: Schema, name: str) -> PatchPath:
    return PatchPath(AttrPath(extension.id, name))


# -- manager -------------------------------------------------------------------------------


def _manager(op: PatchOperation, target: Target) -> list[PatchOperation]:
    manager = PatchPath(AttrPath(target.schema.id, "manager"))
    sub = target.sub.name if target.sub is not None else None
    if sub not in (None, "value"):
        return [op]  # `manager.$ref` / `manager.displayName`: plain RFC (readOnly is refused)
    if op.op == REMOVE:
        # Dropping only `manager.value` would leave a manager that names nobody.
        return [PatchOperation(REMOVE, manager)]
    new = manager_reference(op.value)
    if new is None:
        return [PatchOperation(REMOVE, manager)]
    return [PatchOperation(REMOVE, manager), PatchOperation(ADD, manager, new)]


# -- members -------------------------------------------------------------------------------


def _members(op: PatchOperation, target: Target) -> list[PatchOperation]:
    """Quirk 6. Filtered member paths (`members[value eq "id"]`) pass through unchanged."""
    if target.value_filter is not None or target.sub is not None:
        return [op]
    value = op.value
    if op.op == REMOVE:
        if value is None:
            return [op]  # RFC 7644 §3.5.2.2: no value, no filter = remove all members
        ids = member_ids(value) if value != [] else []
        if not ids:
            return []  # names no one: removes no one
        return [PatchOperation(REMOVE, op.path, [{"value": i} for i in ids])]
    if op.op == ADD:
        if value is None or value == []:
            return []
        return [PatchOperation(ADD, op.path, _member_values(value))]
    if value is None or value == []:
        return [PatchOperation(REPLACE, op.path, [])]
    return [PatchOperation(REPLACE, op.path, _member_values(value))]


def _member_values(value: Any) -> list[dict[str, str]]:
    """`[{"value": id}]`, keeping a stated member `type` (User/Group)."""
    types = member_types(value)
    return [{"value": i, "type": types[i]} if i in types else {"value": i}
            for i in member_ids(value)]


# -- booleans ------------------------------------------------------------------------------


def _coerce_booleans(value: Any, target: Target) -> Any:
    """Quirk 3, for the target itself or the boolean sub-attributes of object values."""
    leaf = target.leaf
    if leaf is None:
        return value
    if leaf.type == BOOLEAN:
        return [coerce_boolean(v) for v in value] if isinstance(value, list) \
            else coerce_boolean(value)
    if leaf.type != COMPLEX:
        return value

    def element(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = {}
        for k, v in item.items():
            sub = leaf.sub(k) if isinstance(k, str) else None
            out[k] = coerce_boolean(v) if sub is not None and sub.type == BOOLEAN else v
        return out

    return [element(v) for v in value] if isinstance(value, list) else element(value)


# -- helpers -------------------------------------------------------------------------------


def _member(obj: dict[str, Any], name: str) -> Any:
    """`obj[name]` matched case-insensitively (RFC 7643 §2.1: attribute names are
    case-insensitive, and Entra spells `Operations`); `_MISSING` when absent."""
    return get_caseless(obj, name, _MISSING)


__all__ = ["PATCH_OP_URN", "PatchOperation", "normalize_patch"]
