"""The dashboard in real Chromium: refused with a bad token, signed in with a
good one, a route flipped through the confirmation step, and the page and the
next proxied request show the change. Saves the screenshot the operator guide
shows when UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from gateway.app import create_gateway
from tests.gateway.support import serve, settings_for
from tests.processes import ROOT

pytestmark = pytest.mark.slow

TOKEN = "browser-admin-token"
SCREENSHOT = ROOT / "docs" / "images" / "dashboard.png"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    settings = settings_for(
        tmp_path,
        admin_tokens=[f"alice:{TOKEN}"],
        flags={"notes.list": "shadow"},
        groups={"admin": ["admin.home", "admin.user"]},
    )
    with serve(create_gateway(settings)) as url:
        # Some traffic for the figures, and shadow replays (a mismatch with a diff).
        with httpx.Client(base_url=url) as client:
            for path in ("/notes/", "/notes/", "/prices/2.5", "/notes/7", "/nowhere"):
                client.get(path)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                shadow = client.get(
                    "/_gateway/shadow", headers={"Authorization": f"Bearer {TOKEN}"}
                ).json()["shadow"]
                if shadow["replayed"] == 2:
                    break
                time.sleep(0.05)
        yield url


def served_by(url: str) -> str:
    return httpx.get(url).headers["x-served-by"]


def test_sign_in_flip_a_route_and_see_the_page_and_the_next_request_change(
    gateway: str, page: Page, tmp_path: Path
) -> None:
    page.goto(f"{gateway}/_gateway/")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not an admin token.")
    assert not [c for c in page.context.cookies() if c["name"] == "gw_admin"]

    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header")).to_contain_text("Signed in as alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "gw_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    assert served_by(f"{gateway}/notes/3") == "legacy"
    row = page.locator("#route-notes\\.show")
    expect(row).to_contain_text("legacy")
    row.get_by_label("new flag for notes.show").select_option("new")
    row.get_by_role("button", name="flip notes.show").click()

    # The confirmation lists exactly what changes; nothing has changed yet.
    expect(page.locator("h2")).to_contain_text("Flip 1 key to new?")
    assert served_by(f"{gateway}/notes/3") == "legacy"
    page.get_by_role("button", name="Confirm flip").click()
    expect(page.locator("h2")).to_contain_text("Flipped")
    page.get_by_role("link", name="Back to the dashboard").click()

    expect(page.locator("#route-notes\\.show")).to_contain_text("new")
    expect(page.get_by_role("heading", name="Progress")).to_contain_text("1 of")
    audit = page.locator("section", has=page.get_by_role("heading", name="Audit trail"))
    expect(audit).to_contain_text("alice")
    expect(audit).to_contain_text("legacy → new")
    expect(audit).to_contain_text("dashboard")
    assert served_by(f"{gateway}/notes/3") == "new"

    page.reload()  # the figures now count the new backend's answer too
    expect(page.locator("section", has_text="Traffic per backend")).to_contain_text("new")
    page.locator("details").first.evaluate("d => d.open = true")  # show one diff
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "dashboard.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
