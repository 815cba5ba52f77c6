"""shared/admin/schema.py, the `schema` commands of the operator CLI, run in-process through
`main(argv)` against Azurite: add (from a file, with what it stored), list, remove, undeclared
and policy - and every mistake an operator can make is one line saying what to do, with exit
status 1 (tests/e2e/test_admin_cli.py runs them as a subprocess)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.service import tenant_schemas
from shared.service.app import ScimService
from shared.store.tenants import MAX_UNDECLARED_NAMES, Tenant
from shared.timestamps import now_iso
from tests.admin.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "schemas" / "examples" / "custom-extension-name.json"
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ATTR = f"{CUSTOM}:CustomAttribute"


@pytest.fixture
def tid(scim_service: ScimService, tenant_id: str) -> str:
    scim_service.tenants.create(Tenant(id=tenant_id, name="Contoso", created=now_iso()))
    return tenant_id


@pytest.fixture(autouse=True)
def no_deployment_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    folder = tmp_path / "deployment"
    folder.mkdir()
    monkeypatch.setattr(tenant_schemas, "schemas_folder", lambda: folder)
    tenant_schemas.clear_caches()
    yield folder
    tenant_schemas.clear_caches()


def one_error_line(run: Run, *expected: str) -> None:
    """Exit status 1 and a single `error: …` line holding each of `expected`; no traceback."""
    assert run.code == 1, run
    assert run.err.startswith("error: "), run.err
    assert run.err.count("\n") == 1, run.err
    assert "Traceback" not in run.err
    for text in expected:
        assert text in run.err, (text, run.err)


def write(tmp_path: Path, document: Any, name: str = "schema.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def stored(service: ScimService, tid: str) -> Tenant:
    record = service.tenants.get(tid)
    assert record is not None
    return record


# --------------------------------------------------------------------------------------------
# schema add
# --------------------------------------------------------------------------------------------


def test_add_stores_the_schema_and_reports_what_it_stored(cli: Any, tid: str,
                                                          scim_service: ScimService) -> None:
    run = cli("schema", "add", tid, str(EXAMPLE))
    assert run.code == 0, run.err
    first, attribute = run.out.splitlines()[:2]
    assert first == (f"tenant {tid}: declared {CUSTOM} for User (1 attribute); instances "
                     "apply it within 30 s")
    assert attribute.split() == [ATTR, "string", "readWrite"]
    assert [s["id"] for s in stored(scim_service, tid).schemas] == [CUSTOM]
    assert stored(scim_service, tid).schemas[0]["resourceType"] == "User"


def test_add_shows_sub_attributes_and_characteristics(cli: Any, tid: str,
                                                      tmp_path: Path) -> None:
    document = {"id": "urn:acme:badges", "attributes": [
        {"name": "number", "uniqueness": "server", "caseExact": True, "required": True},
        {"name": "doors", "type": "complex", "multiValued": True, "subAttributes": [
            {"name": "code", "mutability": "immutable"}]}]}
    run = cli("schema", "add", tid, write(tmp_path, document), "--resource-type", "Group")
    assert run.code == 0, run.err
    lines = [line.split() for line in run.out.splitlines()[1:]]
    assert lines == [
        ["urn:acme:badges:number", "string", "readWrite", "required", "caseExact",
         "uniqueness=server"],
        ["urn:acme:badges:doors", "complex[]", "readWrite"],
        ["urn:acme:badges:doors.code", "string", "immutable"]]
    assert "for Group (2 attributes)" in run.out


def test_add_notes_values_captured_before_the_declaration(cli: Any, tid: str,
                                                          scim_service: ScimService) -> None:
    scim_service.tenants.record_undeclared(tid, {(ATTR, "User", "number"): 4}, now_iso())
    run = cli("schema", "add", tid, str(EXAMPLE))
    assert run.code == 0, run.err
    note = run.out.splitlines()[-1]
    assert note.startswith(f"note: Entra sent {ATTR} 4 time(s) before, as number;")
    assert "type string" in note


def test_add_of_a_urn_already_declared_says_remove_it_first(cli: Any, tid: str) -> None:
    assert cli("schema", "add", tid, str(EXAMPLE)).code == 0
    one_error_line(cli("schema", "add", tid, str(EXAMPLE)), CUSTOM, "schema remove")


@pytest.mark.parametrize(("content", "expected"), [
    ('{"id": "urn:x:2.0:User",}', "is not JSON (line 1, column"),
    ("[1, 2]", "must hold one schema document"),
    ({"id": CUSTOM, "attributes": [{"name": "a", "mutability": "writable"}]},
     "'mutability' of attribute 'a'"),
    ({"id": CUSTOM, "attributes": [{"name": "a"}], "resourcetype": "User",
      "resourceType": "User"}, "Unknown key 'resourcetype'"),
    ({"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": [{"name": "a"}]},
     "built-in"),
    ({"id": "urn:acme:badges", "attributes": [{"name": "a"}]}, "--resource-type"),
])
def test_add_of_a_bad_file_is_one_line_naming_the_file(cli: Any, tid: str, tmp_path: Path,
                                                       content: Any, expected: str,
                                                       scim_service: ScimService) -> None:
    path = write(tmp_path, content)
    one_error_line(cli("schema", "add", tid, path), expected)
    assert stored(scim_service, tid).schemas == []


def test_add_of_a_missing_or_binary_file(cli: Any, tid: str, tmp_path: Path) -> None:
    one_error_line(cli("schema", "add", tid, str(tmp_path / "nope.json")), "cannot read",
                   "nope.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    one_error_line(cli("schema", "add", tid, str(tmp_path / "binary.json")), "UTF-8")


def test_add_over_a_limit_says_which(cli: Any, tid: str, tmp_path: Path) -> None:
    for n in range(tenant_schemas.MAX_SCHEMAS):
        assert cli("schema", "add", tid, write(tmp_path, {
            "id": f"urn:acme:s{n}:2.0:User", "attributes": [{"name": "a"}]})).code == 0
    one_error_line(cli("schema", "add", tid, write(tmp_path, {
        "id": "urn:acme:more:2.0:User", "attributes": [{"name": "a"}]})), "at most 10 schemas",
        "schema remove")


def test_commands_on_an_unknown_tenant_point_at_tenant_list(cli: Any) -> None:
    for argv in (("add", "t-none", str(EXAMPLE)), ("list", "t-none"),
                 ("remove", "t-none", CUSTOM), ("undeclared", "t-none"),
                 ("policy", "t-none", "reject")):
        one_error_line(cli("schema", *argv), "no tenant 't-none'", "tenant list")


# --------------------------------------------------------------------------------------------
# schema list, remove, policy
# --------------------------------------------------------------------------------------------


def test_list_shows_the_policy_and_every_schema_in_effect(cli: Any, tid: str,
                                                          no_deployment_schemas: Path) -> None:
    run = cli("schema", "list", tid)
    assert run.out.splitlines() == [
        f"tenant {tid}: undeclared attributes are captured (stored as sent)",
        "no extension schemas besides the built-in ones"]
    (no_deployment_schemas / "badge.json").write_text(json.dumps(
        {"id": "urn:acme:2.0:User", "attributes": [{"name": "badge"}, {"name": "floor"}]}))
    tenant_schemas.clear_caches()
    assert cli("schema", "add", tid, str(EXAMPLE)).code == 0
    assert cli("schema", "policy", tid, "reject").code == 0
    lines = cli("schema", "list", tid).out.splitlines()
    assert lines[0] == f"tenant {tid}: undeclared attributes are rejected (400)"
    assert [line.split(maxsplit=2)[:2] for line in lines[1:]] == [
        ["urn:acme:2.0:User", "User"], [CUSTOM, "User"]]
    assert lines[1].endswith("deployment (badge.json)  badge, floor")
    assert lines[2].endswith("tenant  CustomAttribute")
    listed = cli("schema", "list", tid, "--json").json()
    assert (listed["tenant_id"], listed["undeclared_policy"]) == (tid, "reject")
    assert [(s["urn"], s["origin"], s["attributes"]) for s in listed["schemas"]] == [
        ("urn:acme:2.0:User", "badge.json", ["badge", "floor"]),
        (CUSTOM, "tenant", ["CustomAttribute"])]
    assert listed["schemas"][1]["document"] == json.loads(EXAMPLE.read_text())


def test_remove_withdraws_the_schema(cli: Any, tid: str, scim_service: ScimService) -> None:
    assert cli("schema", "add", tid, str(EXAMPLE)).code == 0
    run = cli("schema", "remove", tid, CUSTOM.lower())
    assert run.code == 0, run.err
    assert run.out.startswith(f"tenant {tid}: removed {CUSTOM} (User); values already stored "
                              "stay in the resources as undeclared attributes")
    assert stored(scim_service, tid).schemas == []


def test_remove_of_an_unknown_urn_names_the_declared_ones(cli: Any, tid: str) -> None:
    one_error_line(cli("schema", "remove", tid, "urn:acme:nope"), "declares no schema",
                   "it declares: none")
    assert cli("schema", "add", tid, str(EXAMPLE)).code == 0
    one_error_line(cli("schema", "remove", tid, "urn:acme:nope"), f"it declares: {CUSTOM}")


def test_policy_sets_what_undeclared_attributes_get(cli: Any, tid: str,
                                                    scim_service: ScimService) -> None:
    run = cli("schema", "policy", tid, "reject")
    assert run.code == 0, run.err
    assert "rejected: a request carrying one gets a 400" in run.out
    assert stored(scim_service, tid).undeclared == "reject"
    assert "captured" in cli("schema", "policy", tid, "capture").out
    assert stored(scim_service, tid).undeclared == "capture"
    bad = cli("schema", "policy", tid, "drop")
    assert bad.code == 2  # argparse: the choices are listed
    assert "capture" in bad.err


# --------------------------------------------------------------------------------------------
# schema undeclared
# --------------------------------------------------------------------------------------------


def test_undeclared_prints_a_table_and_json(cli: Any, tid: str,
                                            scim_service: ScimService) -> None:
    assert cli("schema", "undeclared", tid).out == (
        f"tenant {tid}: no undeclared attributes recorded\n")
    assert cli("schema", "undeclared", tid, "--json").json() == []
    scim_service.tenants.record_undeclared(tid, [(ATTR, "User", "string"),
                                                 (ATTR, "User", "string"),
                                                 ("fooBar", "Group", "boolean")],
                                           "2026-05-01T10:00:00.000Z")
    lines = cli("schema", "undeclared", tid).out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "PATH", "RESOURCE TYPE", "FIRST SEEN", "LAST SEEN", "COUNT", "TYPES"]
    assert lines[1].split() == ["fooBar", "Group", "2026-05-01T10:00:00.000Z",
                                "2026-05-01T10:00:00.000Z", "1", "boolean"]
    assert lines[2].split() == [ATTR, "User", "2026-05-01T10:00:00.000Z",
                                "2026-05-01T10:00:00.000Z", "2", "string"]
    assert len({line.index("2026") for line in lines[1:]}) == 1  # columns line up
    assert cli("schema", "undeclared", tid, "--json").json() == [
        {"path": "fooBar", "resource_type": "Group", "first_seen": "2026-05-01T10:00:00.000Z",
         "last_seen": "2026-05-01T10:00:00.000Z", "count": 1, "types": ["boolean"]},
        {"path": ATTR, "resource_type": "User", "first_seen": "2026-05-01T10:00:00.000Z",
         "last_seen": "2026-05-01T10:00:00.000Z", "count": 2, "types": ["string"]}]
    assert cli("schema", "add", tid, str(EXAMPLE)).code == 0  # declared: no longer listed
    assert [a["path"] for a in cli("schema", "undeclared", tid, "--json").json()] == ["fooBar"]


def test_undeclared_reports_sightings_beyond_the_limit(cli: Any, tid: str,
                                                       scim_service: ScimService) -> None:
    names = {(f"a{n:03d}", "User", "string"): 1 for n in range(MAX_UNDECLARED_NAMES + 3)}
    scim_service.tenants.record_undeclared(tid, names, "2026-05-01T10:00:00.000Z")
    run = cli("schema", "undeclared", tid)
    assert len(run.out.splitlines()) == 1 + MAX_UNDECLARED_NAMES + 1
    assert run.out.splitlines()[-1].startswith("and 3 sighting(s) of further names")
    listed = cli("schema", "undeclared", tid, "--json")
    assert len(listed.json()) == MAX_UNDECLARED_NAMES  # the JSON list stays a list of names
    assert "3 sighting(s)" in listed.err
