"""shared.service.unique_backfill against Azurite, through `tenant_schemas.add_schema` as
`schema add` runs it: values captured before an attribute is declared unique are checked (a
duplicate refuses the declaration, nothing saved) and indexed at once (a later duplicate is a
409 without waiting for the reconciler)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.scim.errors import ScimError
from shared.scim.schemas import USER_URN
from shared.service import tenant_schemas, unique_backfill
from shared.service.app import ScimService
from shared.service.kinds import USERS
from shared.service.tenant_schemas import TenantSchemaError
from shared.store.tenants import Tenant
from shared.timestamps import now_iso

URN = "urn:ietf:params:scim:schemas:extension:Badges:2.0:User"
UNIQUE = {"id": URN, "attributes": [
    {"name": "BadgeId", "type": "string", "uniqueness": "server", "caseExact": False}]}


@pytest.fixture
def tid(scim_service: ScimService) -> str:
    tenant_id = "t" + uuid.uuid4().hex[:12]
    scim_service.tenants.create(Tenant(id=tenant_id, name="Contoso", created=now_iso()))
    return tenant_id


def _user(service: ScimService, tid: str, badge: Any) -> str:
    """A user with an undeclared (captured) badge, as Entra sends it before the declaration."""
    stored, _ = service.resources.create(USERS, tid, {
        "schemas": [USER_URN], "userName": f"u{uuid.uuid4().hex[:8]}", URN: {"BadgeId": badge}})
    return stored.id


def _declared(service: ScimService, tid: str) -> list[str]:
    record = service.tenants.get(tid)
    assert record is not None
    return [s["id"] for s in record.schemas]


def test_a_duplicate_among_stored_values_refuses_the_declaration(
        scim_service: ScimService, tid: str) -> None:
    first, second = _user(scim_service, tid, "B-7"), _user(scim_service, tid, "b-7")  # folded
    _user(scim_service, tid, "B-8")
    with pytest.raises(TenantSchemaError) as info:
        tenant_schemas.add_schema(scim_service.tenants, tid, UNIQUE,
                                  directory=scim_service.directory)
    assert f"{URN}:BadgeId" in str(info.value)
    assert first in str(info.value)
    assert second in str(info.value)
    assert _declared(scim_service, tid) == []  # nothing saved


def test_stored_values_are_indexed_when_the_declaration_is_made(
        scim_service: ScimService, tid: str) -> None:
    holder = _user(scim_service, tid, "B-1")
    _user(scim_service, tid, "B-2")
    tenant_schemas.add_schema(scim_service.tenants, tid, UNIQUE,
                              directory=scim_service.directory)
    assert _declared(scim_service, tid) == [URN]
    record = scim_service.tenants.get(tid)
    assert record is not None
    kinds = scim_service.kinds_for(record)
    (declared,) = kinds.users.declared_unique
    key = declared.key("B-1")
    assert key is not None
    assert scim_service.directory.lookup_unique(tid, declared.index, key) == holder
    # so a new user with a stored user's badge is refused at once, not after a repair pass
    with pytest.raises(ScimError) as info:
        scim_service.resources.create(kinds.users, tid, {
            "schemas": [USER_URN], "userName": "late", URN: {"BadgeId": "b-1"}})
    assert info.value.status == 409


def test_without_the_directory_nothing_is_read_and_the_reconciler_indexes_later(
        scim_service: ScimService, tid: str) -> None:
    _user(scim_service, tid, "B-3")
    _user(scim_service, tid, "B-3")
    tenant_schemas.add_schema(scim_service.tenants, tid, UNIQUE)  # no check: saved
    assert _declared(scim_service, tid) == [URN]


def test_kinds_without_unique_declarations_read_nothing(scim_service: ScimService,
                                                        tid: str) -> None:
    record = scim_service.tenants.get(tid)
    assert record is not None
    kinds = scim_service.kinds_for(record)
    assert not unique_backfill.declares_unique(kinds)
    assert unique_backfill.duplicates(scim_service.directory, tid, kinds) == []
