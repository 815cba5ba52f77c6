"""shared.service.resources: create, read, replace, patch and delete of Users and Groups on
Azurite - the round trips each makes, the If-Match checks, and the optimistic-concurrency
retries (`write_attempts`) when another writer changes the resource between our read and our
write. The other writer is real: a storage request of its own, made at that moment from a
transport hook, so the ETag really moves."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.scim.errors import ScimError
from shared.service import resources
from shared.service.app import ScimService
from shared.service.kinds import GROUPS, USERS
from shared.service.resources import (
    Resources,
    View,
    conflict_error,
    too_large,
    write_attempts,
)
from shared.store import deadline, layout
from shared.store.errors import TooLarge
from tests.support.storage_faults import hooked

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SLACK = 0.4  # scheduling on a busy 2-core machine


@pytest.fixture
def res(scim_service: ScimService) -> Resources:
    return scim_service.resources


def new_user(res: Resources, tenant: str, name: str, **attrs: Any) -> str:
    stored, _ = res.create(USERS, tenant, {"schemas": [USER], "userName": name, **attrs})
    return stored.id


def new_group(res: Resources, tenant: str, name: str, members: list[str] | None = None) -> str:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": name}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    stored, _ = res.create(GROUPS, tenant, body)
    return stored.id


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def scim_error(action: Callable[[], Any]) -> ScimError:
    with pytest.raises(ScimError) as caught:
        action()
    return caught.value


class Requests:
    """The storage requests this thread makes (method, and whether it is a transaction)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.seen: list[str] = []

    def __call__(self, request: Any, send: Any) -> Any:
        if threading.get_ident() == self.thread:
            self.seen.append("batch" if "$batch" in request.url else request.method)
        return send(request)


class Interleaved:
    """Another writer's change, made right before each of the next `times` transactions of
    this thread (the writes under test): between their read and their conditional write."""

    def __init__(self, change: Callable[[], Any], times: int = 1) -> None:
        self.change, self.left = change, times
        self.thread = threading.get_ident()
        self.inside = False
        self.made = 0

    def __call__(self, request: Any, send: Any) -> Any:
        if (threading.get_ident() == self.thread and "$batch" in request.url
                and self.left and not self.inside):
            self.left -= 1
            self.inside = True  # the other writer's own transaction passes straight through
            try:
                self.change()
                self.made += 1
            finally:
                self.inside = False
        return send(request)


def touch(res: Resources, tenant: str, kind: str, rid: str) -> Callable[[], Any]:
    """A change of the resource's row only (its ETag moves, its document stays)."""
    return lambda: res.directory.touch(tenant, kind, rid, "2000-01-01T00:00:00.000Z")


# --------------------------------------------------------------------------------------------
# write_attempts
# --------------------------------------------------------------------------------------------


def test_optimistic_concurrency_retries_stop_at_the_request_deadline() -> None:
    """`write_attempts` (PUT/PATCH retried after a concurrent write) has a budget of its own; a
    request deadline that is shorter ends it, and the first attempt is always made."""
    with deadline.within(0.3):
        started = time.monotonic()
        made = 0
        for _ in write_attempts():
            made += 1
            if time.monotonic() - started > 3:
                break
        elapsed = time.monotonic() - started
    assert made >= 1
    assert elapsed < 0.3 + SLACK
    with deadline.within(0):
        assert sum(1 for _ in write_attempts()) == 1


def test_attempts_are_numbered_and_backed_off_briefly() -> None:
    started = time.monotonic()
    numbers = []
    for attempt in write_attempts():
        numbers.append(attempt)
        if len(numbers) == 5:
            break
    assert numbers == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < 4 * 0.25 + SLACK  # each jittered wait is short


# --------------------------------------------------------------------------------------------
# View, rendering
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("view", "members", "groups"), [
    (View(), True, False),
    (View(excluded=["members"]), False, False),
    (View(excluded=["Members.value"]), False, False),
    (View(attributes=["displayName"]), False, False),
    (View(attributes=["members.value"]), True, False),
    (View(attributes=[f"{GROUP}:members"]), True, False),
    (View(attributes=[f"{GROUP}:members.value"]), True, False),
    (View(excluded=[f"{GROUP}:members"]), False, False),
    (View(attributes=[f"{USER}:groups"]), False, True),
    (View(attributes=["userName", "Groups"]), False, True),
    (View(excluded=["groups"]), True, False),
])
def test_which_expensive_attributes_a_view_wants(view: View, members: bool,
                                                 groups: bool) -> None:
    assert view.wants("members") is members
    assert view.wants("groups") is groups


def test_a_view_is_given_when_either_list_is() -> None:
    assert not View().given
    assert View(attributes=[]).given
    assert View(excluded=["x"]).given


def test_a_user_is_rendered_with_its_meta(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "ada@example.com", title="Eng")
    stored = res.get(USERS, tenant_id, uid)
    base = f"{res.base_url}/scim/v2/{tenant_id}"
    out = res.render(USERS, tenant_id, stored, View())
    assert (out["schemas"], out["id"], out["userName"], out["title"]) == (
        [USER], uid, "ada@example.com", "Eng")
    assert out["meta"] == {"resourceType": "User", "created": stored.created,
                           "lastModified": stored.last_modified,
                           "location": f"{base}/Users/{uid}", "version": stored.etag}
    assert res.location(USERS, tenant_id, uid) == f"{base}/Users/{uid}"
    only = res.render(USERS, tenant_id, stored, View(attributes=["title"]))
    assert "userName" not in only
    assert only["title"] == "Eng"
    with_groups = res.render(USERS, tenant_id, stored, View(attributes=["groups"]),
                             groups=["g1"])
    assert with_groups["groups"] == [{"value": "g1", "$ref": f"{base}/Groups/g1",
                                      "type": "direct"}]


def test_load_view_reads_members_and_groups_only_when_shown(res: Resources,
                                                            tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "m@example.com")
    created, _ = res.create(GROUPS, tenant_id, {"schemas": [GROUP], "displayName": "G",
                                                "members": [{"value": uid, "type": "User"},
                                                            {"value": "external-1"}]})
    gid = created.id
    group = res.get(GROUPS, tenant_id, gid)
    base = f"{res.base_url}/scim/v2/{tenant_id}"
    with hooked(Requests()) as reads:
        shown = res.load_view(GROUPS, tenant_id, group, View())
    assert reads.seen == ["GET"]  # the member rows
    assert sorted(shown["members"], key=lambda m: m["value"]) == [
        {"value": uid, "$ref": f"{base}/Users/{uid}", "type": "User"},
        {"value": "external-1"}]
    with hooked(Requests()) as reads:
        hidden = res.load_view(GROUPS, tenant_id, group, View(excluded=["members"]))
    assert reads.seen == []
    assert "members" not in hidden
    user = res.get(USERS, tenant_id, uid)
    assert "groups" not in res.load_view(USERS, tenant_id, user, View())
    assert res.load_view(USERS, tenant_id, user, View(attributes=["groups"]))["groups"][0][
        "value"] == gid


# --------------------------------------------------------------------------------------------
# Create
# --------------------------------------------------------------------------------------------


def test_a_create_is_one_transaction(res: Resources, tenant_id: str) -> None:
    with hooked(Requests()) as made:
        stored, members = res.create(USERS, tenant_id, {"schemas": [USER], "userName": "one"})
    assert made.seen == ["batch"]
    assert members == []
    assert res.get(USERS, tenant_id, stored.id).etag == stored.etag


def test_a_group_created_with_members_answers_the_types_sent(res: Resources,
                                                              tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "member@example.com")
    stored, members = res.create(GROUPS, tenant_id, {
        "schemas": [GROUP], "displayName": "With",
        "members": [{"value": uid, "type": "User"}, {"value": "ext-9"}]})
    assert members == [(uid, "User"), ("ext-9", None)]
    assert "members" not in stored.doc  # members are rows, not part of the document
    assert res.get(GROUPS, tenant_id, stored.id).etag == stored.etag
    assert sorted(res.directory.members(tenant_id, stored.id)) == sorted([uid, "ext-9"])


def test_a_group_created_with_more_members_than_a_transaction_answers_its_last_version(
        res: Resources, tenant_id: str) -> None:
    """Journalled: the chunks after the first re-prove the group, which moves its ETag."""
    ids = [f"ext-{n:03d}" for n in range(120)]
    stored, members = res.create(GROUPS, tenant_id, {
        "schemas": [GROUP], "displayName": "Big", "members": [{"value": i} for i in ids]})
    assert [m for m, _ in members] == ids
    assert res.get(GROUPS, tenant_id, stored.id).etag == stored.etag
    assert sorted(res.directory.members(tenant_id, stored.id)) == ids


@pytest.mark.parametrize(("kind", "body", "attr"), [
    (USERS, {"schemas": [USER], "userName": "TAKEN@example.com"}, "userName"),
    (GROUPS, {"schemas": [GROUP], "displayName": "taken"}, "displayName")])
def test_a_taken_unique_value_is_409_uniqueness(res: Resources, tenant_id: str, kind: Any,
                                                body: dict[str, Any], attr: str) -> None:
    new_user(res, tenant_id, "taken@example.com")
    new_group(res, tenant_id, "Taken")
    err = scim_error(lambda: res.create(kind, tenant_id, body))
    assert (err.status, err.scim_type) == (409, "uniqueness")
    assert f"{attr} {body[attr]!r} is already used by another {kind.noun}" in err.detail
    assert "compared case-insensitively" in err.detail


def test_conflict_and_too_large_errors_say_what_to_do() -> None:
    other = conflict_error(USERS, {"userName": "a"}, "UX")
    assert (other.status, other.scim_type) == (409, "uniqueness")
    assert "conflicts with an existing one (UX)" in other.detail
    big = too_large(TooLarge("document is 2000000 characters; at most 1000000 can be stored"))
    assert (big.status, big.scim_type) == (400, "invalidValue")
    assert big.detail.startswith("The document is 2000000 characters")
    assert "Send fewer or shorter values" in big.detail


# --------------------------------------------------------------------------------------------
# Replace (PUT)
# --------------------------------------------------------------------------------------------


def test_if_match_must_name_the_current_version(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "im@example.com")
    body = {"schemas": [USER], "userName": "im@example.com", "title": "T"}
    err = scim_error(lambda: res.replace(USERS, tenant_id, uid, body, 'W/"stale"'))
    assert err.status == 412
    assert "GET it again and retry" in err.detail
    etag = res.get(USERS, tenant_id, uid).etag
    stored, _ = res.replace(USERS, tenant_id, uid, body, f'W/"other", {etag}')
    assert stored.doc["title"] == "T"
    stored, _ = res.replace(USERS, tenant_id, uid, {**body, "title": "U"}, " * ")
    assert stored.doc["title"] == "U"


def test_a_replace_of_a_missing_resource_is_404(res: Resources, tenant_id: str) -> None:
    err = scim_error(lambda: res.replace(USERS, tenant_id, "nope", {
        "schemas": [USER], "userName": "x"}, None))
    assert err.status == 404
    assert "User nope not found" in err.detail


HOSTILE = "a\r\nforged line\x1b[2J" + "x" * 5000


def test_a_client_id_quoted_in_a_404_is_one_bounded_line(res: Resources, tenant_id: str) -> None:
    member_patch = patch({"op": "add", "path": "members", "value": [{"value": "m"}]})
    for action in (lambda: res.get(USERS, tenant_id, HOSTILE),
                   lambda: res.delete(GROUPS, tenant_id, HOSTILE, None),
                   lambda: res.patch(GROUPS, tenant_id, HOSTILE, member_patch, None)):
        err = scim_error(action)
        assert err.status == 404
        assert err.detail.startswith(("User a\\x0d\\x0aforged line\\x1b[2J",
                                      "Group a\\x0d\\x0aforged line\\x1b[2J"))
        assert err.detail.isprintable()
        assert len(err.detail) < 200


def test_an_if_match_quoted_in_a_412_is_one_bounded_line(res: Resources,
                                                         tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "quoted@example.com")
    err = scim_error(lambda: res.delete(USERS, tenant_id, uid, HOSTILE))
    assert err.status == 412
    assert err.detail.startswith("If-Match a\\x0d\\x0aforged line")
    assert err.detail.isprintable()
    assert len(err.detail) < 300


def test_a_replace_raced_by_another_writer_is_retried(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "race@example.com")
    body = {"schemas": [USER], "userName": "race@example.com", "title": "Mine"}
    with hooked(Interleaved(touch(res, tenant_id, layout.USER, uid))) as other, \
            hooked(Requests()) as made:
        stored, _ = res.replace(USERS, tenant_id, uid, body, None)
    assert other.made == 1
    assert made.seen.count("batch") == 2  # the first write lost the race, the second won
    assert res.get(USERS, tenant_id, uid).doc["title"] == "Mine"
    assert res.get(USERS, tenant_id, uid).etag == stored.etag


def test_a_replace_raced_under_if_match_is_412_not_retried(res: Resources,
                                                           tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "racing@example.com")
    etag = res.get(USERS, tenant_id, uid).etag
    body = {"schemas": [USER], "userName": "racing@example.com", "title": "Mine"}
    with hooked(Interleaved(touch(res, tenant_id, layout.USER, uid), times=5)) as other:
        err = scim_error(lambda: res.replace(USERS, tenant_id, uid, body, etag))
    assert other.made == 1
    assert err.status == 412
    assert f"User {uid} changed while this request was applied" in err.detail
    assert "title" not in res.get(USERS, tenant_id, uid).doc


def test_a_group_put_replaces_members_only_when_it_names_them(res: Resources,
                                                              tenant_id: str) -> None:
    gid = new_group(res, tenant_id, "Put", ["a", "b"])
    _, members = res.replace(GROUPS, tenant_id, gid, {"schemas": [GROUP], "displayName": "P"},
                             None)
    assert members is None
    assert sorted(res.directory.members(tenant_id, gid)) == ["a", "b"]
    stored, members = res.replace(GROUPS, tenant_id, gid, {
        "schemas": [GROUP], "displayName": "P", "members": [{"value": "b"}, {"value": "c"}]},
        None)
    assert members == ["b", "c"]
    assert sorted(res.directory.members(tenant_id, gid)) == ["b", "c"]
    assert res.get(GROUPS, tenant_id, gid).etag == stored.etag  # after the member change
    _, members = res.replace(GROUPS, tenant_id, gid, {
        "schemas": [GROUP], "displayName": "P", "members": None}, None)
    assert members == []
    assert res.directory.members(tenant_id, gid) == []


# --------------------------------------------------------------------------------------------
# Patch
# --------------------------------------------------------------------------------------------


def test_a_member_only_group_patch_is_one_transaction_and_reads_nothing(
        res: Resources, tenant_id: str) -> None:
    gid = new_group(res, tenant_id, "Fast", ["a"])
    body = patch({"op": "add", "path": "members", "value": [{"value": "b"}]},
                 {"op": "remove", "path": 'members[value eq "a"]'})
    with hooked(Requests()) as made:
        assert res.patch(GROUPS, tenant_id, gid, body, None) is None
    assert made.seen == ["batch"]
    assert res.directory.members(tenant_id, gid) == ["b"]


def test_a_member_patch_of_a_missing_group_is_404(res: Resources, tenant_id: str) -> None:
    body = patch({"op": "add", "path": "members", "value": [{"value": "b"}]})
    err = scim_error(lambda: res.patch(GROUPS, tenant_id, "nope", body, None))
    assert err.status == 404
    assert "Group nope not found" in err.detail


def test_an_over_long_member_value_is_refused_before_any_storage_request(
        res: Resources, tenant_id: str) -> None:
    body = patch({"op": "add", "path": "members", "value": [{"value": "m" * 401}]})
    with hooked(Requests()) as made:
        err = scim_error(lambda: res.patch(GROUPS, tenant_id, "any", body, None))
    assert (err.status, err.scim_type) == (400, "invalidValue")
    assert made.seen == []


def test_a_user_patch_is_one_read_and_one_write(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "p@example.com")
    with hooked(Requests()) as made:
        stored = res.patch(USERS, tenant_id, uid,
                           patch({"op": "replace", "path": "title", "value": "New"}), None)
    assert made.seen == ["GET", "batch"]
    assert stored is not None
    assert stored.doc["title"] == "New"


def test_a_patch_that_changes_nothing_writes_nothing(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "same@example.com", title="Same")
    before = res.get(USERS, tenant_id, uid)
    with hooked(Requests()) as made:
        stored = res.patch(USERS, tenant_id, uid,
                           patch({"op": "replace", "path": "title", "value": "Same"}), None)
    assert made.seen == ["GET"]
    assert stored == before


def test_a_patch_raced_by_another_writer_keeps_both_changes(res: Resources,
                                                            tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "both@example.com")

    def theirs() -> None:
        res.patch(USERS, tenant_id, uid,
                  patch({"op": "add", "path": "displayName", "value": "Theirs"}), None)

    with hooked(Interleaved(theirs)) as other:
        res.patch(USERS, tenant_id, uid,
                  patch({"op": "add", "path": "title", "value": "Mine"}), None)
    assert other.made == 1
    doc = res.get(USERS, tenant_id, uid).doc
    assert (doc["displayName"], doc["title"]) == ("Theirs", "Mine")


def test_a_group_patch_under_if_match_reads_and_answers_the_group(res: Resources,
                                                                  tenant_id: str) -> None:
    gid = new_group(res, tenant_id, "Cond", ["a"])
    etag = res.get(GROUPS, tenant_id, gid).etag
    stored = res.patch(GROUPS, tenant_id, gid,
                       patch({"op": "add", "path": "members", "value": [{"value": "b"}]}), etag)
    assert stored is not None
    assert stored.etag == res.get(GROUPS, tenant_id, gid).etag != etag
    assert sorted(res.directory.members(tenant_id, gid)) == ["a", "b"]
    err = scim_error(lambda: res.patch(GROUPS, tenant_id, gid, patch(
        {"op": "add", "path": "members", "value": [{"value": "c"}]}), etag))
    assert err.status == 412


def test_writers_that_never_stop_end_in_503_with_retry_after(
        res: Resources, tenant_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the write budget is spent. It is shortened here; a request deadline would do the
    same, but could also cut a storage call short (a 503 of another kind)."""
    monkeypatch.setattr(resources, "_WRITE_BUDGET_SECONDS", 0.5)
    uid = new_user(res, tenant_id, "busy@example.com")
    body = patch({"op": "add", "path": "title", "value": "Mine"})
    started = time.monotonic()
    with hooked(Interleaved(touch(res, tenant_id, layout.USER, uid), times=10_000)) as other:
        err = scim_error(lambda: res.patch(USERS, tenant_id, uid, body, None))
    assert time.monotonic() - started < 0.5 + 0.25 + SLACK  # the budget, and one last wait
    assert other.made >= 2
    assert err.status == 503
    assert err.headers == {"Retry-After": "1"}
    assert f"User {uid} is being changed by many requests at once" in err.detail
    assert "title" not in res.get(USERS, tenant_id, uid).doc


# --------------------------------------------------------------------------------------------
# Delete
# --------------------------------------------------------------------------------------------


def test_a_delete_removes_the_resource_and_its_index_rows(res: Resources,
                                                          tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "gone@example.com", externalId="x-1")
    res.delete(USERS, tenant_id, uid, None)
    assert res.directory.get(tenant_id, layout.USER, uid) is None
    assert res.directory.lookup_unique(tenant_id, "UN", "gone@example.com") is None
    assert res.directory.lookup_multi(tenant_id, "UX", "x-1") == []
    err = scim_error(lambda: res.delete(USERS, tenant_id, uid, None))
    assert err.status == 404


def test_a_delete_under_a_stale_if_match_is_412(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "kept@example.com")
    err = scim_error(lambda: res.delete(USERS, tenant_id, uid, 'W/"stale"'))
    assert err.status == 412
    assert res.directory.get(tenant_id, layout.USER, uid) is not None


def test_a_delete_raced_by_a_change_is_retried(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "del-race@example.com")
    with hooked(Interleaved(touch(res, tenant_id, layout.USER, uid))) as other:
        res.delete(USERS, tenant_id, uid, None)
    assert other.made == 1
    assert res.directory.get(tenant_id, layout.USER, uid) is None


def test_a_delete_raced_by_another_delete_is_done_as_asked(res: Resources,
                                                           tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "twice@example.com")
    with hooked(Interleaved(lambda: res.delete(USERS, tenant_id, uid, None))) as other:
        res.delete(USERS, tenant_id, uid, None)  # no 404: the user is gone, as asked
    assert other.made == 1
    assert res.directory.get(tenant_id, layout.USER, uid) is None


class ChangedThenDeleted:
    """Another writer changes the resource before our delete's transaction (which then fails
    its ETag condition), and deletes it before our next read of it."""

    def __init__(self, res: Resources, tenant: str, uid: str) -> None:
        self.res, self.tenant, self.uid = res, tenant, uid
        self.thread = threading.get_ident()
        self.step = "change"
        self.inside = False

    def __call__(self, request: Any, send: Any) -> Any:
        if threading.get_ident() == self.thread and not self.inside:
            self.inside = True
            try:
                if self.step == "change" and "$batch" in request.url:
                    touch(self.res, self.tenant, layout.USER, self.uid)()
                    self.step = "delete"
                elif self.step == "delete" and request.method == "GET":
                    self.res.delete(USERS, self.tenant, self.uid, None)
                    self.step = "done"
            finally:
                self.inside = False
        return send(request)


def test_a_delete_retried_after_a_change_finds_it_deleted_and_is_done(
        res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "retried@example.com")
    with hooked(ChangedThenDeleted(res, tenant_id, uid)) as other:
        res.delete(USERS, tenant_id, uid, None)  # no 404 for a retry's read
    assert other.step == "done"
    assert res.directory.get(tenant_id, layout.USER, uid) is None


def test_remove_of_a_resource_already_gone_is_quiet(res: Resources, tenant_id: str) -> None:
    uid = new_user(res, tenant_id, "purged@example.com")
    current = res.get(USERS, tenant_id, uid)
    res.remove(USERS, tenant_id, current)
    res.remove(USERS, tenant_id, current)
    assert res.directory.get(tenant_id, layout.USER, uid) is None



# --------------------------------------------------------------------------------------------
# Undeclared attributes told to the registry
# --------------------------------------------------------------------------------------------

CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


class Noted:
    """A registry stand-in that records what it is told, in order with the storage requests
    of this thread (so "after the commit" is visible), and can be made to fail."""

    def __init__(self, made: Requests, fail: bool = False) -> None:
        self.made, self.fail = made, fail
        self.calls: list[tuple[str, str, list[tuple[str, str]]]] = []

    def __call__(self, tenant: str, resource_type: str, names: list[tuple[str, str]]) -> None:
        self.made.seen.append("note")
        self.calls.append((tenant, resource_type, names))
        if self.fail:
            raise RuntimeError("registry down")


def noting(res: Resources, noted: Noted) -> Resources:
    return Resources(res.directory, res.base_url, event_type_prefix=res.changes.type_prefix,
                     note_undeclared=noted)


def test_undeclared_attributes_are_noted_after_the_write_commits(
        res: Resources, tenant_id: str) -> None:
    made = Requests()
    noted = Noted(made)
    mine = noting(res, noted)
    with hooked(made):
        stored, _ = mine.create(USERS, tenant_id, {"schemas": [USER], "userName": "n",
                                                   CUSTOM: {"CustomAttribute": "701984"},
                                                   "fooBar": 7})
    assert made.seen == ["batch", "note"]
    [(tenant, rtype, names)] = noted.calls
    assert (tenant, rtype) == (tenant_id, "User")
    assert sorted(names) == [("fooBar", "number"), (f"{CUSTOM}:CustomAttribute", "string")]
    # A PATCH notes what it changed, not what it carried untouched.
    noted.calls.clear()
    mine.patch(USERS, tenant_id, stored.id, patch(
        {"op": "replace", "path": "fooBar", "value": [1]}), None)
    assert noted.calls == [(tenant_id, "User", [("fooBar", "array")])]
    noted.calls.clear()
    mine.patch(USERS, tenant_id, stored.id, patch(
        {"op": "replace", "path": "title", "value": "t"}), None)
    assert noted.calls == []
    # A PUT restates them all.
    mine.replace(USERS, tenant_id, stored.id, {"schemas": [USER], "userName": "n",
                                              CUSTOM: {"CustomAttribute": "1"}}, None)
    assert noted.calls == [(tenant_id, "User", [(f"{CUSTOM}:CustomAttribute", "string")])]


def test_nothing_is_noted_without_undeclared_attributes_or_for_a_failed_write(
        res: Resources, tenant_id: str) -> None:
    noted = Noted(Requests())
    mine = noting(res, noted)
    new_user(mine, tenant_id, "plain")
    with pytest.raises(ScimError):  # userName taken: nothing stored, nothing noted
        mine.create(USERS, tenant_id, {"schemas": [USER], "userName": "plain", "fooBar": 1})
    assert noted.calls == []


def test_a_failing_registry_never_fails_the_write(res: Resources, tenant_id: str) -> None:
    noted = Noted(Requests(), fail=True)
    stored, _ = noting(res, noted).create(USERS, tenant_id, {"schemas": [USER],
                                                             "userName": "n", "fooBar": 1})
    assert len(noted.calls) == 1
    assert res.get(USERS, tenant_id, stored.id).doc["fooBar"] == 1
