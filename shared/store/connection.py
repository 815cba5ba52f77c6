"""Creating Table clients: a connection string locally (Azurite), the account endpoint with
DefaultAzureCredential (managed identity) in Azure. One client set per process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from requests.adapters import HTTPAdapter

from ..settings import Settings
from .errors import StoreError

# Entra waits 60 s for an answer; a storage call that cannot finish in a few attempts should
# become a SCIM 503 well before that.
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 20,
}


# Storage request URLs hold RowKeys, and index RowKeys hold attribute values (userName,
# externalId, emails): urllib3 logs each URL at DEBUG, so a host or test running at DEBUG would
# write them to the logs. Only its warnings pass (the SDK's own request log: HTTP_LOGGER below).
logging.getLogger("urllib3").setLevel(logging.WARNING)


# Middleware around the SDK transport of every client this process creates: each hook is
# called as `hook(request, send)` for every attempt the SDK's pipeline makes (after its retry
# policy) and must return `send(request)` or raise / return something else. Benchmarks count
# storage round trips and reliability tests inject faults here, so both exercise the real
# SDK pipeline (retries, error mapping) instead of patching our own code.
TransportHook = Callable[[Any, Callable[[Any], Any]], Any]
TRANSPORT_HOOKS: list[TransportHook] = []


class _HookedTransport(RequestsTransport):  # type: ignore[misc]  # untyped base
    def send(self, request: Any, **kwargs: Any) -> Any:
        def call(index: int, req: Any) -> Any:
            if index == len(TRANSPORT_HOOKS):
                return super(_HookedTransport, self).send(req, **kwargs)
            return TRANSPORT_HOOKS[index](req, lambda r: call(index + 1, r))

        return call(0, request)


def _transport() -> RequestsTransport:
    session = requests.Session()
    # requests otherwise re-reads proxy settings from the environment on every call
    # (~1 ms each, measured; design.md §11).
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return _HookedTransport(session=session, session_owner=False)


def _prepare_parts(request: Any) -> None:
    """Apply a batch's per-part policies (storage headers, signing) one part after another.

    azure-core does this on a new ThreadPoolExecutor per batch and per changeset: two of the
    three thread pools (and their threads) that every entity-group transaction creates (the
    third parses the response parts). Every create, PATCH and member change pays for them;
    doing the same work in the calling thread saved ~1.2 ms of CPU and ~1.9 ms of wall time
    per 2-operation transaction on Azurite (`benchmarks/multipart.py`, both side by side)."""
    info = request.multipart_mixed_info
    if not info:
        return
    parts, policies, options = info[0], info[1], info[3]
    for part in parts:
        if part.multipart_mixed_info:
            _prepare_parts(part)
        pipeline_request = PipelineRequest(part, PipelineContext(None, **options))
        for policy in policies:
            policy.on_request(pipeline_request)


def _sequential_batches(table: TableClient) -> TableClient:
    """Use `_prepare_parts` for this client's batches (only where azure-core still has the
    hook this replaces; otherwise the SDK's own behaviour stays)."""
    pipeline = getattr(getattr(getattr(table, "_client", None), "_client", None),
                       "_pipeline", None)
    if pipeline is not None and hasattr(type(pipeline), "_prepare_multipart_mixed_request"):
        pipeline._prepare_multipart_mixed_request = _prepare_parts
    return table


@dataclass(frozen=True)
class Tables:
    data: TableClient
    tenants: TableClient
    audit: TableClient
    runs: TableClient
    service: TableServiceClient

    def ensure(self) -> None:
        for name in (self.data, self.tenants, self.audit, self.runs):
            self.service.create_table_if_not_exists(name.table_name)


# The SDK logs every storage request and response, headers included, at INFO; the Functions
# worker passes INFO records on, so each SCIM request would log ~4 multi-line records per round
# trip (CPU here, ingestion cost in Application Insights). Its warnings and errors still pass.
HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def open_tables(settings: Settings) -> Tables:
    logging.getLogger(HTTP_LOGGER).setLevel(logging.WARNING)
    transport = _transport()
    options = _CLIENT_OPTIONS
    if settings.storage_connection_string:
        service = TableServiceClient.from_connection_string(
            settings.storage_connection_string, transport=transport, **options
        )
    elif settings.storage_table_endpoint:
        from azure.identity import DefaultAzureCredential  # only needed in Azure

        credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
        service = TableServiceClient(
            endpoint=settings.storage_table_endpoint,
            credential=credential,
            transport=transport,
            **options,
        )
    else:
        raise StoreError(
            "No storage configured: set SCIM_STORAGE_CONNECTION_STRING (local, e.g. "
            "UseDevelopmentStorage=true) or SCIM_STORAGE_TABLE_ENDPOINT "
            "(https://ACCOUNT.table.core.windows.net, with a managed identity) in app settings."
        )
    return Tables(
        data=_sequential_batches(service.get_table_client(settings.data_table)),
        tenants=service.get_table_client(settings.tenants_table),
        audit=service.get_table_client(settings.audit_table),
        runs=service.get_table_client(settings.runs_table),
        service=service,
    )


_lock = threading.Lock()
_cached: dict[tuple[str | None, str | None, str], Tables] = {}


def tables_for(settings: Settings) -> Tables:
    """The process-wide client set for these settings (clients are thread-safe; reuse them)."""
    key = (settings.storage_connection_string, settings.storage_table_endpoint,
           settings.table_prefix)
    with _lock:
        if key not in _cached:
            _cached[key] = open_tables(settings)
        return _cached[key]
