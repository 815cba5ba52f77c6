"""Audit log queries over Azurite (entries written by real SCIM requests): newest first, the
stored fields, limit, status and since filters; and the input checks that refuse a bad since,
status or limit with a 400."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.manage import audit_log
from shared.manage.context import Deployment
from shared.manage.errors import ManageError
from shared.service.app import ScimService
from shared.service.messages import ScimRequest

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("90m", NOW - timedelta(minutes=90)),
    ("2h", NOW - timedelta(hours=2)),
    ("7d", NOW - timedelta(days=7)),
    ("30s", NOW - timedelta(seconds=30)),
    (" 2h ", NOW - timedelta(hours=2)),
    ("2026-11-26T10:00Z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ("2026-11-26T10:00:00+02:00",
     datetime(2026, 11, 26, 10, 0, tzinfo=timezone(timedelta(hours=2)))),
    ("2026-11-26T10:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),  # naive: UTC
])
def test_since_is_a_duration_back_from_now_or_an_iso_time(text: str,
                                                          expected: datetime) -> None:
    got = audit_log.parse_since(text, NOW)
    assert got == expected
    assert got.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "2x", "-2h", "2 h", "", "1.5h", "2026-13-01"])
def test_an_unreadable_since_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ManageError, match=r"is neither an ISO time nor a duration") as caught:
        audit_log.parse_since(text, NOW)
    assert caught.value.status == 400


@pytest.mark.parametrize(("spec", "status", "expected"), [
    (None, 500, True), ("", 201, True),
    ("401", 401, True), ("401", 403, False),
    ("4xx", 404, True), ("4XX", 404, True), ("4xx", 500, False),
    ("409,412", 412, True), ("409, 412", 412, True), ("409,412", 400, False),
    ("2xx,401", 401, True),
])
def test_status_filter(spec: str | None, status: int, expected: bool) -> None:
    assert audit_log.status_matches(spec, status) is expected


@given(status=st.integers(100, 599), other=st.integers(100, 599), digit=st.integers(1, 5))
def test_property_status_filter(status: int, other: int, digit: int) -> None:
    assert audit_log.status_matches(f"{digit}xx", status) is (status // 100 == digit)
    assert audit_log.status_matches(str(other), status) is (other == status)
    assert audit_log.status_matches(f"{other},{digit}xx", status) is (
        other == status or status // 100 == digit)


@pytest.mark.parametrize("spec", ["abc", "xx", "4x", "600", "40", "4xx,", "401;403"])
def test_an_unreadable_status_is_a_400(spec: str) -> None:
    with pytest.raises(ManageError, match="is not a status filter") as caught:
        audit_log.check_status(spec)
    assert caught.value.status == 400


def test_query(opened_deployment: Deployment, scim_service: ScimService,
               tenant: tuple[str, str]) -> None:
    tid, token = tenant
    auth = {"authorization": f"Bearer {token}", "content-type": "application/scim+json"}
    for n in range(3):
        body = json.dumps({"schemas": [USER], "userName": f"q{n}@contoso.example"}).encode()
        assert scim_service.handle(ScimRequest("POST", tid, "Users", headers=auth,
                                               body=body)).status == 201
    assert scim_service.handle(ScimRequest("GET", tid, "Users")).status == 401
    assert scim_service.audit.flush()

    rows = audit_log.query_audit(opened_deployment, tid)
    assert [r["status"] for r in rows] == [401, 201, 201, 201]  # newest first
    assert all(set(r) == set(audit_log.FIELDS) for r in rows)
    assert len(audit_log.query_audit(opened_deployment, tid, limit=2)) == 2
    [failure] = audit_log.query_audit(opened_deployment, tid, status="4xx")
    assert (failure["status"], failure["count"]) == (401, 1)
    assert len(audit_log.query_audit(opened_deployment, tid, status="201", since="1h")) == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert audit_log.query_audit(opened_deployment, tid, since=future) == []
    for kwargs in ({"limit": 0}, {"limit": 1001}, {"status": "4x"}, {"since": "soon"}):
        with pytest.raises(ManageError) as caught:
            audit_log.query_audit(opened_deployment, tid, **kwargs)  # type: ignore[arg-type]
        assert caught.value.status == 400
    with pytest.raises(ManageError) as unknown:
        audit_log.query_audit(opened_deployment, "nosuchtenant0")
    assert unknown.value.status == 404
