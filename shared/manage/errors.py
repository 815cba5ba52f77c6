"""What an operation refuses with: an HTTP status, a stable machine-readable code and a detail
that says what to do. The management API answers `{"error": code, "detail": detail}` with the
status; the CLI prints `error: detail` on one line and exits 1."""

from __future__ import annotations


class ManageError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def invalid(detail: str) -> ManageError:
    """A parameter or body the operation cannot use (400)."""
    return ManageError(400, "invalid", detail)


def not_found(detail: str) -> ManageError:
    """The named tenant, token, event … does not exist (404)."""
    return ManageError(404, "not_found", detail)


def conflict(detail: str) -> ManageError:
    """The state does not allow it, or it changed while the operation ran (409)."""
    return ManageError(409, "conflict", detail)
