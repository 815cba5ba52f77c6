"""Discovery documents (RFC 7644 §4, RFC 7643 §5-7) and the ListResponse envelope.

Everything is built from the resource types the engine validates against (the built-in ones in
`shared.scim.schemas` unless a tenant's are given), so `/Schemas` always advertises exactly what
the engine accepts. Entra reads `/Schemas` when an administrator saves
or opens the provisioning configuration, and expects a ListResponse, no nulls anywhere, and
camelCase property values (`readWrite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .schema import ResourceType, Schema
from .schemas import RESOURCE_TYPES

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def list_response(
    resources: list[dict[str, Any]],
    *,
    total: int,
    start_index: int,
    items_per_page: int | None = None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """A ListResponse (RFC 7644 §3.4.2). `Resources` is always present, even when empty
    (Entra's zero-match probe expects `[]`); `itemsPerPage` defaults to the page's length;
    `nextCursor` (RFC 9865) only when there is a next page."""
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources) if items_per_page is None else items_per_page,
    }
    if next_cursor is not None:
        body["nextCursor"] = next_cursor
    body["Resources"] = resources
    return body


def service_provider_config(
    *, documentation_uri: str | None, max_results: int, max_payload_bytes: int,
    etag: bool = True
) -> dict[str, Any]:
    """/ServiceProviderConfig: PATCH, filter and cursor/index pagination (RFC 9865) supported;
    bulk, sort and changePassword not; bearer-token authentication. `documentationUri` is
    optional (RFC 7643 §5): without one it is left out, never sent as null or a placeholder."""
    docs = {} if documentation_uri is None else {"documentationUri": documentation_uri}
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        **docs,
        "patch": {"supported": True},
        # Bulk is not offered; its limits are still advertised because RFC 7643 §5 makes
        # maxOperations and maxPayloadSize required members of `bulk`.
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": max_payload_bytes},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": etag},
        # RFC 9865: cursors (over RowKey order) and startIndex; a page holds maxResults
        # unless `count` asks for fewer. Cursors never expire, so no cursorTimeout.
        "pagination": {
            "cursor": True,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": max_results,
            "maxPageSize": max_results,
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with the tenant's secret token (or an Entra-"
                "issued access token) sent as 'Authorization: Bearer <token>'.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                **docs,
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig"},
    }


def resource_types(
    base_url: str, rtypes: Sequence[ResourceType] = RESOURCE_TYPES
) -> dict[str, Any]:
    """/ResourceTypes: User and Group (as `rtypes` extend them), as a ListResponse."""
    found = [rt.to_scim(_base(base_url)) for rt in rtypes]
    return list_response(found, total=len(found), start_index=1)


def resource_type(
    name: str, base_url: str, rtypes: Sequence[ResourceType] = RESOURCE_TYPES
) -> dict[str, Any] | None:
    """/ResourceTypes/{name}, matched case-insensitively; None when unknown."""
    for rt in rtypes:
        if rt.name.lower() == name.lower():
            return rt.to_scim(_base(base_url))
    return None


def schemas(base_url: str, rtypes: Sequence[ResourceType] = RESOURCE_TYPES) -> dict[str, Any]:
    """/Schemas: every schema of `rtypes` (by default core User and Group, Enterprise User and
    the 8x8 extension), as a ListResponse."""
    found = [s.to_scim(_base(base_url)) for s in schemas_of(rtypes)]
    return list_response(found, total=len(found), start_index=1)


def schema(
    urn: str, base_url: str, rtypes: Sequence[ResourceType] = RESOURCE_TYPES
) -> dict[str, Any] | None:
    """/Schemas/{urn}, matched case-insensitively; None when unknown."""
    for s in schemas_of(rtypes):
        if s.id.lower() == urn.lower():
            return s.to_scim(_base(base_url))
    return None


def schemas_of(rtypes: Sequence[ResourceType]) -> tuple[Schema, ...]:
    """The schemas `rtypes` use, each once: the core schemas in order, then the extensions
    (for the defaults: User, Group, Enterprise User, 8x8, the order /Schemas always had)."""
    found: dict[str, Schema] = {}
    for rt in rtypes:
        found.setdefault(rt.schema.id.lower(), rt.schema)
    for rt in rtypes:
        for ext, _ in rt.extensions:
            found.setdefault(ext.id.lower(), ext)
    return tuple(found.values())


def _base(base_url: str) -> str:
    # Tenant URLs are often configured with a trailing slash; locations must not get "//".
    return base_url.rstrip("/")
