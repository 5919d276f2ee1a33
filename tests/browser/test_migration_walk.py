"""The migration as a user sees it, in real Chromium, on the reference stack:
legacy_flask and new_fastapi behind the gateway, sessions in Redis, logging in
at the development OpenID provider (oidc-provider-mock).

Log in on a legacy page, the operator flips the route, the user is still
logged in on the new page and it looks the same; logging out there logs out
of both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from gateway.app import create_gateway
from gateway.devstack import oidc_provider
from gateway.settings import GatewaySettings
from tests.redis_server import free_port
from tests.servers import serve_asgi

pytestmark = pytest.mark.slow

TOKEN = "walk-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, key_prefix: str
) -> Iterator[str]:
    oidc_port = free_port()
    # Both apps read these when the gateway builds them.
    monkeypatch.setenv("OIDC_ISSUER", f"http://127.0.0.1:{oidc_port}")
    monkeypatch.setenv("NOTES_DB_PATH", str(tmp_path / "notes.sqlite3"))
    monkeypatch.setenv("SECRET_KEY", "walk-test-secret-key")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SHARED_SESSION_KEY_PREFIX", key_prefix)
    settings = GatewaySettings(
        legacy_app="legacy_flask:create_app()",
        new_app="new_fastapi:create_app()",
        flag_cache_path=None,
        flag_key=f"{key_prefix}flags",
        flag_channel=f"{key_prefix}flags",
        admin_token=TOKEN,
    )
    with oidc_provider("127.0.0.1", oidc_port), serve_asgi(create_gateway(settings)) as url:
        yield url


def look(page: Page) -> dict[str, Any]:
    """What the user sees of the site's frame: header links, and its styling."""
    return page.evaluate(
        """() => {
            const header = document.querySelector('header.site-header');
            const style = getComputedStyle(header);
            const body = getComputedStyle(document.body);
            return {
                links: [...header.querySelectorAll('a')].map(a => a.textContent.trim()),
                header: [style.backgroundColor, style.color, style.display, style.padding],
                body: [body.fontFamily, body.backgroundColor, body.color],
                stylesheet: [...document.styleSheets].some(s => s.cssRules.length > 0),
            };
        }"""
    )


def served_by(page: Page, path: str, base: str) -> str:
    response = page.goto(base + path)
    assert response is not None and response.ok, response and response.status
    return response.headers["x-served-by"]


def flip(base: str, route: str, flag: str) -> None:
    response = httpx.put(
        f"{base}/_gateway/flags/{route}", json={"flag": flag}, headers=AUTH, timeout=10
    )
    assert response.status_code == 200, response.text


def test_login_on_legacy_survives_the_flip_and_logout_ends_both_sides(
    stack: str, page: Page
) -> None:
    # Log in from a legacy page at the provider, as a user would.
    assert served_by(page, "/", stack) == "legacy"
    page.locator("header nav").get_by_role("link", name="Log in").click()
    page.locator("#subject-input").fill("alice")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{stack}/")
    assert "Signed in as alice." in page.inner_text("body")

    assert served_by(page, "/notes", stack) == "legacy"
    before = look(page)
    assert "alice" in before["links"] and "Log out" in before["links"]
    assert before["stylesheet"]

    # The operator moves the page; the user reloads it.
    flip(stack, "webapp.notes", "new")
    assert served_by(page, "/notes", stack) == "new"
    after = look(page)
    assert after == before  # still logged in as alice, and the page looks the same
    assert page.get_by_role("heading").first.inner_text() == "My notes"

    # Log out from the new page: the provider ends its session, then back home.
    page.locator("header nav").get_by_role("link", name="Log out").click()
    page.wait_for_url("**/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{stack}/")

    # Logged out on the legacy side...
    assert served_by(page, "/", stack) == "legacy"
    assert "Log in" in look(page)["links"] and "alice" not in look(page)["links"]
    # ...and on the new side: with the browser's own cookies, both send it to log in.
    for path, side in (("/profile", "legacy"), ("/notes", "new")):
        answer = page.context.request.get(stack + path, max_redirects=0)
        assert answer.headers["x-served-by"] == side
        assert answer.status == 302 and answer.headers["location"] == "/login", path
    page.goto(f"{stack}/notes")
    assert "/oauth2/authorize" in page.url
