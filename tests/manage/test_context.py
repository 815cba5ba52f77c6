"""The deployment an operation works on: opened for the CLI it shares nothing with a running
service; served, it reads through the service's tenant table (and caches)."""

from __future__ import annotations

import pytest

from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant


def test_served_deployment_shares_the_services_tenant_table(
        served_deployment: Deployment) -> None:
    assert served_deployment.service is not None
    assert served_deployment.tenants is served_deployment.service.tenants


def test_opened_deployment_finds_tenants_and_404s_unknown_ones(
        opened_deployment: Deployment) -> None:
    assert opened_deployment.service is None
    created = create_tenant(opened_deployment, "Context")
    assert opened_deployment.tenant(created["tenant_id"]).name == "Context"
    assert opened_deployment.tenant_url(created["tenant_id"]) == created["tenant_url"]
    with pytest.raises(ManageError) as caught:
        opened_deployment.tenant("nosuchtenant0")
    assert caught.value.status == 404
    assert "tenant list" in caught.value.detail
