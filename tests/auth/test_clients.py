"""OAuth clients: ids that name their tenant (and nothing that could not be one), secrets shown
once and stored as digests, at most two at once, expiry bounds and checks, federated
credentials with Entra's scope form of the audience, and the expiry warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth import clients
from shared.auth.clients import ClientError
from shared.store.tenants import Tenant

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _tenant() -> Tenant:
    return Tenant(id="0123abcd0123abcd", name="t", created="2026-12-03T00:00:00.000Z")


def test_a_client_id_names_its_tenant() -> None:
    tenant = _tenant()
    client = clients.add_client(tenant, NOW, name="entra")
    assert tenant.client(client.id) is client
    assert clients.tenant_of(client.id) == tenant.id
    assert client.id.startswith(tenant.id + ".")


@given(st.text(max_size=100))
def test_anything_else_names_no_tenant(text: str) -> None:
    found = clients.tenant_of(text)
    if found is not None:
        suffix = text[len(found) + 1:]
        assert text == f"{found}.{suffix}"
        assert len(suffix) == 16
        assert set(suffix) <= set("0123456789abcdef")


@pytest.mark.parametrize("text", ["", ".", "t.", "t.0123456789abcdeF", "a/b.0123456789abcdef",
                                  "t.0123456789abcde", "t.0123456789abcdef0", "0123456789abcdef"])
def test_malformed_client_ids(text: str) -> None:
    assert clients.tenant_of(text) is None


def test_secrets_are_shown_once_and_stored_as_digests() -> None:
    client = clients.add_client(_tenant(), NOW)
    secret = clients.add_secret(client, NOW, days=365)
    record = client.secrets[0]
    assert secret.startswith(clients.SECRET_PREFIX)
    assert secret not in record.model_dump_json()
    assert secret.startswith(record.prefix)
    assert record.expires == "2027-12-03T00:00:00.000Z"
    check = clients.check_secret(client, secret, NOW)
    assert check.ok
    assert check.record is record
    assert not clients.check_secret(client, secret + "x", NOW).ok
    assert clients.check_secret(client, secret + "x", NOW).record is None


def test_two_secrets_at_once_then_revoke_before_a_third() -> None:
    client = clients.add_client(_tenant(), NOW)
    first = clients.add_secret(client, NOW)
    second = clients.add_secret(client, NOW)
    assert clients.check_secret(client, first, NOW).ok
    assert clients.check_secret(client, second, NOW).ok
    with pytest.raises(ClientError, match="revoke one first"):
        clients.add_secret(client, NOW)


@pytest.mark.parametrize("days", [0, -1, clients.MAX_SECRET_DAYS + 1])
def test_expiry_bounds(days: int) -> None:
    with pytest.raises(ClientError, match="1 to 1095 days"):
        clients.add_secret(clients.add_client(_tenant(), NOW), NOW, days=days)


def test_an_expired_secret_matches_but_does_not_authenticate() -> None:
    client = clients.add_client(_tenant(), NOW)
    secret = clients.add_secret(client, NOW, days=1)
    assert clients.check_secret(client, secret, NOW + timedelta(hours=23)).ok
    late = clients.check_secret(client, secret, NOW + timedelta(days=1))
    assert late.record is not None
    assert late.expired
    assert not late.ok


def test_federation_takes_the_audience_without_the_scope_suffix() -> None:
    client = clients.add_client(_tenant(), NOW)
    credential = clients.set_federation(
        client, NOW, entra_tenant_id="ce5f061f-abe6-4e40-9615-301f87bcb7f0",
        subject=" 11111111-2222-3333-4444-555555555555 ",
        audience="api://b5ba7a93-4452-4522-aeb4-a2b5da870c16/.default")
    assert credential.audience == "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16"
    assert credential.subject == "11111111-2222-3333-4444-555555555555"
    assert client.credential_ids() == {credential.id}
    with pytest.raises(ClientError, match="subject and audience"):
        clients.set_federation(client, NOW, entra_tenant_id="x", subject=" ", audience="a")


def test_expiring_secrets_are_listed_ahead_of_time() -> None:
    tenant = _tenant()
    client = clients.add_client(tenant, NOW)
    clients.add_secret(client, NOW, days=400)
    soon = clients.add_secret(client, NOW, days=20)
    assert soon
    found = clients.expiring(tenant, NOW)
    assert [(e.client_id, e.secret_id) for e in found] == [(client.id, client.secrets[1].id)]
    assert found[0].days_left == pytest.approx(20)
    assert clients.expiring(tenant, NOW + timedelta(days=371))[0].secret_id == client.secrets[0].id
