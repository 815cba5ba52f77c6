"""shared.service.tenant_schemas against Azurite: the deployment's schema folder (the shipped one
loads; a bad file is logged and skipped), the resource types each tenant's requests are read
with (shared objects for a tenant that declares nothing, cached per record version otherwise),
the operations behind `python -m shared.admin schema …` with their limits and ETag-conditional
saves, and the throttled registry of undeclared attributes, which never fails a request."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.scim.schema_doc import SchemaError
from shared.scim.schemas import GROUP, USER
from shared.service import tenant_schemas as ts
from shared.service.app import ScimService
from shared.service.tenant_schemas import (
    APP_ROOT,
    DEFAULT_TYPES,
    MAX_ATTRIBUTES,
    MAX_SCHEMAS,
    NoSuchTenant,
    TenantSchemaError,
    UndeclaredNotes,
)
from shared.settings import Settings
from shared.store.errors import PreconditionFailed
from shared.store.tenants import MAX_RECORD_UNITS, Tenant, TenantTable
from shared.timestamps import now_iso
from tests.support.storage_faults import busy, hooked, own_thread

CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ATTR = f"{CUSTOM}:CustomAttribute"
EXAMPLE = APP_ROOT / "schemas" / "examples" / "custom-extension-name.json"


def schema_doc(urn: str = CUSTOM, *names: str, **extra: Any) -> dict[str, Any]:
    return {"id": urn, "attributes": [{"name": n, "type": "string"}
                                      for n in (names or ("CustomAttribute",))], **extra}


@pytest.fixture
def tenants(scim_service: ScimService) -> TenantTable:
    return scim_service.tenants


@pytest.fixture
def tid(tenants: TenantTable, tenant_id: str) -> str:
    tenants.create(Tenant(id=tenant_id, name="Contoso", created=now_iso()))
    return tenant_id


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A deployment schema folder of the test's own (empty until a test writes to it)."""
    folder = tmp_path / "schemas"
    folder.mkdir()
    monkeypatch.setattr(ts, "schemas_folder", lambda: folder)
    ts.clear_caches()
    yield folder
    ts.clear_caches()


def read(tenants: TenantTable, tid: str) -> Tenant:
    tenant = tenants.get(tid)
    assert tenant is not None
    return tenant


# --------------------------------------------------------------------------------------------
# The deployment's folder
# --------------------------------------------------------------------------------------------


def test_the_shipped_folder_loads_whole_and_declares_nothing_by_default(
        caplog: pytest.LogCaptureFixture) -> None:
    """A bad file added to schemas/ would only be logged at runtime: this fails on it first."""
    shipped = APP_ROOT / "schemas"
    with caplog.at_level(logging.WARNING, logger=ts.log.name):
        loaded = ts.load_folder(shipped)
    assert caplog.records == []
    assert [d.origin for d in loaded] == sorted(p.name for p in shipped.glob("*.json"))
    assert loaded == []  # no schema is active unless a deployment adds one


def test_every_example_is_a_valid_schema_document(caplog: pytest.LogCaptureFixture) -> None:
    examples = sorted((APP_ROOT / "schemas" / "examples").glob("*.json"))
    assert EXAMPLE in examples
    with caplog.at_level(logging.WARNING, logger=ts.log.name):
        loaded = ts.load_folder(EXAMPLE.parent)
    assert caplog.records == []
    assert [d.origin for d in loaded] == [p.name for p in examples]
    example = next(d for d in loaded if d.origin == EXAMPLE.name)
    assert (example.urn, example.resource_type) == (CUSTOM, "User")
    assert example.schema is not None
    assert [a.name for a in example.schema.attributes] == ["CustomAttribute"]


def test_the_folder_is_the_shipped_one_unless_the_setting_names_another(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ts, "current", lambda: Settings())
    assert ts.schemas_folder() == APP_ROOT / "schemas"
    monkeypatch.setattr(ts, "current", lambda: Settings(schemas_dir="config/scim"))
    assert ts.schemas_folder() == APP_ROOT / "config" / "scim"
    monkeypatch.setattr(ts, "current", lambda: Settings(schemas_dir=str(tmp_path)))
    assert ts.schemas_folder() == tmp_path


def test_a_bad_file_is_logged_and_skipped_and_the_others_load(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a-good.json").write_text(json.dumps(schema_doc()))
    (tmp_path / "b-not-json.json").write_text('{"id": "urn:x:y",}')
    (tmp_path / "c-list.json").write_text("[]")
    (tmp_path / "d-bad-type.json").write_text(json.dumps(
        {"id": "urn:acme:2.0:User", "attributes": [{"name": "x", "type": "text"}]}))
    (tmp_path / "e-same-urn.json").write_text(json.dumps(schema_doc(CUSTOM.upper())))
    (tmp_path / "f-no-type.json").write_text(json.dumps(schema_doc("urn:acme:badge")))
    (tmp_path / "g-group.json").write_text(json.dumps(schema_doc(
        "urn:acme:teams", "costCode", resourceType="Group")))
    (tmp_path / "notes.txt").write_text("not a schema")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.json").write_text("{")
    with caplog.at_level(logging.ERROR, logger=ts.log.name):
        loaded = ts.load_folder(tmp_path)
    assert [(d.origin, d.urn, d.resource_type) for d in loaded] == [
        ("a-good.json", CUSTOM, "User"), ("g-group.json", "urn:acme:teams", "Group")]
    skipped = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in skipped] == [
        f"schema file {n} skipped" for n in ("b-not-json.json", "c-list.json",
                                             "d-bad-type.json", "e-same-urn.json",
                                             "f-no-type.json")]
    assert "'type'" in skipped[2]
    assert "already declared" in skipped[3]


def test_a_missing_folder_declares_nothing(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=ts.log.name):
        assert ts.load_folder(tmp_path / "absent") == []
    assert "not found" in caplog.text


# --------------------------------------------------------------------------------------------
# Resource types per tenant
# --------------------------------------------------------------------------------------------


def test_a_tenant_that_declares_nothing_gets_the_module_objects(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    types = ts.types_for(read(tenants, tid))
    assert types is DEFAULT_TYPES
    assert (types.user, types.group, types.all) == (USER, GROUP, (USER, GROUP))
    assert types.user is USER


def test_declared_schemas_extend_their_resource_type_only(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    ts.add_schema(tenants, tid, schema_doc())
    ts.add_schema(tenants, tid, schema_doc("urn:acme:teams", "costCode"),
                  resource_type="Group")
    types = ts.types_for(read(tenants, tid))
    assert [s.id for s in types.user.all_schemas][-1] == CUSTOM
    assert [s.id for s in types.group.all_schemas][-1] == "urn:acme:teams"
    assert types.user.resolve(ATTR) is not None
    assert types.group.resolve(ATTR) is None
    assert types.all == (types.user, types.group)
    assert (types.user.undeclared, types.group.undeclared) == ("capture", "capture")
    assert USER.resolve(ATTR) is None  # the shared objects are untouched


def test_the_policy_alone_makes_types_of_their_own(deployment: Path, tenants: TenantTable,
                                                   tid: str) -> None:
    ts.set_policy(tenants, tid, "reject")
    types = ts.types_for(read(tenants, tid))
    assert (types.user.undeclared, types.group.undeclared) == ("reject", "reject")
    assert types.user.all_schemas == USER.all_schemas
    assert USER.undeclared == "capture"


def test_types_are_cached_per_record_version(deployment: Path, tenants: TenantTable,
                                             tid: str) -> None:
    ts.add_schema(tenants, tid, schema_doc())
    first = ts.types_for(read(tenants, tid))
    assert ts.types_for(read(tenants, tid)) is first  # same ETag: built once
    ts.add_schema(tenants, tid, schema_doc(CUSTOM + "x", "other"), resource_type="User")
    changed = ts.types_for(read(tenants, tid))
    assert changed is not first
    assert changed.user.resolve(f"{CUSTOM}x:other") is not None
    unsaved = read(tenants, tid).model_copy()
    unsaved.schemas = []
    unsaved.undeclared = "reject"
    assert ts.types_for(unsaved).user.all_schemas == USER.all_schemas  # not the cached ones


def test_deployment_schemas_are_shared_by_every_tenant(
        deployment: Path, tenants: TenantTable, tid: str, tenant_id: str) -> None:
    (deployment / "badge.json").write_text(json.dumps(schema_doc("urn:acme:2.0:User",
                                                                 "badge")))
    ts.clear_caches()
    other = "o" + tenant_id
    tenants.create(Tenant(id=other, name="Fabrikam", created=now_iso()))
    a, b = ts.types_for(read(tenants, tid)), ts.types_for(read(tenants, other))
    assert a is b
    assert a.user.resolve("urn:acme:2.0:User:badge") is not None
    ts.add_schema(tenants, tid, schema_doc())
    own = ts.types_for(read(tenants, tid))
    assert [s.id for s in own.user.all_schemas][-2:] == ["urn:acme:2.0:User", CUSTOM]
    with pytest.raises(TenantSchemaError, match="deployment"):
        ts.add_schema(tenants, other, schema_doc("urn:acme:2.0:user", "x"))
    with pytest.raises(TenantSchemaError, match="redeploy"):
        ts.remove_schema(tenants, tid, "urn:acme:2.0:User")


def test_a_stored_schema_that_no_longer_loads_is_listed_and_left_out(
        deployment: Path, tenants: TenantTable, tid: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """What an engine upgrade could do to a document it accepted before: the tenant keeps
    working with the rest, and the operator can see and remove it."""
    tenant = read(tenants, tid)
    tenant.schemas = [{**schema_doc(), "resourceType": "User"},
                      {"id": "urn:acme:2.0:User", "resourceType": "User", "attributes": [
                          {"name": "x", "type": "no-such-type"}]}]
    tenants.save(tenant)
    with caplog.at_level(logging.ERROR, logger=ts.log.name):
        types = ts.types_for(read(tenants, tid))
    assert types.user.resolve(ATTR) is not None
    assert "does not load" in caplog.text
    listed = ts.list_schemas(tenants, tid)
    assert [(d.urn, d.schema is None) for d in listed] == [(CUSTOM, False),
                                                           ("urn:acme:2.0:User", True)]
    assert listed[1].problem is not None
    assert "'type'" in listed[1].problem
    ts.remove_schema(tenants, tid, "urn:acme:2.0:User")
    assert [d.urn for d in ts.list_schemas(tenants, tid)] == [CUSTOM]


# --------------------------------------------------------------------------------------------
# Adding, listing, removing; the policy
# --------------------------------------------------------------------------------------------


def test_a_schema_is_stored_as_given_with_its_resource_type(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    document = json.loads(EXAMPLE.read_text())
    del document["resourceType"]
    schema = ts.add_schema(tenants, tid, document)
    assert schema.id == CUSTOM
    assert [a.name for a in schema.attributes] == ["CustomAttribute"]
    assert read(tenants, tid).schemas == [{**document, "resourceType": "User"}]
    listed = ts.list_schemas(tenants, tid)
    assert [(d.urn, d.resource_type, d.origin) for d in listed] == [(CUSTOM, "User", "tenant")]


@pytest.mark.parametrize(("urn", "given", "in_document", "expected"), [
    (CUSTOM, None, None, "User"),
    ("urn:acme:ext:2.0:Group", None, None, "Group"),
    ("urn:acme:badge", "Group", None, "Group"),
    ("urn:acme:badge", "user", None, "User"),
    ("urn:acme:badge", None, "Group", "Group"),
    ("urn:acme:badge", "User", "User", "User"),
])
def test_the_resource_type_comes_from_the_option_the_document_or_the_urn(
        deployment: Path, tenants: TenantTable, tid: str, urn: str, given: str | None,
        in_document: str | None, expected: str) -> None:
    document = schema_doc(urn, **({"resourceType": in_document} if in_document else {}))
    ts.add_schema(tenants, tid, document, given)
    assert [(d.urn, d.resource_type) for d in ts.list_schemas(tenants, tid)] == [
        (urn, expected)]


@pytest.mark.parametrize(("urn", "given", "in_document", "message"), [
    ("urn:acme:badge", None, None, "--resource-type"),
    ("urn:acme:badge", "User", "Group", "differs"),
    (CUSTOM, "Group", None, "ends in :Group"),
    ("urn:acme:badge", "Device", None, "User or Group"),
    ("urn:acme:badge", None, 7, '"resourceType" must be'),
])
def test_a_resource_type_that_cannot_be_told_or_contradicts_is_refused(
        deployment: Path, tenants: TenantTable, tid: str, urn: str, given: str | None,
        in_document: Any, message: str) -> None:
    document = schema_doc(urn, **({"resourceType": in_document} if in_document else {}))
    with pytest.raises(TenantSchemaError, match=message):
        ts.add_schema(tenants, tid, document, given)
    assert read(tenants, tid).schemas == []


def test_an_invalid_document_is_a_schema_error_and_nothing_is_stored(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    with pytest.raises(SchemaError, match="mutability"):
        ts.add_schema(tenants, tid, {"id": CUSTOM, "attributes": [
            {"name": "CustomAttribute", "mutability": "writable"}]})
    with pytest.raises(SchemaError, match="built-in"):
        ts.add_schema(tenants, tid, schema_doc(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "x"))
    assert read(tenants, tid).schemas == []


def test_a_urn_already_declared_is_refused_until_removed(deployment: Path,
                                                         tenants: TenantTable,
                                                         tid: str) -> None:
    ts.add_schema(tenants, tid, schema_doc())
    with pytest.raises(TenantSchemaError, match="schema remove") as info:
        ts.add_schema(tenants, tid, schema_doc(CUSTOM.lower(), "Other"))
    assert CUSTOM.lower() in str(info.value)
    removed = ts.remove_schema(tenants, tid, CUSTOM.upper())
    assert (removed.urn, removed.resource_type) == (CUSTOM, "User")
    ts.add_schema(tenants, tid, schema_doc(CUSTOM, "Other"))
    stored = read(tenants, tid).schemas
    assert [a["name"] for a in stored[0]["attributes"]] == ["Other"]


def test_removing_an_unknown_urn_names_the_declared_ones(deployment: Path,
                                                         tenants: TenantTable,
                                                         tid: str) -> None:
    with pytest.raises(TenantSchemaError, match="it declares: none"):
        ts.remove_schema(tenants, tid, CUSTOM)
    ts.add_schema(tenants, tid, schema_doc())
    ts.add_schema(tenants, tid, schema_doc("urn:acme:2.0:User", "badge"))
    with pytest.raises(TenantSchemaError) as info:
        ts.remove_schema(tenants, tid, "urn:acme:nope")
    assert f"it declares: {CUSTOM}, urn:acme:2.0:User" in str(info.value)
    assert len(read(tenants, tid).schemas) == 2


def test_at_most_ten_schemas(deployment: Path, tenants: TenantTable, tid: str) -> None:
    for n in range(MAX_SCHEMAS):
        ts.add_schema(tenants, tid, schema_doc(f"urn:acme:s{n}:2.0:User", "a"))
    with pytest.raises(TenantSchemaError, match=f"at most {MAX_SCHEMAS} schemas"):
        ts.add_schema(tenants, tid, schema_doc("urn:acme:one-more:2.0:User", "a"))
    assert len(read(tenants, tid).schemas) == MAX_SCHEMAS


def test_at_most_a_hundred_attributes_sub_attributes_included(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    ts.add_schema(tenants, tid, schema_doc(CUSTOM, *(f"a{n}" for n in range(60))))
    complex_doc = {"id": "urn:acme:2.0:User", "attributes": [
        *({"name": f"b{n}"} for n in range(36)),
        {"name": "badge", "type": "complex", "subAttributes": [
            {"name": "id"}, {"name": "site"}, {"name": "floor"}]}]}
    assert MAX_ATTRIBUTES == 60 + 36 + 1 + 3
    ts.add_schema(tenants, tid, complex_doc)
    with pytest.raises(TenantSchemaError, match=f"at most {MAX_ATTRIBUTES} attributes"):
        ts.add_schema(tenants, tid, schema_doc("urn:acme:x:2.0:User", "one"))
    assert len(read(tenants, tid).schemas) == 2


def test_at_most_five_unique_attributes(deployment: Path, tenants: TenantTable,
                                        tid: str) -> None:
    unique = {"id": CUSTOM, "attributes": [{"name": f"u{n}", "uniqueness": "server"}
                                           for n in range(6)]}
    with pytest.raises(TenantSchemaError, match="uniqueness"):
        ts.add_schema(tenants, tid, unique)
    unique["attributes"] = unique["attributes"][:5]
    ts.add_schema(tenants, tid, unique)


def test_a_record_too_large_is_refused_before_storage_is_asked(
        deployment: Path, tenants: TenantTable, tid: str) -> None:
    document = schema_doc(CUSTOM, "a", description="d" * MAX_RECORD_UNITS)
    with pytest.raises(TenantSchemaError, match="shorten the descriptions"):
        ts.add_schema(tenants, tid, document)
    assert read(tenants, tid).schemas == []


class Interrupted(TenantTable):
    """Another operator's command saves the record right after this one read it."""

    def get(self, tenant_id: str) -> Tenant | None:
        record = super().get(tenant_id)
        racing = super().get(tenant_id)
        assert racing is not None
        racing.name = "Renamed meanwhile"
        super().save(racing)
        return record


@pytest.mark.parametrize("operation", ["add", "remove", "policy"])
def test_every_save_is_conditional_on_the_version_read(deployment: Path, tenants: TenantTable,
                                                       tid: str, operation: str) -> None:
    """Two operators at once: the second command's save is refused, the first one's kept."""
    ts.add_schema(tenants, tid, schema_doc())
    before = read(tenants, tid)
    racing = Interrupted(tenants.table)
    calls = {"add": lambda: ts.add_schema(racing, tid, schema_doc("urn:acme:2.0:User", "b")),
             "remove": lambda: ts.remove_schema(racing, tid, CUSTOM),
             "policy": lambda: ts.set_policy(racing, tid, "reject")}
    with pytest.raises(PreconditionFailed):
        calls[operation]()
    after = read(tenants, tid)
    assert (after.schemas, after.undeclared) == (before.schemas, before.undeclared)
    assert after.name == "Renamed meanwhile"


def test_the_policy(deployment: Path, tenants: TenantTable, tid: str) -> None:
    assert read(tenants, tid).undeclared == "capture"
    ts.set_policy(tenants, tid, "reject")
    assert read(tenants, tid).undeclared == "reject"
    version = read(tenants, tid)._etag
    ts.set_policy(tenants, tid, "reject")  # unchanged: nothing written
    assert read(tenants, tid)._etag == version
    with pytest.raises(TenantSchemaError, match="capture or reject"):
        ts.set_policy(tenants, tid, "drop")


def test_an_unknown_tenant_is_said_so_by_every_operation(deployment: Path,
                                                         tenants: TenantTable) -> None:
    for operation in (lambda: ts.add_schema(tenants, "t-none", schema_doc()),
                      lambda: ts.list_schemas(tenants, "t-none"),
                      lambda: ts.remove_schema(tenants, "t-none", CUSTOM),
                      lambda: ts.set_policy(tenants, "t-none", "reject"),
                      lambda: ts.undeclared(tenants, "t-none"),
                      lambda: ts.undeclared_overflow(tenants, "t-none")):
        with pytest.raises(NoSuchTenant, match="tenant list"):
            operation()


# --------------------------------------------------------------------------------------------
# Undeclared attributes: the registry and its throttle
# --------------------------------------------------------------------------------------------


def ours(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ts.log.name]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counts(tenants: TenantTable, tid: str) -> dict[str, int]:
    return {a.path: a.count for a in tenants.undeclared(tid)}


def test_first_sight_is_recorded_at_once_then_counts_every_interval(
        tenants: TenantTable, tid: str) -> None:
    clock = Clock()
    notes = UndeclaredNotes(clock, interval=600)
    notes.note(tenants, tid, [(ATTR, "string")], "User")
    assert counts(tenants, tid) == {ATTR: 1}
    for _ in range(5):
        clock.now += 100
        notes.note(tenants, tid, [(ATTR, "string")], USER)  # a ResourceType works as well
    assert counts(tenants, tid) == {ATTR: 1}  # within the interval: held
    notes.note(tenants, tid, [("fooBar", "boolean")], "User")  # a new name: at once
    assert counts(tenants, tid) == {ATTR: 6, "fooBar": 1}
    clock.now += 599
    notes.note(tenants, tid, [(ATTR, "string"), ("fooBar", "boolean")], "User")
    assert counts(tenants, tid) == {ATTR: 6, "fooBar": 1}
    clock.now += 1
    notes.note(tenants, tid, [(ATTR, "number")], "User")
    assert counts(tenants, tid) == {ATTR: 8, "fooBar": 2}
    recorded = {a.path: a.types for a in tenants.undeclared(tid)}
    assert recorded[ATTR] == ("number", "string")


def test_the_same_name_for_another_resource_type_is_another_name(tenants: TenantTable,
                                                                 tid: str) -> None:
    notes = UndeclaredNotes(Clock())
    notes.note(tenants, tid, [("fooBar", "string")], "User")
    notes.note(tenants, tid, [("FOOBAR", "string")], "Group")
    assert sorted((a.resource_type, a.path, a.count) for a in tenants.undeclared(tid)) == [
        ("Group", "FOOBAR", 1), ("User", "fooBar", 1)]


def test_a_failed_flush_never_raises_logs_the_type_only_and_is_retried(
        tenants: TenantTable, tid: str, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    notes = UndeclaredNotes(clock, interval=600)
    with caplog.at_level(logging.WARNING, logger=ts.log.name), hooked(own_thread(busy)):
        notes.note(tenants, tid, [(ATTR, "string")], "User")  # storage down: no exception
    assert ours(caplog) == ["undeclared attributes not recorded (Unavailable)"]
    assert counts(tenants, tid) == {}
    notes.note(tenants, tid, [(ATTR, "string")], "User")
    assert counts(tenants, tid) == {}  # a known name waits for the interval
    clock.now += 600
    notes.note(tenants, tid, [(ATTR, "string")], "User")
    assert counts(tenants, tid) == {ATTR: 3}  # the failed flush's count came along


def test_noting_never_raises_whatever_fails(tenants: TenantTable, tid: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    class Broken(TenantTable):
        def record_undeclared(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"secret detail {ATTR}")

    with caplog.at_level(logging.WARNING, logger=ts.log.name):
        UndeclaredNotes(Clock()).note(Broken(tenants.table), tid, [(ATTR, "string")], "User")
        UndeclaredNotes(Clock()).note(tenants, tid, [(ATTR, "string")], 42)  # type: ignore[arg-type]
    assert ours(caplog) == [
        "undeclared attributes not recorded (RuntimeError)",
        "undeclared attributes not recorded (AttributeError)"]
    assert ATTR not in caplog.text


def test_nothing_to_note_touches_nothing(tenants: TenantTable, tid: str) -> None:
    class Counting(TenantTable):
        calls = 0

        def record_undeclared(self, *args: Any, **kwargs: Any) -> None:
            Counting.calls += 1

    UndeclaredNotes(Clock()).note(Counting(tenants.table), tid, [], "User")
    assert Counting.calls == 0


def test_the_module_function_records_through_the_instance_notes(tenants: TenantTable,
                                                                tid: str) -> None:
    ts.note_undeclared(tenants, tid, [(ATTR, "string")], "User")
    assert counts(tenants, tid) == {ATTR: 1}


def test_undeclared_lists_what_is_still_undeclared(deployment: Path, tenants: TenantTable,
                                                   tid: str) -> None:
    tenants.record_undeclared(tid, [(ATTR, "User", "string"), ("zeta", "User", "string"),
                                    ("alpha", "Group", "number")], now_iso())
    assert [(a.resource_type, a.path) for a in ts.undeclared(tenants, tid)] == [
        ("Group", "alpha"), ("User", ATTR), ("User", "zeta")]
    ts.add_schema(tenants, tid, schema_doc())  # declared now: no longer listed
    assert [(a.resource_type, a.path) for a in ts.undeclared(tenants, tid)] == [
        ("Group", "alpha"), ("User", "zeta")]
    assert ts.undeclared_overflow(tenants, tid) is None


def test_a_tenant_document_is_never_shared_with_the_caller(deployment: Path,
                                                           tenants: TenantTable,
                                                           tid: str) -> None:
    document = schema_doc()
    kept = copy.deepcopy(document)
    ts.add_schema(tenants, tid, document)
    assert document == kept  # "resourceType" is added to the stored copy only
