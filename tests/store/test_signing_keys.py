"""The signing key rows on Azurite: created, listed with their PEM intact, deleted (twice is no
error), and a second row of one kid refused."""

from __future__ import annotations

import uuid

import pytest

from shared.store.backend import Backend
from shared.store.errors import AlreadyExists
from shared.store.signing_keys import SigningKeyTable, StoredSigningKey

PEM = ("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
       "-----END PRIVATE KEY-----\n")


def _key(kid: str | None = None) -> StoredSigningKey:
    return StoredSigningKey(kid=kid or uuid.uuid4().hex[:16], created="2026-12-03T00:00:00.000Z",
                            activates="2026-12-03T00:10:00.000Z", private_pem=PEM)


def test_keys_round_trip_and_delete(empty_table: Backend) -> None:
    table = SigningKeyTable(empty_table)
    assert table.all() == []
    first, second = _key(), _key()
    table.create(first)
    table.create(second)
    stored = {k.kid: k for k in table.all()}
    assert set(stored) == {first.kid, second.kid}
    assert stored[first.kid].private_pem == PEM
    assert stored[first.kid].activates == first.activates
    assert stored[first.kid].etag
    table.delete(stored[first.kid])
    table.delete(stored[first.kid])
    assert [k.kid for k in table.all()] == [second.kid]


def test_a_kid_is_created_once(empty_table: Backend) -> None:
    table = SigningKeyTable(empty_table)
    table.create(_key("same"))
    with pytest.raises(AlreadyExists):
        table.create(_key("same"))


def test_keys_live_apart_from_tenant_rows(empty_table: Backend) -> None:
    from shared.store.tenants import Tenant, TenantTable

    SigningKeyTable(empty_table).create(_key())
    tenants = TenantTable(empty_table)
    tenants.create(Tenant(id="t1", name="n", created="2026-12-03T00:00:00.000Z"))
    assert [t.id for t in tenants.all()] == ["t1"]
