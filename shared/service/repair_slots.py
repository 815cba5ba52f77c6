"""When a tenant's repair pass is due: at the tenant's own time of the interval.

A tenant's mark records when its last pass finished. Were the next pass due one interval
after the mark, the tenants whose passes first ran together (every tenant, at a deployment's
first run) would come due together again every interval, and walk their partitions all at
once, competing with Entra's writes and the deliveries. So each tenant has a slot instead: a
fixed offset within the interval, from a hash of its id, repeating every interval. A pass is
due at the first slot at least half an interval after the last pass finished. The passes of
many tenants so spread evenly over the interval whatever their history; a tenant's passes are
between half an interval and one and a half apart, and one interval apart once they run at
its slot.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def slot_offset(tenant: str, every: timedelta) -> timedelta:
    """The tenant's slot: its offset within each interval counted from the Unix epoch."""
    digest = int.from_bytes(hashlib.sha256(tenant.encode("utf-8")).digest()[:8], "big")
    return (digest % max(1, every // _MICROSECOND)) * _MICROSECOND


def latest_slot(tenant: str, every: timedelta, now: datetime) -> datetime:
    """The tenant's last slot at or before `now`."""
    return now - (now - _EPOCH - slot_offset(tenant, every)) % every


def repair_due(tenant: str, last: datetime | None, now: datetime, every: timedelta) -> bool:
    """Whether the tenant's next pass is due at `now`, its last pass having finished at `last`
    (None: never, so at once). An interval of zero makes every run due."""
    if last is None or every <= timedelta(0):
        return True
    return latest_slot(tenant, every, now) >= last + every / 2
