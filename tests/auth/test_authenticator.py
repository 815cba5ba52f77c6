"""shared.auth.authenticator against the real tenants table on Azurite: bearer parsing, the
tenant lookup and its cache, disabled tenants, revoked tokens, the one 401 that tells a caller
nothing about which tenants exist, the labels the audit counts failures by, and the hourly
record of a token's last use. Storage requests are observed with a transport hook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote

import pytest

from shared.auth.authenticator import USE_RECORD_INTERVAL, Authenticator, AuthFailure
from shared.auth.tenants import issue_token, new_tenant_id
from shared.scim.errors import ERROR_SCHEMA
from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from shared.store import deadline
from shared.store.audit import AuditTable
from shared.store.tenants import Tenant, TenantTable
from shared.store.wire import Request, Response, Send
from shared.timestamps import now_iso
from tests.support.storage_faults import Injector, hooked

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}
TTL = 30.0
NO_HEADER = ("No Authorization header. Send 'Authorization: Bearer <Secret Token>' (in Entra: "
             "Provisioning > Admin Credentials > Secret Token).")
NOT_BEARER = ("The Authorization header must be 'Bearer <Secret Token>'; other schemes are "
              "not accepted.")
INVALID = ("The bearer token is not valid for this Tenant URL. In Entra, check that the Tenant "
           "URL and Secret Token are the pair issued for this tenant (or issue a new token "
           "with `python -m shared.admin token add TENANT`); with OAuth client credentials, "
           "that the client belongs to this tenant and its secret is current.")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class TenantRequests:
    """The tenants-table requests for one tenant id: (method, RowKey)."""

    def __init__(self, table: str, tenant: str) -> None:
        self.prefix = f"/{table}(PartitionKey='{tenant}',RowKey='"
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request, send: Send) -> Response:
        path = unquote(request.url.split("?", 1)[0])
        at = path.find(self.prefix)
        if at >= 0:
            with self._lock:
                self.seen.append((request.method, path[at + len(self.prefix):-2]))
        return send(request)

    @property
    def reads(self) -> int:
        return sum(1 for m, row in self.seen if m == "GET" and row == "tenant")

    @property
    def use_writes(self) -> int:
        return sum(1 for m, row in self.seen if m != "GET" and row.startswith("use:"))


@pytest.fixture
def store(scim_service: ScimService) -> TenantTable:
    return scim_service.tenants


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: TenantTable, clock: Clock) -> Authenticator:
    """A fresh instance (empty cache) on the real tenants table."""
    return Authenticator(store.get, ttl_seconds=TTL, clock=clock, record_use=store.record_use)


@contextmanager
def observed(store: TenantTable, tenant: str) -> Iterator[TenantRequests]:
    requests = TenantRequests(store.table.table_name, tenant)
    with hooked(requests):
        yield requests


def refused(auth: Authenticator, tenant: str, authorization: str | None) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        auth.authenticate(tenant, authorization)
    failure = caught.value
    assert failure.status == 401
    assert failure.headers == CHALLENGE
    assert failure.scim_type is None
    assert failure.to_body() == {"schemas": [ERROR_SCHEMA], "status": "401",
                                 "detail": failure.detail}
    return failure


# --------------------------------------------------------------------------------------------
# Success and the cache
# --------------------------------------------------------------------------------------------


def test_a_valid_token_reads_the_tenant_once_per_ttl(
        auth: Authenticator, store: TenantTable, clock: Clock, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    with observed(store, tid) as requests:
        assert auth.authenticate(tid, f"Bearer {token}").id == tid
        assert requests.reads == 1
        assert auth.authenticate(tid, f"Bearer {token}").id == tid  # Entra's bursts: cached
        clock.now += TTL - 1
        auth.authenticate(tid, f"Bearer {token}")
        assert requests.reads == 1
        clock.now += 2
        auth.authenticate(tid, f"Bearer {token}")
        assert requests.reads == 2


@pytest.mark.parametrize("form", ["Bearer {}", "bearer {}", "BEARER {}", "  Bearer {}  ",
                                  "Bearer   {}"])
def test_the_bearer_scheme_is_case_insensitive_and_spaces_are_trimmed(
        auth: Authenticator, tenant: tuple[str, str], form: str) -> None:
    tid, token = tenant
    assert auth.authenticate(tid, form.format(token)).id == tid


# --------------------------------------------------------------------------------------------
# Refusals: actionable, and indistinguishable where they must be
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("authorization", "detail", "reason"), [
    (None, NO_HEADER, "no authorization header"),
    ("", NO_HEADER, "no authorization header"),
    ("Basic dXNlcjpwYXNz", NOT_BEARER, "not a bearer token"),
    ("Bearer", NOT_BEARER, "not a bearer token"),
    ("Bearer    ", NOT_BEARER, "not a bearer token"),
    ("Token abc", NOT_BEARER, "not a bearer token"),
    ("Bearer\tabc", NOT_BEARER, "not a bearer token"),  # RFC 6750: one or more spaces
    ("Bearerabc", NOT_BEARER, "not a bearer token"),
])
def test_a_malformed_header_is_refused_before_any_lookup(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str],
        authorization: str | None, detail: str, reason: str) -> None:
    tid, _ = tenant
    with observed(store, tid) as requests:
        failure = refused(auth, tid, authorization)
    assert (failure.detail, failure.reason) == (detail, reason)
    assert failure.tenant_known is False  # this instance never read the tenant
    assert requests.seen == []


def test_a_wrong_token_and_an_unknown_tenant_get_the_same_answer(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    wrong = refused(auth, tid, f"Bearer {token[:-1]}x")
    unknown_id = new_tenant_id()
    with observed(store, unknown_id) as requests:
        unknown = refused(auth, unknown_id, f"Bearer {token}")
    assert requests.reads == 1
    assert wrong.detail == unknown.detail == INVALID
    assert wrong.to_body() == unknown.to_body()
    assert wrong.headers == unknown.headers
    # Only the audit tells them apart, by fixed labels.
    assert (wrong.reason, wrong.tenant_known) == ("wrong token", True)
    assert (unknown.reason, unknown.tenant_known) == ("unknown tenant", False)


@pytest.mark.parametrize("bad_id", ["", "a/b", "x' or PartitionKey ne '", "t" * 65, "tenant#1",
                                    "caf\u00e9", "t\x00", "t\n"])
def test_a_tenant_id_that_cannot_be_one_is_refused_without_a_lookup(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str], bad_id: str) -> None:
    _, token = tenant
    with observed(store, bad_id) as requests:
        failure = refused(auth, bad_id, f"Bearer {token}")
        missing = refused(auth, bad_id, None)
    assert (failure.detail, failure.reason, failure.tenant_known) == (
        INVALID, "malformed tenant id", False)
    # A missing header is still reported as such (the client's first thing to fix).
    assert (missing.detail, missing.reason) == (NO_HEADER, "malformed tenant id")
    assert requests.seen == []


def test_a_non_ascii_or_very_long_token_is_a_401_not_an_error(
        auth: Authenticator, tenant: tuple[str, str]) -> None:
    tid, _ = tenant
    for token in ("scim_caf\u00e9", "\u00ff" * 10, "x" * 100_000):
        assert refused(auth, tid, f"Bearer {token}").reason == "wrong token"


def test_a_disabled_tenant_is_refused_until_enabled(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    record = store.get(tid)
    assert record is not None
    record.disabled = True
    store.save(record)
    failure = refused(auth, tid, f"Bearer {token}")
    assert (failure.detail, failure.reason, failure.tenant_known) == (
        INVALID, "tenant disabled", True)
    record.disabled = False
    store.save(record)
    assert auth.authenticate(tid, f"Bearer {token}").id == tid  # refusals are not cached


def test_a_tenant_being_deleted_is_refused_as_a_disabled_one(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    record = store.get(tid)
    assert record is not None
    record.deleting_since = "2026-01-01T00:00:00.000Z"  # not disabled: deleting alone refuses
    store.save(record)
    failure = refused(auth, tid, f"Bearer {token}")
    assert (failure.detail, failure.reason, failure.tenant_known) == (
        INVALID, "tenant disabled", True)


def test_disabling_a_tenant_ends_its_cached_sessions_within_the_ttl(
        auth: Authenticator, store: TenantTable, clock: Clock, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    auth.authenticate(tid, f"Bearer {token}")
    record = store.get(tid)
    assert record is not None
    record.disabled = True
    store.save(record)
    assert auth.authenticate(tid, f"Bearer {token}").id == tid  # still cached
    clock.now += TTL + 0.1
    assert refused(auth, tid, f"Bearer {token}").reason == "tenant disabled"


@pytest.mark.parametrize("how", ["forget", "ttl"])
def test_a_revoked_token_is_refused_and_the_other_keeps_working(
        auth: Authenticator, store: TenantTable, clock: Clock, tenant: tuple[str, str],
        how: str) -> None:
    tid, first = tenant
    record = store.get(tid)
    assert record is not None
    second = issue_token(record)
    store.save(record)
    for token in (first, second):
        assert auth.authenticate(tid, f"Bearer {token}").id == tid
    record.tokens = [t for t in record.tokens if t.prefix != first[:11]]  # revoke the first
    store.save(record)
    assert auth.authenticate(tid, f"Bearer {first}").id == tid  # cached (up to the TTL)
    if how == "forget":
        auth.forget(tid)  # what the process that revoked it does
    else:
        clock.now += TTL + 0.1
    failure = refused(auth, tid, f"Bearer {first}")
    assert (failure.reason, failure.tenant_known) == ("wrong token", True)
    assert auth.authenticate(tid, f"Bearer {second}").id == tid


def test_forget_drops_only_that_tenants_cache(
        auth: Authenticator, store: TenantTable, scim_service: ScimService,
        tenant: tuple[str, str]) -> None:
    tid, token = tenant
    other = Tenant(id=new_tenant_id(), name="other", created=now_iso())
    other_token = issue_token(other)
    store.create(other)
    auth.authenticate(tid, f"Bearer {token}")
    auth.authenticate(other.id, f"Bearer {other_token}")
    with observed(store, tid) as mine, observed(store, other.id) as theirs:
        auth.forget(tid)
        auth.authenticate(tid, f"Bearer {token}")
        auth.authenticate(other.id, f"Bearer {other_token}")
    assert (mine.reads, theirs.reads) == (1, 0)


# --------------------------------------------------------------------------------------------
# What the audit counts failures by
# --------------------------------------------------------------------------------------------


def test_a_tenant_is_known_to_header_failures_only_once_this_instance_read_it(
        auth: Authenticator, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    assert refused(auth, tid, None).tenant_known is False
    assert refused(auth, tid, "Basic eA==").tenant_known is False
    refused(auth, tid, "Bearer scim_wrong")  # a read: the tenant exists
    assert refused(auth, tid, None).tenant_known is True
    assert refused(auth, tid, "Basic eA==").tenant_known is True
    unknown = new_tenant_id()
    refused(auth, unknown, f"Bearer {token}")  # read, and not found
    assert refused(auth, unknown, None).tenant_known is False


def test_refusals_reach_the_client_as_scim_401s_and_are_counted_per_tenant(
        scim_service: ScimService, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    scim_service.auth.forget(tid)
    answers = []
    for authorization in (f"Bearer {token}x", f"Bearer {token}y", "Basic eA==", None,
                          f"Bearer {token}"):
        headers = {"authorization": authorization} if authorization else {}
        answers.append(scim_service.handle(ScimRequest("GET", tid, "Users", headers=headers)))
    assert [r.status for r in answers] == [401, 401, 401, 401, 200]
    for response in answers[:4]:
        assert response.body is not None
        assert response.body["schemas"] == [ERROR_SCHEMA]
        assert response.body["status"] == "401"
        assert "Bearer <Secret Token>" in response.body["detail"] or (
            response.body["detail"] == INVALID)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="scim"'
    assert scim_service.audit.flush()
    rows = [e for e in AuditTable(scim_service.tables.audit).query(tid) if "count" in e]
    assert sum(int(r["count"]) for r in rows) == 4
    reasons: dict[str, int] = {}
    for row in rows:
        for reason, count in json.loads(row["reasons"]).items():
            reasons[reason] = reasons.get(reason, 0) + count
    assert reasons == {"wrong token": 2, "not a bearer token": 1, "no authorization header": 1}


# --------------------------------------------------------------------------------------------
# Last use of a token
# --------------------------------------------------------------------------------------------


def test_last_use_is_written_at_most_once_per_interval_per_token(
        auth: Authenticator, store: TenantTable, clock: Clock, tenant: tuple[str, str]) -> None:
    tid, token = tenant
    record = store.get(tid)
    assert record is not None
    [token_id] = [t.id for t in record.tokens]
    with observed(store, tid) as requests:
        auth.authenticate(tid, f"Bearer {token}")
        assert requests.use_writes == 1
        assert set(store.last_uses(tid)) == {token_id}
        for _ in range(3):  # cache refills within the interval: no further write
            clock.now += TTL + 1
            auth.authenticate(tid, f"Bearer {token}")
        assert (requests.reads, requests.use_writes) == (4, 1)
        clock.now += USE_RECORD_INTERVAL
        auth.authenticate(tid, f"Bearer {token}")
        assert requests.use_writes == 2


def test_a_failed_last_use_write_does_not_fail_the_request(
        auth: Authenticator, store: TenantTable, tenant: tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    tid, token = tenant
    injector = Injector()
    injector.arm("throttle", at=2, outage=True)  # the tenant read passes, the write does not
    caplog.set_level(logging.WARNING, logger="shared.auth.authenticator")
    with hooked(injector), deadline.within(1.0):
        assert auth.authenticate(tid, f"Bearer {token}").id == tid
    assert injector.injected >= 1
    assert store.last_uses(tid) == {}
    assert any("token last-use not recorded" in m for m in caplog.messages)
