"""Group membership changes of one PATCH.

Group `members` are storage rows, not part of the resource document, so a PATCH does not write
them: every member operation is folded, in order, into one `MemberChanges` that the service
applies to the rows. Only a `remove` of `members` with neither a value nor a filter removes
everyone (RFC 7644 §3.5.2.2); it is represented as `replace=[]`. A remove that names members —
by value list or by `members[value eq "…"]` — only ever removes those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .entra_values import get_caseless
from .errors import invalid_filter, invalid_path, invalid_value, show
from .filter import Compare, Filter, Or, to_text
from .patch_operation import ADD, REMOVE, REPLACE, PatchOperation, Target

_UNTYPED_MEMBER_KEYS: Final = frozenset({"value", "$ref", "display"})


@dataclass
class MemberChanges:
    """Group membership changes of one PATCH, net of their order.

    The new member set is `(replace if replace is not None else current) - remove | add`.
    `add` and `remove` are disjoint, and both are empty when `replace` is set."""

    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    replace: list[str] | None = None
    # Member type ("User"/"Group") where the client said it, for ids in add/replace: the
    # store keeps it so members can be rendered with the right `$ref`.
    types: dict[str, str] = field(default_factory=dict)

    def apply_to(self, current: set[str]) -> set[str]:
        """The member set after these changes (the reference model for the store's rows)."""
        base = set(self.replace) if self.replace is not None else set(current)
        return (base - set(self.remove)) | set(self.add)


class MemberFold:
    """A PATCH's member operations folded in order into (replace | add/remove), with disjoint
    sets: `apply` each operation on `members`, then read the `result`."""

    def __init__(self) -> None:
        self.add: dict[str, None] = {}
        self.remove: dict[str, None] = {}
        self.replace: dict[str, None] | None = None
        self.types: dict[str, str] = {}

    def apply(self, op: PatchOperation, target: Target) -> None:
        """Fold one operation whose target `is_members`."""
        if target.sub is not None:
            raise invalid_path(
                f"'{target.spell()}': members are changed as a whole — add or remove "
                "'members' with values, or remove 'members[value eq \"id\"]'"
            )
        if target.value_filter is not None:
            if op.op != REMOVE:
                raise invalid_path(
                    f"'{op.op}' with a filter on members is not supported; use "
                    "add of 'members' with values"
                )
            self.remove_ids(member_filter_ids(target.value_filter))
            return
        if op.op == REPLACE:
            self.replace_ids([] if op.value is None else member_ids(op.value))
            self.note_types(op.value)
        elif op.op == ADD:
            if op.value is None:
                raise invalid_value("An 'add' of members needs a value: [{\"value\": \"id\"}]")
            self.add_ids(member_ids(op.value))
            self.note_types(op.value)
        elif op.value is None:
            # RFC 7644 §3.5.2.2: remove of a multi-valued attribute without a filter removes
            # all its values. Only reachable with neither a value nor a filter.
            self.replace_ids([])
        else:
            self.remove_ids(member_ids(op.value))

    def add_ids(self, ids: list[str]) -> None:
        for mid in ids:
            if self.replace is not None:
                self.replace[mid] = None
            else:
                self.remove.pop(mid, None)
                self.add[mid] = None

    def remove_ids(self, ids: list[str]) -> None:
        for mid in ids:
            if self.replace is not None:
                self.replace.pop(mid, None)
            else:
                self.add.pop(mid, None)
                self.remove[mid] = None

    def replace_ids(self, ids: list[str]) -> None:
        self.replace = dict.fromkeys(ids)
        self.add.clear()
        self.remove.clear()

    def note_types(self, value: Any) -> None:
        self.types.update(member_types(value))

    def result(self) -> MemberChanges:
        kept = set(self.add) | set(self.replace or ())
        return MemberChanges(
            list(self.add),
            list(self.remove),
            list(self.replace) if self.replace is not None else None,
            {mid: t for mid, t in self.types.items() if mid in kept},
        )


def member_ids(value: Any) -> list[str]:
    """Member ids from any shape Entra and the reference tests send: `[{"value": id, "$ref":
    null}]`, `{"value": id}`, a bare `"id"` (the AzureAD/SCIMReferenceCode Postman collection)
    or a list of those. Anything that names no member is a 400: a malformed member remove must
    neither be widened to "remove all" nor silently succeed, since either would change a
    group's membership in a way the client did not ask for."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        mid: Any = item
        if isinstance(item, dict):
            mid = get_caseless(item, "value")
        if not isinstance(mid, str) or not mid.strip():
            raise invalid_value(
                "Each member must be an object with a non-empty string 'value' (the member's "
                f"id), e.g. {{\"value\": \"2819c223\"}}; got {show(item)}"
            )
        out.append(mid)
    return out


def member_types(value: Any) -> dict[str, str]:
    """{id: "User" | "Group"} for member elements that state a known `type`."""
    out: dict[str, str] = {}
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict) or item.keys() <= _UNTYPED_MEMBER_KEYS:
            continue  # Entra's `{"value": id, "$ref": null}` states no type
        low = {k.lower(): v for k, v in item.items() if isinstance(k, str)}
        mid, kind = low.get("value"), low.get("type")
        if isinstance(mid, str) and isinstance(kind, str) and kind.lower() in ("user", "group"):
            out[mid] = kind.capitalize()
    return out


def member_filter_ids(f: Filter) -> list[str]:
    """The ids named by `members[value eq "id"]` (or an `or` of such terms). Members are rows
    the engine never sees, so only filters that name ids can be honoured; anything else is a
    400 rather than a guess (a wrong guess here removes people from groups)."""
    ids = _value_eq_terms(f)
    if ids is None:
        raise invalid_filter(
            f"Unsupported member filter '{to_text(f)}': only 'value eq \"<id>\"' terms "
            "(optionally joined by 'or') can select members"
        )
    return ids


def _value_eq_terms(f: Filter) -> list[str] | None:
    if isinstance(f, Compare):
        p, v = f.path, f.value
        if f.op != "eq" or p.urn is not None or p.sub is not None or p.attr.lower() != "value":
            return None
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)  # `members[value eq 12345]`: the filter parser read an unquoted id
        return [v] if isinstance(v, str) and v else None
    if isinstance(f, Or):
        left, right = _value_eq_terms(f.left), _value_eq_terms(f.right)
        return None if left is None or right is None else left + right
    return None
