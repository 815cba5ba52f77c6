"""What differs between Users and Groups for the service: their resource type, storage kind,
index rows and filter-pushdown columns. Everything else is shared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..scim.schema import ResourceType
from ..scim.schemas import GROUP, USER
from ..store import keys
from ..store.directory import GROUP as GROUP_ROWS
from ..store.directory import USER as USER_ROWS
from ..store.directory import Indexes


@dataclass(frozen=True)
class Kind:
    rtype: ResourceType
    rows: str  # RowKey prefix in the directory table
    noun: str
    unique_attr: str  # the attribute with a unique index (userName / displayName)
    unique_index: str
    external_index: str

    @property
    def endpoint(self) -> str:
        return self.rtype.endpoint

    def indexes(self, doc: dict[str, Any]) -> Indexes:
        unique = {}
        value = doc.get(self.unique_attr)
        if isinstance(value, str):
            unique[self.unique_index] = keys.fold(value)
        multi = {}
        ext = doc.get("externalId")
        if isinstance(ext, str) and ext:
            multi[self.external_index] = ext  # externalId is caseExact: not folded
        return Indexes(unique=unique, multi=multi)

    def columns(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Scalar copies of filterable attributes, for operators and monitoring queries."""
        cols: dict[str, Any] = {}
        for name in (self.unique_attr, "externalId", "active"):
            value = doc.get(name)
            if isinstance(value, str | bool):
                cols[name] = value
        return cols


USERS = Kind(USER, USER_ROWS, "user", "userName", "UN", "UX")
GROUPS = Kind(GROUP, GROUP_ROWS, "group", "displayName", "GN", "GX")
KINDS = {"users": USERS, "groups": GROUPS}
