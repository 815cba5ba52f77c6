"""The table layout (shared.store.layout): the stored format is pinned, every key lies in its
prefix's range and in no other, keys read back to what built them, and the id check accepts
exactly what the id generator emits."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.store import keys, layout
from shared.store.layout import GROUP, USER

# Any code point, the halves of surrogate pairs included (ids in paths, filters' JSON escapes).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                 blacklist_categories=()), max_size=40)
long_text = st.text(min_size=120, max_size=200).map(lambda t: t * 4)  # stored by digest
values = any_text | long_text
kinds = st.sampled_from(layout.RESOURCE_KINDS)
indexes = st.sampled_from(list(layout.INDEXES.values()))


def in_range(row_key: str, prefix: str) -> bool:
    low, high = keys.prefix_range(prefix)
    return low <= row_key < high


# -- the stored format ---------------------------------------------------------------------------

def test_the_stored_format_is_pinned() -> None:
    """Rows already stored are read with these keys: changing one needs a migration."""
    assert [layout.resource_key(USER, "u1"), layout.resource_key(GROUP, "g1")] == [
        "U:u1", "G:g1"]
    assert {i.name: (i.owner, i.unique) for i in layout.INDEXES.values()} == {
        "UN": ("U", True), "UX": ("U", False), "UE": ("U", False),
        "GN": ("G", True), "GX": ("G", False), "XU": ("U", True), "XG": ("G", True)}
    assert layout.unique_key("UN", "alice") == "UN:alice"
    assert layout.multi_key("UX", "e 1", "u1") == "UX:e 1:u1"
    assert layout.multi_prefix("UE", "a@x.test") == "UE:a@x.test:"
    assert layout.member_key("g1", "u1") == "M:g1:u1"
    assert layout.reverse_member_key("u1", "g1") == "R:u1:g1"
    assert layout.journal_key("abc") == "J:abc"
    assert layout.journal_part_key("J:abc", 7) == "J:abc:0007"
    assert layout.event_key("e1") == "E:e1"
    assert layout.dead_letter_key("e1") == "DL:e1"
    assert layout.deployment_event_key("e1") == "D:e1"
    assert layout.deployment_dead_letter_key("e1") == "DLD:e1"
    assert layout.published_key(26) == "P:00000000001a"
    assert layout.published_index_key("e1") == "PX:e1"
    assert layout.PUBLISH_COUNTER == "C:pub"
    assert layout.TENANT_ROW == "tenant"
    assert layout.token_use_key("t1") == "use:t1"
    assert layout.undeclared_key("User", "urn:x:2.0:User:Attr") == (
        "attr:User:urn%3Ax%3A2.0%3Auser%3Aattr")
    assert layout.UNDECLARED_OVERFLOW_ROW == "attr-overflow"
    assert (layout.FEED_TOKENS_PARTITION, layout.feed_token_key("a1")) == ("~feed", "token:a1")
    assert layout.LAST_RUN == ("reconcile", "last")
    assert (layout.MARKS_PARTITION, layout.repair_mark("t1"), layout.AUDIT_SWEEP_MARK) == (
        "marks", "repair:t1", "audit-sweep")
    assert layout.unique_key(layout.declared_index(
        layout.USER_DECLARED, "urn:x:Ext:2.0:User:Badge"), "b-1") == (
        "XU:urn%3Ax%3Aext%3A2.0%3Auser%3Abadge:b-1")
    # Attribute names are case-insensitive (RFC 7643 §2.1): one index however spelled.
    assert layout.declared_index(layout.USER_DECLARED, "URN:X:Ext:2.0:User:BADGE") == (
        layout.declared_index(layout.USER_DECLARED, "urn:x:ext:2.0:user:badge"))
    assert {"U", "G", "UN", "UX", "UE", "GN", "GX", "XU", "XG", "M", "R", "J", "E", "DL",
            "D", "DLD", "P", "PX", "C", "Q"} == (
        layout.DATA_TAGS)


def test_no_tag_range_overlaps_another() -> None:
    tags = sorted(layout.DATA_TAGS)
    assert all(layout.SEPARATOR not in t for t in tags)
    for a, b in itertools.permutations(tags, 2):
        prefix = a + layout.SEPARATOR
        assert not in_range(b + layout.SEPARATOR, prefix)
        assert not in_range(b + layout.SEPARATOR + "x", prefix)


@given(values, values)
def test_every_data_key_lies_in_the_data_keys_range(value: str, other: str) -> None:
    """A walk of a tenant's partition reads [DATA_KEYS_LOW, DATA_KEYS_HIGH) only."""
    assert all(re.fullmatch("[A-Z]+", tag) for tag in layout.DATA_TAGS)
    built = [layout.resource_key(USER, value), layout.resource_key(GROUP, value),
             layout.member_key(value, other), layout.reverse_member_key(value, other),
             layout.unique_key(layout.USER_NAME.name, value),
             layout.multi_key(layout.GROUP_EXTERNAL_ID.name, value, other),
             layout.published_key(0), layout.DELIVERY_MARK, layout.PUBLISH_COUNTER,
             *(tag + layout.SEPARATOR + keys.escape(value) for tag in layout.DATA_TAGS)]
    for key in built:
        assert layout.DATA_KEYS_LOW <= key < layout.DATA_KEYS_HIGH, key


def test_token_use_rows_and_the_tenant_row_are_apart() -> None:
    assert not in_range(layout.TENANT_ROW, layout.TOKEN_USE_PREFIX)
    assert in_range(layout.token_use_key("x"), layout.TOKEN_USE_PREFIX)


@given(st.sampled_from(["User", "Group"]), values)
def test_undeclared_rows_lie_in_their_range_whatever_the_case(resource_type: str,
                                                               path: str) -> None:
    key = layout.undeclared_key(resource_type, path)
    assert in_range(key, layout.UNDECLARED_PREFIX)
    ascii_upper = "".join(c.upper() if c.isascii() else c for c in path)
    assert key == layout.undeclared_key(resource_type, ascii_upper)
    assert key != layout.undeclared_key("Group" if resource_type == "User" else "User", path)
    for other in (layout.TENANT_ROW, layout.token_use_key("x"),
                  layout.UNDECLARED_OVERFLOW_ROW):
        assert not in_range(other, layout.UNDECLARED_PREFIX)
    assert not in_range(key, layout.TOKEN_USE_PREFIX)


# -- data table: keys in their ranges, read back ---------------------------------------------------

@given(st.sampled_from([layout.USER_DECLARED, layout.GROUP_DECLARED]), values, values, values)
def test_declared_unique_keys_name_their_attribute_and_no_other(
        index: layout.Index, path: str, other: str, value: str) -> None:
    """A 409 on a declared attribute's row must say which attribute: the row key gives back
    the index name it was made from, path included, whatever the path and value."""
    assume(keys.escape(path.lower()) != keys.escape(other.lower()))
    name = layout.declared_index(index, path)
    key = layout.unique_key(name, value)
    assert layout.index_of(key) is index
    assert layout.unique_index_name(key) == name
    assert layout.unique_index_name(key) != layout.declared_index(index, other)


def test_unique_index_name_of_other_rows_is_their_tag() -> None:
    assert layout.unique_index_name(layout.unique_key("UN", "a:b")) == "UN"
    assert layout.unique_index_name(layout.multi_key("UX", "a", "u1")) == "UX"
    assert layout.unique_index_name(layout.member_key("g1", "u1")) == "M"


@given(kinds, values)
def test_resource_keys_round_trip_and_stay_in_their_kind(kind: str, rid: str) -> None:
    key = layout.resource_key(kind, rid)
    assert layout.tag(key) == kind
    assert layout.is_resource_key(key)
    assert in_range(key, layout.resource_prefix(kind))
    other = GROUP if kind == USER else USER
    assert not in_range(key, layout.resource_prefix(other))
    assert layout.index_of(key) is None
    assert not layout.is_event_key(key)
    if keys.round_trips(rid):
        assert layout.parse_resource_key(key) == (kind, rid)


@given(indexes, values, values, values)
def test_index_keys_lie_in_their_value_range_only(index: layout.Index, value: str, other: str,
                                                  rid: str) -> None:
    assume(keys.escape(value) != keys.escape(other))
    key = (layout.unique_key(index.name, value) if index.unique
           else layout.multi_key(index.name, value, rid))
    assert layout.index_of(key) is index
    assert layout.tag(key) == index.name
    assert not layout.is_resource_key(key)
    if not index.unique:
        assert in_range(key, layout.multi_prefix(index.name, value))
        assert not in_range(key, layout.multi_prefix(index.name, other))
    for name in layout.DATA_TAGS - {index.name}:
        assert not in_range(key, name + layout.SEPARATOR)
    if keys.round_trips(value):
        assert keys.unescape(key.split(layout.SEPARATOR)[1]) == value


@given(values, values, values)
def test_membership_keys_round_trip_and_twin(gid: str, mid: str, other: str) -> None:
    row, twin = layout.member_key(gid, mid), layout.reverse_member_key(mid, gid)
    assert layout.membership_twin(row) == twin  # exact even for values stored by digest
    assert layout.membership_twin(twin) == row
    assert in_range(row, layout.members_prefix(gid))
    assert in_range(twin, layout.groups_prefix(mid))
    assert not in_range(row, layout.groups_prefix(gid))
    if keys.escape(other) != keys.escape(gid):
        assert not in_range(row, layout.members_prefix(other))
    if keys.escape(other) != keys.escape(mid):
        assert not in_range(twin, layout.groups_prefix(other))
    if keys.round_trips(gid) and keys.round_trips(mid):
        assert layout.membership_pair(row) == (gid, mid)
        assert layout.membership_pair(twin) == (mid, gid)


@given(st.uuids().map(lambda u: u.hex), st.integers(min_value=1, max_value=9999))
def test_journal_keys_name_their_head(jid: str, n: int) -> None:
    head = layout.journal_key(jid)
    part = layout.journal_part_key(head, n)
    assert layout.journal_head(head) == (head, False)
    assert layout.journal_head(part) == (head, True)
    assert in_range(head, layout.JOURNAL_PREFIX)
    assert in_range(part, layout.JOURNAL_PREFIX)
    assert layout.tag(part) == layout.JOURNAL


@given(st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1,
               max_size=40))
def test_event_keys_round_trip(event_id: str) -> None:
    pending, dead = layout.event_key(event_id), layout.dead_letter_key(event_id)
    assert layout.event_id(pending) == layout.event_id(dead) == event_id
    assert layout.is_event_key(pending)
    assert not layout.is_event_key(dead)
    assert in_range(pending, layout.EVENT_PREFIX)
    assert not in_range(dead, layout.EVENT_PREFIX)
    assert in_range(dead, layout.DEAD_LETTER_PREFIX)
    assert layout.token_of_use(layout.token_use_key(event_id)) == event_id
    for key in (layout.deployment_event_key(event_id),
                layout.deployment_dead_letter_key(event_id)):
        assert layout.event_id(key) == event_id
        assert not layout.is_event_key(key)
        assert not in_range(key, layout.EVENT_PREFIX)


@given(st.integers(min_value=0, max_value=16**12 - 1), st.integers(min_value=0,
                                                                   max_value=16**12 - 1))
def test_published_keys_sort_by_seq_and_round_trip(a: int, b: int) -> None:
    assert layout.published_seq(layout.published_key(a)) == a
    assert (layout.published_key(a) < layout.published_key(b)) == (a < b)
    assert in_range(layout.published_key(a), layout.PUBLISHED_PREFIX)


# -- audit table -----------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.just(UTC))


@given(moments, moments)
def test_audit_rows_read_newest_first_and_the_boundary_splits_them(a: datetime,
                                                                   b: datetime) -> None:
    older, newer = sorted((a, b))
    assume(newer - older >= timedelta(microseconds=1))
    assert layout.audit_row_key(newer) < layout.audit_row_key(older)
    assert layout.audit_row_key(newer) <= layout.audit_boundary(newer)
    assert layout.audit_row_key(older) > layout.audit_boundary(newer)


@given(values)
def test_any_tenant_text_names_an_audit_partition(tenant: str) -> None:
    partition = layout.audit_partition(tenant)
    assert partition
    assert len(partition) <= 200
    assert not re.search("[/\\\\#?\x00-\x1f]", partition)


# -- resource ids ----------------------------------------------------------------------------------

now_ms = int(time.time() * 1000)
issued_millis = st.integers(min_value=layout.ID_EPOCH_MS, max_value=now_ms)
random_parts = st.binary(min_size=layout.ID_RANDOM_BYTES, max_size=layout.ID_RANDOM_BYTES)


@given(issued_millis, random_parts)
def test_every_id_the_generator_emits_is_recognised(millis: int, random: bytes) -> None:
    rid = layout.format_id(millis, random)
    assert layout.is_generated_id(rid)
    assert layout.id_millis(rid) == millis
    assert keys.escape(rid) == rid  # stored as is: RowKey order is id order


def test_new_ids_are_recognised_and_sort_by_creation() -> None:
    ids = [layout.new_id() for _ in range(50)]
    assert all(layout.is_generated_id(rid) for rid in ids)
    assert [layout.id_millis(rid) for rid in ids] == sorted(layout.id_millis(r) for r in ids)
    assert len(set(ids)) == len(ids)


def _generator_can_emit(value: str) -> bool:
    """The inverse of `format_id`: whether some issue time (on any instance, whose clock may
    run ahead) and random part give exactly `value`."""
    try:
        millis = int(value[:layout.ID_TIME_DIGITS], 16)
        random = bytes.fromhex(value[layout.ID_TIME_DIGITS:])
    except ValueError:
        return False
    latest = int(time.time() * 1000) + layout.ID_CLOCK_SLACK_MS
    return (len(random) == layout.ID_RANDOM_BYTES and layout.ID_EPOCH_MS <= millis <= latest
            and layout.format_id(millis, random) == value)


@st.composite
def id_candidates(draw: st.DrawFn) -> str:
    """Ids issued at any time, from long before the epoch to well after now, some changed
    in one character, shortened or lengthened."""
    latest = now_ms + layout.ID_CLOCK_SLACK_MS
    millis = draw(st.integers(min_value=layout.ID_EPOCH_MS - 10**9, max_value=latest + 10**9)
                  | st.integers(min_value=0, max_value=16**layout.ID_TIME_DIGITS - 1))
    assume(abs(millis - latest) > 600_000)  # clear of the edge, which moves with the clock
    rid = layout.format_id(millis, draw(random_parts))
    change = draw(st.sampled_from(["none", "replace", "drop", "add"]))
    at = draw(st.integers(min_value=0, max_value=len(rid) - 1))
    char = draw(st.sampled_from("0123456789abcdefABCDEFg:_+ -\x00\u0660"))
    if change == "replace":
        rid = rid[:at] + char + rid[at + 1:]
    elif change == "drop":
        rid = rid[:at] + rid[at + 1:]
    elif change == "add":
        rid = rid[:at] + char + rid[at:]
    return rid


@given(id_candidates() | any_text)
def test_the_id_check_accepts_exactly_what_the_generator_can_emit(value: str) -> None:
    assert layout.is_generated_id(value) is _generator_can_emit(value)


@given(issued_millis, random_parts)
def test_changed_ids_are_not_recognised(millis: int, random: bytes) -> None:
    rid = layout.format_id(millis, random)
    assert not layout.is_generated_id(rid.upper()) or rid == rid.upper()
    assert not layout.is_generated_id(" " + rid[1:])
    assert not layout.is_generated_id(rid[:-1])
    assert not layout.is_generated_id(rid + "0")
    assert not layout.is_generated_id(rid[:-1] + "g")


@pytest.mark.parametrize("millis", [0, layout.ID_EPOCH_MS - 1, now_ms + 2 * 86_400_000],
                         ids=["zero", "before-epoch", "two-days-ahead"])
def test_ids_from_outside_the_service_lifetime_are_not_recognised(millis: int) -> None:
    assert not layout.is_generated_id(layout.format_id(millis, bytes(layout.ID_RANDOM_BYTES)))


@settings(max_examples=300)
@given(tenant=st.text(max_size=300), other=st.text(max_size=300))
def test_a_tenants_counters_partition_is_never_an_audit_partition(tenant: str,
                                                                  other: str) -> None:
    """Audit partitions are escaped text (no `:`; a digest is `~` and hex): the counters'
    `~stats:` partitions can be no tenant's entries, and two tenants never share one."""
    assert layout.stats_partition(tenant) != layout.audit_partition(other)
    if layout.audit_partition(tenant) != layout.audit_partition(other):
        assert layout.stats_partition(tenant) != layout.stats_partition(other)


def test_counter_keys_sort_and_purge_as_entries_of_their_hours_end() -> None:
    end = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    key = layout.stats_row_key(end, "abcd1234")
    assert len(key) == len(layout.audit_row_key(end))
    assert layout.audit_boundary(end + timedelta(microseconds=1)) < key  # purged after it
    assert key < layout.audit_boundary(end)  # kept while its hour's end is not older
    assert layout.stats_row_key(end + timedelta(hours=1), "a") < key  # newest first
