"""Login and logout against the running development provider, on each app and across them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

import legacy_flask
import new_fastapi
from shared_session import SessionSettings
from tests.apps.browser import (
    SIDES,
    Browser,
    Side,
    authorize_at_provider,
    finish_login,
    login,
    start_login,
)


def is_logged_in(browser: Browser, side: Side) -> bool:
    response = browser.get(side, "/api/me")
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


@pytest.mark.parametrize("side", SIDES)
def test_full_code_flow_logs_in(browser: Browser, side: Side) -> None:
    response = login(browser, start=side)
    assert response.headers["location"] == "/"
    assert "Signed in as alice." in browser.get(side, "/").text
    profile = browser.get(side, "/profile")
    assert profile.status_code == 200
    assert "&#34;sub&#34;: &#34;alice&#34;" in profile.text


@pytest.mark.parametrize(("start", "finish"), [("flask", "fastapi"), ("fastapi", "flask")])
def test_login_started_on_one_app_finishes_on_the_other(
    browser: Browser, start: Side, finish: Side
) -> None:
    login(browser, start=start, finish=finish, sub="bob")
    for side in SIDES:
        assert browser.get(side, "/api/me").json()["user"]["sub"] == "bob"


@pytest.mark.parametrize("side", SIDES)
def test_login_regenerates_the_session_id(browser: Browser, side: Side) -> None:
    callback_url = authorize_at_provider(start_login(browser, side))
    before = browser.session_id_cookie()
    assert before is not None  # the login state already lives in a session
    finish_login(browser, side, callback_url)
    after = browser.session_id_cookie()
    assert after is not None and after != before


@pytest.mark.parametrize("side", SIDES)
def test_denied_login_is_a_400_page(browser: Browser, side: Side) -> None:
    callback_url = authorize_at_provider(start_login(browser, side), action="deny")
    response = finish_login(browser, side, callback_url)
    assert response.status_code == 400
    assert "Sign-in failed: The resource owner or authorization server denied" in response.text
    assert not is_logged_in(browser, side)


@pytest.mark.parametrize(("side", "other"), [("flask", "fastapi"), ("fastapi", "flask")])
def test_logout_on_one_app_logs_out_of_both(
    browser: Browser, side: Side, other: Side, redis_url: str, key_prefix: str
) -> None:
    login(browser, start=other)
    assert is_logged_in(browser, side) and is_logged_in(browser, other)

    response = browser.get(side, "/logout")

    assert response.status_code == 302
    target = urlsplit(response.headers["location"])
    assert target.path == "/oauth2/end_session"
    params = parse_qs(target.query)
    assert params["post_logout_redirect_uri"] == ["http://localhost/"]
    assert params["client_id"] == ["notes-test"]
    assert params["id_token_hint"][0].count(".") == 2
    assert not is_logged_in(browser, other)
    assert not is_logged_in(browser, side)
    assert browser.get(other, "/notes").headers["location"] == "/login"
    # Nothing of the session is left in the store.
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"{key_prefix}*")) == []


@pytest.fixture
def unreachable_provider_browser(
    app_config: dict[str, Any], session_settings: SessionSettings
) -> Iterator[Browser]:
    """Both apps configured with a provider that does not answer (a closed port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {**app_config, "OIDC_ISSUER": f"http://127.0.0.1:{port}"}
    browser = Browser(
        legacy_flask.create_app(config, session_settings),
        new_fastapi.create_app(config, session_settings),
    )
    yield browser
    browser.close()


@pytest.mark.parametrize("side", SIDES)
def test_login_with_the_provider_down_is_a_503_page(
    unreachable_provider_browser: Browser, side: Side
) -> None:
    response = unreachable_provider_browser.get(side, "/login")
    assert response.status_code == 503
    assert "The sign-in service cannot be reached right now" in response.text


@pytest.mark.parametrize("side", SIDES)
def test_logout_with_the_provider_down_still_logs_out_locally(
    unreachable_provider_browser: Browser, side: Side
) -> None:
    response = unreachable_provider_browser.get(side, "/logout")
    assert response.status_code == 302
    assert response.headers["location"] == "/"
