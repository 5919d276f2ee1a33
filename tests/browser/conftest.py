"""Real Chromium driven by Playwright: the system's /usr/bin/chromium, headless,
never a downloaded browser. Tests here skip when it is not installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per test module. Not per session: Playwright's sync
    API keeps an event loop running in the main thread while it lives, and later
    tests' asyncio.run() would refuse to start."""
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not executable:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; every wait bounded to 10 s."""
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
