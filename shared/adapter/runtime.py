"""The process-wide service instance, built on first use so that importing function_app
(indexing, cold start) stays cheap and never touches storage."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..manage.api import ManageApi
    from ..service.app import ScimService

_lock = threading.Lock()
_service: ScimService | None = None
_manage: ManageApi | None = None
log = logging.getLogger(__name__)


def service() -> ScimService:
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                from ..service.app import ScimService
                from ..settings import current
                from ..store import deadline
                from ..store.connection import tables_for

                settings = current()
                tables = tables_for(settings)
                try:
                    # The first request waits for this: a hung storage must not hold it longer
                    # than its own storage calls may take.
                    with deadline.within(settings.storage_deadline_seconds):
                        tables.ensure()
                except Exception:  # Bicep declares the tables in Azure; carry on and let
                    log.warning("could not create tables", exc_info=True)  # requests report
                if settings.queues_enabled:
                    from ..store.queues import queues_for

                    try:
                        with deadline.within(settings.storage_deadline_seconds):
                            queues = queues_for(settings)
                            if queues is not None:
                                queues.ensure()
                    except Exception:  # the timer still delivers; signals report their own
                        log.warning("could not create queues", exc_info=True)  # failures
                _service = ScimService(settings, tables)
    return _service


def manage_api() -> ManageApi:
    """The management API over the process's service (shares its caches)."""
    global _manage
    if _manage is None:
        built = service()
        with _lock:
            if _manage is None:
                from ..manage.api import ManageApi

                _manage = ManageApi.served(built)
    return _manage


def reset() -> None:
    """Forget the instances (tests change settings between runs)."""
    global _service, _manage
    with _lock:
        _service = None
        _manage = None
