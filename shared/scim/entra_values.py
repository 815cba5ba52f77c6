"""Microsoft Entra ID's value quirks, each turned into its RFC 7643 shape by one small function.

Entra's provisioning service (and the tools that certify endpoints for it) sends some values in
shapes SCIM does not define. A POST/PUT body (`shared.scim.resource`) and a PATCH
(`shared.scim.dialect`, `shared.scim.patch`) read them through these functions, so a value is
accepted, or refused, the same way whichever request carries it:

- booleans as the strings `"True"`/`"False"`, e.g. `active` when disabling a user
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility);
- `null` or `""` for "no value" (the gallery validation's null-update test sends `""`);
- a single complex value wrapped in a one-element array, `"manager": [{"$ref": …, "value": id}]`,
  and a bare id where an object with `value` belongs, `"manager": "id"`
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups);
- `roles` elements whose `value` is a JSON-encoded role object, sent by PATCH with the
  SingleAppRoleAssignment mapping
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes);
- member names of JSON objects in any case (`{"Value": id}`), as RFC 7643 §2.1 makes attribute
  names case-insensitive.

Every function is pure and knows no schema; a value that cannot mean anything raises a
ScimError 400 (invalidValue) whose detail says what to send instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .errors import invalid_value, show

# The members of a role object that map to sub-attributes of `roles` (RFC 7643 §4.1.2);
# role objects say `displayName` where SCIM's multi-valued shape says `display`.
_ROLE_MEMBERS: Final = frozenset({"value", "display", "displayname", "type", "primary"})


def get_caseless(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`obj[name]`, matching the key case-insensitively: the exact spelling wins, otherwise the
    first key that equals `name` ignoring case. `name` is given in lower case."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return default


def is_absent(value: object) -> bool:
    """Whether `value` means "no value": JSON null, or an empty string."""
    return value is None or value == ""


def as_boolean(value: object) -> bool | None:
    """A JSON boolean, or the strings "true"/"false" in any case and with surrounding
    whitespace, as a bool; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    return None


def coerce_boolean(value: Any) -> Any:
    """`as_boolean(value)` where that is a bool; anything else unchanged, for the type check
    that follows to refuse with the attribute's name in its message."""
    boolean = as_boolean(value)
    return value if boolean is None else boolean


def single_element(value: Any, label: str, example: str) -> Any:
    """The one element of a one-element array sent for a single-valued complex attribute;
    any other value unchanged (an empty array included: callers read it as "no value").
    More than one element is refused: `label` names the attribute, `example` shows the shape
    to send."""
    if not isinstance(value, list) or not value:
        return value
    if len(value) > 1:
        raise invalid_value(
            f"{label} takes a single object, but the request sent a list of {len(value)}; "
            f"send one object, e.g. {example}."
        )
    return value[0]


def value_object(value: Any) -> Any:
    """A bare string or number where an object with a `value` sub-attribute belongs (a
    manager's id, `"emails": ["a@example.com"]`) -> `{"value": value}`; anything else
    unchanged. A boolean is never an id or an address, so it is left for the caller to
    refuse."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"value": value}
    return value


def manager_reference(value: Any) -> dict[str, Any] | None:
    """The enterprise `manager` from any shape clients send — `"id"`, `{"value": "id"}`,
    `[{"$ref": "…", "value": "id"}]` — as `{"value": id}` plus the `$ref` when one was sent
    (kept as sent: clients compare what they wrote with what they read). None when the value
    names no manager: null, `""`, `[]`, `{}`, `{"value": ""}`, `{"value": null}`.

    A number or boolean id becomes its JSON text (`12345` -> "12345"), as every string
    attribute stores one; an id that is an object or array is refused."""
    value = value_object(single_element(value, "manager", '{"value": "<manager id>"}'))
    if _names_nothing(value):
        return None
    if not isinstance(value, dict):
        raise invalid_value(
            "manager must be the manager's id, as \"<id>\" or {\"value\": \"<id>\"}; got "
            f"{show(value)}"
        )
    manager_id = get_caseless(value, "value")
    if _names_nothing(manager_id):
        return None
    if isinstance(manager_id, dict | list):
        raise invalid_value(
            "manager's value must be the manager's id as a string, e.g. "
            f"{{\"value\": \"<id>\"}}; got {show(manager_id)}"
        )
    if not isinstance(manager_id, str):
        manager_id = json.dumps(manager_id)
    out: dict[str, Any] = {"value": manager_id}
    ref = get_caseless(value, "$ref")
    if isinstance(ref, str) and ref.strip():
        out["$ref"] = ref
    return out


def decode_roles(value: Any) -> Any:
    """`decode_role` for each element of a list, or for a single element."""
    if isinstance(value, list):
        return [decode_role(element) for element in value]
    return decode_role(value)


def decode_role(element: Any) -> Any:
    """One `roles` element in the shape SCIM defines.

    `{"value": "{\\"id\\":…,\\"value\\":\\"25\\",\\"displayName\\":\\"R\\"}"}` becomes
    `{"value": "25", "display": "R"}`: the encoded object is the role, so its members replace
    the wrapper's, and its `id` (Entra's app-role id, no SCIM sub-attribute) is dropped.
    Decoding repeats while `value` is still an encoded object, so decoding twice changes
    nothing. A bare string is the element's `value`. Keys come out in lower case (the last
    spelling of a key wins, as it does for the stored element), `displayName` becomes
    `display` unless a `display` is present, and a value that merely starts with "{" is kept
    as sent. Anything but a string or an object is returned unchanged."""
    if isinstance(element, str):
        element = {"value": element}
    if not isinstance(element, dict):
        return element
    role = _lower_keys(element)
    while True:  # ends: every round replaces `value` with a strictly shorter string, or stops
        encoded = role.get("value")
        if not isinstance(encoded, str) or not encoded.lstrip().startswith("{"):
            break
        try:
            decoded = json.loads(encoded)
        except (ValueError, RecursionError):
            break
        if not isinstance(decoded, dict):
            break
        del role["value"]
        role.update((k, v) for k, v in _lower_keys(decoded).items() if k in _ROLE_MEMBERS)
    if "displayname" in role:
        display = role.pop("displayname")
        role.setdefault("display", display)
    return role


def _names_nothing(value: Any) -> bool:
    return is_absent(value) or value == [] or value == {}


def _lower_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
