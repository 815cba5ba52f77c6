"""The console's browser tests: Debian's chromium (`make browser` installs it), headless,
driven by Playwright for Python against the app served by the local host on Azurite (the
`served` fixture). The session's app accepts the development credential `admin_credential`
(SCIM_MANAGE_DEV_CREDENTIAL_SHA256 in `app_env`).

Every page fails its test on a script error or a Content-Security-Policy violation, and leaves
a screenshot in tests/console/screenshots/ (gitignored)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    # A page waits for the management API, and the tenant list reads every tenant's health:
    # in `make test` the session's Azurite holds every other test's tenants and rows, and stock
    # Azurite scans a whole table for each range read, so a list can take seconds there (what
    # Table Storage reads from its index). The context's timeout below is the same.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """One browser tab on the console, with what went wrong in it."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        # A refused request's status is the API speaking (shown on the page), not a fault.
        if message.type == "error" and not re.match(r"Failed to load resource: the server "
                                                    r"responded with a status of 4\d\d", text):
            self.problems.append(f"console error: {text}")

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base_url}/console/{fragment}")

    def sign_in(self, credential: str) -> None:
        self.open()
        self.page.get_by_label("Development credential").fill(credential)
        self.page.get_by_role("button", name="Sign in", exact=True).click()

    def unnamed_controls(self) -> list[str]:
        """Buttons, links, text fields and disclosure summaries without an accessible name,
        from Chromium's own accessibility tree (through the DevTools protocol)."""
        session = self.page.context.new_cdp_session(self.page)
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        roles = {"button", "link", "textbox", "checkbox", "combobox", "DisclosureTriangle"}
        missing = []
        for node in nodes:
            role = node.get("role", {}).get("value")
            if node.get("ignored") or role not in roles:
                continue
            if not (node.get("name", {}).get("value") or "").strip():
                missing.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
        session.detach()
        return missing

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console(browser: Any, served: str, request: pytest.FixtureRequest) -> Iterator[Console]:
    viewport = getattr(request, "param", DESKTOP)
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(15_000)
    tab = Console(context.new_page(), served)
    yield tab
    tab.shot(re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name))
    context.close()
    assert tab.problems == []
