"""shared.service.listing: which filters are answered by index and point reads and which by a
scan of the tenant, how startIndex and cursor pages are planned, and the errors for what is
not supported.

The plan is only visible in the storage requests it makes, so every request to the tenant's
partition of the data table is observed on its way to Azurite (a transport hook: the requests
are real and answered by Azurite, only recorded) and classified as a point read of one row
or a range read of a RowKey interval."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.scim.schema import INTEGER, Attribute, Schema
from shared.scim.schemas import GROUP as GROUP_TYPE
from shared.scim.schemas import USER as USER_TYPE
from shared.service.app import ScimService
from shared.service.kinds import GROUPS, USERS, Kind, TenantKinds
from shared.service.listing import (
    Lister,
    Query,
    decode_cursor,
    encode_cursor,
    parse_paging,
)
from shared.service.resources import View
from shared.store.wire import Request, Response, Send
from tests.support.storage_faults import hooked

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NO_MEMBERS = View(excluded=["members"])  # group pages without their member lists
_POINT = re.compile(r"\(PartitionKey='((?:[^']|'')*)',RowKey='((?:[^']|'')*)'\)$")
_RANGE = re.compile(r"PartitionKey eq '((?:[^']|'')*)' and RowKey ge '((?:[^']|'')*)' and "
                    r"RowKey lt '((?:[^']|'')*)'")


# --------------------------------------------------------------------------------------------
# Observing the plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    low: str
    high: str
    select: str | None  # "RowKey" for a keys-only walk, None for whole documents
    top: int | None


class StorageReads:
    """The reads of one tenant's partition in the data table, in the order they were sent."""

    def __init__(self, table: str, tenant: str) -> None:
        self.table, self.tenant = table, tenant
        self.points: list[str] = []  # RowKeys read one by one
        self.ranges: list[Range] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request, send: Send) -> Response:
        if request.method == "GET":
            self._record(request)
        return send(request)

    def _record(self, request: Request) -> None:
        parts = urlsplit(request.url)
        path = unquote(parts.path)
        name = path.rsplit("/", 1)[-1]
        point = _POINT.search(name)
        if point and name.startswith(self.table + "(") and _odata(point[1]) == self.tenant:
            with self._lock:
                self.points.append(_odata(point[2]))
            return
        if name != self.table + "()":
            return
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        found = _RANGE.search(query.get("$filter", ""))
        if found and _odata(found[1]) == self.tenant:
            top = query.get("$top")
            with self._lock:
                self.ranges.append(Range(_odata(found[2]), _odata(found[3]),
                                         query.get("$select"), int(top) if top else None))

    def point_prefixes(self) -> list[str]:
        """The kind of each point read: `U`, `G` (a resource), `UN`, `GN` (a unique index
        entry), `M` (one membership)."""
        return [p.split(":", 1)[0] for p in self.points]

    def scans(self, kind: Kind) -> list[Range]:
        """Reads of every resource of the kind (documents, from the first)."""
        return [r for r in self.ranges if (r.low, r.high) == (f"{kind.rows}:", f"{kind.rows};")
                and r.select is None]

    def walks(self, kind: Kind) -> list[Range]:
        """Keys-only reads of every resource id of the kind (counting, skipping)."""
        return [r for r in self.ranges if (r.low, r.high) == (f"{kind.rows}:", f"{kind.rows};")
                and r.select == "RowKey"]

    def resumed(self, kind: Kind) -> list[Range]:
        """Document range reads that start after a given id (a later page)."""
        return [r for r in self.ranges if r.high == f"{kind.rows};"
                and r.low.startswith(f"{kind.rows}:") and r.low != f"{kind.rows}:"]


def _odata(text: str) -> str:
    return text.replace("''", "'")


@pytest.fixture
def lister(scim_service: ScimService) -> Lister:
    return scim_service.lister


@contextmanager
def observed(service: ScimService, tenant: str) -> Iterator[StorageReads]:
    reads = StorageReads(service.settings.data_table, tenant)
    with hooked(reads):
        yield reads


def create(service: ScimService, kind: Kind, tenant: str, body: dict[str, Any]) -> str:
    stored, _ = service.resources.create(kind, tenant, body)
    return stored.id


def user(service: ScimService, tenant: str, name: str, **attrs: Any) -> str:
    return create(service, USERS, tenant, {"schemas": [USER], "userName": name, **attrs})


def group(service: ScimService, tenant: str, name: str, members: list[str]) -> str:
    return create(service, GROUPS, tenant, {"schemas": [GROUP], "displayName": name,
                                            "members": [{"value": m} for m in members]})


def listed(lister: Lister, kind: Kind, tenant: str, filt: str | None = None, *,
           start: int = 1, count: int = 100, cursor: str | None = None,
           view: View | None = None) -> dict[str, Any]:
    return lister.run(kind, tenant, Query(filt, start, count, view or View(), cursor=cursor))


def ids(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["Resources"]]


# --------------------------------------------------------------------------------------------
# Filters answered from the indexes
# --------------------------------------------------------------------------------------------


@pytest.fixture
def people(scim_service: ScimService, tenant_id: str) -> dict[str, str]:
    s, t = scim_service, tenant_id
    return {
        "ada": user(s, t, "ada.lovelace@contoso.example", externalId="EXT-1", title="Lead",
                    emails=[{"value": "Ada@Contoso.example", "type": "work"},
                            {"value": "ada@home.example", "type": "home"}]),
        "grace": user(s, t, "grace@contoso.example", externalId="shared", title="Lead"),
        "alan": user(s, t, "alan@contoso.example", externalId="shared", active=False),
        "strasse": user(s, t, "strasse@contoso.example", externalId="12345"),
    }


@pytest.mark.parametrize("filt", [
    'userName eq "ada.lovelace@contoso.example"',
    'userName eq "ADA.Lovelace@Contoso.EXAMPLE"',  # caseExact=false: one key for every case
    'USERNAME EQ "ada.lovelace@contoso.example"',  # attribute names and operators too
    f'{USER}:userName eq "ada.lovelace@contoso.example"',
])
def test_username_equality_is_one_index_read_and_one_point_read(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        filt: str) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, filt)
    assert ids(body) == [people["ada"]]
    assert body["totalResults"] == 1
    assert reads.points == ["UN:ada.lovelace@contoso.example", f"U:{people['ada']}"]
    assert reads.ranges == []


def test_an_unknown_username_costs_one_index_read(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, 'userName eq "nobody@contoso.example"')
    assert (body["totalResults"], body["Resources"]) == (0, [])  # Entra's zero-match probe
    assert (reads.points, reads.ranges) == (["UN:nobody@contoso.example"], [])


def test_a_miss_retries_the_legacy_key_and_rechecks_what_it_finds(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str]) -> None:
    # Full case folding made `straße` and `strasse` one key; the retry under that old key
    # finds strasse's row, and the re-check with today's comparison leaves it out.
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, 'userName eq "straße@contoso.example"')
    assert body["totalResults"] == 0
    assert reads.points == ["UN:straße@contoso.example", "UN:strasse@contoso.example",
                            f"U:{people['strasse']}"]
    assert reads.ranges == []


def test_id_equality_is_one_point_read(scim_service: ScimService, lister: Lister,
                                       tenant_id: str, people: dict[str, str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, f'id eq "{people["grace"]}"')
    assert ids(body) == [people["grace"]]
    assert (reads.points, reads.ranges) == ([f"U:{people['grace']}"], [])


@pytest.mark.parametrize(("filt", "value", "expected"), [
    ('externalId eq "EXT-1"', "EXT-1", ["ada"]),
    ('externalId eq "ext-1"', "ext-1", []),  # caseExact: another value, not folded
    ('externalId eq "shared"', "shared", ["grace", "alan"]),  # not unique: every holder
    ("externalId eq 12345", "12345", ["strasse"]),  # unquoted: the text as sent
])
def test_external_id_equality_is_one_index_range_then_point_reads(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        filt: str, value: str, expected: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, filt)
    assert sorted(ids(body)) == sorted(people[n] for n in expected)
    assert [(r.low, r.high, r.select) for r in reads.ranges] == [
        (f"UX:{value}:", f"UX:{value};", "ref")]
    assert sorted(reads.points) == sorted(f"U:{people[n]}" for n in expected)


@pytest.mark.parametrize("filt", [
    'emails[type eq "work"].value eq "ADA@contoso.EXAMPLE"',  # how Entra matches by email
    'emails[type eq "Work" and value eq "ada@contoso.example"]',
    'emails[value eq "ada@contoso.example" and type eq "work"] and title eq "Lead"',
])
def test_work_email_equality_reads_the_email_index(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        filt: str) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, filt)
    assert ids(body) == [people["ada"]]
    assert [(r.low, r.select) for r in reads.ranges] == [("UE:ada@contoso.example:", "ref")]
    assert reads.points == [f"U:{people['ada']}"]


@pytest.mark.parametrize(("filt", "first"), [
    # id, then the unique attribute, then externalId: the most selective term is read, the
    # others are checked in memory on what it found.
    ('externalId eq "EXT-1" and id eq "{ada}"', "U"),
    ('externalId eq "EXT-1" and userName eq "ada.lovelace@contoso.example"', "UN"),
])
def test_the_most_selective_equality_is_the_one_read(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        filt: str, first: str) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, filt.format(**people))
    assert ids(body) == [people["ada"]]
    assert reads.point_prefixes()[0] == first
    assert reads.ranges == []  # the externalId index is not read


def test_other_equalities_of_the_conjunction_are_checked_on_what_the_index_found(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id,
                      'userName eq "ada.lovelace@contoso.example" and externalId eq "shared"')
    assert body["totalResults"] == 0
    assert reads.point_prefixes() == ["UN", "U"]
    assert reads.ranges == []


BADGE_URN = "urn:ietf:params:scim:schemas:extension:Badges:2.0:User"
BADGE_USERS = TenantKinds.of(USER_TYPE.extended([Schema(BADGE_URN, "Badges", "", (
    Attribute("badge", uniqueness="server"),
    Attribute("serial", type=INTEGER, uniqueness="server"),
    Attribute("note")))]), GROUP_TYPE).users


@pytest.mark.parametrize(("filt", "key"), [
    (f'{BADGE_URN}:badge eq "B-7"', "b-7"),
    (f'{BADGE_URN.upper()}:BADGE eq "b-7"', "b-7"),  # names and caseExact=false values fold
    (f'{BADGE_URN}:serial eq 7', "7"),
    (f'{BADGE_URN}:serial eq 7 and userName eq "x@y"', None),  # userName is read first
])
def test_a_declared_unique_attributes_equality_reads_its_index(
        scim_service: ScimService, lister: Lister, tenant_id: str, filt: str,
        key: str | None) -> None:
    uid = create(scim_service, BADGE_USERS, tenant_id, {
        "schemas": [USER], "userName": "x@y", BADGE_URN: {"badge": "B-7", "serial": 7}})
    create(scim_service, BADGE_USERS, tenant_id, {
        "schemas": [USER], "userName": "z@y", BADGE_URN: {"badge": "B-8", "serial": 8}})
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, BADGE_USERS, tenant_id, filt)
    assert ids(body) == [uid]
    assert reads.ranges == []
    index = {d.attribute.name: d.index for d in BADGE_USERS.declared_unique}
    attr = "serial" if ":serial" in filt else "badge"
    expected = [f"{index[attr]}:{key}"] if key else ["UN:x@y"]
    assert reads.points == [*expected, f"U:{uid}"]


def test_a_declared_attribute_without_uniqueness_is_scanned(
        scim_service: ScimService, lister: Lister, tenant_id: str) -> None:
    uid = create(scim_service, BADGE_USERS, tenant_id, {
        "schemas": [USER], "userName": "x@y", BADGE_URN: {"note": "n"}})
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, BADGE_USERS, tenant_id, f'{BADGE_URN}:note eq "n"')
    assert ids(body) == [uid]
    assert len(reads.scans(BADGE_USERS)) == 1


# --------------------------------------------------------------------------------------------
# Filters answered by a scan
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("filt", "expected"), [
    ('title eq "Lead"', ["ada", "grace"]),  # not indexed
    ('userName sw "ADA"', ["ada"]),  # not an equality
    ('userName eq "grace@contoso.example" or externalId eq "12345"', ["grace", "strasse"]),
    ('not (externalId eq "shared")', ["ada", "strasse"]),
    ('userName eq "ada.lovelace@contoso.example" and title sw "L"', ["ada"]),  # one term not eq
    ("title eq null", ["alan", "strasse"]),  # eq null means "absent": not in any index
    ("active eq false", ["alan"]),
    ('emails[type eq "home"].value eq "ada@home.example"', ["ada"]),  # only work is indexed
    ('nickName eq "x" or title pr', ["ada", "grace"]),
])
def test_other_filters_scan_the_tenant_once_and_match_in_memory(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        filt: str, expected: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, filt)
    assert sorted(ids(body)) == sorted(people[n] for n in expected)
    assert ids(body) == sorted(ids(body))  # id order, as the scan reads them
    assert len(reads.scans(USERS)) == 1
    assert reads.ranges == reads.scans(USERS)
    assert reads.points == []


def test_unfiltered_and_filtered_listings_agree(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str]) -> None:
    everyone = ids(listed(lister, USERS, tenant_id))
    assert everyone == sorted(people.values())
    indexed = [u for u in everyone
               if ids(listed(lister, USERS, tenant_id, f'id eq "{u}"')) == [u]]
    assert indexed == everyone


# --------------------------------------------------------------------------------------------
# Groups: displayName and Entra's membership check
# --------------------------------------------------------------------------------------------


@pytest.fixture
def teams(scim_service: ScimService, tenant_id: str, people: dict[str, str]) -> dict[str, str]:
    s, t = scim_service, tenant_id
    return {"staff": group(s, t, "Staff", [people["ada"], people["grace"]]),
            "board": group(s, t, "Board", [people["grace"]])}


def test_display_name_equality_reads_the_group_index(
        scim_service: ScimService, lister: Lister, tenant_id: str, teams: dict[str, str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id, 'displayName eq "STAFF"', view=NO_MEMBERS)
    assert ids(body) == [teams["staff"]]
    assert reads.points == ["GN:staff", f"G:{teams['staff']}"]
    assert reads.ranges == []


@pytest.mark.parametrize(("member", "found"), [("ada", True), ("alan", False)])
def test_entras_membership_check_is_point_reads_only(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        teams: dict[str, str], member: str, found: bool) -> None:
    gid, uid = teams["staff"], people[member]
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id, f'id eq "{gid}" and members eq "{uid}"',
                      view=NO_MEMBERS)
    assert ids(body) == ([gid] if found else [])
    assert reads.points == [f"G:{gid}", f"M:{gid}:{uid}"]
    assert reads.ranges == []  # the group's member list is never read


def test_members_value_is_the_same_membership_check(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        teams: dict[str, str]) -> None:
    gid, uid = teams["staff"], people["ada"]
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id,
                      f'displayName eq "Staff" and members.value eq "{uid}"', view=NO_MEMBERS)
    assert ids(body) == [gid]
    assert reads.points == ["GN:staff", f"G:{gid}", f"M:{gid}:{uid}"]


def test_members_alone_scans_the_groups_and_checks_each_membership(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        teams: dict[str, str]) -> None:
    uid = people["grace"]
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id, f'members eq "{uid}"', view=NO_MEMBERS)
    assert sorted(ids(body)) == sorted(teams.values())
    assert reads.ranges == reads.scans(GROUPS)
    assert len(reads.ranges) == 1
    assert sorted(reads.points) == sorted(f"M:{g}:{uid}" for g in teams.values())


def test_a_member_value_filter_reads_each_groups_members(
        scim_service: ScimService, lister: Lister, tenant_id: str, people: dict[str, str],
        teams: dict[str, str]) -> None:
    uid = people["ada"]
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id, f'members[value eq "{uid}"]', view=NO_MEMBERS)
    assert ids(body) == [teams["staff"]]
    assert len(reads.scans(GROUPS)) == 1
    member_lists = sorted(r.low for r in reads.ranges if r.low.startswith("M:"))
    assert member_lists == sorted(f"M:{g}:" for g in teams.values())
    assert reads.points == []


# --------------------------------------------------------------------------------------------
# Refused filters and cursors: a 400 before any storage read
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "filt", "cursor", "scim_type", "detail"), [
    (USERS, "userName eq", None, "invalidFilter", "Expected a value after 'eq'"),
    (USERS, 'userName eq "a" and', None, "invalidFilter", ""),
    (USERS, "active gt true", None, "invalidFilter", "cannot be ordered"),
    (USERS, 'urn:example:unknown:userName eq "a"', None, "invalidFilter", "Unknown schema URN"),
    (USERS, 'title[value eq "x"]', None, "invalidFilter", "only to complex attributes"),
    (USERS, 'meta.created gt "yesterday"', None, "invalidFilter", "ISO 8601"),
    (USERS, None, "not-a-cursor!", "invalidCursor", "start again without a cursor"),
    (USERS, 'title eq "x"', "bm9wZQ", "invalidCursor", "/Users"),  # base64 of "nope"
    (GROUPS, None, encode_cursor(USERS, "0" * 32), "invalidCursor", "/Groups"),
])
def test_unsupported_input_is_a_400_without_a_storage_read(
        scim_service: ScimService, lister: Lister, tenant_id: str, kind: Kind, filt: str | None,
        cursor: str | None, scim_type: str, detail: str) -> None:
    with observed(scim_service, tenant_id) as reads, pytest.raises(ScimError) as caught:
        listed(lister, kind, tenant_id, filt, cursor=cursor)
    assert (caught.value.status, caught.value.scim_type) == (400, scim_type)
    assert detail in caught.value.detail
    assert (reads.points, reads.ranges) == ([], [])


# --------------------------------------------------------------------------------------------
# startIndex pages and cursor pages, unfiltered
# --------------------------------------------------------------------------------------------


@pytest.fixture
def five(scim_service: ScimService, tenant_id: str) -> list[str]:
    return sorted(user(scim_service, tenant_id, f"u{n}@contoso.example") for n in range(5))


def test_a_first_page_that_is_also_the_last_needs_no_count(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, count=10)
    assert (ids(body), body["totalResults"]) == (five, 5)
    assert "nextCursor" not in body
    assert [r.top for r in reads.ranges] == [11]  # one read of count+1 documents
    assert reads.ranges == reads.scans(USERS)


def test_a_first_page_with_more_behind_it_counts_with_a_keys_only_walk(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, count=2)
    assert (ids(body), body["totalResults"], body["itemsPerPage"]) == (five[:2], 5, 2)
    assert decode_cursor(USERS, body["nextCursor"]) == five[1]
    assert [r.top for r in reads.scans(USERS)] == [3]
    assert len(reads.walks(USERS)) == 1
    assert reads.points == []


@pytest.mark.parametrize(("start", "expected", "more"), [
    (3, slice(2, 4), True), (4, slice(3, 5), False), (5, slice(4, 5), False)])
def test_a_later_page_reads_only_its_documents_after_the_id_before_it(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str],
        start: int, expected: slice, more: bool) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, start=start, count=2)
    assert (ids(body), body["totalResults"], body["startIndex"]) == (five[expected], 5, start)
    assert ("nextCursor" in body) is more
    assert len(reads.walks(USERS)) == 1  # to find the id before the page, and the total
    [page] = reads.resumed(USERS)
    assert (page.low, page.top) == (f"U:{five[start - 2]}\x00", 3)
    assert reads.scans(USERS) == []


@pytest.mark.parametrize(("start", "count"), [(9, 2), (1, 0), (6, 0)])
def test_a_page_past_the_end_or_of_zero_reads_no_document(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str],
        start: int, count: int) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, start=start, count=count)
    assert (body["Resources"], body["totalResults"], body["itemsPerPage"]) == ([], 5, 0)
    assert "nextCursor" not in body
    assert reads.ranges == reads.walks(USERS)
    assert len(reads.ranges) == 1


def test_an_empty_tenant_is_one_read(scim_service: ScimService, lister: Lister,
                                     tenant_id: str) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, GROUPS, tenant_id)
    assert (body["Resources"], body["totalResults"], body["startIndex"]) == ([], 0, 1)
    assert len(reads.ranges) == 1


def test_cursor_pages_are_one_range_read_each_and_carry_no_total(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str]) -> None:
    seen: list[str] = []
    cursor = ""  # the first cursor page
    reads_per_page = []
    while True:
        with observed(scim_service, tenant_id) as reads:
            body = listed(lister, USERS, tenant_id, count=2, cursor=cursor)
        reads_per_page.append([(r.low, r.top) for r in reads.ranges])
        assert "totalResults" not in body
        assert "startIndex" not in body
        assert reads.points == []
        seen += ids(body)
        if "nextCursor" not in body:
            break
        cursor = body["nextCursor"]
    assert seen == five
    assert reads_per_page == [[("U:", 3)], [(f"U:{five[1]}\x00", 3)],
                              [(f"U:{five[3]}\x00", 3)]]


def test_a_cursor_continues_after_its_id_even_when_that_resource_is_gone(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str]) -> None:
    cursor = encode_cursor(USERS, five[1])
    scim_service.resources.delete(USERS, tenant_id, five[1], None)
    body = listed(lister, USERS, tenant_id, count=10, cursor=cursor)
    assert ids(body) == five[2:]
    assert "nextCursor" not in body


def test_a_zero_count_cursor_page_reads_nothing(
        scim_service: ScimService, lister: Lister, tenant_id: str, five: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, count=0, cursor="")
    assert (body["Resources"], body["itemsPerPage"]) == ([], 0)
    assert "nextCursor" not in body
    assert (reads.points, reads.ranges) == ([], [])


# --------------------------------------------------------------------------------------------
# Pages of a filtered listing
# --------------------------------------------------------------------------------------------


@pytest.fixture
def engineers(scim_service: ScimService, tenant_id: str) -> list[str]:
    made = [user(scim_service, tenant_id, f"e{n}@contoso.example",
                 title="Engineer" if n % 2 == 0 else "Sales") for n in range(7)]
    return sorted(made[0::2])  # 4 engineers among 7 users


def test_a_filtered_index_page_is_a_window_of_all_matches(
        scim_service: ScimService, lister: Lister, tenant_id: str, engineers: list[str]) -> None:
    with observed(scim_service, tenant_id) as reads:
        body = listed(lister, USERS, tenant_id, 'title eq "engineer"', start=2, count=2)
    # title is caseExact=false, so "engineer" matches "Engineer".
    assert (ids(body), body["totalResults"], body["startIndex"]) == (engineers[1:3], 4, 2)
    assert "nextCursor" not in body  # filtered index pages offer no cursor
    assert len(reads.scans(USERS)) == 1


def test_filtered_cursor_pages_walk_the_matches_in_id_order(
        scim_service: ScimService, lister: Lister, tenant_id: str, engineers: list[str]) -> None:
    pages: list[list[str]] = []
    cursor = ""
    while True:
        body = listed(lister, USERS, tenant_id, 'title eq "Engineer"', count=3, cursor=cursor)
        assert "totalResults" not in body
        pages.append(ids(body))
        if "nextCursor" not in body:
            break
        cursor = body["nextCursor"]
        assert decode_cursor(USERS, cursor) == pages[-1][-1]
    assert pages == [engineers[:3], engineers[3:]]


# --------------------------------------------------------------------------------------------
# Properties over one populated tenant
# --------------------------------------------------------------------------------------------

SEVEN = 7


@pytest.fixture(scope="module")
def populated(scim_service: ScimService) -> tuple[str, list[str]]:
    tenant = "t" + uuid.uuid4().hex[:12]
    made = [user(scim_service, tenant, f"p{n}@contoso.example") for n in range(SEVEN)]
    return tenant, sorted(made)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(1, SEVEN + 3), count=st.integers(0, SEVEN + 2))
def test_property_index_pages_are_windows_of_the_id_order(
        scim_service: ScimService, lister: Lister, populated: tuple[str, list[str]],
        start: int, count: int) -> None:
    tenant, everyone = populated
    with observed(scim_service, tenant) as reads:
        body = listed(lister, USERS, tenant, start=start, count=count)
    window = everyone[start - 1 : start - 1 + count]
    assert (ids(body), body["totalResults"], body["startIndex"]) == (window, SEVEN, start)
    more = bool(window) and start - 1 + len(window) < SEVEN
    assert ("nextCursor" in body) is more
    documents = reads.scans(USERS) + reads.resumed(USERS)
    assert len(documents) <= 1  # at most one read of documents, of at most count+1
    assert all(r.top == count + 1 for r in documents)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, SEVEN + 1))
def test_property_a_cursor_walk_sees_every_id_once_in_order(
        scim_service: ScimService, lister: Lister, populated: tuple[str, list[str]],
        size: int) -> None:
    tenant, everyone = populated
    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        with observed(scim_service, tenant) as reads:
            body = listed(lister, USERS, tenant, count=size, cursor=cursor)
        pages += 1
        assert len(body["Resources"]) <= size
        assert [r.top for r in reads.ranges] == [size + 1]  # O(page), never a count
        seen += ids(body)
        if "nextCursor" not in body:
            break
        cursor = body["nextCursor"]
    assert seen == everyone
    assert pages == -(-SEVEN // size)


# --------------------------------------------------------------------------------------------
# parse_paging and cursors (pure)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "count", "expected"), [
    (None, None, (1, 200)),
    ("", "", (1, 200)),
    ("0", "-5", (1, 0)),
    ("-3", "500", (1, 200)),
    (" 7 ", "+10", (7, 10)),
    (2.0, 1e2, (2, 100)),  # a search body's JSON numbers that are integers
    (3, 0, (3, 0)),
])
def test_parse_paging_clamps_per_rfc_7644(start: Any, count: Any,
                                          expected: tuple[int, int]) -> None:
    assert parse_paging(start, count, 200) == expected


@pytest.mark.parametrize(("start", "count", "name"), [
    ("abc", None, "startIndex"),
    (None, "1_000", "count"),
    (None, "\u0663", "count"),  # ARABIC-INDIC DIGIT THREE: int() takes it, a query must not
    ("2.0", None, "startIndex"),
    (2.5, None, "startIndex"),
    (True, None, "startIndex"),
    (None, float("inf"), "count"),
    (None, "9" * 5000, "count"),  # more digits than Python converts
    ([1], None, "startIndex"),
])
def test_parse_paging_refuses_what_is_not_an_integer(start: Any, count: Any,
                                                     name: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_paging(start, count, 200)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidValue")
    assert caught.value.detail.startswith(f"{name} must be an integer")


@given(start=st.integers(-10**6, 10**6), count=st.integers(-10**6, 10**6),
       cap=st.integers(1, 10_000), as_text=st.booleans())
def test_property_parse_paging(start: int, count: int, cap: int, as_text: bool) -> None:
    given_start: Any = str(start) if as_text else start
    given_count: Any = str(count) if as_text else count
    assert parse_paging(given_start, given_count, cap) == (max(1, start),
                                                          min(max(0, count), cap))


_IDS = st.from_regex(r"[0-9A-Za-z_.-]{1,128}", fullmatch=True)


@given(rid=_IDS, kind=st.sampled_from([USERS, GROUPS]))
def test_property_cursors_round_trip_and_are_url_safe(rid: str, kind: Kind) -> None:
    cursor = encode_cursor(kind, rid)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # no padding, nothing to escape in a URL
    assert decode_cursor(kind, cursor) == rid
    other = GROUPS if kind is USERS else USERS
    with pytest.raises(ScimError):
        decode_cursor(other, cursor)


def test_an_empty_cursor_is_the_first_page() -> None:
    assert decode_cursor(USERS, "") is None


@pytest.mark.parametrize("text", ["U:", "U:a/b", "U:" + "a" * 129, "G:abc", "Uabc", "U:a b"])
def test_a_cursor_not_issued_by_this_service_is_refused(text: str) -> None:
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    with pytest.raises(ScimError) as caught:
        decode_cursor(USERS, cursor)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidCursor")
    assert cursor[:64] in caught.value.detail
