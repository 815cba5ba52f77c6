"""Custom attribute operations over Azurite: declare a schema (what was stored, notes about
values Entra sent before), list, remove, undeclared attributes (and their overflow), the
policy; refusals are 400 (a document the tenant cannot take), 409 (declared already) or 404."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.manage import schemas
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from shared.service import tenant_schemas
from shared.timestamps import now_iso

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "schemas" / "examples" / "custom-extension-name.json").read_text())
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ATTR = f"{CUSTOM}:CustomAttribute"


@pytest.fixture(autouse=True)
def no_deployment_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    folder = tmp_path / "deployment"
    folder.mkdir()
    monkeypatch.setattr(tenant_schemas, "schemas_folder", lambda: folder)
    tenant_schemas.clear_caches()
    yield folder
    tenant_schemas.clear_caches()


@pytest.fixture
def tid(opened_deployment: Deployment) -> str:
    return str(create_tenant(opened_deployment, "Schemas")["tenant_id"])


def status_of(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ManageError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.detail


def test_add_list_and_remove(opened_deployment: Deployment, tid: str) -> None:
    opened_deployment.tenants.record_undeclared(tid, {(ATTR, "User", "number"): 4}, now_iso())
    added = schemas.add_schema(opened_deployment, tid, EXAMPLE)
    assert (added["tenant_id"], added["urn"], added["resource_type"]) == (tid, CUSTOM, "User")
    assert [a["path"] for a in added["attributes"]] == [ATTR]
    assert {k: added["attributes"][0][k] for k in ("type", "mutability", "multi_valued")} == {
        "type": "string", "mutability": "readWrite", "multi_valued": False}
    [note] = added["notes"]
    assert note.startswith(f"Entra sent {ATTR} 4 time(s) before, as number;")
    listed = schemas.list_schemas(opened_deployment, tid)
    assert (listed["tenant_id"], listed["undeclared_policy"]) == (tid, "capture")
    [one] = listed["schemas"]
    assert (one["urn"], one["resource_type"], one["origin"], one["attributes"],
            one["problem"]) == (CUSTOM, "User", "tenant", ["CustomAttribute"], None)
    assert status_of(schemas.add_schema, opened_deployment, tid, EXAMPLE)[0] == 409
    removed = schemas.remove_schema(opened_deployment, tid, CUSTOM)
    assert removed == {"tenant_id": tid, "urn": CUSTOM, "resource_type": "User",
                       "removed": True}
    assert schemas.list_schemas(opened_deployment, tid)["schemas"] == []
    status, detail = status_of(schemas.remove_schema, opened_deployment, tid, CUSTOM)
    assert (status, "it declares: none" in detail) == (404, True)


@pytest.mark.parametrize(("document", "resource_type", "says"), [
    ({"id": CUSTOM, "attributes": [{"name": "a", "mutability": "writable"}]}, None,
     "'mutability' of attribute 'a'"),
    ({"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": [{"name": "a"}]},
     None, "built-in"),
    ({"id": "urn:acme:badges", "attributes": [{"name": "a"}]}, None, "--resource-type"),
    ({"id": CUSTOM, "attributes": [{"name": "a"}]}, "Group", "but extends Group"),
])
def test_a_document_the_tenant_cannot_take_is_a_400(opened_deployment: Deployment, tid: str,
                                                   document: dict[str, Any],
                                                   resource_type: str | None,
                                                   says: str) -> None:
    status, detail = status_of(schemas.add_schema, opened_deployment, tid, document,
                               resource_type=resource_type)
    assert status == 400
    assert says in detail
    assert opened_deployment.tenant(tid).schemas == []


def test_undeclared_and_policy(opened_deployment: Deployment, tid: str) -> None:
    assert schemas.list_undeclared(opened_deployment, tid) == []
    assert schemas.undeclared_overflow(opened_deployment, tid) is None
    opened_deployment.tenants.record_undeclared(tid, {("fooBar", "Group", "boolean"): 2},
                                                "2026-05-01T10:00:00.000Z")
    assert schemas.list_undeclared(opened_deployment, tid) == [
        {"path": "fooBar", "resource_type": "Group", "first_seen": "2026-05-01T10:00:00.000Z",
         "last_seen": "2026-05-01T10:00:00.000Z", "count": 2, "types": ["boolean"]}]
    assert schemas.set_undeclared_policy(opened_deployment, tid, "reject") == {
        "tenant_id": tid, "undeclared_policy": "reject"}
    assert opened_deployment.tenant(tid).undeclared == "reject"
    assert status_of(schemas.set_undeclared_policy, opened_deployment, tid, "drop")[0] == 400


def test_unknown_tenant_is_a_404(opened_deployment: Deployment) -> None:
    for call, args in ((schemas.list_schemas, ()), (schemas.list_undeclared, ()),
                       (schemas.add_schema, (EXAMPLE,)), (schemas.remove_schema, (CUSTOM,)),
                       (schemas.set_undeclared_policy, ("capture",))):
        assert status_of(call, opened_deployment, "nosuchtenant0", *args)[0] == 404
