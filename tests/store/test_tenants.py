"""`shared.store.tenants`: tenant records and the last use of their tokens, each test on a
tenants table of its own (Azurite)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import layout
from shared.store.errors import Conflict, NotFound, PreconditionFailed, Unavailable
from shared.store.table import Table
from shared.store.tenants import Tenant, TenantTable, TokenRecord
from tests.support.storage_faults import busy, hooked

NOW = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def tenants(empty_table: Table) -> TenantTable:
    return TenantTable(empty_table)


def _tenant(tid: str | None = None, **fields: object) -> Tenant:
    return Tenant.model_validate({"id": tid or "t" + uuid.uuid4().hex[:12], "name": "Contoso",
                                  "created": NOW, **fields})


def _token(n: int) -> TokenRecord:
    return TokenRecord(id=f"tok{n}", prefix=f"scim_{n}", digest=f"{n:064x}", created=NOW)


tokens = st.lists(st.builds(TokenRecord, id=st.text(min_size=1, max_size=12),
                            prefix=st.text(max_size=8), digest=st.text(max_size=64),
                            created=st.just(NOW)), max_size=2)
records = st.builds(
    Tenant, id=st.just(""), name=st.text(max_size=40), created=st.just(NOW),
    disabled=st.booleans(), tokens=tokens,
    webhook_url=st.none() | st.just("https://hooks.example.com/scim"),
    webhook_secret=st.none() | st.text(min_size=1, max_size=40),
    entra_tenant_id=st.none() | st.uuids().map(str))


# One table for every example: each has a tenant id of its own.
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_a_created_tenant_is_read_back_as_created(tenants: TenantTable, record: Tenant) -> None:
    record = record.model_copy(update={"id": "t" + uuid.uuid4().hex[:12]})
    tenants.create(record)
    assert tenants.get(record.id) == record


def test_an_unknown_tenant_is_none(tenants: TenantTable) -> None:
    assert tenants.get("t" + uuid.uuid4().hex[:12]) is None


def test_creating_an_existing_tenant_conflicts_and_keeps_the_first(
        tenants: TenantTable) -> None:
    first = _tenant(name="First", tokens=[_token(1)])
    tenants.create(first)
    with pytest.raises(Conflict) as info:
        tenants.create(first.model_copy(update={"name": "Second", "tokens": []}))
    assert info.value.index == "tenant"
    assert tenants.get(first.id) == first


def test_save_replaces_the_record(tenants: TenantTable) -> None:
    record = _tenant(tokens=[_token(1)], webhook_url="https://hooks.example.com/a",
                     webhook_secret="s3cret")
    tenants.create(record)
    changed = record.model_copy(update={"name": "Renamed", "tokens": [_token(2), _token(3)],
                                        "webhook_url": None, "webhook_secret": None,
                                        "disabled": True})
    tenants.save(changed)
    assert tenants.get(record.id) == changed
    assert changed.token_digests() == [_token(2).digest, _token(3).digest]


def test_save_of_an_unknown_tenant_is_not_found_and_creates_nothing(
        tenants: TenantTable) -> None:
    record = _tenant()
    with pytest.raises(NotFound):
        tenants.save(record)
    assert tenants.get(record.id) is None


def test_a_deleted_tenant_is_gone_and_deleting_again_is_fine(tenants: TenantTable) -> None:
    record = _tenant()
    tenants.create(record)
    tenants.delete(record.id)
    assert tenants.get(record.id) is None
    tenants.delete(record.id)
    tenants.create(record)  # the id can be created again
    assert tenants.get(record.id) == record


def test_all_lists_every_tenant_and_nothing_else(tenants: TenantTable) -> None:
    records = [_tenant(name=f"Tenant {n}") for n in range(5)]
    for record in records:
        tenants.create(record)
        tenants.record_use(record.id, "tok1", NOW)
    assert sorted(tenants.all(), key=lambda t: t.id) == sorted(records, key=lambda t: t.id)


def test_the_last_use_of_each_token_is_kept_per_tenant(tenants: TenantTable) -> None:
    record, other = _tenant(tokens=[_token(1), _token(2)]), _tenant()
    tenants.create(record)
    tenants.create(other)
    assert tenants.last_uses(record.id) == {}
    tenants.record_use(record.id, "tok1", "2026-01-01T00:00:00.000Z")
    tenants.record_use(record.id, "tok2", "2026-01-01T01:00:00.000Z")
    tenants.record_use(record.id, "tok1", "2026-01-02T00:00:00.000Z")
    tenants.record_use(other.id, "tok1", "2026-01-03T00:00:00.000Z")
    assert tenants.last_uses(record.id) == {"tok1": "2026-01-02T00:00:00.000Z",
                                            "tok2": "2026-01-01T01:00:00.000Z"}
    assert tenants.last_uses(other.id) == {"tok1": "2026-01-03T00:00:00.000Z"}


def test_recording_a_use_never_changes_the_tenant_record(tenants: TenantTable) -> None:
    """A use recorded while an operator revokes the token must not bring the token back."""
    record = _tenant(tokens=[_token(1)])
    tenants.create(record)
    revoked = record.model_copy(update={"tokens": []})
    tenants.save(revoked)
    tenants.record_use(record.id, "tok1", NOW)
    assert tenants.get(record.id) == revoked
    record_row = tenants.table.get_entity(record.id, layout.TENANT_ROW)
    assert set(record_row) == {"PartitionKey", "RowKey", "name", "record"}


def test_the_webhook_secret_never_appears_in_a_repr() -> None:
    record = _tenant(webhook_secret="whsec_do_not_print")
    assert "whsec_do_not_print" not in repr(record)
    assert "whsec_do_not_print" not in str(record)


def test_what_authentication_reads_and_writes_is_unavailable_when_storage_is(
        tenants: TenantTable) -> None:
    """Every request authenticates through these: an outage is a 503, never a 500."""
    record = _tenant()
    tenants.create(record)
    with hooked(busy):
        for call in (lambda: tenants.get(record.id),
                     lambda: tenants.record_use(record.id, "tok1", NOW),
                     lambda: tenants.last_uses(record.id)):
            with pytest.raises(Unavailable):
                call()


def test_a_save_over_a_stale_read_is_refused_and_the_other_change_kept(
        tenants: TenantTable) -> None:
    """Two operator commands at once (a revoke and a webhook change, say) each read the record;
    the second save must not undo the first."""
    tenants.create(_tenant("t-race", tokens=[_token(1), _token(2)]))
    revoking, configuring = tenants.get("t-race"), tenants.get("t-race")
    assert revoking is not None
    assert configuring is not None
    revoking.tokens = [_token(2)]
    tenants.save(revoking)
    configuring.webhook_url = "https://hooks.example.com/scim"
    with pytest.raises(PreconditionFailed):
        tenants.save(configuring)
    stored = tenants.get("t-race")
    assert stored is not None
    assert [t.id for t in stored.tokens] == ["tok2"]
    assert stored.webhook_url is None


def test_saves_in_sequence_each_build_on_the_last(tenants: TenantTable) -> None:
    record = _tenant("t-seq")
    tenants.create(record)
    record.disabled = True
    tenants.save(record)  # the version create wrote
    record.name = "Fabrikam"
    tenants.save(record)  # the version the first save wrote
    again = next(t for t in tenants.all() if t.id == "t-seq")
    again.disabled = False
    tenants.save(again)  # a record read by all() carries its version too
    stored = tenants.get("t-seq")
    assert stored is not None
    assert (stored.name, stored.disabled) == ("Fabrikam", False)
