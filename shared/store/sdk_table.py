"""The `sdk` backend: `backend.Backend` over azure-data-tables' `TableClient`.

The fallback for whoever prefers Microsoft's client to the store's own (`SCIM_STORAGE_CLIENT=sdk`,
docs/architecture.md). It behaves like the `direct` backend (tests/store/test_backend_parity.py
runs one script on both): the same values, error vocabulary, retry rules, deadline and
transport hooks.

- Values: the SDK refuses a Python int beyond 32 bits unless it is typed, and returns an
  Edm.Int64 as `EntityProperty(value, EdmType.INT64)`; entities are converted both ways so the
  store only sees str, bool, int and float. Timestamps are kept as storage wrote them.
- Retries: the SDK's own policy (azure-core's rules) with the direct client's settings
  (`wire.RETRIES`, back-off, connect and read timeouts).
- The deadline (`deadline.within`): a call is not started once it has passed; the retry
  policy's total timeout, each attempt's connect and read timeouts and the back-off sleeps end
  by it. These are set by pipeline policies rather than call keywords: the SDK hands
  `timeout=` of entity calls to the service as its server-side `timeout` parameter.
- `wire.TRANSPORT_HOOKS` run inside the SDK's retries, around each attempt, as in `wire`.
- Errors: only the store's (errors.py), whose messages hold the exception type, status and
  storage error code; storage's own messages can quote keys, which hold user data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import requests
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from azure.data.tables import (
    EdmType,
    EntityProperty,
    RequestTooLargeError,
    TableClient,
    TableEntity,
    TableTransactionError,
    UpdateMode,
)
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from . import deadline, odata, wire
from .backend import Entity, Metadata, Mode, Operation
from .errors import (
    CREDENTIAL_FAILED,
    AccessDenied,
    AlreadyExists,
    NotFound,
    NotSignedIn,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    TransportFailed,
    Unavailable,
)

_INT32 = 2**31
_INT64 = 2**63
_MODES = {"merge": UpdateMode.MERGE, "replace": UpdateMode.REPLACE}
_TOO_LARGE_CODES = frozenset({"EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge"})
# A missing data role, as the direct backend reads it (table.py).
_ACCESS_DENIED = frozenset({"AuthorizationPermissionMismatch", "AuthorizationFailure"})
# azure-core logs every request's URL and headers at INFO, and urllib3 every URL at DEBUG; URLs
# hold RowKeys, and index RowKeys hold attribute values (userName, emails). Warnings still pass.
_CHATTY_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "urllib3")


class SdkAccount:
    """One storage account through the SDK: the HTTP session and pipeline policies its tables
    share. `table(name)` opens one of its tables."""

    def __init__(self, endpoint: str, credential: Any) -> None:
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        # trust_env stays on, as the SDK has it: requests then honours HTTPS_PROXY/NO_PROXY and
        # REQUESTS_CA_BUNDLE, which is what someone choosing Microsoft's client expects.
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._endpoint = endpoint
        self._credential = credential
        self._transport = _DeadlineTransport(
            session=session, session_owner=False, connection_timeout=wire.CONNECT_TIMEOUT,
            read_timeout=wire.READ_TIMEOUT)

    def table(self, name: str) -> SdkTable:
        return SdkTable(TableClient(
            self._endpoint, name, credential=self._credential, transport=self._transport,
            per_call_policies=[_CallDeadline()],
            per_retry_policies=[_AttemptDeadline(), _TransportHooks()],
            retry_total=wire.RETRIES, retry_backoff_factor=wire.BACKOFF_FACTOR,
            retry_backoff_max=wire.BACKOFF_MAX))


class SdkTable:
    """Entity operations on one table through `TableClient` (thread-safe; share one per
    process)."""

    def __init__(self, client: TableClient) -> None:
        self._client = client
        self.table_name: str = client.table_name

    # -- reads -------------------------------------------------------------------------------

    def get_entity(self, partition_key: str, row_key: str, *,
                   select: Sequence[str] | None = None) -> Entity:
        with _store_errors():
            _refuse_after_deadline("GET")
            return _entity(self._client.get_entity(
                partition_key, row_key, select=list(select) if select else None))

    def query_entities(self, query_filter: str, *, parameters: Mapping[str, Any] | None = None,
                       select: Sequence[str] | None = None,
                       results_per_page: int | None = None) -> Iterator[Entity]:
        text = odata.substitute(query_filter, parameters or {})
        with _store_errors():
            _refuse_after_deadline("GET")
            pages = self._client.query_entities(
                text, select=list(select) if select else None, results_per_page=results_per_page)
            for raw in pages:
                yield _entity(raw)

    # -- single-entity writes ----------------------------------------------------------------

    def create_entity(self, entity: Mapping[str, Any]) -> Metadata:
        with _store_errors():
            _refuse_after_deadline("POST")
            return _metadata(self._client.create_entity(_sdk_entity(entity)))

    def update_entity(self, entity: Mapping[str, Any], mode: Mode = "merge", *,
                      etag: str | None = None) -> Metadata:
        with _store_errors():
            _refuse_after_deadline("PUT" if mode == "replace" else "PATCH")
            return _metadata(self._client.update_entity(
                _sdk_entity(entity), mode=_update_mode(mode), **_condition(etag)))

    def upsert_entity(self, entity: Mapping[str, Any], mode: Mode = "merge") -> Metadata:
        with _store_errors():
            _refuse_after_deadline("PUT" if mode == "replace" else "PATCH")
            return _metadata(self._client.upsert_entity(_sdk_entity(entity),
                                                        mode=_update_mode(mode)))

    def delete_entity(self, partition_key: str, row_key: str, *,
                      etag: str | None = None) -> None:
        with _store_errors():
            _refuse_after_deadline("DELETE")
            # The SDK already ignores a 404: a row that is gone is deleted.
            self._client.delete_entity(partition_key, row_key, **_condition(etag))

    # -- entity-group transactions -----------------------------------------------------------

    def submit_transaction(self, operations: Sequence[Operation]) -> list[Metadata]:
        ops = list(operations)
        if not ops:
            return []  # the SDK would send an empty batch, which storage refuses
        if len({op.entity.get("PartitionKey") for op in ops}) > 1:
            # Azure refuses such a batch; Azurite would commit it.
            raise ValueError("Partition Keys in the batch must all be the same.")
        actions = [_action(op) for op in ops]
        with _store_errors():
            _refuse_after_deadline("POST")
            results = self._client.submit_transaction(actions)
        # The SDK keeps only each part's ETag; the parts carry no Date of their own on Azurite
        # (the direct backend reads None there too).
        return [{"etag": result.get("etag"), "date": None} for result in results]

    def create_table(self) -> None:
        # Creating a table that exists is fine, so a POST that got no answer (requests reusing
        # a keep-alive connection the server had just closed) is safely sent once more.
        for attempt in (1, 2):
            try:
                with _store_errors():
                    _refuse_after_deadline("POST")
                    with suppress(ResourceExistsError):
                        self._client.create_table()
                return
            except TransportFailed:
                if attempt == 2:
                    raise


# -- values ----------------------------------------------------------------------------------

def _sdk_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity as the SDK takes it: an int beyond 32 bits typed Edm.Int64 (the SDK refuses
    it otherwise), and anything but str, bool, int and float refused as by the direct
    backend."""
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None or isinstance(value, str | bool | float):
            out[name] = value
        elif isinstance(value, int):
            if -_INT32 <= value < _INT32:
                out[name] = value
            elif -_INT64 <= value < _INT64:
                out[name] = EntityProperty(value, EdmType.INT64)
            else:
                raise TypeError(f"property {name!r}: {value} does not fit in 64 bits")
        else:
            raise TypeError(f"property {name!r} has unsupported type {type(value).__name__}")
    return out


def _entity(raw: TableEntity) -> Entity:
    properties = {name: _plain(value) for name, value in raw.items()}
    return Entity(properties, {"etag": raw.metadata.get("etag"),
                               "timestamp": _as_written(raw.metadata.get("timestamp"))})


def _plain(value: Any) -> Any:
    if isinstance(value, EntityProperty):  # Edm.Int64, and types the store does not write
        return int(value.value) if value.edm_type == EdmType.INT64 else value.value
    if isinstance(value, datetime):
        return _as_written(value)
    return value


def _as_written(value: Any) -> Any:
    """A date-time property or Timestamp as storage wrote it (the SDK keeps that text beside
    the datetime it parses, whose microseconds would drop the seventh digit)."""
    if isinstance(value, datetime):
        return getattr(value, "tables_service_value", "") or value.isoformat()
    return value


def _metadata(raw: Mapping[str, Any]) -> Metadata:
    """A write's ETag and the response's Date header (the SDK parses it; the direct backend
    returns the header text)."""
    date = raw.get("date")
    if isinstance(date, datetime):
        date = format_datetime(date.astimezone(UTC), usegmt=True)
    return {"etag": raw.get("etag"), "date": date}


def _update_mode(mode: str) -> UpdateMode:
    if mode not in _MODES:
        raise ValueError(f"unknown update mode {mode!r}")
    return _MODES[mode]


def _condition(etag: str | None) -> dict[str, Any]:
    """The SDK's arguments for "only while the row has this ETag"; none: unconditional."""
    if etag is None:
        return {}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _action(op: Operation) -> tuple[Any, ...]:
    """An `Operation` as the SDK's transaction tuple."""
    entity = _sdk_entity(op.entity)
    if op.verb == "create":
        return ("create", entity)
    if op.verb == "upsert":
        return ("upsert", entity, {"mode": _update_mode(op.mode)})
    if op.verb == "update":
        return ("update", entity, {"mode": _update_mode(op.mode), **_condition(op.etag)})
    if op.verb == "delete":
        return ("delete", entity, _condition(op.etag))
    raise ValueError(f"unknown transaction operation {op.verb!r}")


# -- errors ----------------------------------------------------------------------------------

@contextmanager
def _store_errors() -> Iterator[None]:
    """azure-core's and the SDK's exceptions as the store's. Not chained: the SDK's messages
    quote storage's, which can hold keys."""
    try:
        yield
    except AzureError as exc:
        raise store_error(exc) from None


def store_error(exc: AzureError) -> StoreError:
    """The store error an SDK or azure-core exception means."""
    if isinstance(exc, TableTransactionError) and not isinstance(exc, RequestTooLargeError):
        return TransactionFailed(exc.index, _refusal(exc))
    return _refusal(exc)


def _refusal(exc: AzureError) -> StoreError:
    status: int | None = getattr(exc, "status_code", None)
    code = _error_code(exc)
    # Status and code, as the direct backend words it; the exception's type when there is no
    # status (a transport failure).
    text = " ".join(str(part) for part in (status, code) if part) or type(exc).__name__
    if isinstance(exc, ClientAuthenticationError) and status is None:
        return NotSignedIn(CREDENTIAL_FAILED)  # the credential, not storage, failed; it may recover
    if status == 403 and code in _ACCESS_DENIED:
        return AccessDenied(
            f"storage refused the operation ({text}): check that the identity has the Storage "
            "Table Data Contributor role on the storage account")
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return StoreError(
            f"storage refused our credentials ({text}): check that the app's managed identity "
            "has the Storage Table Data Contributor role on the storage account, or that the "
            "account key in SCIM_STORAGE_CONNECTION_STRING is current")
    if isinstance(exc, DeadlinePassed):
        return TransportFailed(str(exc))  # our own message: no URL in it
    if isinstance(exc, ServiceRequestError | ServiceResponseError) or (
            isinstance(exc, DecodeError) and status is None):
        return TransportFailed(text)  # no answer, or no readable one
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return NotFound(text)
    if isinstance(exc, ResourceExistsError) or status == 409:
        return AlreadyExists(text)
    if isinstance(exc, ResourceModifiedError) or status == 412:
        return PreconditionFailed(text)
    if isinstance(exc, RequestTooLargeError) or status == 413 or code in _TOO_LARGE_CODES:
        return TooLarge(text)
    if not isinstance(exc, HttpResponseError):
        return Unavailable(text)
    if status is None or status >= 500 or status in (408, 429):
        return Unavailable(text)
    return StoreError(text)


def _error_code(exc: AzureError) -> str | None:
    """Storage's error code: from the SDK's decoding, else the response header or body (the
    SDK leaves it unset for some errors, e.g. a create of an existing row)."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    response = getattr(exc, "response", None)
    if response is None:
        return None
    header = response.headers.get("x-ms-error-code")
    if header:
        return str(header)
    try:
        found = json.loads(response.text())["odata.error"]["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return str(found) if found else None


# -- the deadline ----------------------------------------------------------------------------

class DeadlinePassed(ServiceRequestError):
    """The caller's storage deadline passed before an attempt was sent (so it was not)."""


def _refuse_after_deadline(method: str) -> None:
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise DeadlinePassed(f"storage deadline passed before {method} was sent")


class _CallDeadline(SansIOHTTPPolicy[Any, Any]):
    """Per call, before the retry policy: its total `timeout` is what is left of the deadline
    (a query's later pages are calls of their own, refused once the deadline has passed)."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        left = deadline.remaining()
        if left is None:
            return
        _refuse_after_deadline(request.http_request.method)
        request.context.options["timeout"] = left


class _AttemptDeadline(HTTPPolicy[Any, Any]):
    """Per attempt, inside the retry policy: no attempt starts after the deadline, and its
    connect and read timeouts end by it."""

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        left = deadline.remaining()
        if left is not None:
            _refuse_after_deadline(request.http_request.method)
            request.context.options["connection_timeout"] = min(wire.CONNECT_TIMEOUT, left)
            request.context.options["read_timeout"] = min(wire.READ_TIMEOUT, left)
        return self.next.send(request)


class _DeadlineTransport(RequestsTransport):  # type: ignore[misc]  # exported untyped
    """The retry policy sleeps through its transport: no back-off (or Retry-After) outlasts
    the deadline; the attempt after it is then refused."""

    def sleep(self, duration: float) -> None:
        left = deadline.remaining()
        super().sleep(duration if left is None else max(0.0, min(duration, left)))


# -- transport hooks -------------------------------------------------------------------------

class _TransportHooks(HTTPPolicy[Any, Any]):
    """Runs `wire.TRANSPORT_HOOKS` around each attempt, as `wire` does: a hook gets the request
    as a `wire.Request` and a `send` that continues the pipeline and answers a `wire.Response`;
    what it returns goes back to the retry policy as an azure-core response. A hook raising
    `TransportFailed` is a transport failure to the retry policy (ServiceResponseError: the
    outcome is unknown). The request a hook passes to `send` is sent as the pipeline built it:
    hooks observe requests and replace or fail responses."""

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        hooks = list(wire.TRANSPORT_HOOKS)
        if not hooks:
            return self.next.send(request)
        sent: list[tuple[wire.Response, PipelineResponse[Any, Any]]] = []

        def transmit(_: wire.Request) -> wire.Response:
            response = self.next.send(request)
            answer = _wire_response(response)
            sent.append((answer, response))
            return answer

        def call(index: int, req: wire.Request) -> wire.Response:
            if index == len(hooks):
                return transmit(req)
            return hooks[index](req, lambda r: call(index + 1, r))

        try:
            answer = call(0, _wire_request(request.http_request))
        except TransportFailed as exc:
            raise ServiceResponseError(f"transport hook: {exc}", error=exc) from exc
        for passed, response in sent:
            if passed is answer:  # the hooks passed storage's answer on: keep the SDK's own
                return response
        return PipelineResponse(request.http_request,
                                _azure_response(request.http_request, answer), request.context)


def _wire_request(http_request: HttpRequest) -> wire.Request:
    body = http_request.content
    if isinstance(body, str):
        body = body.encode()
    return wire.Request(http_request.method, http_request.url, dict(http_request.headers),
                        body if isinstance(body, bytes) else b"")


def _wire_response(response: PipelineResponse[Any, Any]) -> wire.Response:
    http = response.http_response
    return wire.Response(http.status_code, http.reason or "",
                         {name.lower(): value for name, value in http.headers.items()},
                         http.read())


def _azure_response(http_request: HttpRequest, answer: wire.Response) -> Any:
    """A hook's `wire.Response` as the requests transport would have returned it (a read
    `requests.Response` inside azure-core's response type), so the SDK handles it alike."""
    raw = requests.Response()
    raw.status_code = answer.status_code
    raw.reason = answer.reason
    raw.headers = CaseInsensitiveDict(answer.headers)
    raw.url = http_request.url
    raw._content = answer.body  # what requests sets once it has read a body
    raw._content_consumed = True
    return RestRequestsTransportResponse(  # type: ignore[no-untyped-call]
        request=http_request, internal_response=raw, block_size=4096)

