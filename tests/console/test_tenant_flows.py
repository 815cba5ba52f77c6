"""Browser flows (b) and (c): creating a tenant in the console (its Tenant URL and Secret Token
shown once, and the token then works against SCIM), and rotating its token (add a second,
revoke the first after confirming, by keyboard: the old token gets 401 from SCIM, the new one
works), and disabling and enabling it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import Console

pytestmark = pytest.mark.served


def scim_status(tenant_url: str, token: str) -> int:
    return httpx.get(f"{tenant_url}/Users", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).status_code


def create_tenant(console: Console, name: str) -> tuple[str, str]:
    """Creates a tenant through the form; (Tenant URL, Secret Token) as the page shows them."""
    page = console.page
    page.get_by_role("link", name="New tenant").first.click()
    page.get_by_label("Tenant name").fill(name)
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("heading", name=f"Tenant “{name}” created")).to_be_visible()
    expect(page.get_by_text("Shown once.")).to_be_visible()
    return (page.get_by_role("textbox", name="Tenant URL").input_value(),
            page.get_by_role("textbox", name="Secret Token").input_value())


def test_a_tenant_created_in_the_console_accepts_its_token(console: Console,
                                                            admin_credential: str) -> None:
    console.sign_in(admin_credential)
    name = f"Contoso {uuid.uuid4().hex[:6]}"
    tenant_url, token = create_tenant(console, name)
    assert tenant_url.startswith(f"{console.base_url}/scim/v2/")
    assert token
    page = console.page
    expect(page.get_by_role("button", name="Copy Secret Token")).to_be_visible()
    expect(page.get_by_role("button", name="Copy Tenant URL")).to_be_visible()
    assert console.unnamed_controls() == []

    assert scim_status(tenant_url, token) == 200
    assert scim_status(tenant_url, token + "x") == 401

    page.get_by_role("link", name="Back to tenants").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Active")
    # Shown once: nothing the console shows afterwards holds the token.
    assert token not in page.content()
    row.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    assert token not in page.content()


def test_an_empty_name_is_refused_on_the_page(console: Console, admin_credential: str) -> None:
    console.sign_in(admin_credential)
    console.page.get_by_role("link", name="New tenant").first.click()
    console.page.get_by_role("button", name="Create tenant").click()
    expect(console.page.get_by_role("alert")).to_contain_text("Give the tenant a name")


def test_rotating_the_token_from_the_tenant_page(console: Console, admin_credential: str) -> None:
    console.sign_in(admin_credential)
    tenant_url, first = create_tenant(console, f"Rotation {uuid.uuid4().hex[:6]}")
    page = console.page
    page.get_by_role("link", name="Open the tenant").click()
    tokens = page.get_by_role("region", name="Secret Tokens")
    expect(tokens.get_by_role("button", name="Revoke", exact=False)).to_have_count(1)
    first_prefix = tokens.get_by_role("row").nth(1).get_by_role("rowheader").inner_text()

    tokens.get_by_role("button", name="Add token").click()
    panel = page.get_by_role("region", name="New Secret Token")
    expect(panel.get_by_text("Shown once.")).to_be_visible()
    second = panel.get_by_role("textbox", name="Secret Token").input_value()
    assert second
    assert second != first
    tokens = page.get_by_role("region", name="Secret Tokens")
    expect(tokens.get_by_role("button", name="Revoke", exact=False)).to_have_count(2)
    assert scim_status(tenant_url, second) == 200
    assert console.unnamed_controls() == []

    # By keyboard: the dialog opens on Cancel, Escape cancels and gives focus back.
    revoke_first = tokens.get_by_role("button", name=f"Revoke token {first_prefix}")
    revoke_first.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Revoke this token?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(revoke_first).to_be_focused()
    expect(tokens.get_by_role("button", name="Revoke", exact=False)).to_have_count(2)
    assert scim_status(tenant_url, first) == 200

    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Revoke token")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="revoked")).to_be_visible()
    tokens = page.get_by_role("region", name="Secret Tokens")
    expect(tokens.get_by_role("button", name="Revoke", exact=False)).to_have_count(1)
    expect(tokens.get_by_text(first_prefix)).to_have_count(0)
    # The API's revoke clears this process's authentication cache: refused at once.
    assert scim_status(tenant_url, first) == 401
    assert scim_status(tenant_url, second) == 200


def test_disabling_and_enabling_a_tenant(console: Console, admin_credential: str) -> None:
    console.sign_in(admin_credential)
    tenant_url, token = create_tenant(console, f"Pause {uuid.uuid4().hex[:6]}")
    page = console.page
    page.get_by_role("link", name="Open the tenant").click()
    page.get_by_role("button", name="Disable tenant").click()
    page.get_by_role("dialog").get_by_role("button", name="Disable tenant").click()
    outcome = page.get_by_role("status").filter(has_text="Tenant disabled.")
    expect(outcome).to_be_visible()
    expect(outcome).to_be_focused()  # the page was drawn anew: focus goes to the outcome
    expect(page.get_by_role("heading", level=1)).to_contain_text("Disabled")
    assert scim_status(tenant_url, token) == 401  # refused like an unknown token

    page.get_by_role("button", name="Enable tenant").click()
    page.get_by_role("dialog").get_by_role("button", name="Enable").click()
    expect(page.get_by_role("status").filter(has_text="Tenant enabled.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Active")
    assert scim_status(tenant_url, token) == 200
