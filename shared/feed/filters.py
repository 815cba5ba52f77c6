"""Event-type filters of a subscription (a tenant's webhook, the deployment-wide one): patterns
matched against the end of an event's CloudEvents `type`, after `SCIM_EVENT_TYPE_PREFIX + "."`.

A pattern is a known change type (`user.deactivated`), a trailing wildcard over whole
components (`user.*`, `group.members.*`: every known type that starts with `user.`), or `*`
alone (every type). An empty list selects every type too. Only the types events.py emits are
accepted, so a typo is an error at `set` time instead of a subscription that silently receives
nothing. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import events

# What a filter can select: every change an event reports (the test event is sent on request,
# whatever the filter, and never stored).
KNOWN_TYPES: tuple[str, ...] = (
    events.USER_CREATED, events.USER_UPDATED, events.USER_DEACTIVATED,
    events.USER_REACTIVATED, events.USER_DELETED, events.GROUP_CREATED, events.GROUP_UPDATED,
    events.GROUP_DELETED, events.MEMBERS_ADDED, events.MEMBERS_REMOVED)
ALL = "*"
WILDCARD = ".*"
# Bounds what an operator's list may make the delivery path match against.
MAX_PATTERNS = 32


class FilterError(ValueError):
    """A pattern list that cannot be used; the message names the accepted types."""


def _stems() -> frozenset[str]:
    """Every `x.` that a wildcard may name: the leading components of a known type."""
    stems: set[str] = set()
    for known in KNOWN_TYPES:
        parts = known.split(".")
        stems.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return frozenset(stems)


_STEMS = _stems()


def _help() -> str:
    wildcards = ", ".join(sorted(f"{stem}{WILDCARD}" for stem in _STEMS))
    return (f"known types: {', '.join(KNOWN_TYPES)}; wildcards: {wildcards}; "
            f"or {ALL} for every type")


def validate(patterns: Iterable[str]) -> list[str]:
    """The patterns as they are stored: trimmed, duplicates dropped (first kept), and `[]`
    when they select every type. FilterError for an unknown type or a malformed pattern."""
    out: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        if pattern == ALL:
            return []
        if pattern.endswith(WILDCARD):
            known = pattern[:-len(WILDCARD)] in _STEMS
        else:
            known = pattern in KNOWN_TYPES
        if not known:
            shown = pattern[:64] + ("…" if len(pattern) > 64 else "")
            raise FilterError(f"unknown event type pattern {shown!r}; {_help()}")
        if pattern not in out:
            out.append(pattern)
    if len(out) > MAX_PATTERNS:
        raise FilterError(f"at most {MAX_PATTERNS} patterns")
    if not out:
        raise FilterError(f"no event type given; {_help()}")
    return out


def parse(text: str) -> list[str]:
    """A comma-separated list as an operator types it (`user.*,group.members.*`), validated."""
    return validate(part for part in text.split(",") if part.strip())


def matches(patterns: Sequence[str], event_type: str, type_prefix: str) -> bool:
    """Whether an event of CloudEvents type `event_type` passes `patterns` (stored form).
    An event stored under another prefix than today's matches only a filter of every type."""
    if not patterns:
        return True
    head = type_prefix + "."
    if not event_type.startswith(head):
        return False
    change = event_type[len(head):]
    for pattern in patterns:
        if pattern.endswith(WILDCARD):
            if change.startswith(pattern[:-1]):  # keeps the dot: `user.` never matches `users.`
                return True
        elif change == pattern:
            return True
    return False
