"""Browser flow (a): signing in to the console with the development credential. A wrong one
is refused with the management API's own detail and nothing is kept; the right one opens the
tenant list, lasts across a reload (session storage) and signing out forgets it. Also: every
control on the pages has an accessible name, the keyboard alone gets through sign-in, and the
page works at a phone's width."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import PHONE, Console

pytestmark = pytest.mark.served


def test_a_wrong_credential_is_refused_with_the_apis_detail(console: Console) -> None:
    console.sign_in("adm_" + "A" * 43)
    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("Not signed in")
    assert len(alert.inner_text()) > len("Not signed in: ") + 10  # the API's detail, as text
    expect(console.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert console.page.evaluate(
        "sessionStorage.getItem('scim-console.development-credential')") is None


def test_the_development_credential_signs_in_and_out(console: Console,
                                                      admin_credential: str) -> None:
    console.sign_in(admin_credential)
    page = console.page
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    expect(page.get_by_text("development credential")).to_be_visible()
    assert page.url.endswith("#/tenants")

    page.reload()  # kept for the tab's session
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Development credential")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('scim-console.development-credential')") is None
    page.goto(f"{console.base_url}/console/#/tenants")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_sign_in_by_keyboard_alone(console: Console, admin_credential: str) -> None:
    console.open()
    page = console.page
    field = page.get_by_label("Development credential")
    expect(field).to_be_visible()
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(10):
        page.keyboard.press("Tab")
        if field.evaluate("f => f === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the credential field")
    outline = field.evaluate("f => getComputedStyle(f).outlineStyle")
    assert outline == "solid", "the focused field shows no focus ring"
    page.keyboard.type(admin_credential)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()


def test_every_control_has_an_accessible_name(console: Console, admin_credential: str) -> None:
    console.open()
    expect(console.page.get_by_label("Development credential")).to_be_visible()
    assert console.unnamed_controls() == []
    console.sign_in(admin_credential)
    expect(console.page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    assert console.unnamed_controls() == []
    console.page.get_by_role("link", name="New tenant").first.click()
    expect(console.page.get_by_label("Tenant name")).to_be_visible()
    assert console.unnamed_controls() == []


@pytest.mark.parametrize("console", [PHONE], indirect=True)
def test_the_console_fits_a_phone(console: Console, admin_credential: str) -> None:
    console.sign_in(admin_credential)
    page = console.page
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 390px"
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert re.search(r"#/tenants$", page.url)

    made = httpx.post(f"{console.base_url}/manage/v1/tenants", json={"name": "Phone check"},
                      headers={"Authorization": f"Bearer {admin_credential}"}, timeout=30)
    assert made.status_code == 201, made.text
    page.goto(f"{console.base_url}/console/#/tenants/{made.json()['tenant_id']}")
    expect(page.get_by_role("img", name="Provisioning activity")).to_be_visible()
    expect(page.get_by_role("button", name="Add token")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the tenant page scrolls sideways by {overflow}px at 390px"


def test_a_credential_refused_mid_session_signs_out_with_the_reason(
        console: Console, admin_credential: str) -> None:
    console.sign_in(admin_credential)
    page = console.page
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    # What a changed SCIM_MANAGE_DEV_CREDENTIAL_SHA256 (a new `make run`) looks like to a tab.
    page.evaluate("sessionStorage.setItem('scim-console.development-credential', 'adm_old')")
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Signed out:")
    assert page.evaluate(
        "sessionStorage.getItem('scim-console.development-credential')") is None
