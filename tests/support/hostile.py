"""Hypothesis strategies for hostile SCIM requests (filters, PATCH bodies, resource bodies,
raw bodies, headers and paths), and the check every answer must pass: no 5xx, and every
error a valid RFC 7644 §3.12 error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from shared.scim.errors import ERROR_SCHEMA
from shared.scim.schema import ResourceType
from shared.scim.schemas import GROUP, USER
from shared.service.messages import ScimRequest, ScimResponse
from tests.support import figures

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# RFC 7644 §3.12 Table 9, plus RFC 9865's cursor errors (this service pages by cursor too).
SCIM_TYPES = frozenset({"invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax",
                        "invalidPath", "noTarget", "invalidValue", "invalidVers", "sensitive",
                        "invalidCursor", "expiredCursor"})
# OData / key injection attempts: quotes that would close a string literal in a Table query,
# operators that would widen it, key characters Table Storage forbids, wildcards.
INJECTIONS = (
    "x' or PartitionKey ne '", "' or '1' eq '1", "x') or (PartitionKey ne 'x",
    "' or RowKey ge '", "x\" or userName pr or \"", "*", "%", "%27", "\\", "/", "#", "?",
    "\x00", "\x7f", "'; --", "PartitionKey eq ''", "' and false or true or '", "U:", "UN:",
    "M:", ":", "''", "\u2019 or \u2019", "$filter=PartitionKey ne ''",
)


def attribute_paths(rtype: ResourceType) -> list[str]:
    """Every attribute and sub-attribute path of a resource type, extensions by full URN."""
    out: list[str] = []
    for schema in rtype.all_schemas:
        prefix = "" if schema is rtype.schema else schema.id + ":"
        for attr in schema.attributes:
            out.append(prefix + attr.name)
            out.extend(f"{prefix}{attr.name}.{sub.name}" for sub in attr.sub_attributes)
    return out


USER_PATHS = attribute_paths(USER)
GROUP_PATHS = attribute_paths(GROUP)
ALL_PATHS = sorted(set(USER_PATHS + GROUP_PATHS))

# Half of a UTF-16 surrogate pair (hypothesis's text() leaves them out): JSON may escape one
# ("\ud800"), a filter value decodes it, and used in a storage key it failed the request.
lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
with_surrogate = st.builds(lambda a, s, b: a + s + b, st.text(max_size=8), lone_surrogates,
                           st.text(max_size=8))
# Longer than a storage key component (400 UTF-8 bytes): values that must come back as sent
# (member ids) cannot be stored by digest.
over_long = st.sampled_from(["m" * 401, "\u00e9" * 201, "/" * 134, "\U0001F600" * 101])

names = st.sampled_from(ALL_PATHS) | st.text(min_size=0, max_size=20)
strings = (st.sampled_from(INJECTIONS) | st.text(max_size=40) | with_surrogate
           | over_long)
scalars = (strings | st.integers(-(2**70), 2**70) | st.booleans() | st.none()
           | st.floats(allow_nan=True, allow_infinity=True))
# Number literals as JSON text, for paging and bodies: ones a double cannot hold (1e400 reads
# as infinite), the NaN/Infinity literals Python's json accepts but JSON does not have,
# fractions, integral floats, integers beyond 64 bits, and non-numbers.
number_literals = st.sampled_from([
    "1e400", "-1e400", "1E+999", "Infinity", "-Infinity", "NaN", "2.0", "2.5", "-0.0", "1e3",
    "1e30", "9" * 40, "-" + "9" * 40, "0", "-1", "true", "null", '"5"', '"1e400"', '"x"', "[]",
]) | st.integers(-(2**70), 2**70).map(str) | st.floats().map(json.dumps)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)


# What listing answers from an index (point or range reads) rather than a scan.
INDEXED = st.sampled_from(["userName", "id", "externalId", "displayName", "members",
                           "members.value", "USERNAME", USER.schema.id + ":userName"])


def _literal(value: Any) -> str:
    try:
        return json.dumps(value)
    except ValueError:
        return "1"


@st.composite
def filters(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(st.integers(0, 9 if depth < 3 else 3))
    path = draw(names | INDEXED)
    if choice == 0:
        return draw(st.text(max_size=60))
    if choice <= 2:
        op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ",
                                   "xx"]))
        return f"{path} {op} {draw(st.sampled_from([_literal(draw(scalars)), draw(strings)]))}"
    if choice == 3:
        return f"{path} pr"
    if choice in (4, 5):
        joiner = draw(st.sampled_from([" and ", " or ", " AND ", " ", "and"]))
        return draw(filters(depth + 1)) + joiner + draw(filters(depth + 1))
    if choice == 6:
        return f"not ({draw(filters(depth + 1))})"
    if choice == 7:
        return f"({draw(filters(depth + 1))})"
    if choice == 8:
        return f"{path}[{draw(filters(depth + 1))}]"
    return f'{path}[type eq "work"].value eq {_literal(draw(strings))}'


patch_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove", "move",
                            ""]) | st.text(max_size=8)},
    optional={"path": names | filters(), "value": json_values},
)
patch_bodies = st.one_of(
    st.fixed_dictionaries({"schemas": st.just([PATCH_OP]),
                           "Operations": st.lists(patch_ops, max_size=5)}),
    st.fixed_dictionaries({"schemas": json_values, "Operations": json_values}),
    st.dictionaries(names, json_values, max_size=4),
)


def resource_bodies(rtype: ResourceType) -> st.SearchStrategy[dict[str, Any]]:
    """The resource's unique attribute plus a few of its top-level attributes (core names and
    extension URNs), each with an arbitrary JSON value; sometimes members."""
    tops = [a.name for a in rtype.schema.attributes] + [s.id for s, _ in rtype.extensions]
    unique = "userName" if rtype is USER else "displayName"
    return st.builds(
        lambda u, rest, schemas, members: {unique: u, **rest, **schemas, **members},
        strings | json_values,
        st.dictionaries(st.sampled_from(tops), json_values, max_size=4),
        st.sampled_from([{}, {"schemas": [rtype.schema.id]}, {"schemas": "x"}]),
        st.sampled_from([{}]) | st.builds(lambda v: {"members": [{"value": x} for x in v]},
                                          st.lists(strings, max_size=3)),
    )


@st.composite
def case_variant_keys(draw: st.DrawFn) -> bytes:
    """A JSON object with two spellings of one key (`userName` and `USERNAME`), at the top
    or inside a nested object."""
    key = draw(st.sampled_from(["userName", "displayName", "schemas", "Operations", "members",
                                "givenName", "value", "filter", "count"]))
    other = draw(st.sampled_from([key.upper(), key.lower(), key.swapcase(), key.title()])
                 .filter(lambda k: k != key))
    pair = f'"{key}": 1, "{other}": 2'
    nested = draw(st.booleans())
    return ('{"userName": "v", "name": {' + pair + "}}" if nested else "{" + pair + "}").encode()


raw_bodies = st.one_of(
    st.binary(max_size=200),  # mostly invalid UTF-8 / invalid JSON
    st.builds(lambda n, c: (c * n + "1" + "]" * n if c == "[" else '{"a":' * n + "1"
                            + "}" * n).encode(),
              st.integers(1, 3000), st.sampled_from(["[", "{"])),
    st.builds(lambda k, v: ('{"' + k + '": 1, "' + k + '": ' + json.dumps(v) + "}").encode(),
              st.sampled_from(["userName", "schemas", "Operations", "x"]), scalars),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    case_variant_keys(),
    st.builds(lambda k, n: ('{"' + k + '": ' + n + "}").encode(),
              st.sampled_from(["userName", "title", "x", "count"]), number_literals),
    st.builds(lambda n: ('{"userName": "n", "name": {"givenName": [' + n + "]}}").encode(),
              number_literals),
)

METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]) | st.sampled_from(
    ["HEAD", "OPTIONS", "TRACE", "get", ""])
RESOURCES = st.sampled_from(["Users", "Groups", "Schemas", "ResourceTypes",
                             "ServiceProviderConfig", "Bulk", "Me", ".search", "users",
                             "GROUPS"]) | st.text(max_size=15)
header_values = st.sampled_from(["application/scim+json", "application/json; charset=utf-8",
                                 "text/plain", "application/xml", "", "*", "W/\"1\"",
                                 "\"x\"", "Bearer", "multipart/form-data; boundary=x"]) | \
    st.text(max_size=30)
params = st.dictionaries(
    st.sampled_from(["filter", "attributes", "excludedAttributes", "startIndex", "count",
                     "sortBy", "sortOrder", "cursor", "aadOptscim062020"]) | st.text(max_size=8),
    st.text(max_size=30) | st.integers(-(2**40), 2**40).map(str) | number_literals
    | with_surrogate, max_size=4)


def check(response: ScimResponse, what: Any = None, figure: str = "hostile requests") -> None:
    """No 5xx; every error a valid SCIM error; every answer encodable as UTF-8 JSON."""
    figures.add(figure)
    if response.status == 501 and unsupported(what):
        figures.add("hostile 501 for /Bulk, /Me, /.search (RFC 7644 requires 501)")
    elif response.status >= 500:
        figures.add("hostile 5xx")
        raise AssertionError((what, response.status, response.body))
    response.encode()
    if response.status >= 400:
        validate_error(response.status, response.body, response.headers)


def unsupported(what: Any) -> bool:
    """Whether a request addressed /Bulk, /Me or a root /.search: RFC 7644 §3.7, §3.11 and
    §3.4.3 require 501 Not Implemented from a service that does not offer them."""
    return (isinstance(what, tuple) and len(what) > 1 and isinstance(what[1], str)
            and what[1].lower() in ("bulk", "me", ".search"))


def validate_error(status: int, body: Any, headers: Any) -> None:
    assert isinstance(body, dict), body
    assert body.get("schemas") == [ERROR_SCHEMA], body
    assert body.get("status") == str(status), body
    assert isinstance(body.get("detail"), str), body
    assert body["detail"].strip(), body
    assert "Traceback" not in body["detail"], body
    if "scimType" in body:
        assert body["scimType"] in SCIM_TYPES, body
    if status == 401:
        assert "Bearer" in headers.get("WWW-Authenticate", ""), headers


def request(method: str, tenant: str, token: str, resource: str, rid: str | None = None, *,
            body: bytes = b"", params: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> ScimRequest:
    return ScimRequest(method, tenant, resource, rid, params=params or {},
                       headers={"authorization": f"Bearer {token}",
                                "content-type": "application/scim+json", **(headers or {})},
                       body=body)
