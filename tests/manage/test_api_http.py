"""The management API over HTTP, as the served app (function_app through the local host)
answers it: who may call (the development credential and an Entra token with the role; a
tenant's Secret Token, an access token from our own token endpoint and a feed credential are
401 with a challenge, an Entra token without the role 403), an operator's day end to end
(create a tenant, rotate its Secret Token, a feed credential, a dead letter replayed,
offboarding), tenant isolation, and the JSON refusals and headers on the wire."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from shared.auth import clients
from shared.manage import tenants as tenants_module
from shared.service.app import ScimService
from shared.store.outbox import Outbox
from tests.conftest import MANAGE_AUDIENCE, MANAGE_ENTRA_TENANT_ID
from tests.manage.test_dead_letters import make_dead
from tests.support.entra_keys import Jwks

pytestmark = pytest.mark.served
ROLE = "Connector.Admin"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def manage(served: str, admin_credential: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{served}/manage/v1", timeout=60,
                      headers={"Authorization": f"Bearer {admin_credential}"}) as c:
        yield c


def entra_token(keys: Jwks, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": f"https://login.microsoftonline.com/{MANAGE_ENTRA_TENANT_ID}/v2.0",
               "aud": MANAGE_AUDIENCE, "iat": now, "nbf": now - 10, "exp": now + 3600,
               "tid": MANAGE_ENTRA_TENANT_ID, "oid": str(uuid.uuid4()), "roles": [ROLE],
               "azp": "5a1c0f3e-7d2b-4c8a-9e6f-1b2c3d4e5f60", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None},
                      keys.private["k1"], algorithm="RS256", headers={"kid": "k1"})


def refused(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["error"] == error
    assert "\n" not in r.json()["detail"]


def test_only_operators_get_in(served: str, manage: httpx.Client, scim_service: ScimService,
                               entra_keys: Jwks) -> None:
    made = manage.post("/tenants", json={"name": "Fabrikam"}).json()
    tid, secret_token = made["tenant_id"], made["token"]
    reader = manage.post(f"/tenants/{tid}/feed-tokens").json()["token"]
    # An access token from the deployment's own token endpoint, for a client of the tenant.
    record = scim_service.tenants.get(tid)
    assert record is not None
    client = clients.add_client(record, datetime.now(UTC))
    client_secret = clients.add_secret(client, datetime.now(UTC))
    scim_service.tenants.save(record)
    issued = httpx.post(f"{served}/oauth2/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": client.id,
        "client_secret": client_secret})
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]
    for credential in (secret_token, reader, access, None):
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        for method, path in (("GET", "/whoami"), ("GET", "/tenants"),
                             ("POST", f"/tenants/{tid}/disable"),
                             ("DELETE", f"/tenants/{tid}")):
            r = httpx.request(method, f"{served}/manage/v1{path}", headers=headers, timeout=30)
            refused(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
    # The tenant's own credentials still work where they belong.
    scim = httpx.get(f"{served}/scim/v2/{tid}/Users", timeout=30,
                     headers={"Authorization": f"Bearer {access}"})
    assert scim.status_code == 200, scim.text

    no_role = {"Authorization": f"Bearer {entra_token(entra_keys, roles=['Reader'])}"}
    r = httpx.get(f"{served}/manage/v1/tenants", headers=no_role, timeout=30)
    refused(r, 403, "forbidden")
    assert ROLE in r.json()["detail"]
    with_role = {"Authorization": f"Bearer {entra_token(entra_keys)}"}
    r = httpx.get(f"{served}/manage/v1/whoami", headers=with_role, timeout=30)
    assert (r.status_code, r.json()["method"], r.json()["roles"]) == (200, "entra", [ROLE])


def test_an_operators_day(served: str, manage: httpx.Client, scim_service: ScimService,
                          outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert manage.get("/whoami").json()["method"] == "development"
    created = manage.post("/tenants", json={"name": "Contoso"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    tenant = created.json()
    tid = tenant["tenant_id"]
    scim = f"{served}/scim/v2/{tid}/Users"

    def scim_status(token: str) -> int:
        scim_service.auth.forget(tid)
        return httpx.get(scim, headers={"Authorization": f"Bearer {token}"},
                         timeout=30).status_code

    assert scim_status(tenant["token"]) == 200
    # Rotation: a second token, then the first revoked.
    added = manage.post(f"/tenants/{tid}/tokens").json()
    assert scim_status(added["token"]) == 200
    assert manage.delete(f"/tenants/{tid}/tokens/{tenant['token_id']}").json()["revoked"]
    assert scim_status(tenant["token"]) == 401
    assert [t["token_id"] for t in manage.get(f"/tenants/{tid}/tokens").json()] == [
        added["token_id"]]
    # A dead letter, replayed.
    make_dead(scim_service, outbox, tid, 1)
    [dead] = manage.get(f"/tenants/{tid}/dead-letters").json()
    replay = manage.post(f"/tenants/{tid}/dead-letters/replay",
                         json={"event_ids": [dead["event_id"]]})
    assert (replay.status_code, replay.json()["replayed"]) == (200, 1)
    assert manage.get(f"/tenants/{tid}/dead-letters").json() == []
    # Health and activity for the console's tenant page.
    assert manage.get(f"/tenants/{tid}/health").json()["tenant_id"] == tid
    assert len(manage.get(f"/tenants/{tid}/activity", params={"hours": 1}).json()["series"]) == 1
    # Offboarding: 202 until requests accepted before the mark are over, then 200.
    first = manage.delete(f"/tenants/{tid}")
    assert (first.status_code, first.json()["complete"]) == (202, False)
    assert first.headers["retry-after"] == "5"
    assert scim_status(added["token"]) == 401
    monkeypatch.setattr(tenants_module, "SETTLE_SECONDS", 0.0)
    done = manage.delete(f"/tenants/{tid}")
    assert (done.status_code, done.json()["complete"]) == (200, True)
    refused(manage.get(f"/tenants/{tid}"), 404, "not_found")


def test_one_tenants_paths_never_reach_another(served: str, manage: httpx.Client) -> None:
    a = manage.post("/tenants", json={"name": "A"}).json()
    b = manage.post("/tenants", json={"name": "B"}).json()
    refused(manage.delete(f"/tenants/{a['tenant_id']}/tokens/{b['token_id']}"), 404,
            "not_found")
    b_reader = manage.post(f"/tenants/{b['tenant_id']}/feed-tokens").json()
    refused(manage.delete(f"/tenants/{a['tenant_id']}/feed-tokens/{b_reader['token_id']}"),
            404, "not_found")
    shown = manage.get(f"/tenants/{a['tenant_id']}").text + manage.get(
        f"/tenants/{a['tenant_id']}/feed-tokens").text
    assert b["tenant_id"] not in shown
    assert b_reader["token_id"] not in shown
    manage.post(f"/tenants/{a['tenant_id']}/disable")
    after = manage.get(f"/tenants/{b['tenant_id']}").json()
    assert (after["state"], len(after["tokens"]), len(after["feed_tokens"])) == ("active", 1, 1)
    r = httpx.get(f"{served}/scim/v2/{b['tenant_id']}/Users", timeout=30,
                  headers={"Authorization": f"Bearer {b['token']}"})
    assert r.status_code == 200


def test_refusals_on_the_wire(served: str, manage: httpx.Client) -> None:
    refused(manage.get("/nothing"), 404, "not_found")
    refused(manage.get(""), 404, "not_found")
    r = manage.patch("/tenants")
    refused(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    refused(manage.post("/tenants", content=b"{nope", headers={
        "Content-Type": "application/json"}), 400, "invalid")
    refused(manage.post("/tenants", content=b" " * (1_048_576 + 1)), 413, "too_large")
    r = manage.get("/whoami", headers={"X-Request-Id": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
