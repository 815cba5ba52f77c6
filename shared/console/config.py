"""/console/config.json: what the console's sign-in page offers, from the app's settings.

- Entra sign-in (MSAL.js, authorization code with PKCE; docs/console.md says why not the
  platform's built-in authentication) when SCIM_MANAGE_ENTRA_TENANT_ID and
  SCIM_MANAGE_AUDIENCE are set: the client id is the audience (its api://{client id} form is
  accepted too), the token is asked for the API's own scope `{audience}/.default`.
- The development credential field when SCIM_MANAGE_DEV_CREDENTIAL_SHA256 is set and the app
  is not running in Azure (where the management API never honours it).

Nothing here is secret: the client id and tenant id are what the browser sends to Entra."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..auth.admin import running_in_azure
from ..settings import Settings

ENTRA_AUTHORITY_HOST = "https://login.microsoftonline.com"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _setting(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def client_id(audience: str | None) -> str | None:
    """The app registration's client id named by SCIM_MANAGE_AUDIENCE (a GUID or
    api://GUID), or None when it names neither (an App ID URI of another form)."""
    if not audience:
        return None
    candidate = audience.removeprefix("api://").rstrip("/")
    return candidate.lower() if _GUID.fullmatch(candidate) else None


def entra_sign_in(settings: Settings) -> dict[str, Any] | None:
    """MSAL's configuration for the browser, or None when Entra sign-in is not set up."""
    tenant = _setting(settings.manage_entra_tenant_id)
    audience = _setting(settings.manage_audience)
    client = client_id(audience)
    if not tenant or not client or not _GUID.fullmatch(tenant):
        return None
    return {
        "client_id": client,
        "authority": f"{ENTRA_AUTHORITY_HOST}/{tenant.lower()}",
        "scopes": [f"{audience}/.default"],
        "role": settings.manage_role,
    }


def console_config(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    # The management API never honours the development credential in Azure: not offered there.
    development = (bool(_setting(settings.manage_dev_credential_sha256))
                   and not running_in_azure(environ))
    return {"entra": entra_sign_in(settings), "development_credential": development}
