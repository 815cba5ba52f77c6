"""Deployments for the operations: as the management API opens one (over the running service,
sharing its caches) and as the CLI does (tables only)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import settings
from shared.manage.context import Deployment


@pytest.fixture
def served_deployment(scim_service: Any) -> Deployment:
    return Deployment.served(scim_service)


@pytest.fixture
def opened_deployment(app_env: dict[str, str]) -> Deployment:
    return Deployment.open(settings.current())
