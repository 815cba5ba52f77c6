"""`shared.feed.routing`: each event's lanes from the tenant's filter and the deployment-wide
subscription's, against the filters' own answer (hypothesis). Delivery of what it routes is
tested over Azurite in tests/feed/test_lanes.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.feed import events, filters
from shared.feed.routing import route_for
from shared.store.feed_log import Route
from shared.store.subscriptions import Subscription
from shared.store.tenants import Tenant

PREFIX = "com.example.scim"
NOW = "2026-01-01T00:00:00.000Z"
PATTERNS = [*filters.KNOWN_TYPES, "user.*", "group.*", "group.members.*"]
type_lists = st.lists(st.sampled_from(PATTERNS), max_size=4)


def _tenant(types: list[str], *, webhook: bool = True) -> Tenant:
    return Tenant(id="t1", name="n", created=NOW, webhook_types=types,
                  webhook_url="https://hooks.example.com/t" if webhook else None,
                  webhook_secret="whsec_x" if webhook else None)


def _subscription(types: list[str]) -> Subscription:
    return Subscription(url="https://hooks.example.com/all", secret="whsec_y", types=types,
                        created=NOW, updated=NOW)


@given(type_lists, st.none() | type_lists, st.sampled_from(filters.KNOWN_TYPES),
       st.booleans())
def test_each_lane_follows_its_own_filter(tenant_types: list[str],
                                          deployment_types: list[str] | None, change: str,
                                          webhook: bool) -> None:
    tenant_types = filters.validate(tenant_types) if tenant_types else []
    subscription = None if deployment_types is None else _subscription(
        filters.validate(deployment_types) if deployment_types else [])
    route = route_for(_tenant(tenant_types, webhook=webhook), subscription, PREFIX)
    etype = events.event_type(PREFIX, change)
    assert route(etype) == Route(
        tenant=filters.matches(tenant_types, etype, PREFIX),
        deployment=subscription is not None and filters.matches(subscription.types, etype,
                                                                PREFIX))


def test_without_filters_everything_stays_for_the_tenant_and_nothing_is_copied() -> None:
    route = route_for(_tenant([], webhook=False), None, PREFIX)
    assert route(f"{PREFIX}.user.created") == Route()


def test_a_subscription_without_types_gets_every_event() -> None:
    route = route_for(_tenant(["group.*"]), _subscription([]), PREFIX)
    assert route(f"{PREFIX}.user.deactivated") == Route(tenant=False, deployment=True)
    assert route(f"{PREFIX}.group.members.added") == Route(tenant=True, deployment=True)


def test_an_event_neither_filter_selects_goes_to_no_lane() -> None:
    route = route_for(_tenant(["group.*"]), _subscription(["user.deactivated"]), PREFIX)
    assert route(f"{PREFIX}.user.created") == Route(tenant=False, deployment=False)
    assert route(f"{PREFIX}.user.deactivated") == Route(tenant=False, deployment=True)
