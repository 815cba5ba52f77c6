"""SCIM protocol errors (RFC 7644 §3.12), raised by the engine and turned into responses."""

from __future__ import annotations

import json
import re
from typing import Any

from ..sanitize import cut

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
# Half of a UTF-16 surrogate pair has no UTF-8 form: a detail quoting one (an id from a path,
# say) could not be sent, so it shows U+FFFD in its place.
_SURROGATE = re.compile("[\ud800-\udfff]")


class ScimError(Exception):
    """An error the client should see: HTTP status, optional scimType and an actionable detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        detail = _SURROGATE.sub("\ufffd", detail)
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body

    def __repr__(self) -> str:
        return f"ScimError({self.status}, {self.scim_type!r}, {self.detail!r})"


# How an operator declares an attribute, quoted wherever an undeclared one is refused.
DECLARE_HINT = "declare it with: python -m shared.admin schema add TENANT FILE.json"


def undeclared_detail(path: str, *, in_filter: bool = False) -> str:
    """Why an attribute no schema declares is refused, for a tenant that refuses them: for
    400 invalidValue (in a body or PATCH path) or invalidFilter (`in_filter`)."""
    if in_filter:
        return (f"{path} is not declared for this tenant, which refuses undeclared attributes, "
                f"so no filter can name it; {DECLARE_HINT}")
    return (f"{path} is not declared for this tenant, which refuses undeclared attributes; "
            f"{DECLARE_HINT} (or stop sending it)")


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidPath")


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidSyntax")


def mutability(detail: str) -> ScimError:
    return ScimError(400, detail, "mutability")


def no_target(detail: str) -> ScimError:
    return ScimError(400, detail, "noTarget")


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def not_found(detail: str) -> ScimError:
    return ScimError(404, detail)


def kind_of(value: Any, article: bool = True) -> str:
    """A JSON value's kind for an error detail: "a string", "an object", … (or bare)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, dict):
        kind = "an object"
    elif isinstance(value, list):
        kind = "an array"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, int | float):
        kind = "a number"
    else:
        return type(value).__name__
    return kind if article else kind.split(" ", 1)[1]


def show(value: Any, limit: int = 80) -> str:
    """A value quoted in an error detail: JSON, cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON, or an integer too long to print
        text = f"a {type(value).__name__}"
    return cut(text, limit)
