"""Authentication comes before any lookup: for a request without a valid token, the only
storage access is the read of the tenant record (none at all when there is no bearer token
or the tenant id cannot be one) - proven with the transport hook, which sees every storage
request of the real SDK pipeline. And secret tokens are compared in constant time."""

from __future__ import annotations

import hmac
import json
import threading
from typing import Any

import pytest

from shared.auth import tokens
from shared.service.app import ScimService
from shared.service.messages import ScimRequest
from tests.support.storage_faults import hooked

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ENDPOINTS = [("Users", None), ("Users", "0123456789abcdef0123456789abcdef"), ("Groups", None),
             ("Groups", "x"), ("Users", ".search"), ("Schemas", None), ("ResourceTypes", None),
             ("ServiceProviderConfig", None), ("Bulk", None), ("Nope", None)]


class Recorder:
    """Records the storage requests made by the calling thread (the audit log writes from
    its own thread; it writes, it never looks anything up)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.thread = threading.get_ident()

    def __call__(self, request: Any, send: Any) -> Any:
        if threading.get_ident() == self.thread:
            self.seen.append((request.method, request.url))
        return send(request)


def _run(service: ScimService, tenant: str, authorization: str | None, method: str,
         resource: str, rid: str | None) -> tuple[int, list[tuple[str, str]]]:
    headers = {"content-type": "application/scim+json"}
    if authorization is not None:
        headers["authorization"] = authorization
    service.auth.forget(tenant)
    with hooked(Recorder()) as recorder:
        r = service.handle(ScimRequest(method, tenant, resource, rid, headers=headers,
                                       body=json.dumps({"userName": "x"}).encode()))
    return r.status, recorder.seen


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("resource", "rid"), ENDPOINTS)
def test_bad_credentials_touch_nothing_but_the_tenant_record(
        scim_service: ScimService, tenant: tuple[str, str], method: str, resource: str,
        rid: str | None) -> None:
    tenant_id, token = tenant
    tenant_row = (f"{scim_service.tables.tenants.table_name}(PartitionKey='{tenant_id}',"
                  "RowKey='tenant')")
    for authorization in (None, "", "Basic dXNlcjpwYXNz", "Bearer", f"bearer {token}x",
                          "Bearer scim_" + "A" * 43, f"Bearer {token[:-1]}"):
        status, seen = _run(scim_service, tenant_id, authorization, method, resource, rid)
        assert status == 401, (authorization, status)
        assert all(m == "GET" and tenant_row in url for m, url in seen), seen
        assert len(seen) <= 1, seen
        if authorization is None or not authorization.lower().startswith("bearer "):
            assert seen == []  # not even the tenant record without a bearer token
    for bad_tenant in ("x' or PartitionKey ne '", "a/b", "#", "\x00", "t" * 200):
        status, seen = _run(scim_service, bad_tenant, f"Bearer {token}", method, resource, rid)
        assert status == 401
        assert seen == []


def test_token_comparison_is_constant_time_over_every_candidate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stored digest is compared with hmac.compare_digest, whether the token matches
    the first, the last or none: the number and kind of comparisons reveal nothing."""
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = tokens.new_token()
    digests = [tokens.digest(tokens.new_token()), tokens.digest(good)]
    for candidate, expected in ((good, 1), (tokens.new_token(), None)):
        for order in (digests, digests[::-1]):
            compared.clear()
            found = tokens.match(candidate, order)
            assert len(compared) == len(order)
            assert (found is None) == (expected is None)
            assert tokens.matches(candidate, order) == (expected is not None)
