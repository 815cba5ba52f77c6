"""The `direct` backend (backend.py): one table's entity operations over `wire.Wire`.

It does what azure-data-tables' `TableClient` does for the calls the store makes (the `sdk`
backend, sdk_table.py; tests/store/test_backend_parity.py holds them to the same results) while
its requests skip the SDK's pipeline (see `wire.py` for why). Entity-group transactions are
written and read as plain multipart bytes; the SDK routes both through the `email` package,
which was the largest single CPU cost of every write.

Property types: str, bool, int (Edm.Int32, or Edm.Int64 beyond 32 bits) and float (Edm.Double),
as the store writes them; anything else raises TypeError before a request is sent.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import odata
from .backend import Entity, Metadata, Mode, Operation
from .errors import (
    AccessDenied,
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    TransportFailed,
    Unavailable,
)
from .wire import API_VERSION, Response, Wire

_JSON = "application/json"
_READ_HEADERS = {"Accept": "application/json;odata=minimalmetadata"}
_WRITE_HEADERS = {"Accept": _JSON, "Content-Type": _JSON}
_PART_HEADERS = f"x-ms-version: {API_VERSION}\r\nDataServiceVersion: 3.0\r\n"
# One encoder for every entity: json.dumps with options builds a new encoder per call.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
_json_string = json.encoder.encode_basestring_ascii  # C; what the encoder above applies
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.~:-]*")
_INT32 = 2**31
_INT64 = 2**63
_ANNOTATION = "@odata.type"  # suffix of a property's type annotation


class Table:
    """Entity operations on one table (thread-safe; share one per process)."""

    def __init__(self, wire: Wire, table_name: str) -> None:
        self.wire = wire
        self.table_name = table_name
        self._path = f"{wire.base_path}/{table_name}"

    # -- reads ---------------------------------------------------------------------------

    def get_entity(self, partition_key: str, row_key: str, *,
                   select: Sequence[str] | None = None) -> Entity:
        path = self._entity_path(partition_key, row_key)
        if select:
            path += "?$select=" + _quote(",".join(select))
        response = self.wire.request("GET", path, headers=_READ_HEADERS)
        if response.status_code != 200:
            raise _error(response)
        return _entity(json.loads(response.body))

    def query_entities(self, query_filter: str, *, parameters: Mapping[str, Any] | None = None,
                       select: Sequence[str] | None = None,
                       results_per_page: int | None = None) -> Iterator[Entity]:
        """Entities matching an OData filter, page by page. `@name` in the filter is replaced
        by the typed literal of `parameters[name]` (strings quoted, quotes doubled): values
        never reach the filter text any other way."""
        query = {"$filter": odata.substitute(query_filter, parameters or {})}
        if select:
            query["$select"] = ",".join(select)
        if results_per_page:
            query["$top"] = str(results_per_page)
        while True:
            path = f"{self._path}()?" + "&".join(f"{_quote(k)}={_quote(v)}"
                                                 for k, v in query.items())
            response = self.wire.request("GET", path, headers=_READ_HEADERS)
            if response.status_code != 200:
                raise _error(response)
            for raw in json.loads(response.body).get("value", []):
                yield _entity(raw)
            next_pk = response.header("x-ms-continuation-nextpartitionkey")
            if not next_pk:
                return
            query["NextPartitionKey"] = next_pk
            next_rk = response.header("x-ms-continuation-nextrowkey")
            if next_rk:
                query["NextRowKey"] = next_rk
            else:
                query.pop("NextRowKey", None)

    # -- single-entity writes --------------------------------------------------------------

    def create_entity(self, entity: Mapping[str, Any]) -> Metadata:
        response = self.wire.request(
            "POST", self._path, headers={**_WRITE_HEADERS, "Prefer": "return-no-content"},
            body=_json_entity(entity))
        if response.status_code not in (201, 204):
            raise _error(response)
        return _metadata(response)

    def update_entity(self, entity: Mapping[str, Any], mode: Mode = "merge", *,
                      etag: str | None = None) -> Metadata:
        """Change an existing entity (NotFound if it is gone); with `etag`, only while it
        still has that version (PreconditionFailed otherwise)."""
        return self._write(entity, mode, etag or "*")

    def upsert_entity(self, entity: Mapping[str, Any], mode: Mode = "merge") -> Metadata:
        return self._write(entity, mode, None)

    def delete_entity(self, partition_key: str, row_key: str, *,
                      etag: str | None = None) -> None:
        """Delete an entity; one that is already gone is not an error (as in the SDK)."""
        response = self.wire.request(
            "DELETE", self._entity_path(partition_key, row_key),
            headers={**_READ_HEADERS, "If-Match": etag or "*"})
        if response.status_code not in (204, 404):
            raise _error(response)

    def _write(self, entity: Mapping[str, Any], mode: Mode, if_match: str | None
               ) -> Metadata:
        headers = dict(_WRITE_HEADERS)
        if if_match:
            headers["If-Match"] = if_match
        response = self.wire.request(
            _verb(mode), self._entity_path(entity["PartitionKey"], entity["RowKey"]),
            headers=headers, body=_json_entity(entity))
        if response.status_code != 204:
            raise _error(response)
        return _metadata(response)

    # -- entity-group transactions ---------------------------------------------------------

    def submit_transaction(self, operations: Sequence[Operation]) -> list[Metadata]:
        """Apply operations of one partition atomically. Returns each operation's metadata
        (its new ETag); a refused operation raises TransactionFailed whose `index` names it,
        and nothing is written."""
        ops = list(operations)
        if not ops:
            return []
        if len({op.entity.get("PartitionKey") for op in ops}) > 1:
            # Azure refuses such a batch; Azurite would commit it.
            raise ValueError("Partition Keys in the batch must all be the same.")
        batch, changeset = f"batch_{secrets.token_hex(16)}", f"changeset_{secrets.token_hex(16)}"
        body = _multipart(batch, changeset, [self._part(op) for op in ops])
        response = self.wire.request(
            "POST", f"{self.wire.base_path}/$batch", body=body, headers={
                "MaxDataServiceVersion": "3.0;NetFx", "Accept": _JSON,
                "Content-Type": f"multipart/mixed; boundary={batch}"})
        if response.status_code == 413:
            raise TransactionFailed(0, TooLarge(_described(response)))
        if response.status_code != 202:
            raise _error(response)
        fast = _committed(response.body, len(ops))
        if fast is not None:
            return fast
        parts = _http_parts(response.body, response.header("content-type") or "")
        for part in parts:
            if not 200 <= part.status_code < 300:
                raise TransactionFailed(_failed_index(part), _error(part))
        if len(parts) != len(ops):
            raise StoreError(
                f"storage answered {len(parts)} parts for {len(ops)} transaction operations")
        return [_metadata(part) for part in parts]

    def _part(self, op: Operation) -> bytes:
        entity = op.entity
        condition = ""
        if op.verb == "create":
            line = f"POST {self.wire.origin}{self._path} HTTP/1.1"
            body = _json_entity(entity)
        else:
            target = self.wire.origin + self._entity_path(entity["PartitionKey"],
                                                          entity["RowKey"])
            if op.verb == "delete":
                line, body = f"DELETE {target} HTTP/1.1", b""
            elif op.verb in ("update", "upsert"):
                line = f"{_verb(op.mode)} {target} HTTP/1.1"
                body = _json_entity(entity)
            else:
                raise ValueError(f"unknown transaction operation {op.verb!r}")
            if op.verb != "upsert":  # upserts apply whatever exists; the others need a match
                condition = f"If-Match: {op.etag or '*'}\r\n"
        length = f"Content-Type: {_JSON}\r\nContent-Length: {len(body)}\r\n" if body else ""
        return (f"{line}\r\n{_PART_HEADERS}{condition}{length}Accept: {_JSON}\r\n\r\n".encode()
                + body)

    def _entity_path(self, partition_key: str, row_key: str) -> str:
        return f"{self._path}(PartitionKey='{_key(partition_key)}',RowKey='{_key(row_key)}')"

    def create_table(self) -> None:
        """Create this table unless it exists. Creating one that exists is fine, so a POST that
        got no answer is sent once more (wire resends only idempotent methods itself)."""
        for attempt in (1, 2):
            try:
                response = self.wire.request(
                    "POST", f"{self.wire.base_path}/Tables",
                    headers={**_WRITE_HEADERS, "Prefer": "return-no-content"},
                    body=json.dumps({"TableName": self.table_name}).encode())
                break
            except TransportFailed:
                if attempt == 2:
                    raise
        if response.status_code not in (201, 204, 409):
            raise _error(response)


# -- keys and values ------------------------------------------------------------------------

def _key(value: str) -> str:
    """A key as it appears in an entity URL: quotes doubled, then percent-encoded."""
    if _PLAIN_KEY.fullmatch(value):  # ids and most escaped keys: nothing to encode
        return value.replace(":", "%3A")
    return _quote(value.replace("'", "''"))


# Percent-encoding of every byte but RFC 3986's unreserved characters, as urllib's
# `quote(text, safe="")` does, by table lookup instead of a Python call per byte.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_ESCAPED = [chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256)]


def _quote(text: str) -> str:
    return "".join(map(_ESCAPED.__getitem__, text.encode()))


def _json_entity(entity: Mapping[str, Any]) -> bytes:
    if all(type(value) is str for value in entity.values()):  # keys, index and member rows
        return ("{" + ",".join([_json_string(k) + ":" + _json_string(v)
                                for k, v in entity.items()]) + "}").encode()
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None:
            continue
        if isinstance(value, bool | str):
            out[name] = value
        elif isinstance(value, int):
            if -_INT32 <= value < _INT32:
                out[name] = value
            elif -_INT64 <= value < _INT64:
                out[name], out[name + "@odata.type"] = str(value), "Edm.Int64"
            else:
                raise TypeError(f"property {name!r}: {value} does not fit in 64 bits")
        elif isinstance(value, float):
            # JSON has no NaN or infinities; Table Storage takes them as strings.
            out[name] = value if math.isfinite(value) else _NON_FINITE[repr(value)]
            out[name + "@odata.type"] = "Edm.Double"
        else:
            raise TypeError(f"property {name!r} has unsupported type {type(value).__name__}")
    return _compact_json(out).encode()


def _entity(raw: dict[str, Any]) -> Entity:
    entity = Entity(raw)
    etag, stamp = entity.pop("odata.etag", None), entity.pop("Timestamp", None)
    # Besides those two, OData names (metadata, type annotations) are rare: one scan finds
    # them, instead of three string tests per property of every row of a page.
    for name in [n for n in entity if "odata." in n]:
        if name.startswith("odata."):
            del entity[name]
        elif name.endswith(_ANNOTATION):
            edm, typed = entity.pop(name), name[: -len(_ANNOTATION)]
            if typed in entity and edm == "Edm.Int64":
                entity[typed] = int(entity[typed])
            elif typed in entity and edm == "Edm.Double":
                entity[typed] = float(entity[typed])
    entity.metadata = {"etag": etag, "timestamp": stamp}
    return entity


def _metadata(response: Response) -> Metadata:
    return {"etag": response.header("etag"), "date": response.header("date")}


def _verb(mode: Mode) -> str:
    if mode == "replace":
        return "PUT"
    if mode == "merge":
        return "PATCH"
    raise ValueError(f"unknown update mode {mode!r}")


# -- errors ----------------------------------------------------------------------------------

_BY_CODE: dict[str, type[StoreError]] = {
    "EntityTooLarge": TooLarge, "PropertyValueTooLarge": TooLarge,
    "RequestBodyTooLarge": TooLarge,
    "ResourceNotFound": NotFound, "TableNotFound": NotFound, "EntityNotFound": NotFound,
    "ResourceAlreadyExists": AlreadyExists, "TableAlreadyExists": AlreadyExists,
    "EntityAlreadyExists": AlreadyExists,
    "ConditionNotMet": PreconditionFailed, "UpdateConditionNotSatisfied": PreconditionFailed,
}
# Refusals of our credentials: the status is 403, or 400 where Azurite's token mode refuses a
# key it cannot check.
_CREDENTIALS_REFUSED = frozenset({"AuthenticationFailed", "AuthorizationFailure",
                                  "InvalidAuthenticationInfo"})
# Refusals of what the caller may do (it authenticated): a missing data role (or, with a key,
# Azurite's refusal of a signature it cannot match).
_ACCESS_DENIED = frozenset({"AuthorizationPermissionMismatch", "AuthorizationFailure"})
_BY_STATUS: dict[int, type[StoreError]] = {
    404: NotFound, 409: AlreadyExists, 412: PreconditionFailed, 413: TooLarge,
}


def _error_code(response: Response) -> tuple[str, str]:
    """The storage error code and message of an error response (JSON `odata.error`, or the
    x-ms-error-code header)."""
    code, message = response.header("x-ms-error-code") or "", ""
    try:
        error = json.loads(response.body).get("odata.error", {})
        code = error.get("code") or code
        message = error.get("message", {}).get("value", "")
    except (ValueError, AttributeError):
        pass
    return str(code), str(message)


def _described(response: Response) -> str:
    # Status and code only: storage messages can quote keys, which hold attribute values.
    return f"{response.status_code} {_error_code(response)[0]}".rstrip()


def _error(response: Response) -> StoreError:
    """The store error an error response means: by its storage error code, else its status
    (the mapping azure-data-tables applies, so both backends raise the same)."""
    status, code = response.status_code, _error_code(response)[0]
    detail = _described(response)
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if kind is not None:
        return kind(detail)
    if status == 403 and code in _ACCESS_DENIED:
        return AccessDenied(f"storage refused the operation ({detail}): check the identity's "
                            "'Storage Table Data Contributor' role assignment on the account")
    if status in (401, 403) or code in _CREDENTIALS_REFUSED:
        return StoreError(f"storage refused our credentials ({detail}): check the account key, "
                          "or the identity's 'Storage Table Data Contributor' role assignment")
    if status >= 500 or status in (408, 429):
        return Unavailable(detail)
    return StoreError(detail)


def _failed_index(part: Response) -> int:
    """Which operation a refused transaction names: its message starts with the index."""
    head = _error_code(part)[1].split(":", 1)[0]
    return int(head) if head.isdigit() else 0


# -- multipart (RFC 2046) as Table Storage writes it -------------------------------------------

def _multipart(batch: str, changeset: str, parts: list[bytes]) -> bytes:
    out = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()]
    for n, part in enumerate(parts):
        out.append(f"--{changeset}\r\nContent-Type: application/http\r\n"
                   f"Content-Transfer-Encoding: binary\r\nContent-ID: {n}\r\n\r\n".encode())
        out.append(part)
        out.append(b"\r\n")
    out.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
    return b"".join(out)


# An inner response's status code, and the ETag and Date headers, in order of appearance. Bodies
# are JSON, which cannot hold a raw line break, so neither matches inside one.
_INNER = re.compile(rb"\r\n\r\nHTTP/1\.[01] (\d{3})|\r\n(etag|date):[ \t]*([^\r\n]*)", re.I)


def _committed(body: bytes, expected: int) -> list[dict[str, Any]] | None:
    """The operations' metadata when the response holds `expected` inner responses and all
    succeeded; None otherwise (an error to read, or a shape the full parser should judge).
    One regular-expression scan instead of parsing every part's headers: a full batch commits
    on the hot path, so the cheap reading comes first."""
    out: list[dict[str, Any]] = []
    for status, name, value in _INNER.findall(body):
        if status:
            if status[:1] != b"2":
                return None
            out.append({"etag": None, "date": None})
        elif out:
            out[-1][name.decode().lower()] = value.strip().decode("latin-1")
    return out if len(out) == expected else None


def _boundary(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    return None


def _http_parts(body: bytes, content_type: str) -> list[Response]:
    """The HTTP responses inside a (nested) multipart/mixed batch response, in order."""
    boundary = _boundary(content_type)
    if boundary is None:
        raise StoreError(f"storage batch response is not multipart: {content_type!r}")
    out: list[Response] = []
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, content = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = _headers(head)
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/"):
            out += _http_parts(content, inner_type)
        else:
            out.append(_http_message(content))
    return out


def _http_message(data: bytes) -> Response:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    _, _, rest = status_line.decode("latin-1").partition(" ")
    status, _, reason = rest.partition(" ")
    if body.endswith(b"\r\n"):
        body = body[:-2]  # the CRLF before the next delimiter belongs to the delimiter
    return Response(int(status), reason, _headers(header_block), body)


def _headers(block: bytes) -> dict[str, str]:
    return _parse_headers(block.decode("latin-1"))


def _parse_headers(block: str) -> dict[str, str]:
    """A header block (CRLF-separated `Name: value` lines) as {lower-case name: value}."""
    out: dict[str, str] = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out
