"""GET /Users, GET /Groups and POST /.search: filter planning and pagination
(docs/architecture.md, "Pagination and filters").

Entra's queries are conjunctions of `eq` on indexed attributes (userName, externalId, id,
displayName, and `members eq` for the membership check); they are answered by point reads or
index range reads, never by a scan. Anything else is evaluated in memory over a scan of the
tenant's rows: correct, but O(tenant).

Pagination: `startIndex`/`count` (RFC 7644) and cursors (RFC 9865), both over RowKey order
(ids are time-ordered, so resources created during a walk append at the end). A cursor is the
base64url of `{kind}:{last id on the page}`; the next page is a range read starting after that
id, so each cursor page costs O(page) whatever the tenant's size, and cursors never expire.
Cursor pages leave out `totalResults` (RFC 9865 §2.2 allows it): counting is a keys-only walk
of the whole tenant, the O(tenant) cost cursors exist to avoid. Unfiltered `startIndex` pages
still need that count (RFC 7644 requires totalResults there) except on a short last page; they
also carry `nextCursor`, so a client can switch to cursors (the Functions host drops empty
query values, so `?cursor=` for the first page never reaches us).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

from ..scim import discovery
from ..scim import filter as scim_filter
from ..scim.attr_path import AttrPath
from ..scim.errors import ScimError, show
from ..scim.filter_validation import validate_filter
from ..scim.schemas import USER_URN
from ..store import keys
from ..store.directory import Stored
from .kinds import DeclaredUnique, Kind
from .resources import Resources, View


@dataclass(frozen=True)
class Query:
    filter: str | None
    start_index: int
    count: int
    view: View
    cursor: str | None = None  # RFC 9865: None = index paging; "" = first cursor page


def parse_paging(start_index: Any, count: Any, max_results: int) -> tuple[int, int]:
    """RFC 7644 §3.4.2.4: startIndex < 1 means 1; count < 0 means 0; count is capped."""
    start = max(1, _paging_int(start_index, "startIndex", 1))
    size = min(max(0, _paging_int(count, "count", max_results)), max_results)
    return start, size


# Query parameters are text: a decimal integer, optionally signed, nothing else (`int` alone
# would also take `1_000` and other scripts' digits).
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _paging_int(value: Any, name: str, default: int) -> int:
    """startIndex and count are integers (RFC 7644 §3.4.2.4). JSON has one number type, so
    a search body's `2.0` or `1e3` is the integer it equals; `2.5`, a boolean, a numeral
    Python's float cannot hold (`1e400` is infinite) or anything else is 400 invalidValue."""
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # Python refuses more than 4,300 digits
            pass
    raise ScimError(400, f"{name} must be an integer, got {show(value)}.", "invalidValue")


_CURSOR_ID = re.compile(r"[0-9A-Za-z_.-]{1,128}")


def encode_cursor(kind: Kind, last_id: str) -> str:
    """The opaque cursor continuing after `last_id` (RFC 9865 `nextCursor`)."""
    raw = f"{kind.rows}:{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(kind: Kind, cursor: str) -> str | None:
    """The id a cursor continues after; None for an empty cursor (the first page). Anything
    not made by `encode_cursor` for this resource type is 400 `invalidCursor`."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    rows, _, last = text.partition(":")
    if rows != kind.rows or not _CURSOR_ID.fullmatch(last):
        raise ScimError(400, f"The cursor {cursor[:64]!r} is not one this service issued for "
                             f"/{kind.rtype.name}s; start again without a cursor (or with the "
                             "nextCursor of the previous page).", "invalidCursor")
    return last


def _attr_is(path: AttrPath, kind: Kind, name: str) -> bool:
    if path.urn is not None and path.urn.lower() != kind.rtype.schema.id.lower():
        return False
    return path.attr.lower() == name.lower() and (path.sub is None or (path.sub.lower() == "value"
                                                  and name == "members"))


_TEXT_TYPES = frozenset({"string", "reference", "binary", "dateTime"})


def _is_declared(path: AttrPath, declared: DeclaredUnique) -> bool:
    """Whether a filter path names a declared unique attribute (URN-qualified, as Entra
    sends it)."""
    return (path.sub is None and path.urn is not None
            and path.urn.lower() == declared.urn.lower()
            and path.attr.lower() == declared.attribute.name.lower())


class Lister:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.directory = resources.directory

    def run(self, kind: Kind, tenant: str, query: Query) -> dict[str, Any]:
        after = decode_cursor(kind, query.cursor) if query.cursor is not None else None
        if query.filter is None or not query.filter.strip():
            if query.cursor is not None:
                return self._cursor_page(kind, tenant, query, after)
            return self._page(kind, tenant, query)
        parsed = scim_filter.parse_filter(query.filter)
        validate_filter(parsed, kind.rtype)
        matches = self._candidates(kind, tenant, parsed)
        if query.cursor is not None:  # matches are in id order (scan or index order)
            rest = sorted((m for m in matches if after is None or m.id > after),
                          key=lambda m: m.id)
            return self._cursor_response(kind, tenant, query, rest[: query.count],
                                         more=len(rest) > query.count)
        total = len(matches)
        window = matches[query.start_index - 1 : query.start_index - 1 + query.count]
        return discovery.list_response(
            [self.resources.load_view(kind, tenant, s, query.view) for s in window],
            total=total, start_index=query.start_index,
        )

    def _page(self, kind: Kind, tenant: str, query: Query) -> dict[str, Any]:
        """startIndex paging: the page's documents come from one range read starting after
        the id before the page, so only O(page) documents are read (not O(startIndex)).
        totalResults needs a keys-only walk of the tenant, except for a first page that is
        also the last one."""
        skip, total, before = query.start_index - 1, None, None
        if skip or not query.count:
            total = 0
            for n, rid in enumerate(self.directory.ids(tenant, kind.rows)):
                total = n + 1
                if n == skip - 1:
                    before = rid
        page: list[Stored] = []
        if query.count and (total is None or total > skip):
            page = self._range_after(kind, tenant, before, query.count + 1)
            if total is None:
                total = (len(page) if len(page) <= query.count
                         else self.directory.count(tenant, kind.rows))
            page = page[: query.count]
        total = total or 0
        return discovery.list_response(
            [self.resources.load_view(kind, tenant, s, query.view) for s in page],
            total=total, start_index=query.start_index,
            next_cursor=encode_cursor(kind, page[-1].id) if page and total > skip + len(page)
            else None,
        )

    def _range_after(self, kind: Kind, tenant: str, after: str | None,
                     limit: int) -> list[Stored]:
        out: list[Stored] = []
        for stored in self.directory.scan(tenant, kind.rows, page=limit, after=after):
            out.append(stored)
            if len(out) >= limit:
                break
        return out

    def _cursor_page(self, kind: Kind, tenant: str, query: Query,
                     after: str | None) -> dict[str, Any]:
        """One range read of count+1 rows after the cursor's id: O(page) whatever the size."""
        rows = self._range_after(kind, tenant, after, query.count + 1) if query.count else []
        return self._cursor_response(kind, tenant, query, rows[: query.count],
                                     more=len(rows) > query.count)

    def _cursor_response(self, kind: Kind, tenant: str, query: Query, page: list[Stored],
                         *, more: bool) -> dict[str, Any]:
        body = discovery.list_response(
            [self.resources.load_view(kind, tenant, s, query.view) for s in page],
            total=0, start_index=1,
            next_cursor=encode_cursor(kind, page[-1].id) if more and page else None,
        )
        del body["totalResults"], body["startIndex"]  # RFC 9865: optional with cursors
        return body

    def _candidates(self, kind: Kind, tenant: str, parsed: Any) -> list[Stored]:
        terms = scim_filter.equality_terms(parsed) or []
        member_values = [str(c.value) for p, c in terms
                         if kind.is_group and _attr_is(p, kind, "members")]
        found = self._indexed(kind, tenant, parsed, terms)
        if found is None:
            found = list(self.directory.scan(tenant, kind.rows))
        out = []
        for stored in found:
            doc = {**stored.doc, "id": stored.id,
                   "meta": {"created": stored.created, "lastModified": stored.last_modified,
                            "resourceType": kind.rtype.name}}
            if kind.is_group and _mentions_members(parsed):
                if member_values and _only_member_equalities(parsed):
                    doc["members"] = [{"value": m} for m in member_values
                                      if self.directory.has_member(tenant, stored.id, m)]
                else:
                    doc["members"] = [{"value": m}
                                      for m in self.directory.members(tenant, stored.id)]
            if scim_filter.matches(parsed, doc, kind.rtype):
                out.append(stored)
        return out

    def _indexed(self, kind: Kind, tenant: str, parsed: Any,
                 terms: list[tuple[AttrPath, Any]]) -> list[Stored] | None:
        """Candidates from the most selective indexed equality, or None (scan needed)."""
        email = _work_email_equality(parsed) if kind.email_index else None
        if email is not None and not terms:
            rids = self._lookup_multi_folded(tenant, kind.email_index or "", email)
            return self.directory.get_many(tenant, kind.rows, rids)
        for name in ("id", kind.unique_attr, "externalId"):
            for path, cmp in terms:
                if not _attr_is(path, kind, name) or path.sub is not None:
                    continue
                if cmp.value is None:
                    return []  # `eq null` means "absent": nothing in an index
                # Unquoted values (`externalId eq 12345`) parse as numbers; the index holds
                # the text the client sent.
                value = scim_filter.value_text(cmp.value)
                if name == "id":
                    return self.directory.get_many(tenant, kind.rows, [value])
                if name == kind.unique_attr:
                    rid = self._lookup_unique_folded(tenant, kind.unique_index, value)
                    return self.directory.get_many(tenant, kind.rows, [rid]) if rid else []
                rids = self.directory.lookup_multi(tenant, kind.external_index, value)
                return self.directory.get_many(tenant, kind.rows, rids)
        for declared in kind.declared_unique:
            for path, cmp in terms:
                if not _is_declared(path, declared):
                    continue
                value = cmp.value
                if declared.attribute.type in _TEXT_TYPES and not isinstance(value, str):
                    value = scim_filter.value_text(value)  # `eq 701984` on a string: its text
                key = declared.key(value)
                if key is None:
                    continue  # not a simple value: nothing indexed can be it
                rid = self.directory.lookup_unique(tenant, declared.index, key)
                return self.directory.get_many(tenant, kind.rows, [rid]) if rid else []
        return None

    # Rows written before `keys.fold` replaced full case folding stay under their old key
    # until the repair pass rewrites them; a miss retries that key, and `_candidates`
    # re-checks the resource found with today's comparison, so `straße` cannot find a user
    # whose old row was folded to `strasse`.
    def _lookup_unique_folded(self, tenant: str, index: str, value: str) -> str | None:
        folded, legacy = keys.fold(value), keys.legacy_fold(value)
        found = self.directory.lookup_unique(tenant, index, folded)
        if found is None and legacy != folded:
            found = self.directory.lookup_unique(tenant, index, legacy)
        return found

    def _lookup_multi_folded(self, tenant: str, index: str, value: str) -> list[str]:
        folded, legacy = keys.fold(value), keys.legacy_fold(value)
        found = self.directory.lookup_multi(tenant, index, folded)
        if legacy != folded:  # several resources share a value: some may not be rewritten yet
            found = sorted({*found, *self.directory.lookup_multi(tenant, index, legacy)})
        return found


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, scim_filter.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _work_email_equality(parsed: Any) -> str | None:
    """X when the filter requires `emails[type eq "work" and value eq X]` (how Entra's
    `emails[type eq "work"].value eq X` parses): the work-email index can answer it."""
    for node in _conjuncts(parsed):
        if not (isinstance(node, scim_filter.ValuePath) and node.path.attr.lower() == "emails"
                and node.path.urn in (None, USER_URN)):
            continue
        inner = scim_filter.equality_terms(node.filter) or []
        values = {p.attr.lower(): c.value for p, c in inner if p.sub is None}
        kind, value = values.get("type"), values.get("value")
        if isinstance(kind, str) and kind.lower() == "work" and value is not None:
            return scim_filter.value_text(value)
    return None


def _walk(node: scim_filter.Filter) -> list[scim_filter.Filter]:
    """Every node of a filter tree (a value path's inner filter included)."""
    if isinstance(node, scim_filter.And | scim_filter.Or):
        return [node, *_walk(node.left), *_walk(node.right)]
    if isinstance(node, scim_filter.Not):
        return [node, *_walk(node.inner)]
    if isinstance(node, scim_filter.ValuePath):
        return [node, *_walk(node.filter)]
    return [node]


def _mentions_members(parsed: scim_filter.Filter) -> bool:
    return any(isinstance(n, scim_filter.Compare | scim_filter.Present | scim_filter.ValuePath)
               and n.path.attr.lower() == "members" for n in _walk(parsed))


def _only_member_equalities(parsed: scim_filter.Filter) -> bool:
    """True when `members` appears only as `eq` terms of a plain conjunction, so membership
    can be checked with point reads of the named members instead of reading the group."""
    if scim_filter.equality_terms(parsed) is None:
        return False
    return not any(isinstance(n, scim_filter.ValuePath) for n in _walk(parsed))
