"""`shared.store.tenants`: tenant records (with their declared schemas, split across
properties when large), the last use of their tokens and the registry of undeclared
attributes, each test on a tenants table of its own (Azurite)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import layout
from shared.store.errors import Conflict, NotFound, PreconditionFailed, TooLarge, Unavailable
from shared.store.long_text import PROPERTY_CHARS
from shared.store.table import Table
from shared.store.tenants import (
    MAX_RECORD_UNITS,
    MAX_UNDECLARED_NAMES,
    Tenant,
    TenantTable,
    TokenRecord,
    UndeclaredAttribute,
    record_units,
)
from tests.support.storage_faults import busy, hooked, own_thread

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
    webhook_types=st.lists(st.sampled_from(["user.*", "group.members.added", "*"]),
                           max_size=3),
    entra_tenant_id=st.none() | st.uuids().map(str),
    schemas=st.lists(st.fixed_dictionaries({
        "id": st.text(max_size=60), "resourceType": st.sampled_from(["User", "Group"]),
        "attributes": st.lists(st.fixed_dictionaries({"name": st.text(max_size=20)}),
                               max_size=3)}), max_size=2),
    undeclared=st.sampled_from(["capture", "reject"]))
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


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
    with hooked(own_thread(busy)):
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


# --------------------------------------------------------------------------------------------
# Declared schemas and the size of the record
# --------------------------------------------------------------------------------------------


def _schema(urn: str, attributes: int, description: str = "") -> dict[str, Any]:
    return {"id": urn, "name": urn.rsplit(":", 2)[-2], "description": description,
            "resourceType": "User",
            "attributes": [{"name": f"attr{n}", "type": "string", "multiValued": False,
                            "description": description, "required": False,
                            "mutability": "readWrite", "returned": "default",
                            "caseExact": False, "uniqueness": "none"}
                           for n in range(attributes)]}


def test_a_new_tenant_declares_nothing_and_captures() -> None:
    record = _tenant()
    assert (record.schemas, record.undeclared) == ([], "capture")


def test_a_record_written_before_schemas_existed_reads_with_the_defaults(
        tenants: TenantTable) -> None:
    """Rows stored by earlier versions: one `record` property without the new fields."""
    old = {"id": "t-old", "name": "Contoso", "created": NOW, "disabled": False,
           "tokens": [_token(1).model_dump()]}
    tenants.table.create_entity({"PartitionKey": "t-old", "RowKey": layout.TENANT_ROW,
                                 "name": "Contoso", "record": json.dumps(old)})
    stored = tenants.get("t-old")
    assert stored is not None
    assert (stored.schemas, stored.undeclared, stored.token_digests()) == (
        [], "capture", [_token(1).digest])
    stored.undeclared = "reject"
    tenants.save(stored)  # its ETag came with the read
    again = tenants.get("t-old")
    assert again is not None
    assert again.undeclared == "reject"


def test_a_record_beyond_one_property_is_split_and_read_back_whole(
        tenants: TenantTable) -> None:
    """Ten schemas with long descriptions: more than the 64 KiB one property holds."""
    record = _tenant(schemas=[_schema(f"{CUSTOM}{n}", 10, "é" * 700) for n in range(10)],
                     undeclared="reject")
    units = record_units(record.model_dump_json())
    assert 64 * 1024 < units <= MAX_RECORD_UNITS
    tenants.create(record)
    row = tenants.table.get_entity(record.id, layout.TENANT_ROW)
    parts = sorted(k for k in row if k.startswith("record"))
    assert len(parts) == -(-units // PROPERTY_CHARS) >= 3
    assert tenants.get(record.id) == record
    # Shrinking it again leaves no stale part behind (the save replaces the row).
    record.schemas = record.schemas[:1]
    tenants.save(record)
    assert tenants.get(record.id) == record
    row = tenants.table.get_entity(record.id, layout.TENANT_ROW)
    assert [k for k in row if k.startswith("record")] == ["record"]


def test_a_record_too_large_for_its_row_is_refused_and_nothing_written(
        tenants: TenantTable) -> None:
    record = _tenant()
    tenants.create(record)
    record.schemas = [_schema(CUSTOM, 1, "x" * MAX_RECORD_UNITS)]
    with pytest.raises(TooLarge, match=str(MAX_RECORD_UNITS)):
        tenants.save(record)
    with pytest.raises(TooLarge):
        tenants.create(record.model_copy(update={"id": "t" + uuid.uuid4().hex[:12]}))
    stored = tenants.get(record.id)
    assert stored is not None
    assert stored.schemas == []


def test_record_units_count_utf16_code_units() -> None:
    assert record_units("abc") == 3
    assert record_units("é") == 1
    assert record_units("😀") == 2


# --------------------------------------------------------------------------------------------
# The registry of undeclared attributes
# --------------------------------------------------------------------------------------------

ATTR = f"{CUSTOM}:CustomAttribute"


def test_sightings_are_recorded_then_merged(tenants: TenantTable) -> None:
    record = _tenant()
    tenants.create(record)
    assert tenants.undeclared(record.id) == []
    tenants.record_undeclared(record.id, [(ATTR, "User", "string"), (ATTR, "User", "string"),
                                          ("fooBar", "User", "boolean")],
                              "2026-01-01T00:00:00.000Z")
    tenants.record_undeclared(record.id, {(ATTR.upper(), "User", "number"): 5,
                                          ("fooBar", "Group", "string"): 1},
                              "2026-01-02T00:00:00.000Z")
    got = sorted(tenants.undeclared(record.id), key=lambda a: (a.path.lower(), a.resource_type))
    assert got == [
        UndeclaredAttribute("fooBar", "Group", "2026-01-02T00:00:00.000Z",
                            "2026-01-02T00:00:00.000Z", 1, ("string",)),
        UndeclaredAttribute("fooBar", "User", "2026-01-01T00:00:00.000Z",
                            "2026-01-01T00:00:00.000Z", 1, ("boolean",)),
        # Names are case-insensitive: one row, in the spelling first sent.
        UndeclaredAttribute(ATTR, "User", "2026-01-01T00:00:00.000Z",
                            "2026-01-02T00:00:00.000Z", 7, ("number", "string")),
    ]
    assert tenants.undeclared_overflow(record.id) is None


def test_the_registry_never_touches_the_tenant_record(tenants: TenantTable) -> None:
    record = _tenant()
    tenants.create(record)
    tenants.record_undeclared(record.id, [(ATTR, "User", "string")], NOW)
    assert tenants.get(record.id) == record
    record.undeclared = "reject"
    tenants.save(record)  # the record's ETag did not move
    assert [t.id for t in tenants.all()] == [record.id]


def test_registries_are_per_tenant(tenants: TenantTable) -> None:
    a, b = _tenant(), _tenant()
    tenants.record_undeclared(a.id, [(ATTR, "User", "string")], NOW)
    assert tenants.undeclared(b.id) == []
    assert [x.path for x in tenants.undeclared(a.id)] == [ATTR]


def test_names_beyond_the_limit_are_counted_in_the_overflow_row(tenants: TenantTable) -> None:
    tid = _tenant().id
    names = [(f"attr{n:03d}", "User", "string") for n in range(MAX_UNDECLARED_NAMES - 2)]
    tenants.record_undeclared(tid, names, "2026-01-01T00:00:00.000Z")
    more = {(f"more{n}", "User", "string"): 3 for n in range(5)}
    more[("attr000", "User", "string")] = 1  # a known name is still merged
    tenants.record_undeclared(tid, more, "2026-01-02T00:00:00.000Z")
    recorded = {a.path: a.count for a in tenants.undeclared(tid)}
    assert len(recorded) == MAX_UNDECLARED_NAMES
    assert recorded["attr000"] == 2
    assert sum(1 for p in recorded if p.startswith("more")) == 2
    overflow = tenants.undeclared_overflow(tid)
    assert overflow is not None
    assert overflow.count == 3 * 3
    tenants.record_undeclared(tid, [("yetAnother", "Group", "array")],
                              "2026-01-03T00:00:00.000Z")
    overflow = tenants.undeclared_overflow(tid)
    assert overflow is not None
    assert (overflow.count, overflow.first_seen, overflow.last_seen) == (
        10, "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z")
    assert len(tenants.undeclared(tid)) == MAX_UNDECLARED_NAMES


def test_concurrent_merges_lose_no_sighting(tables: Any) -> None:
    """Instances flush at once; each merge is conditional on the row's ETag, so a lost race
    is read again and redone instead of overwriting the other's counts."""
    table = TenantTable(tables.tenants)
    tid = _tenant().id
    errors: list[BaseException] = []

    def flush(n: int) -> None:
        try:
            table.record_undeclared(tid, {(ATTR, "User", "string"): 1,
                                          (f"own{n}", "User", "string"): 1},
                                    f"2026-01-01T00:00:0{n}.000Z")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=flush, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        # Every attempt lost to another writer: allowed, but then nothing half-written.
        assert all(isinstance(e, PreconditionFailed) for e in errors)
    counts = {a.path: a.count for a in table.undeclared(tid)}
    assert counts[ATTR] == 3 - len(errors)
    assert sum(1 for p in counts if p.startswith("own")) == 3 - len(errors)


def test_a_long_path_is_kept_whole(tenants: TenantTable) -> None:
    path = f"urn:ietf:params:scim:schemas:extension:{'x' * 500}:2.0:User:attr"
    tenants.record_undeclared("t-long", [(path, "User", "string")], NOW)
    assert [a.path for a in tenants.undeclared("t-long")] == [path]
