"""Which lanes a tenant's event is published to (store/feed_log.py `Route`): decided once, when
the event is published, from the tenant's webhook filter and the deployment-wide subscription.

- The tenant lane (`E:`) keeps the event when the tenant's types select it (no types: every
  type), whether or not the tenant has a webhook now: events of a tenant without one are held
  and discarded after SCIM_FEED_HOLD_DAYS, as always, so a webhook set meanwhile gets them.
- The deployment lane (`D:`) gets a copy when there is a subscription and its types select it.

An event neither lane selects is still published (the pull API serves every event); only its
pending row goes. A filter applies to events published after it changed."""

from __future__ import annotations

from collections.abc import Callable

from ..store.feed_log import Route
from ..store.subscriptions import Subscription
from ..store.tenants import Tenant
from . import filters


def route_for(tenant: Tenant, subscription: Subscription | None,
              type_prefix: str) -> Callable[[str], Route]:
    """The route of each event of `tenant`, by its full CloudEvents type."""
    own = list(tenant.webhook_types)
    deployment = list(subscription.types) if subscription is not None else None

    def route(event_type: str) -> Route:
        return Route(
            tenant=filters.matches(own, event_type, type_prefix),
            deployment=deployment is not None and filters.matches(deployment, event_type,
                                                                  type_prefix))

    return route
