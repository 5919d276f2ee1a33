"""When the session store is down, both apps answer 503 (never 500) and recover after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import legacy_flask
import new_fastapi
from shared_session import SessionSettings
from tests.apps.browser import SIDES, Browser, Side, login
from tests.redis_server import RedisServer


@pytest.fixture
def outage_browser(redis_server: RedisServer, app_config: dict[str, Any]) -> Iterator[Browser]:
    settings = SessionSettings(
        redis_url=redis_server.url, secret_keys=["outage-test-key"], timeout=0.3
    )
    browser = Browser(
        legacy_flask.create_app(app_config, settings),
        new_fastapi.create_app(app_config, settings),
        raise_server_exceptions=False,
    )
    yield browser
    browser.close()


@pytest.mark.parametrize("side", SIDES)
def test_pages_are_503_while_the_store_is_down_and_work_after(
    outage_browser: Browser, redis_server: RedisServer, side: Side
) -> None:
    login(outage_browser)
    assert outage_browser.get(side, "/notes").status_code == 200

    redis_server.stop()
    try:
        down = outage_browser.get(side, "/notes")
        assert down.status_code == 503
        assert down.headers.get("retry-after")
    finally:
        redis_server.start()

    # Redis restarted empty: the session is gone, so the user is sent to log in again.
    assert outage_browser.get(side, "/notes").headers["location"] == "/login"
