"""SCIM authentication with the token endpoint's access tokens, on the real tenants table and a
key ring on Azurite: accepted beside Secret Tokens; verified once per token and instance and
then cached like Secret Tokens (one tenant read per 30 s, never past the token's expiry); a
token for another tenant, a revoked client or credential, a withdrawn signing key, a tenant
that turned OAuth off, and a tenant that turned Secret Tokens off are each refused, with the
one 401 where the caller must learn nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shared.auth import clients
from shared.auth.access_tokens import AccessTokens
from shared.auth.authenticator import Authenticator, AuthFailure
from shared.auth.signing_keys import KEY_SET_TTL, KeyRing
from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.store.signing_keys import SigningKeyTable
from shared.store.tenants import Tenant, TenantTable
from shared.timestamps import now_iso
from tests.auth.test_authenticator import INVALID, TTL, Clock, observed

BASE = "https://scim.example.com"


def audience(tenant_id: str) -> str:
    return f"{BASE}/scim/v2/{tenant_id}"


class Counting(AccessTokens):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.verified = 0

    def verify(self, token, *, tenant_id, audience):  # type: ignore[no-untyped-def]
        self.verified += 1
        return super().verify(token, tenant_id=tenant_id, audience=audience)


class Wall:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)


@pytest.fixture
def store(scim_service: ScimService) -> TenantTable:
    return scim_service.tenants


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def ring(key_table: SigningKeyTable, clock: Clock, wall: Wall) -> KeyRing:
    return KeyRing(key_table, now=lambda: wall.now, monotonic=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(ring: KeyRing) -> Counting:
    return Counting(ring, f"{BASE}/oauth2", 3600)


@pytest.fixture
def auth(store: TenantTable, clock: Clock, access: Counting) -> Authenticator:
    return Authenticator(store.get, ttl_seconds=TTL, clock=clock, access=access,
                         audience_of=audience)


def _tenant(store: TenantTable, methods: list[str] | None = None) -> tuple[Tenant, str, str]:
    """A tenant with a Secret Token and one OAuth client: (record, secret token, client id)."""
    record = Tenant(id=new_tenant_id(), name="t", created=now_iso())
    if methods is not None:
        record.auth_methods = methods  # type: ignore[assignment]
    token = issue_token(record)
    client = clients.add_client(record, datetime.now(UTC))
    clients.add_secret(client, datetime.now(UTC))
    store.create(record)
    return record, token, client.id


def _mint(access: AccessTokens, record: Tenant, client_id: str,
          tenant_id: str | None = None) -> str:
    client = record.client(client_id)
    assert client is not None
    return access.mint(tenant_id=tenant_id or record.id, audience=audience(tenant_id or record.id),
                       client_id=client_id, credential_id=client.secrets[0].id).token


def _refused(auth: Authenticator, tenant_id: str, token: str) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        auth.authenticate(tenant_id, f"Bearer {token}")
    assert caught.value.status == 401
    return caught.value


def test_an_access_token_is_verified_once_and_cached_like_a_secret_token(
        auth: Authenticator, store: TenantTable, access: Counting, clock: Clock) -> None:
    record, secret_token, client_id = _tenant(store)
    token = _mint(access, record, client_id)
    with observed(store, record.id) as requests:
        for _ in range(5):
            assert auth.authenticate(record.id, f"Bearer {token}").id == record.id
        assert requests.reads == 1
        assert access.verified == 1
        clock.now += TTL + 1
        auth.authenticate(record.id, f"Bearer {token}")
        assert requests.reads == 2  # the record again: a revoke is seen within TTL
        assert access.verified == 1  # the signature is not checked again
    assert auth.authenticate(record.id, f"Bearer {secret_token}").id == record.id


def test_the_cache_never_outlives_the_token(store: TenantTable, ring: KeyRing,
                                            clock: Clock) -> None:
    record, _, client_id = _tenant(store)
    minted_at = time.time() - 3600 + 10  # expires in 10 s
    old = AccessTokens(ring, f"{BASE}/oauth2", 3600, clock=lambda: minted_at)
    token = _mint(old, record, client_id)
    auth = Authenticator(store.get, ttl_seconds=TTL, clock=clock, access=old,
                         audience_of=audience)
    auth.authenticate(record.id, f"Bearer {token}")
    clock.now += 11  # past exp (the 30 s leeway applies to the signature check, not the cache)
    with observed(store, record.id) as requests:
        auth.authenticate(record.id, f"Bearer {token}")  # within leeway: verified again
        assert requests.reads == 1


def test_a_token_for_tenant_a_is_refused_by_tenant_b(auth: Authenticator, store: TenantTable,
                                                     access: Counting) -> None:
    a, _, client_a = _tenant(store)
    b, _, _ = _tenant(store)
    failure = _refused(auth, b.id, _mint(access, a, client_a))
    assert failure.detail == INVALID
    assert failure.reason == "access token: InvalidAudienceError"
    # Even a token claiming tenant B's audience is refused: its client is not B's.
    forged = access.mint(tenant_id=b.id, audience=audience(b.id), client_id=client_a,
                         credential_id="x")
    assert _refused(auth, b.id, forged.token).reason == "access token: client or credential revoked"


def test_an_unknown_tenant_gets_the_same_answer(auth: Authenticator, store: TenantTable,
                                                access: Counting) -> None:
    a, _, client_a = _tenant(store)
    unknown = _refused(auth, new_tenant_id(), _mint(access, a, client_a))
    wrong = _refused(auth, a.id, "eyJ" + _mint(access, a, client_a)[3:-4] + "AAAA")
    assert unknown.detail == wrong.detail == INVALID
    assert unknown.headers == wrong.headers


def test_revoking_the_client_or_its_secret_ends_its_tokens_within_the_ttl(
        auth: Authenticator, store: TenantTable, access: Counting, clock: Clock) -> None:
    record, _, client_id = _tenant(store)
    token = _mint(access, record, client_id)
    auth.authenticate(record.id, f"Bearer {token}")
    stored = store.get(record.id)
    assert stored is not None
    client = stored.client(client_id)
    assert client is not None
    client.secrets = []  # the secret that obtained the token is revoked
    store.save(stored)
    auth.authenticate(record.id, f"Bearer {token}")  # cached: within the bound
    clock.now += TTL
    failure = _refused(auth, record.id, token)
    assert failure.reason == "access token: client or credential revoked"
    assert failure.detail == INVALID
    stored.clients = []
    store.save(stored)
    clock.now += TTL
    assert _refused(auth, record.id, token).reason == "access token: client or credential revoked"


def test_a_withdrawn_signing_key_ends_its_tokens(auth: Authenticator, store: TenantTable,
                                                 access: Counting, ring: KeyRing,
                                                 clock: Clock) -> None:
    record, _, client_id = _tenant(store)
    token = _mint(access, record, client_id)
    auth.authenticate(record.id, f"Bearer {token}")
    ring.rotate(immediately=True)
    clock.now += KEY_SET_TTL
    assert _refused(auth, record.id, token).reason == "access token: signing key withdrawn"
    fresh = _mint(access, record, client_id)
    assert auth.authenticate(record.id, f"Bearer {fresh}").id == record.id


@pytest.mark.parametrize(("methods", "refused_kind", "message"), [
    (["secret-token"], "oauth", "does not accept OAuth access tokens; it accepts Secret Tokens"),
    (["oauth"], "secret-token", "does not accept Secret Tokens; it accepts OAuth access tokens"),
])
def test_the_tenant_policy_refuses_a_valid_credential_of_a_kind_it_turned_off(
        auth: Authenticator, store: TenantTable, access: Counting, methods: list[str],
        refused_kind: str, message: str) -> None:
    record, secret_token, client_id = _tenant(store, methods)
    token = secret_token if refused_kind == "secret-token" else _mint(access, record, client_id)
    other = _mint(access, record, client_id) if refused_kind == "secret-token" else secret_token
    failure = _refused(auth, record.id, token)
    assert message in failure.detail
    assert "tenant auth TENANT --allow" in failure.detail
    assert failure.reason == f"{refused_kind} not allowed"
    assert auth.authenticate(record.id, f"Bearer {other}").id == record.id


def test_an_expired_token_is_refused(store: TenantTable, ring: KeyRing, clock: Clock) -> None:
    record, _, client_id = _tenant(store)
    old = AccessTokens(ring, f"{BASE}/oauth2", 3600, clock=lambda: time.time() - 3700)
    auth = Authenticator(store.get, ttl_seconds=TTL, clock=clock, access=old,
                         audience_of=audience)
    failure = _refused(auth, record.id, _mint(old, record, client_id))
    assert failure.reason == "access token: ExpiredSignatureError"


def test_without_an_access_token_verifier_such_tokens_are_wrong_tokens(
        store: TenantTable, access: Counting, clock: Clock) -> None:
    record, _, client_id = _tenant(store)
    auth = Authenticator(store.get, ttl_seconds=TTL, clock=clock)
    assert _refused(auth, record.id, _mint(access, record, client_id)).reason == "wrong token"
