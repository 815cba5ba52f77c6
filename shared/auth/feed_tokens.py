"""Feed credentials of the pull API (`GET /feed/v1/{tenant}/events`): distinct from the Secret
Tokens Entra holds, so that an app reading the feed cannot write the directory and Entra's
credential cannot read the feed.

A token is `feed_` and 43 characters (256 random bits, base64url), shown once and stored only
as its SHA-256 digest, compared in constant time (auth/tokens.py has why a plain digest is
enough). A tenant has up to two (rotation) in its record; deployment-wide ones (rows of the
tenants table, store/feed_tokens.py) read every tenant's feed.

Successful checks are cached 30 s per instance and (tenant, token digest), as the SCIM
authenticator does: a revoke takes effect within that. Every refusal - no header, another
scheme, a Secret Token or access token, an unknown, revoked or other tenant's credential, an
unknown or disabled tenant - is the same 401, so a caller learns nothing about which tenants
or credentials exist."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from ..scim.errors import ScimError
from ..store.feed_tokens import DeploymentFeedToken
from ..store.tenants import FeedTokenRecord, Tenant
from ..timestamps import now_iso
from . import tokens
from .tenants import TENANT_ID

PREFIX = "feed_"
MAX_ACTIVE = 2
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="feed"'}
_CACHE_LIMIT = 10_000
# base64url of 32 bytes, unpadded: 43 characters of this alphabet.
_TOKEN_CHARS = 43


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def issue(tenant: Tenant) -> str:
    """Add a feed credential to the tenant and return it in clear: the only time it exists in
    clear. ValueError when the tenant already has MAX_ACTIVE."""
    if len(tenant.feed_tokens) >= MAX_ACTIVE:
        raise ValueError(f"tenant {tenant.id} already has {MAX_ACTIVE} feed tokens; revoke one "
                         "first (python -m shared.admin feed revoke TENANT TOKEN_ID)")
    token = new_token()
    tenant.feed_tokens.append(FeedTokenRecord(id=secrets.token_hex(4),
                                              digest=tokens.digest(token), created=now_iso()))
    return token


def issue_deployment(existing: list[DeploymentFeedToken]) -> tuple[DeploymentFeedToken, str]:
    """A new deployment-wide credential (the row to store, the token in clear). ValueError
    when MAX_ACTIVE exist."""
    if len(existing) >= MAX_ACTIVE:
        raise ValueError(f"the deployment already has {MAX_ACTIVE} feed tokens; revoke one "
                         "first (python -m shared.admin feed revoke --deployment TOKEN_ID)")
    token = new_token()
    return DeploymentFeedToken(id=secrets.token_hex(4), digest=tokens.digest(token),
                               created=now_iso()), token


def refused() -> ScimError:
    """The one answer to every credential the feed does not accept."""
    return ScimError(401, "The bearer token is not a feed credential of this tenant. Send "
                          "'Authorization: Bearer feed_…' with a token issued by `python -m "
                          "shared.admin feed token TENANT` (or a deployment-wide one: `feed "
                          "token --deployment`); Secret Tokens do not read the feed.",
                     None, dict(CHALLENGE))


def _shaped(token: str) -> bool:
    return len(token) == len(PREFIX) + _TOKEN_CHARS and token.startswith(PREFIX)


class FeedAuthenticator:
    def __init__(self, load_tenant: Callable[[str], Tenant | None],
                 load_deployment: Callable[[], list[DeploymentFeedToken]],
                 ttl_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load_tenant = load_tenant
        self._load_deployment = load_deployment
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Tenant, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, tenant_id: str, authorization: str | None) -> Tenant:
        """The tenant whose feed the request may read; ScimError 401 otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        # Anything else (a Secret Token, an access token, a JWT) is refused unread.
        if scheme.lower() != "bearer" or not _shaped(token) or not TENANT_ID.fullmatch(
                tenant_id):
            raise refused()
        digest = tokens.digest(token)
        key = (tenant_id, digest)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        tenant = self._load_tenant(tenant_id)
        if tenant is None or tenant.refused:
            raise refused()
        own = tokens.digest_in(digest, [t.digest for t in tenant.feed_tokens])
        # The deployment's credentials are read only for a token that is not the tenant's.
        if not own and not tokens.digest_in(digest,
                                            [t.digest for t in self._load_deployment()]):
            raise refused()
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (tenant, now + self._ttl)
        return tenant

    def forget(self) -> None:
        """Drop every cached result (after a revoke in this process)."""
        with self._lock:
            self._cache.clear()
