"""Secret Token operations over Azurite: rotation (a second token, the third refused with a
409 that says to revoke one), last use as recorded by SCIM requests, and a revoke that the
serving process honours at once."""

from __future__ import annotations

import httpx
import pytest

from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from shared.manage.tokens import add_token, list_tokens, revoke_token


def test_rotation_adds_one_token_then_refuses_a_third(opened_deployment: Deployment) -> None:
    created = create_tenant(opened_deployment, "Rotate")
    tid = created["tenant_id"]
    added = add_token(opened_deployment, tid)
    assert set(added) == {"tenant_id", "tenant_url", "token", "token_id", "prefix", "created"}
    assert added["token"].startswith(added["prefix"])
    assert added["token_id"] != created["token_id"]
    with pytest.raises(ManageError) as caught:
        add_token(opened_deployment, tid)
    assert caught.value.status == 409
    assert "revoke" in caught.value.detail
    listed = list_tokens(opened_deployment, tid)
    assert [t["token_id"] for t in listed] == [created["token_id"], added["token_id"]]
    assert all(set(t) == {"token_id", "prefix", "created", "last_used"} for t in listed)


def test_last_use_and_revoke_take_effect_in_the_serving_process(
        served: str, served_deployment: Deployment) -> None:
    created = create_tenant(served_deployment, "Used")
    tid = created["tenant_id"]
    second = add_token(served_deployment, tid)
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30,
                      headers={"Authorization": f"Bearer {created['token']}"}) as scim:
        assert scim.get("/Users").status_code == 200
        used = {t["token_id"]: t["last_used"] for t in list_tokens(served_deployment, tid)}
        assert used[created["token_id"]] is not None
        assert used[second["token_id"]] is None
        assert revoke_token(served_deployment, tid, created["token_id"]) == {
            "tenant_id": tid, "token_id": created["token_id"], "revoked": True}
        assert scim.get("/Users").status_code == 401
    with httpx.Client(base_url=f"{served}/scim/v2/{tid}", timeout=30,
                      headers={"Authorization": f"Bearer {second['token']}"}) as scim:
        assert scim.get("/Users").status_code == 200
    assert [t["token_id"] for t in list_tokens(served_deployment, tid)] == [second["token_id"]]


def test_revoking_an_unknown_token_is_a_404(opened_deployment: Deployment) -> None:
    created = create_tenant(opened_deployment, "Unknown")
    with pytest.raises(ManageError) as caught:
        revoke_token(opened_deployment, created["tenant_id"], "deadbeef")
    assert caught.value.status == 404
    assert len(list_tokens(opened_deployment, created["tenant_id"])) == 1
