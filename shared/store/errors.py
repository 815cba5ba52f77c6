"""Storage outcomes the service translates into SCIM errors. Plain exceptions: the store
knows nothing of HTTP or SCIM."""

from __future__ import annotations


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class PreconditionFailed(StoreError):
    """The entity changed since it was read (ETag mismatch)."""


class Conflict(StoreError):
    """A unique index row already exists; `index` names which one (e.g. "UN")."""

    def __init__(self, index: str) -> None:
        super().__init__(index)
        self.index = index


class TooLarge(StoreError):
    """The document cannot be stored in one Table entity."""


class Unavailable(StoreError):
    """Storage did not answer successfully after our retries (throttling, timeouts)."""
