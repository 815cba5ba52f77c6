"""One table's entity operations over `wire.Wire`, with azure-data-tables' contract.

The methods, arguments, results (`TableEntity` with `.metadata`) and exceptions are the
`TableClient` subset the store uses, so the store reads as SDK code while its requests skip the
SDK's pipeline (see `wire.py` for why). Entity-group transactions are written and read as plain
multipart bytes; the SDK routes both through the `email` package, which was the largest single
CPU cost of every write.

Property types: str, bool, int (Edm.Int32, or Edm.Int64 beyond 32 bits) and float (Edm.Double),
as the store writes them; anything else raises TypeError before a request is sent.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    RequestTooLargeError,
    TableEntity,
    TableTransactionError,
    UpdateMode,
)

from .wire import API_VERSION, Response, Wire

_JSON = "application/json"
_READ_HEADERS = {"Accept": "application/json;odata=minimalmetadata"}
_WRITE_HEADERS = {"Accept": _JSON, "Content-Type": _JSON}
_PARAMETER = re.compile(r"@(\w+)")
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
                   select: Sequence[str] | None = None) -> TableEntity:
        path = self._entity_path(partition_key, row_key)
        if select:
            path += "?$select=" + _quote(",".join(select))
        response = self.wire.request("GET", path, headers=_READ_HEADERS)
        if response.status_code != 200:
            raise _error(response)
        return _entity(json.loads(response.body))

    def query_entities(self, query_filter: str, *, parameters: Mapping[str, Any] | None = None,
                       select: Sequence[str] | None = None,
                       results_per_page: int | None = None) -> Iterator[TableEntity]:
        """Entities matching an OData filter, page by page. `@name` in the filter is replaced
        by the typed literal of `parameters[name]` (strings quoted, quotes doubled): values
        never reach the filter text any other way."""
        query = {"$filter": substitute(query_filter, parameters or {})}
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

    def create_entity(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        response = self.wire.request(
            "POST", self._path, headers={**_WRITE_HEADERS, "Prefer": "return-no-content"},
            body=_json_entity(entity))
        if response.status_code not in (201, 204):
            raise _error(response)
        return _metadata(response)

    def update_entity(self, entity: Mapping[str, Any], mode: str = UpdateMode.MERGE, *,
                      etag: str | None = None,
                      match_condition: MatchConditions | None = None) -> dict[str, Any]:
        """Change an existing entity (404 if it is gone); with IfNotModified, only while it
        still has `etag` (412 otherwise)."""
        return self._write(entity, mode, _if_match(etag, match_condition))

    def upsert_entity(self, entity: Mapping[str, Any],
                      mode: str = UpdateMode.MERGE) -> dict[str, Any]:
        return self._write(entity, mode, None)

    def delete_entity(self, partition_key: str, row_key: str, *, etag: str | None = None,
                      match_condition: MatchConditions | None = None) -> None:
        """Delete an entity; one that is already gone is not an error (as in the SDK)."""
        response = self.wire.request(
            "DELETE", self._entity_path(partition_key, row_key),
            headers={**_READ_HEADERS, "If-Match": _if_match(etag, match_condition)})
        if response.status_code not in (204, 404):
            raise _error(response)

    def _write(self, entity: Mapping[str, Any], mode: str, if_match: str | None
               ) -> dict[str, Any]:
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

    def submit_transaction(self, operations: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        """Apply ("create" | "update" | "upsert" | "delete", entity[, options]) operations of
        one partition atomically. Returns each operation's metadata (its new ETag); a refused
        operation raises TableTransactionError whose `index` names it, and nothing is
        written."""
        ops = list(operations)
        if not ops:
            return []
        if len({op[1].get("PartitionKey") for op in ops}) > 1:
            # Azure refuses such a batch; Azurite would commit it.
            raise ValueError("Partition Keys in the batch must all be the same.")
        batch, changeset = f"batch_{secrets.token_hex(16)}", f"changeset_{secrets.token_hex(16)}"
        body = _multipart(batch, changeset, [self._part(op) for op in ops])
        response = self.wire.request(
            "POST", f"{self.wire.base_path}/$batch", body=body, headers={
                "MaxDataServiceVersion": "3.0;NetFx", "Accept": _JSON,
                "Content-Type": f"multipart/mixed; boundary={batch}"})
        if response.status_code == 413:
            raise _error(response, RequestTooLargeError)
        if response.status_code != 202:
            raise _error(response)
        fast = _committed(response.body, len(ops))
        if fast is not None:
            return fast
        parts = _http_parts(response.body, response.header("content-type") or "")
        for part in parts:
            if not 200 <= part.status_code < 300:
                raise _error(part, RequestTooLargeError if part.status_code == 413
                             else TableTransactionError)
        if len(parts) != len(ops):
            raise HttpResponseError(
                f"storage answered {len(parts)} parts for {len(ops)} transaction operations")
        return [_metadata(part) for part in parts]

    def _part(self, op: Sequence[Any]) -> bytes:
        verb, entity = op[0], op[1]
        options: Mapping[str, Any] = op[2] if len(op) > 2 else {}
        condition = ""
        if verb == "create":
            line = f"POST {self.wire.origin}{self._path} HTTP/1.1"
            body = _json_entity(entity)
        else:
            target = self.wire.origin + self._entity_path(entity["PartitionKey"],
                                                          entity["RowKey"])
            if verb == "delete":
                line, body = f"DELETE {target} HTTP/1.1", b""
            elif verb in ("update", "upsert"):
                line = f"{_verb(options.get('mode', UpdateMode.MERGE))} {target} HTTP/1.1"
                body = _json_entity(entity)
            else:
                raise ValueError(f"unknown transaction operation {verb!r}")
            if verb != "upsert":  # upserts apply whatever exists; the others need a match
                condition = "If-Match: " + _if_match(options.get("etag"),
                                                     options.get("match_condition")) + "\r\n"
        length = f"Content-Type: {_JSON}\r\nContent-Length: {len(body)}\r\n" if body else ""
        return (f"{line}\r\n{_PART_HEADERS}{condition}{length}Accept: {_JSON}\r\n\r\n".encode()
                + body)

    def _entity_path(self, partition_key: str, row_key: str) -> str:
        return f"{self._path}(PartitionKey='{_key(partition_key)}',RowKey='{_key(row_key)}')"

    def create_table(self) -> None:
        """Create this table unless it exists."""
        response = self.wire.request(
            "POST", f"{self.wire.base_path}/Tables",
            headers={**_WRITE_HEADERS, "Prefer": "return-no-content"},
            body=json.dumps({"TableName": self.table_name}).encode())
        if response.status_code not in (201, 204, 409):
            raise _error(response)


# -- OData values ----------------------------------------------------------------------------

def substitute(query_filter: str, parameters: Mapping[str, Any]) -> str:
    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise ValueError(f"filter parameter @{name} has no value")
        value = parameters[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise TypeError(f"filter parameter {name!r}: {value} does not fit in 64 bits")
            return str(value) if -_INT32 <= value < _INT32 else f"{value}L"
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        raise TypeError(f"filter parameter {name!r} has unsupported type {type(value).__name__}")

    return _PARAMETER.sub(literal, query_filter)


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


def _entity(raw: dict[str, Any]) -> TableEntity:
    entity = TableEntity(raw)
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
    entity._metadata = {"etag": etag, "timestamp": stamp}
    return entity


def _metadata(response: Response) -> dict[str, Any]:
    return {"etag": response.header("etag"), "date": response.header("date")}


def _verb(mode: str) -> str:
    if mode == UpdateMode.REPLACE:
        return "PUT"
    if mode == UpdateMode.MERGE:
        return "PATCH"
    raise ValueError(f"unknown update mode {mode!r}")


def _if_match(etag: str | None, condition: MatchConditions | None) -> str:
    if condition == MatchConditions.IfNotModified:
        if not etag:
            raise ValueError("IfNotModified needs an etag")
        return etag
    return "*"


# -- errors ----------------------------------------------------------------------------------

_BY_CODE: dict[str, type[HttpResponseError]] = {
    "ConditionNotMet": ResourceModifiedError,
    "UpdateConditionNotSatisfied": ResourceModifiedError,
    "InvalidAuthenticationInfo": ClientAuthenticationError,
    "AuthenticationFailed": ClientAuthenticationError,
    "ResourceNotFound": ResourceNotFoundError,
    "TableNotFound": ResourceNotFoundError,
    "EntityNotFound": ResourceNotFoundError,
    "ResourceAlreadyExists": ResourceExistsError,
    "TableAlreadyExists": ResourceExistsError,
    "EntityAlreadyExists": ResourceExistsError,
}
_BY_STATUS: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError,
    412: ResourceModifiedError,
}


def _error(response: Response,
           kind: type[HttpResponseError] | None = None) -> HttpResponseError:
    """The SDK's exception for an error response: its type from the storage error code (or
    the status), with `status_code`, `error_code` and `reason` set; a transaction's message
    starts with the failed operation's index, which TableTransactionError reads."""
    code = response.header("x-ms-error-code") or ""
    message = ""
    try:
        error = json.loads(response.body).get("odata.error", {})
        code = error.get("code") or code
        message = error.get("message", {}).get("value", "")
    except (ValueError, AttributeError):
        message = response.body[:200].decode("utf-8", "replace")
    if kind is None:
        kind = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code, HttpResponseError)
    exc = kind(message=message or f"{response.status_code} {response.reason}")
    exc.status_code = response.status_code
    exc.reason = response.reason
    exc.error_code = code or None  # type: ignore[attr-defined]  # set by the SDK as well
    return exc


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
        raise HttpResponseError(f"storage batch response is not multipart: {content_type!r}")
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
