"""The store's error vocabulary: the only exceptions its callers see, whichever backend talks to
Table Storage (`direct` or `sdk`, backend.py). Plain exceptions: the store knows nothing of SCIM,
and callers nothing of HTTP or azure-core."""

from __future__ import annotations


class StoreError(Exception):
    """Storage refused a call for a reason retrying will not fix (e.g. our credentials)."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    """A create found the row there already (409)."""


class PreconditionFailed(StoreError):
    """The entity changed since it was read (ETag mismatch)."""


class Conflict(StoreError):
    """A unique index row already exists; `index` names which one (e.g. "UN")."""

    def __init__(self, index: str) -> None:
        super().__init__(index)
        self.index = index


class TooLarge(StoreError):
    """The document cannot be stored in one Table entity (or the request in one call)."""


class Unavailable(StoreError):
    """Storage did not answer successfully after our retries (throttling, timeouts)."""


class NotSignedIn(Unavailable):
    """The credential gave no token for storage: no identity it could sign in with (no managed
    identity, no `az login`), or one it could not use. Retrying may help when the identity
    endpoint was down, so callers that serve requests treat it as Unavailable (503)."""


class AccessDenied(StoreError):
    """Storage refused the caller's operation (403 AuthorizationPermissionMismatch or
    AuthorizationFailure): with a token, the identity lacks a data role on the account, such as
    Storage Table Data Contributor (or the account's network rules refuse the caller)."""


class TransportFailed(Unavailable):
    """No answer arrived (connection refused or reset, timed out, malformed response): a write
    may or may not have been applied, so its caller may check and try again."""


# Both backends' detail when the credential gave no token for storage: an outage of the identity
# endpoint (transient) or an identity the app does not have (configuration); either way a 503.
CREDENTIAL_FAILED = ("no token for storage from the credential: check that AZURE_CLIENT_ID "
                     "names the managed identity assigned to the app")


class TransactionFailed(StoreError):
    """One operation of an entity-group transaction was refused, so none was applied.
    `index` is that operation's position, `error` what refusing it means (NotFound,
    AlreadyExists, PreconditionFailed, TooLarge or StoreError)."""

    def __init__(self, index: int, error: StoreError) -> None:
        super().__init__(f"operation {index}: {type(error).__name__}: {error}")
        self.index = index
        self.error = error
