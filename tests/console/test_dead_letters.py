"""Browser flow (d): replaying dead letters from the tenant page. Events of users created over
SCIM are dead-lettered in the store (as tests/admin/test_feed.py does); the page lists them,
"Replay" puts one back in the outbox and "Replay all" the rest, and the list empties."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from shared.store.outbox import Outbox
from shared.timestamps import now_iso
from tests.console.conftest import Console

pytestmark = pytest.mark.served

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def dead_letters(client: Any, outbox: Outbox, tenant_id: str, n: int) -> list[str]:
    """n users created over SCIM (one event each), then every event dead-lettered; their ids."""
    for i in range(n):
        r = client.post("/Users", json={"schemas": [USER], "userName": f"dl{i}@contoso.example"},
                        headers={"Content-Type": "application/scim+json"})
        assert r.status_code == 201, r.text
    pending = list(outbox.pending(tenant_id))
    assert len(pending) == n
    for row in pending:
        outbox.dead_letter(tenant_id, row, attempts=12, error="HTTP 503 from receiver",
                           now=now_iso())
    return [row.id for row in pending]


def test_dead_letters_are_replayed_from_the_tenant_page(
        console: Console, admin_credential: str, client: Any, outbox: Outbox,
        tenant: tuple[str, str]) -> None:
    tenant_id = tenant[0]
    first, *others = dead_letters(client, outbox, tenant_id, 3)
    console.sign_in(admin_credential)
    page = console.page
    page.goto(f"{console.base_url}/console/#/tenants/{tenant_id}")
    feed = page.get_by_role("region", name="Change feed")
    expect(feed.get_by_role("button", name="Replay event", exact=False)).to_have_count(3)
    expect(feed.get_by_text("HTTP 503 from receiver")).to_have_count(3)
    assert console.unnamed_controls() == []

    feed.get_by_role("button", name=f"Replay event {first}").click()
    expect(page.get_by_role("status").filter(has_text="back in the outbox")).to_be_visible()
    feed = page.get_by_role("region", name="Change feed")
    expect(feed.get_by_role("button", name="Replay event", exact=False)).to_have_count(2)
    assert [d.id for d in outbox.dead_letters(tenant_id)] == others
    assert first in {p.id for p in outbox.pending(tenant_id)}

    feed.get_by_role("button", name="Replay all").click()
    feed = page.get_by_role("region", name="Change feed")
    expect(feed.get_by_role("button", name="Replay event", exact=False)).to_have_count(0)
    expect(feed.get_by_text("None: every event was delivered")).to_be_visible()
    assert outbox.dead_letters(tenant_id) == []
    assert {p.id for p in outbox.pending(tenant_id)} == {first, *others}
