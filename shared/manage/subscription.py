"""The deployment-wide subscription: one endpoint receiving every tenant's change events, each
naming its tenant (shared/store/subscriptions.py). Its dead letters are per tenant, in the
`deployment` lane (dead_letters.py).

Instances read the subscription through a 30 s cache: a change reaches every one within that."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..feed import events
from ..store.subscriptions import Subscription
from ..timestamps import iso
from .context import Deployment
from .errors import conflict
from .webhooks import check_url, event_types, secret_prefix, send_test_event, signing_secret


def _shown(current: Subscription | None) -> dict[str, Any]:
    if current is None:
        return {"url": None, "secret_prefix": None, "types": [], "created": None,
                "updated": None}
    return {"url": current.url, "secret_prefix": secret_prefix(current.secret),
            "types": list(current.types), "created": current.created,
            "updated": current.updated}


def _current(d: Deployment) -> Subscription:
    current = d.subscriptions.get()
    if current is None:
        raise conflict("there is no deployment-wide subscription; set one first "
                       "(`subscription set URL` or PUT /manage/v1/subscription)")
    return current


def set_subscription(d: Deployment, url: str, *, secret: str | None = None,
                     types: Sequence[str] | None = None) -> dict[str, Any]:
    """Set URL and secret (a new random one unless given; shown this once) and, when given,
    the types (else the current filter stays)."""
    checked_url, chosen = check_url(url), signing_secret(secret)
    current = d.subscriptions.get()
    chosen_types = event_types(types) if types is not None else (
        current.types if current else [])
    now = iso(datetime.now(UTC))
    if current is None:
        current = Subscription(url=checked_url, secret=chosen, types=chosen_types, created=now,
                               updated=now)
    else:
        current.url, current.secret, current.types, current.updated = (
            checked_url, chosen, chosen_types, now)
    d.subscriptions.save(current)
    out = _shown(current)
    if secret is None:
        out["secret"] = chosen
    return out


def show_subscription(d: Deployment) -> dict[str, Any]:
    """URL (None when there is none), secret prefix, types and times: never the secret."""
    return _shown(d.subscriptions.get())


def set_subscription_types(d: Deployment, patterns: Sequence[str]) -> dict[str, Any]:
    current = _current(d)
    current.types, current.updated = event_types(patterns), iso(datetime.now(UTC))
    d.subscriptions.save(current)
    return _shown(current)


def clear_subscription(d: Deployment) -> dict[str, Any]:
    """Stop delivering to it: its pending events are held, then discarded."""
    d.subscriptions.clear(_current(d))
    return _shown(None)


def test_subscription(d: Deployment) -> dict[str, Any]:
    """Send a signed `webhook.test` event naming no tenant to the subscription now."""
    current = _current(d)
    event = events.webhook_test_event(None, d.settings.public_base_url,
                                      iso(datetime.now(UTC)),
                                      type_prefix=d.settings.event_type_prefix)
    return send_test_event(d.settings, current.url, current.secret, event)
