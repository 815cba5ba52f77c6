"""Tenant isolation: another tenant's token never reads, lists, changes or even confirms the
existence of a resource, whatever ids it guesses - on every endpoint and with every method.

Tenant A holds a user and a group; tenant B has its own token. B's token on A's Tenant URL is
refused (401) before anything is looked up. On B's own URL, A's ids answer exactly what a
random id answers (404 with the same detail shape, or an empty list), and afterwards A's
resources are unchanged (same ETags, same members)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.auth.tenants import issue_token, new_tenant_id
from shared.service.app import ScimService
from shared.service.messages import ScimRequest, ScimResponse
from shared.store.tenants import Tenant
from shared.timestamps import now_iso

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ENDPOINTS = ["Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Bulk",
             "Me", "Unknown"]


def _tenant(service: ScimService) -> tuple[str, str]:
    record = Tenant(id=new_tenant_id(), name="iso", created=now_iso())
    token = issue_token(record)
    service.tenants.create(record)
    return record.id, token


def _call(service: ScimService, tenant: str, token: str, method: str, resource: str,
          rid: str | None = None, body: Any = None,
          params: dict[str, str] | None = None) -> ScimResponse:
    return service.handle(ScimRequest(
        method, tenant, resource, rid, params=params or {},
        headers={"authorization": f"Bearer {token}", "content-type": "application/scim+json"},
        body=json.dumps(body).encode() if body is not None else b""))


BODIES: dict[str, Any] = {
    "POST": {"userName": "intruder", "displayName": "intruders"},
    "PUT": {"userName": "intruder", "displayName": "intruders"},
    "PATCH": {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "owned"},
        {"op": "add", "path": "members", "value": [{"value": "intruder"}]}]},
}


@pytest.fixture(scope="module")
def world(scim_service: ScimService) -> dict[str, Any]:
    a_id, a_token = _tenant(scim_service)
    b_id, b_token = _tenant(scim_service)
    uid = _call(scim_service, a_id, a_token, "POST", "Users",
                body={"userName": "secret@a.example", "externalId": "a-ext",
                      "emails": [{"type": "work", "value": "secret@a.example"}]}).body["id"]
    gid = _call(scim_service, a_id, a_token, "POST", "Groups",
                body={"displayName": "A team", "externalId": "a-group",
                      "members": [{"value": uid}]}).body["id"]
    return {"a": (a_id, a_token), "b": (b_id, b_token), "uid": uid, "gid": gid}


def _snapshot(service: ScimService, world: dict[str, Any]) -> Any:
    a_id, a_token = world["a"]
    user = _call(service, a_id, a_token, "GET", "Users", world["uid"])
    group = _call(service, a_id, a_token, "GET", "Groups", world["gid"])
    return user.headers["ETag"], group.headers["ETag"], group.body["members"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_other_tenants_token_on_this_tenant_url_is_401(scim_service: ScimService,
                                                       world: dict[str, Any], endpoint: str,
                                                       method: str) -> None:
    a_id, _ = world["a"]
    _, b_token = world["b"]
    before = _snapshot(scim_service, world)
    for rid in (None, world["uid"], world["gid"]):
        r = _call(scim_service, a_id, b_token, method, endpoint, rid, BODIES.get(method))
        assert r.status == 401, (endpoint, method, rid, r.body)
        assert "Bearer" in r.headers["WWW-Authenticate"]
    assert _snapshot(scim_service, world) == before


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_guessed_ids_on_own_url_are_indistinguishable_from_random(
        scim_service: ScimService, world: dict[str, Any], endpoint: str, method: str) -> None:
    b_id, b_token = world["b"]
    before = _snapshot(scim_service, world)
    real = world["uid"] if endpoint == "Users" else world["gid"]
    other = world["gid"] if endpoint == "Users" else world["uid"]
    fake = uuid.uuid4().hex
    answers = {}
    for label, rid in (("real", real), ("other-kind", other), ("random", fake)):
        payload = BODIES.get(method)
        if method == "PATCH" and endpoint == "Users":
            payload = {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "owned"}]}
        r = _call(scim_service, b_id, b_token, method, endpoint, rid, payload)
        body = dict(r.body or {})
        body["detail"] = str(body.get("detail", "")).replace(rid, "ID")
        answers[label] = (r.status, body)
    assert answers["real"] == answers["random"] == answers["other-kind"], answers
    assert answers["real"][0] == 404
    assert _snapshot(scim_service, world) == before


def test_lists_and_filters_never_show_another_tenants_resources(
        scim_service: ScimService, world: dict[str, Any]) -> None:
    b_id, b_token = world["b"]
    uid, gid = world["uid"], world["gid"]
    queries = {
        "Users": [None, f'id eq "{uid}"', 'userName eq "secret@a.example"',
                  'externalId eq "a-ext"', 'emails[type eq "work"].value eq "secret@a.example"',
                  'userName sw "secret"', 'userName pr', f'groups.value eq "{gid}"'],
        "Groups": [None, f'id eq "{gid}"', 'displayName eq "A team"', 'externalId eq "a-group"',
                   f'members.value eq "{uid}"', f'id eq "{gid}" and members.value eq "{uid}"',
                   'displayName pr'],
    }
    for endpoint, filters in queries.items():
        for text in filters:
            params = {"filter": text} if text else {}
            r = _call(scim_service, b_id, b_token, "GET", endpoint, params=params)
            assert r.status == 200, (text, r.body)
            assert r.body["totalResults"] == 0, (endpoint, text)
            r = _call(scim_service, b_id, b_token, "POST", endpoint, ".search",
                      body={"filter": text} if text else {})
            assert r.body["totalResults"] == 0, (endpoint, text)
    # A's user id as a member of B's own group, or as B's `groups` lookup, reveals nothing.
    r = _call(scim_service, b_id, b_token, "GET", "Users", uid, params={"attributes": "groups"})
    assert r.status == 404


def test_creating_the_same_names_in_another_tenant_does_not_collide(
        scim_service: ScimService, world: dict[str, Any]) -> None:
    """Uniqueness is per tenant: a 409 in B would confirm that A holds the name."""
    b_id, b_token = world["b"]
    r = _call(scim_service, b_id, b_token, "POST", "Users",
              body={"userName": "secret@a.example"})
    assert r.status == 201
    r = _call(scim_service, b_id, b_token, "POST", "Groups", body={"displayName": "A team"})
    assert r.status == 201
