"""Who may call the management API (`/manage/v1/…`, shared/manage/api.py): operators, never
a tenant's credentials.

Two credentials are accepted, as `Authorization: Bearer …`:

- **Entra ID** (how it runs in Azure): an access token Entra issued for the deployment's own
  app registration (SCIM_MANAGE_AUDIENCE: its client id, or api://… App ID URI) in its Entra
  tenant (SCIM_MANAGE_ENTRA_TENANT_ID), RS256-signed by Entra's keys (entra_jwt.py fetches and
  caches them; PyJWT verifies), v1.0 or v2.0 issuer, within its validity period. It must carry
  the app role SCIM_MANAGE_ROLE (default Connector.Admin) in `roles`: a valid token without it
  is 403, because the caller is known and only lacks an assignment an admin can make.
- **The development credential** (local only): `adm_` + 43 base64url characters, whose SHA-256
  is SCIM_MANAGE_DEV_CREDENTIAL_SHA256 (`make run` generates one per run and prints it). Never
  honoured when the app runs in Azure (App Service sets WEBSITE_INSTANCE_ID and
  WEBSITE_SITE_NAME): a setting copied to the cloud must not open the API to a string that was
  printed on a laptop.

Anything else - no header, another scheme, a tenant's Secret Token, an access token of our
token endpoint, a feed credential, a JWT of another tenant, audience or issuer, expired,
unsigned or HS256 - is one 401 with `WWW-Authenticate: Bearer`. Digests are compared in
constant time."""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..sanitize import clean
from ..settings import Settings
from . import tokens
from .entra_jwt import EntraJwtVerifier, InvalidToken, KeysUnavailable, looks_like_jwt

DEV_PREFIX = "adm_"
_DEV_LENGTH = len(DEV_PREFIX) + 43  # base64url of 32 bytes, unpadded
# Set by App Service / Functions on every instance in Azure, never by `make run`.
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="manage"'}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
log = logging.getLogger("scim.manage")


@dataclass(frozen=True)
class Admin:
    """An authenticated operator. `subject` is a display name (a UPN, or an object or
    application id), never a credential."""

    subject: str
    method: Literal["development", "entra"]
    roles: tuple[str, ...]


class AdminRefused(Exception):
    """The request may not use the management API: 401, 403, or 503 (Entra's keys could not
    be fetched). `detail` says what to do; `reason` is a fixed label for the log."""

    def __init__(self, status: int, error: str, detail: str, reason: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.reason = reason
        self.headers = headers or {}


def new_dev_credential() -> str:
    """A development credential: full-entropy, so a plain SHA-256 digest is enough to hold."""
    return DEV_PREFIX + secrets.token_urlsafe(32)


def dev_digest(credential: str) -> str:
    """What SCIM_MANAGE_DEV_CREDENTIAL_SHA256 holds for `credential`."""
    return tokens.digest(credential)


def running_in_azure(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in AZURE_MARKERS)


def _unauthorized(reason: str) -> AdminRefused:
    return AdminRefused(401, "unauthorized", (
        "The bearer token is not a management credential. Send 'Authorization: Bearer "
        "<token>' with an Entra ID access token for this deployment's app registration (az "
        "account get-access-token --resource <application id>) or, locally, the development "
        "credential `make run` prints (adm_…). Tenant Secret Tokens, OAuth access tokens and "
        "feed credentials are not accepted here."), reason, dict(CHALLENGE))


class AdminAuthenticator:
    def __init__(self, settings: Settings, jwt: EntraJwtVerifier, *,
                 environ: Mapping[str, str] | None = None) -> None:
        self._jwt = jwt
        self._role = settings.manage_role
        self._entra_tenant = settings.manage_entra_tenant_id
        self._audiences = _audiences(settings.manage_audience)
        digest = settings.manage_dev_credential_sha256
        self._dev_digest: str | None = digest
        if digest is not None and running_in_azure(environ):
            # Once per instance: the authenticator is built once per process.
            log.warning("SCIM_MANAGE_DEV_CREDENTIAL_SHA256 is set but the app runs in Azure: "
                        "the development credential is refused; remove the setting")
            self._dev_digest = None
        if bool(self._entra_tenant) != bool(self._audiences):
            log.warning("management API: Entra sign-in needs both SCIM_MANAGE_ENTRA_TENANT_ID "
                        "and SCIM_MANAGE_AUDIENCE; with one alone, Entra tokens are refused")

    @property
    def entra_configured(self) -> bool:
        return bool(self._entra_tenant and self._audiences)

    def authenticate(self, authorization: str | None) -> Admin:
        """The operator calling, or AdminRefused."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if not authorization:
            raise _unauthorized("no authorization header")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("not a bearer token")
        if token.startswith(DEV_PREFIX):
            return self._development(token)
        if looks_like_jwt(token):
            return self._entra(token)
        raise _unauthorized("not a management credential")

    def _development(self, token: str) -> Admin:
        if self._dev_digest is None or len(token) != _DEV_LENGTH:
            raise _unauthorized("development credential not accepted")
        if not hmac.compare_digest(tokens.digest(token), self._dev_digest):
            raise _unauthorized("wrong development credential")
        return Admin("development", "development", (self._role,))

    def _entra(self, token: str) -> Admin:
        if not (self._entra_tenant and self._audiences):
            raise _unauthorized("entra not configured")
        try:
            claims = self._jwt.verify_access(token, entra_tenant_id=self._entra_tenant,
                                             audiences=self._audiences)
        except InvalidToken as exc:
            raise _unauthorized("entra jwt: " + clean(exc, 60)) from None
        except KeysUnavailable:
            raise AdminRefused(503, "unavailable", "Entra's token signing keys could not be "
                               "fetched to verify the bearer token; retry shortly.",
                               "entra signing keys unavailable", {"Retry-After": "30"}) from None
        roles = _roles(claims)
        subject = _subject(claims)
        if self._role not in roles:
            raise AdminRefused(403, "forbidden", (
                f"The token is valid but does not carry the app role '{self._role}'. In the "
                "Entra admin center, assign the role to this user, group or application "
                "(Enterprise applications > the connector's app > Users and groups > Add "
                "user/group; for an application: App registrations > its API permissions > "
                "Add a permission > My APIs > Application permissions, then grant admin "
                "consent), then get a new token."), "missing role")
        return Admin(subject, "entra", roles)


def _audiences(configured: str | None) -> list[str]:
    """Entra puts the client id in `aud` of v2.0 tokens and of v1.0 tokens asked for by client
    id, and the App ID URI in v1.0 tokens asked for by it: both name the same app. Given the
    default URI api://{client id}, the client id is known too; given a custom URI, only it."""
    if not configured:
        return []
    if configured.startswith("api://"):
        rest = configured.removeprefix("api://")
        return [configured, rest] if _GUID.fullmatch(rest) else [configured]
    return [configured, f"api://{configured}"]


def _roles(claims: dict[str, Any]) -> tuple[str, ...]:
    roles = claims.get("roles")
    if not isinstance(roles, list):
        return ()
    return tuple(clean(r, 120) for r in roles[:50] if isinstance(r, str))


def _subject(claims: dict[str, Any]) -> str:
    # A user: their sign-in name; an application (client credentials): its client id.
    for name in ("preferred_username", "upn", "azp", "appid", "oid", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return clean(value, 100)
    return "unknown"
