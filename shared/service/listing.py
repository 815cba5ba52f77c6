"""GET /Users, GET /Groups and POST /.search: filter planning and pagination (design.md §6).

Entra's queries are conjunctions of `eq` on indexed attributes (userName, externalId, id,
displayName, and `members eq` for the membership check); they are answered by point reads or
index range reads, never by a scan. Anything else is evaluated in memory over a scan of the
tenant's rows: correct, but O(tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..scim import discovery
from ..scim import filter as scim_filter
from ..scim.errors import ScimError
from ..scim.path import AttrPath
from ..scim.schemas import USER_URN
from ..store import keys
from ..store.directory import Stored
from .kinds import GROUPS, Kind
from .resources import Resources, View


@dataclass(frozen=True)
class Query:
    filter: str | None
    start_index: int
    count: int
    view: View


def parse_paging(start_index: Any, count: Any, max_results: int) -> tuple[int, int]:
    """RFC 7644 §3.4.2.4: startIndex < 1 means 1; count < 0 means 0; count is capped."""
    def as_int(value: Any, name: str, default: int) -> int:
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ScimError(400, f"{name} must be an integer, got {value!r}.",
                            "invalidValue") from None

    start = max(1, as_int(start_index, "startIndex", 1))
    size = min(max(0, as_int(count, "count", max_results)), max_results)
    return start, size


def _attr_is(path: AttrPath, kind: Kind, name: str) -> bool:
    if path.urn is not None and path.urn.lower() != kind.rtype.schema.id.lower():
        return False
    return path.attr.lower() == name.lower() and (path.sub is None or (path.sub.lower() == "value"
                                                  and name == "members"))


class Lister:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.directory = resources.directory

    def run(self, kind: Kind, tenant: str, query: Query) -> dict[str, Any]:
        if query.filter is None or not query.filter.strip():
            return self._page(kind, tenant, query)
        parsed = scim_filter.parse_filter(query.filter)
        scim_filter.validate_filter(parsed, kind.rtype)
        matches = self._candidates(kind, tenant, parsed)
        total = len(matches)
        window = matches[query.start_index - 1 : query.start_index - 1 + query.count]
        return discovery.list_response(
            [self.resources.load_view(kind, tenant, s, query.view) for s in window],
            total=total, start_index=query.start_index,
        )

    def _page(self, kind: Kind, tenant: str, query: Query) -> dict[str, Any]:
        total = self.directory.count(tenant, kind.rows)
        page: list[Stored] = []
        if query.count:
            for n, stored in enumerate(self.directory.scan(tenant, kind.rows)):
                if n >= query.start_index - 1:
                    page.append(stored)
                if len(page) >= query.count:
                    break
        return discovery.list_response(
            [self.resources.load_view(kind, tenant, s, query.view) for s in page],
            total=total, start_index=query.start_index,
        )

    def _candidates(self, kind: Kind, tenant: str, parsed: Any) -> list[Stored]:
        terms = scim_filter.equality_terms(parsed) or []
        member_values = [str(c.value) for p, c in terms
                         if kind is GROUPS and _attr_is(p, kind, "members")]
        found = self._indexed(kind, tenant, parsed, terms)
        if found is None:
            found = list(self.directory.scan(tenant, kind.rows))
        out = []
        for stored in found:
            doc = {**stored.doc, "id": stored.id,
                   "meta": {"created": stored.created, "lastModified": stored.last_modified,
                            "resourceType": kind.rtype.name}}
            if kind is GROUPS and _mentions_members(parsed):
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
            rids = self.directory.lookup_multi(tenant, kind.email_index or "", keys.fold(email))
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
                    rid = self.directory.lookup_unique(tenant, kind.unique_index,
                                                       keys.fold(value))
                    return self.directory.get_many(tenant, kind.rows, [rid]) if rid else []
                rids = self.directory.lookup_multi(tenant, kind.external_index, value)
                return self.directory.get_many(tenant, kind.rows, rids)
        return None


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


def _walk(node: Any) -> list[Any]:
    out = [node]
    for child in ("left", "right", "inner", "filter"):
        if hasattr(node, child):
            out += _walk(getattr(node, child))
    return out


def _mentions_members(parsed: Any) -> bool:
    return any(getattr(n, "path", None) is not None and n.path.attr.lower() == "members"
               for n in _walk(parsed))


def _only_member_equalities(parsed: Any) -> bool:
    terms = scim_filter.equality_terms(parsed)
    if terms is None:
        return False
    return all(n.__class__.__name__ != "ValuePath" for n in _walk(parsed))
