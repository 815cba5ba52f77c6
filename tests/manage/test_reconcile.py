"""Running the reconciler through the operation: it delivers (a real receiver), reports one
progress line per tenant, and refuses an unknown tenant with a 404 before running."""

from __future__ import annotations

import pytest

from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.reconcile import run_reconcile
from shared.service.app import ScimService
from shared.service.kinds import USERS
from tests.support.webhooks import SECRET, Receiver, use_webhook

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_a_run_delivers_and_reports_progress(opened_deployment: Deployment,
                                             scim_service: ScimService,
                                             tenant: tuple[str, str],
                                             receiver: Receiver) -> None:
    tid = tenant[0]
    uid = scim_service.resources.create(USERS, tid, {"schemas": [USER],
                                                     "userName": "r@contoso.example"})[0].id
    use_webhook(scim_service, tid, receiver.url, SECRET)
    lines: list[str] = []
    summary = run_reconcile(opened_deployment, [tid], progress=lines.append)
    assert (summary["tenants"], summary["delivered"], summary["errors"]) == (1, 1, 0)
    assert lines[0] == f"tenant {tid} done (1 so far)"
    assert len(lines) <= 2  # and the audit purge, when the run had time for it
    [got] = receiver.received
    assert got.event["data"]["id"] == uid


def test_an_unknown_tenant_is_a_404_before_anything_runs(
        opened_deployment: Deployment) -> None:
    lines: list[str] = []
    with pytest.raises(ManageError) as caught:
        run_reconcile(opened_deployment, ["nosuchtenant0"], progress=lines.append)
    assert caught.value.status == 404
    assert lines == []
