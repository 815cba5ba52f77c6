"""Create, read, replace, patch and delete of Users and Groups: engine + store, nothing else.

Round trips are counted and kept to the minimum: a create is one transaction, a user PATCH is
one read and one conditional write, a member-only group PATCH is one transaction (the group's
own row is merged in it, which also proves the group exists). New resources get their ids from
the store's layout (layout.new_id).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import sanitize
from ..feed import events
from ..scim import dialect, projection, resource
from ..scim.errors import ScimError, not_found, show, uniqueness
from ..scim.member_changes import MemberChanges, member_types
from ..scim.patch import apply_patch
from ..scim.schemas import GROUP_URN
from ..store import deadline as storage_deadline
from ..store import layout
from ..store.directory import Directory, Stored
from ..store.errors import Conflict, NotFound, PreconditionFailed, TooLarge
from ..timestamps import now_iso
from .changes import ChangeFeed
from .kinds import Kind, check_member_values, names_members

log = logging.getLogger(__name__)
_WRITE_BUDGET_SECONDS = 20.0  # well inside Entra's 60 s; then 503 + Retry-After
# Told, after a write committed, which undeclared attributes it stored: (tenant, resource
# type name, [(path, JSON value type)]). The registry an operator reads to declare them.
UndeclaredNoter = Callable[[str, str, list[tuple[str, str]]], None]


def write_attempts() -> Iterator[int]:
    """Optimistic-concurrency retries: jittered exponential backoff within a time budget.
    Many writers on one resource each win a round in turn, so no request starves for long."""
    deadline = time.monotonic() + _WRITE_BUDGET_SECONDS
    request_deadline = storage_deadline.expires_at()  # the request's, when shorter
    if request_deadline is not None:
        deadline = min(deadline, request_deadline)
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1
        time.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))  # noqa: S311 - jitter


@dataclass(frozen=True)
class View:
    """What the client asked to see (attributes / excludedAttributes)."""

    attributes: list[str] | None = None
    excluded: list[str] | None = None

    @property
    def given(self) -> bool:
        return self.attributes is not None or self.excluded is not None

    def wants(self, attribute: str) -> bool:
        """Whether an expensive attribute (members, groups) must be loaded for this view."""
        low = attribute.lower()

        def names(items: list[str]) -> set[str]:
            # The URN prefix goes first: it has dots of its own ("...:core:2.0:Group:members").
            return {i.lower().rsplit(":", 1)[-1].split(".")[0] for i in items}

        if self.attributes is not None:
            return low in names(self.attributes)
        if self.excluded is not None and low in names(self.excluded):
            return False
        # A group's members are returned by default; a user's groups only on request.
        return attribute == "members"


def conflict_error(kind: Kind, doc: dict[str, Any], index: str) -> ScimError:
    if index == kind.unique_index:
        value = doc.get(kind.unique_attr)
        return uniqueness(
            f"{kind.unique_attr} {value!r} is already used by another {kind.noun} in this "
            f"tenant ({kind.unique_attr} is unique, compared case-insensitively). Match the "
            f"existing {kind.noun} instead of creating it, or choose another value."
        )
    for declared in kind.declared_unique:
        if index == declared.index:
            how = "exactly" if declared.attribute.case_exact else "case-insensitively"
            return uniqueness(
                f"{declared.path} {show(declared.value_in(doc), 100)} is already used by "
                f"another {kind.noun} in this tenant ({declared.path} is declared with "
                f"uniqueness \"server\", compared {how}). Choose another value, or change "
                f"the {kind.noun} that holds it first.")
    return uniqueness(f"The {kind.noun} conflicts with an existing one ({index}).")


def too_large(exc: TooLarge) -> ScimError:
    return ScimError(
        400,
        f"The {exc} — the resource is too large to store. Send fewer or shorter values.",
        "invalidValue",
    )


class Resources:
    def __init__(self, directory: Directory, base_url: str, *, event_type_prefix: str,
                 note_undeclared: UndeclaredNoter | None = None) -> None:
        self.directory = directory
        self.base_url = base_url.rstrip("/")
        # Events written with each write; their type prefix is the deployment's setting.
        self.changes = ChangeFeed(self.base_url, event_type_prefix)
        self.note_undeclared = note_undeclared

    # -- rendering -------------------------------------------------------------------

    def render(self, kind: Kind, tenant: str, stored: Stored, view: View,
               members: list[tuple[str, str | None]] | None = None,
               groups: list[str] | None = None) -> dict[str, Any]:
        doc = stored.doc
        base = f"{self.base_url}/scim/v2/{tenant}"
        out: dict[str, Any] = {"schemas": doc.get("schemas") or [kind.rtype.schema.id],
                               "id": stored.id}
        out.update((k, v) for k, v in doc.items() if k != "schemas")
        if members:  # no members: no attribute, as SCIM shows no empty values
            out["members"] = [_member(base, mid, kind) for mid, kind in members]
        if groups is not None:
            out["groups"] = [{"value": g, "$ref": f"{base}/Groups/{g}", "type": "direct"}
                             for g in groups]
        out["meta"] = {
            "resourceType": kind.rtype.name,
            "created": stored.created,
            "lastModified": stored.last_modified,
            "location": f"{base}{kind.endpoint}/{stored.id}",
            "version": stored.etag,
        }
        if not view.given:  # encoded at once: the documents are canonical, read for this call
            shown = projection.default_view(out, kind.rtype)
            if shown is not None:
                return shown
        return projection.project(out, kind.rtype, view.attributes, view.excluded)

    def location(self, kind: Kind, tenant: str, rid: str) -> str:
        return f"{self.base_url}/scim/v2/{tenant}{kind.endpoint}/{rid}"

    def load_view(self, kind: Kind, tenant: str, stored: Stored, view: View) -> dict[str, Any]:
        """Render with the expensive attributes the view asks for (and only those)."""
        members = groups = None
        if kind.is_group and view.wants("members"):
            members = self.directory.member_rows(tenant, stored.id)
        elif not kind.is_group and view.attributes is not None and view.wants("groups"):
            groups = self.directory.groups_of(tenant, stored.id)
        return self.render(kind, tenant, stored, view, members, groups)

    # -- operations ------------------------------------------------------------------

    def get(self, kind: Kind, tenant: str, rid: str) -> Stored:
        stored = self.directory.get(tenant, kind.rows, rid)
        if stored is None:
            raise _missing(kind.rtype.name, rid)
        return stored

    def create(self, kind: Kind, tenant: str, body: dict[str, Any]
               ) -> tuple[Stored, list[tuple[str, str | None]]]:
        doc = resource.prepare_create(body, kind.rtype)
        given = doc.pop("members", None) if kind.is_group else None
        members = _member_ids(given)
        types = member_types(given or [])
        rid = layout.new_id()
        now = now_iso()
        extra = self.changes.created(kind, tenant, rid, doc, now)
        if members:
            extra += self.changes.members(tenant, rid, added=members, removed=[], now=now)
        try:
            stored = self.directory.create(
                tenant, kind.rows, rid, doc, kind.indexes(doc),
                columns=kind.columns(doc, now=now), now=now, extra=extra,
                members=members, types=types)
        except Conflict as exc:
            raise conflict_error(kind, doc, exc.index) from exc
        except TooLarge as exc:
            raise too_large(exc) from exc
        self._noted(kind, tenant, doc)
        if members:  # a journalled member change's chunks re-prove the group (a MERGE): new ETag
            stored = self.directory.get(tenant, kind.rows, rid) or stored
        return stored, [(m, types.get(m)) for m in members]

    def replace(self, kind: Kind, tenant: str, rid: str, body: dict[str, Any],
                if_match: str | None, *,
                changes: list[str] | None = None) -> tuple[Stored, list[str] | None]:
        """Apply a PUT. `changes`, when given, gets the user change the write was
        (`user_change`), for the audit entry."""
        for _ in write_attempts():
            current = self.get(kind, tenant, rid)
            _check_if_match(if_match, current)
            doc = resource.prepare_replace(current.doc, body, kind.rtype)
            members = None
            # PUT replaces: an explicit `"members": []` (or null) clears them. Omitting the
            # attribute keeps them, as for every other attribute a PUT leaves out.
            if kind.is_group and ("members" in doc or names_members(body)):
                given = doc.pop("members", None) or []
                members = _member_ids(given)
                types = member_types(given)
            try:
                stored = self._write(kind, tenant, current, doc)
                if members is not None:
                    # Conditional on the version just written: a member change in between
                    # would make the computed difference wrong.
                    self._set_members(tenant, rid, members, types, etag=stored.etag)
                    stored = self.get(kind, tenant, rid)
            except PreconditionFailed:
                if if_match:
                    raise _stale(kind, rid) from None
                continue
            self._noted(kind, tenant, doc)
            _user_change(changes, kind, current.doc, doc)
            return stored, members
        raise _busy(kind, rid)

    def patch(self, kind: Kind, tenant: str, rid: str, body: dict[str, Any],
              if_match: str | None, *, changes: list[str] | None = None) -> Stored | None:
        """Apply a PATCH. Returns the stored resource after it, or None when only
        memberships changed and nothing had to be read (group PATCH answers 204).
        `changes`, when given, gets the user change the write was (`user_change`)."""
        ops = dialect.normalize_patch(body, kind.rtype)
        if kind.is_group and not if_match and all(_is_member_op(op) for op in ops):
            result = apply_patch({}, ops, kind.rtype)
            _check_members(result.members)
            if result.members is not None:
                self._apply_member_changes(kind, tenant, rid, result.members)
            return None
        for _ in write_attempts():
            current = self.get(kind, tenant, rid)
            _check_if_match(if_match, current)
            result = apply_patch(current.doc, ops, kind.rtype)
            _check_members(result.members)
            doc = resource.check_update(current.doc, result.doc, kind.rtype)
            try:
                stored = self._write(kind, tenant, current, doc) if doc != current.doc else current
            except PreconditionFailed:
                if if_match:
                    raise _stale(kind, rid) from None
                continue
            if stored is not current:
                self._noted(kind, tenant, doc, before=current.doc)
                _user_change(changes, kind, current.doc, doc)
            if result.members is not None:
                self._apply_member_changes(kind, tenant, rid, result.members)
                stored = self.get(kind, tenant, rid)
            return stored
        raise _busy(kind, rid)

    def delete(self, kind: Kind, tenant: str, rid: str, if_match: str | None) -> None:
        for attempt in write_attempts():
            current = self.directory.get(tenant, kind.rows, rid)
            if current is None:
                if attempt == 0:
                    raise _missing(kind.rtype.name, rid)
                return  # deleted by a concurrent request after our first read: done as asked
            _check_if_match(if_match, current)
            try:
                self.remove(kind, tenant, current)
            except PreconditionFailed:
                if if_match:
                    raise _stale(kind, rid) from None
                continue  # changed since read: its index rows or members may differ now
            return
        raise _busy(kind, rid)

    def remove(self, kind: Kind, tenant: str, current: Stored) -> None:
        """Delete a resource as just read (DELETE, and retention's purge of long deactivated
        users: same events), conditionally on that version: its index rows and memberships
        were derived from it. Raises PreconditionFailed when it changed since."""
        rid = current.id
        try:
            self.directory.delete(tenant, kind.rows, rid, kind.indexes(current.doc),
                                  etag=current.etag,
                                  extra=self.changes.deleted(kind, tenant, rid, now_iso()))
        except NotFound:
            # It existed when read just now and is gone: either a storage retry repeated our own
            # committed delete after a lost 5xx/timeout response, or a concurrent delete won.
            # Both leave what the client asked for, so the answer is 204, not 404.
            return

    # -- helpers -----------------------------------------------------------------------

    def _noted(self, kind: Kind, tenant: str, doc: dict[str, Any], *,
               before: dict[str, Any] | None = None) -> None:
        """Tell the registry which undeclared attributes a committed write stored: all a
        POST or PUT sent, those a PATCH changed (`before`: the document it patched; the
        attributes it carried untouched were not sent). Outside the write's transaction;
        a failure is logged, never the request's."""
        if self.note_undeclared is None:
            return
        try:
            names = resource.undeclared_names(doc, kind.rtype)
            if names and before is not None:
                changed = {name.lower() for name in resource.diff_attributes(before, doc)}
                names = [n for n in names if n[0].lower() in changed]
            if names:
                self.note_undeclared(tenant, kind.rtype.name, names)
        except Exception as exc:
            log.warning("undeclared attributes not noted (%s)", type(exc).__name__)

    def _write(self, kind: Kind, tenant: str, current: Stored, doc: dict[str, Any]) -> Stored:
        now = now_iso()
        try:
            return self.directory.replace(
                tenant, kind.rows, current.id, doc,
                old=kind.indexes(current.doc), new=kind.indexes(doc),
                columns=kind.columns(doc, deactivated_at=current.deactivated_at, now=now),
                created=current.created, now=now, etag=current.etag,
                extra=self.changes.updated(kind, tenant, current, doc, now),
            )
        except Conflict as exc:
            raise conflict_error(kind, doc, exc.index) from exc
        except NotFound as exc:
            raise not_found(f"{kind.rtype.name} {current.id} not found in this tenant.") from exc
        except TooLarge as exc:
            raise too_large(exc) from exc

    def _apply_member_changes(self, kind: Kind, tenant: str, gid: str,
                              changes: MemberChanges) -> None:
        if changes.replace is not None:
            for _ in write_attempts():
                group = self.get(kind, tenant, gid)
                try:
                    self._set_members(tenant, gid, changes.replace, changes.types,
                                      etag=group.etag)
                except PreconditionFailed:
                    continue  # members changed while we computed the difference
                return
            raise _busy(kind, gid)
        now = now_iso()
        try:
            # The ids as requested: adding a present member (or removing an absent one) is a
            # no-op that is not read first, so such an id is listed in the event too.
            self.directory.change_members(
                tenant, gid, add=changes.add, remove=changes.remove, types=changes.types,
                now=now, extra=self.changes.members(
                    tenant, gid, added=list(changes.add), removed=list(changes.remove),
                    now=now))
        except NotFound as exc:
            raise _missing("Group", gid) from exc

    def _set_members(self, tenant: str, gid: str, wanted: list[str],
                     types: dict[str, str], *, etag: str) -> None:
        """Make the members exactly `wanted`, if the group still has `etag` (read before its
        members were): otherwise PreconditionFailed, and the caller reads again."""
        current = dict(self.directory.member_rows(tenant, gid))
        target = list(dict.fromkeys(wanted))
        remove = sorted(set(current) - set(target))
        now = now_iso()
        try:
            # Re-written when new, or when the client now states a different type; the event
            # lists only members that are new.
            self.directory.change_members(
                tenant, gid,
                add=[m for m in target if m not in current or
                     (m in types and types[m] != current[m])],
                remove=remove, types=types, now=now, etag=etag,
                extra=self.changes.members(tenant, gid, now=now, removed=remove,
                                           added=[m for m in target if m not in current]))
        except NotFound as exc:
            raise _missing("Group", gid) from exc


def _member(base: str, mid: str, kind: str | None) -> dict[str, str]:
    if kind is None:
        return {"value": mid}
    return {"value": mid, "$ref": f"{base}/{kind}s/{mid}", "type": kind}


def _is_member_op(op: dialect.PatchOperation) -> bool:
    return op.path is not None and op.path.attr.urn in (None, GROUP_URN) and (
        op.path.attr.attr.lower() == "members")


def _member_ids(members: Any) -> list[str]:
    if not members:
        return []
    ids = [str(m["value"]) for m in members if isinstance(m, dict) and m.get("value")]
    check_member_values(ids)
    return ids


def _check_members(changes: MemberChanges | None) -> None:
    if changes is not None:
        check_member_values([*changes.add, *changes.remove, *(changes.replace or [])])


def _check_if_match(if_match: str | None, current: Stored) -> None:
    if not if_match or if_match.strip() == "*":
        return
    wanted = {t.strip() for t in if_match.split(",")}
    if current.etag not in wanted:
        raise ScimError(
            412,
            f"If-Match {sanitize.clean(if_match)} does not match the current version "
            f"{current.etag}: the resource changed since you read it. GET it again and retry.",
        )


def _stale(kind: Kind, rid: str) -> ScimError:
    return ScimError(412, f"{kind.rtype.name} {rid} changed while this request was applied "
                          "(If-Match). GET it again and retry.")


def _missing(name: str, rid: str) -> ScimError:
    # The id is the client's (a path segment): quoted as one bounded line.
    return not_found(f"{name} {sanitize.clean(rid)} not found in this tenant.")


def _busy(kind: Kind, rid: str) -> ScimError:
    return ScimError(
        503, f"{kind.rtype.name} {rid} is being changed by many requests at once; retry shortly.",
        None, {"Retry-After": "1"})


def _user_change(changes: list[str] | None, kind: Kind, before: dict[str, Any],
                 after: dict[str, Any]) -> None:
    """Tell `changes` that a user write deactivated or reactivated the user (the event type's
    change: `deactivated`, `reactivated`); nothing for other writes."""
    if changes is None or kind.is_group:
        return
    change = events.user_change_type(before, after)
    if change in (events.USER_DEACTIVATED, events.USER_REACTIVATED):
        changes.append(change.removeprefix("user."))
