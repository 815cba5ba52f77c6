"""Running the reconciler once, now, as its timer would (shared/service/reconcile.py):
delivery, repair and the audit purge, for every tenant or the ones named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..service import reconcile
from ..service.app import ScimService
from .context import Deployment


def run_reconcile(d: Deployment, tenants: list[str] | None, *,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The run's summary, as recorded for /health (`errors`: tenants that failed). Named
    tenants are checked first: an unknown one is a 404 before anything runs."""
    if tenants is not None:
        for tenant_id in tenants:
            d.tenant(tenant_id)
    service = d.service or ScimService(d.settings, d.tables)
    return reconcile.run(service, tenants=tenants, progress=progress)
