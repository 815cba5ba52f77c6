"""The refusals operations raise: status and code fixed per kind, the detail kept as given."""

from __future__ import annotations

from shared.manage.errors import ManageError, conflict, invalid, not_found


def test_each_kind_has_its_status_and_code() -> None:
    for make, status, code in ((invalid, 400, "invalid"), (not_found, 404, "not_found"),
                               (conflict, 409, "conflict")):
        error = make("say what to do")
        assert isinstance(error, ManageError)
        assert (error.status, error.code, error.detail, str(error)) == (
            status, code, "say what to do", "say what to do")
