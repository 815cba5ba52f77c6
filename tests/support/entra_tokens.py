"""Entra ID access tokens for Storage as Azurite's `--oauth basic` accepts them, and a credential
that mints them.

Azurite (node_modules/azurite/dist/src/table/authentication/TableTokenAuthenticator.js) decodes
a bearer token without verifying its signature, then requires: HTTPS; `iat`, `nbf` and `exp`
present, with nbf <= now <= exp (no clock skew allowed); `iss` starting with an Entra
authority (https://sts.windows.net/ and three sovereign-cloud ones); `aud` one of
https://storage.azure.com[/], Storage's application id, or https://ACCOUNT.table.core.windows.net
(and the sovereign-cloud suffixes) with ACCOUNT the account in the URL. Scopes and roles are
not checked. So a token must be right in every claim Azurite reads; the signature is real but
made with a key nobody checks.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import jwt
from azure.core.credentials import AccessToken

STORAGE_RESOURCE = "https://storage.azure.com"
TENANT = "72f988bf-0000-4000-8000-00000000c0de"  # any GUID: Azurite reads no tenant
ISSUER = f"https://sts.windows.net/{TENANT}/"
LIFETIME = 3600  # what Entra issues for managed identities is longer; an hour is plenty
# Azurite does not verify signatures; the key only makes the token a well-formed signed JWT.
_SIGNING_KEY = secrets.token_bytes(32)


def mint(audience: str = STORAGE_RESOURCE, *, client_id: str | None = None,
         issuer: str = ISSUER, lifetime: int = LIFETIME, not_before: int | None = None,
         now: int | None = None, **extra: Any) -> str:
    """A signed JWT with Entra's claims for `client_id` (the app's identity). `extra` adds or
    overrides claims; a value of None leaves the claim out."""
    issued = int(time.time()) if now is None else now
    app = client_id or str(uuid.uuid4())
    claims: dict[str, Any] = {
        "aud": audience, "iss": issuer, "iat": issued,
        "nbf": issued if not_before is None else not_before, "exp": issued + lifetime,
        "appid": app, "oid": app, "sub": app, "tid": TENANT, "idtyp": "app", "ver": "1.0",
        **extra,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, _SIGNING_KEY,
                      algorithm="HS256")


def resource_of(scope: str) -> str:
    """The resource (token audience) of a `.default` scope, as azure-identity derives it."""
    return scope.removesuffix("/.default")


class MintingCredential:
    """A TokenCredential minting tokens for the scope asked (direct use, without a managed
    identity endpoint); records each scope asked for."""

    def __init__(self, client_id: str | None = None) -> None:
        self.client_id = client_id or str(uuid.uuid4())
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        token = mint(resource_of(scopes[0]), client_id=self.client_id)
        return AccessToken(token, int(time.time()) + LIFETIME)
