"""OAuth operations over Azurite: client secrets (shown once, a second for rotation, no
third), federation, listing without secrets, revokes, the tenant's authentication methods with
the warnings an operator needs, Entra JWTs on and off, and signing keys (their states through a
key's life, rotation)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared.auth.signing_keys import RETIRE_AFTER, SigningKey
from shared.manage import clients
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.manage.tenants import create_tenant
from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.settings import from_environ
from shared.store.signing_keys import StoredSigningKey
from shared.timestamps import iso

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
KEY_FIELDS = {"kid", "created", "activates", "state", "retires"}


@pytest.fixture
def tid(opened_deployment: Deployment) -> str:
    return str(create_tenant(opened_deployment, "OAuth")["tenant_id"])


def status_of(call: object, *args: object, **kwargs: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(ManageError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.detail


def test_secrets_rotation_listing_and_revoke(opened_deployment: Deployment, tid: str) -> None:
    first = clients.add_client_secret(opened_deployment, tid, days=30, name="Entra")
    assert set(first) == {"tenant_id", "tenant_url", "token_endpoint", "client_id",
                          "client_secret", "secret_id", "expires", "warnings"}
    assert first["warnings"] == []
    second = clients.add_client_secret(opened_deployment, tid, client_id=first["client_id"])
    assert second["client_id"] == first["client_id"]
    status, detail = status_of(clients.add_client_secret, opened_deployment, tid,
                               client_id=first["client_id"])
    assert (status, "revoke one first" in detail) == (409, True)
    assert status_of(clients.add_client_secret, opened_deployment, tid, days=0)[0] == 400
    assert status_of(clients.add_client_secret, opened_deployment, tid,
                     client_id=first["client_id"], name="rename")[0] == 400
    listed = clients.list_clients(opened_deployment, tid)
    [client] = listed["clients"]
    assert [s["secret_id"] for s in client["secrets"]] == [first["secret_id"],
                                                          second["secret_id"]]
    assert first["client_secret"] not in str(listed)
    done = clients.revoke_client(opened_deployment, tid, first["client_id"],
                                 secret_id=first["secret_id"])
    assert done["revoked"] == f"secret {first['secret_id']} of client {first['client_id']}"
    assert status_of(clients.revoke_client, opened_deployment, tid, first["client_id"],
                     secret_id=first["secret_id"])[0] == 404
    last = clients.revoke_client(opened_deployment, tid, first["client_id"],
                                 secret_id=second["secret_id"])
    assert any("has no credential left" in w for w in last["warnings"])
    clients.revoke_client(opened_deployment, tid, first["client_id"])
    assert clients.list_clients(opened_deployment, tid)["clients"] == []


def test_federation(opened_deployment: Deployment, tid: str) -> None:
    made = clients.federate_client(opened_deployment, tid, entra_tenant=GUID.upper(),
                                   subject=" sub ", audience="api://a/.default")
    assert made["credential"]["issuer"] == f"https://login.microsoftonline.com/{GUID}/v2.0"
    assert (made["credential"]["subject"], made["credential"]["audience"]) == ("sub", "api://a")
    again = clients.federate_client(opened_deployment, tid, entra_tenant=GUID, subject="two",
                                    audience="api://a", client_id=made["client_id"])
    assert any(w.startswith(f"replaced federated credential {made['credential']['id']}")
               for w in again["warnings"])
    for kwargs in ({"entra_tenant": "contoso"}, {"subject": "a\nb"}, {"audience": " "}):
        call = {"entra_tenant": GUID, "subject": "s", "audience": "api://a", **kwargs}
        assert status_of(clients.federate_client, opened_deployment, tid, **call)[0] == 400


def test_tenant_auth_and_entra_jwts(opened_deployment: Deployment, tid: str) -> None:
    shown = clients.tenant_auth(opened_deployment, tid)
    assert (shown["auth_methods"], shown["secret_tokens"], shown["changed"]) == (
        ["secret-token", "oauth"], 1, False)
    oauth_only = clients.tenant_auth(opened_deployment, tid, "oauth")
    assert oauth_only["auth_methods"] == ["oauth"]
    assert any("does not accept Secret Tokens" in w for w in oauth_only["warnings"])
    assert any("holds no usable credential" in w for w in oauth_only["warnings"])
    assert status_of(clients.tenant_auth, opened_deployment, tid, "oath")[0] == 400
    assert clients.set_entra_jwt(opened_deployment, tid, GUID.upper()) == {
        "tenant_id": tid, "entra_tenant_id": GUID}
    assert clients.set_entra_jwt(opened_deployment, tid, None)["entra_tenant_id"] is None
    assert status_of(clients.set_entra_jwt, opened_deployment, tid, "x")[0] == 400


@pytest.mark.parametrize(("text", "days"), [("90d", 90), ("2Y", 730), (" 1d ", 1)])
def test_expires(text: str, days: int) -> None:
    assert clients.parse_expires(text) == days


@pytest.mark.parametrize("text", ["0d", "4y", "90", "1w", "-1d"])
def test_an_unusable_expires_is_a_400(text: str) -> None:
    assert status_of(clients.parse_expires, text)[0] == 400


def _key(kid: str, activates: datetime) -> SigningKey:
    stored = StoredSigningKey(kid=kid, created=iso(activates), activates=iso(activates),
                              private_pem="")
    return SigningKey(kid, activates, ec.generate_private_key(ec.SECP256R1()), stored)


def test_key_states_follow_the_keys_life() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    old = _key("old", now - timedelta(days=60))
    previous = _key("previous", now - timedelta(days=30))
    current = _key("current", now - timedelta(hours=1))
    pending = _key("next", now + timedelta(minutes=5))
    rows = clients.key_states([old, previous, current, pending], now)
    assert [(r["kid"], r["state"], r["retires"]) for r in rows] == [
        ("old", "retired", iso(previous.activates + RETIRE_AFTER)),
        ("previous", "retiring", iso(current.activates + RETIRE_AFTER)),
        ("current", "signing", None), ("next", "pending", None)]
    assert [set(r) for r in rows] == [KEY_FIELDS] * 4


def test_rotation(app_env: dict[str, str]) -> None:
    """Tables of this test's own: an immediate rotation deletes every other key."""
    own = from_environ({**os.environ, **app_env,
                        "SCIM_TABLE_PREFIX": "k" + uuid.uuid4().hex[:12]})
    d = Deployment.open(own)
    d.tables.ensure()
    assert clients.list_signing_keys(d) == []
    first = clients.rotate_signing_key(d, immediately=True)
    assert (first["deleted"], first["refused_within_s"]) == (0, None)
    scheduled = clients.rotate_signing_key(d)
    assert scheduled["current_retires"] is not None
    assert [k["state"] for k in clients.list_signing_keys(d)] == ["signing", "pending"]
    assert status_of(clients.rotate_signing_key, d)[0] == 409
    leaked = clients.rotate_signing_key(d, immediately=True)
    assert leaked["deleted"] == 2
    assert [k["kid"] for k in clients.list_signing_keys(d)] == [leaked["kid"]]


def test_served_an_auth_change_holds_at_once_in_this_process(
        served_deployment: Deployment, scim_service: ScimService) -> None:
    created = create_tenant(served_deployment, "Served auth")
    tid, token = created["tenant_id"], created["token"]

    def status() -> int:  # no forget(): the authenticator's cache included
        return scim_service.handle(ScimRequest("GET", tid, "Users", headers={
            "authorization": f"Bearer {token}"})).status

    assert status() == 200  # now cached as valid
    clients.tenant_auth(served_deployment, tid, "oauth")
    assert status() == 401
