"""What the console reports of real traffic: a tenant whose Entra job keeps sending a wrong
Secret Token (requests refused with 401 over HTTP) is listed "Likely quarantined" with the
management API's reason as text, beside a tenant that is answered normally; an attribute sent
under a schema nobody declared is listed on the tenant page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from shared.manage.health import MIN_REQUESTS
from shared.service.app import ScimService
from tests.console.conftest import Console

pytestmark = pytest.mark.served


def test_a_tenant_refusing_entra_is_shown_likely_quarantined(
        console: Console, admin_credential: str, scim_service: ScimService, client: Any,
        tenant: tuple[str, str]) -> None:
    tenant_id, token = tenant
    made = httpx.post(f"{console.base_url}/manage/v1/tenants", json={"name": "Wrong token"},
                      headers={"Authorization": f"Bearer {admin_credential}"}, timeout=30)
    assert made.status_code == 201, made.text
    refused = made.json()
    for _ in range(MIN_REQUESTS + 2):
        r = httpx.get(f"{refused['tenant_url']}/Users",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)  # another's
        assert r.status_code == 401
        assert client.get("/Users").status_code == 200
    assert scim_service.audit.flush()  # the request counters, written now

    console.sign_in(admin_credential)
    page = console.page
    bad = page.get_by_role("row").filter(has_text=refused["tenant_id"])
    expect(bad).to_contain_text("Likely quarantined")
    expect(bad).to_contain_text("refused as unauthorized")  # the API's reason, as text
    expect(bad.locator('td[data-label="401 rate"]')).to_have_text("100%")
    good = page.get_by_role("row").filter(has_text=tenant_id)
    expect(good).to_contain_text("Healthy")
    expect(good.locator('td[data-label="401 rate"]')).to_have_text("0%")

    bad.get_by_role("link", name="Wrong token").click()
    expect(page.get_by_role("note").filter(has_text="Likely quarantined by Entra")).to_be_visible()


def test_undeclared_attributes_are_listed_on_the_tenant_page(
        console: Console, admin_credential: str, client: Any, tenant: tuple[str, str]) -> None:
    extension = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    r = client.post("/Users", json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", extension],
        "userName": "badge@contoso.example", extension: {"badgeNumber": "B-1234"}})
    assert r.status_code == 201, r.text

    console.sign_in(admin_credential)
    console.page.goto(f"{console.base_url}/console/#/tenants/{tenant[0]}")
    section = console.page.get_by_role("region", name="Undeclared attributes")
    row = section.get_by_role("row").filter(has_text=f"{extension}:badgeNumber")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("User")
