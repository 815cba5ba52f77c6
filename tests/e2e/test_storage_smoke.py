"""A SCIM round over HTTP against the served app, in whichever storage mode the session runs
(SCIM_TEST_STORAGE, docs/testing.md): create, read, PATCH and filter a user, a group with it as
member, deletes. In https-oauth mode this is the production path end to end: HTTPS to the
table endpoint, DefaultAzureCredential asking the managed-identity endpoint for the app's
AZURE_CLIENT_ID, bearer tokens that Azurite checks."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from tests.support import entra_tokens, storage_modes
from tests.support.storage_modes import TestStorage

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = {"Content-Type": "application/scim+json"}

pytestmark = pytest.mark.served


def test_scim_round_over_the_session_storage(client: httpx.Client, storage: TestStorage,
                                             app_env: dict[str, str]) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}@example.com"
    created = client.post("/Users", headers=SCIM_JSON, json={
        "schemas": [USER], "userName": name, "active": True,
        "name": {"givenName": "Smoke", "familyName": "Test"}})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    got = client.get(f"/Users/{user_id}")
    assert got.status_code == 200, got.text
    assert (got.json()["userName"], got.json()["name"]["givenName"]) == (name, "Smoke")

    patched = client.patch(f"/Users/{user_id}", headers=SCIM_JSON, json={
        "schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "name.givenName", "value": "Patched"},
            {"op": "replace", "path": "active", "value": False}]})
    assert patched.status_code in (200, 204), patched.text
    after = client.get(f"/Users/{user_id}").json()
    assert (after["name"]["givenName"], after["active"]) == ("Patched", False)

    listed = client.get("/Users", params={"filter": f'userName eq "{name}"'})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["Resources"]] == [user_id]
    assert client.get("/Users", params={"filter": 'userName eq "nobody@example.com"'}
                      ).json()["totalResults"] == 0

    group = client.post("/Groups", headers=SCIM_JSON, json={
        "schemas": [GROUP], "displayName": f"Smoke {name}", "members": [{"value": user_id}]})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    members = client.get(f"/Groups/{group_id}").json().get("members", [])
    assert [m["value"] for m in members] == [user_id]

    assert client.delete(f"/Users/{user_id}").status_code == 204
    assert client.get(f"/Users/{user_id}").status_code == 404
    assert client.get(f"/Groups/{group_id}").json().get("members", []) == []
    assert client.delete(f"/Groups/{group_id}").status_code == 204
    assert client.get(f"/Groups/{group_id}").status_code == 404

    if storage.mode == storage_modes.HTTPS_OAUTH:
        # The app asked the managed-identity endpoint, for its own identity and for Storage.
        assert storage.identity is not None
        granted = storage.identity.granted()
        assert granted, "the app got no token from the managed-identity endpoint"
        assert {r.client_id for r in granted} == {app_env["AZURE_CLIENT_ID"]}
        assert {r.resource for r in granted} == {entra_tokens.STORAGE_RESOURCE}
        assert "SCIM_STORAGE_CONNECTION_STRING" not in app_env
        assert app_env["SCIM_STORAGE_TABLE_ENDPOINT"].startswith("https://")


def test_the_served_app_stores_through_the_backend_the_session_names(
        served: str, app_env: dict[str, str]) -> None:
    """`SCIM_STORAGE_CLIENT=sdk pytest tests/e2e` must really serve through the SDK backend:
    otherwise a run on "both backends" would run one twice."""
    from shared.adapter import runtime
    from shared.store.sdk_table import SdkTable
    from shared.store.table import Table

    expected = SdkTable if os.environ.get("SCIM_STORAGE_CLIENT") == "sdk" else Table
    tables = runtime.service().tables
    for table in (tables.data, tables.tenants, tables.audit, tables.runs):
        assert type(table) is expected
