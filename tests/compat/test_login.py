"""flask_compat.login against the real Flask-Login: both apps over real HTTP on loopback,
one shared Redis session, one browser cookie jar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask_login.utils import _create_identifier, decode_cookie, encode_cookie
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_compat.login import (
    decode_remember_cookie,
    encode_remember_cookie,
    session_identifier,
)
from shared_session import SessionSettings
from tests.compat.browser import Browser, over_http
from tests.compat.login_apps import SECRET, create_fastapi, create_flask

SIDES = ["flask", "fastapi"]
PAIRS = [("flask", "fastapi"), ("fastapi", "flask")]


@pytest.fixture
def settings_(redis_url: str, key_prefix: str) -> SessionSettings:
    return SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[SECRET])


def open_browser(session_settings: SessionSettings, **config: Any) -> Any:
    flask_app = create_flask(session_settings, **config)
    return over_http(flask_app, create_fastapi(flask_app, session_settings))


@pytest.fixture
def browser(settings_: SessionSettings) -> Iterator[Browser]:
    with open_browser(settings_) as client:
        yield client


# The identifier and the cookie: pure functions checked against Flask-Login's own.

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


@settings(max_examples=100, deadline=None)
@given(remote=st.one_of(st.none(), header_text), agent=st.one_of(st.none(), header_text))
def test_session_identifier_is_flask_logins(remote: str | None, agent: str | None) -> None:
    import flask

    app = flask.Flask(__name__)
    headers = {"User-Agent": agent} if agent is not None else {}
    environ: dict[str, Any] = {"REMOTE_ADDR": remote} if remote is not None else {}
    with app.test_request_context("/", headers=headers, environ_base=environ):
        if remote is None:
            flask.request.environ.pop("REMOTE_ADDR", None)
        expected = _create_identifier()
    assert session_identifier(remote, agent) == expected


@settings(max_examples=50, deadline=None)
@given(user_id=st.text(min_size=1, max_size=20))
def test_remember_cookie_is_flask_logins(user_id: str) -> None:
    import flask

    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    with app.app_context():
        flask_cookie = encode_cookie(user_id)
        assert encode_remember_cookie(user_id, SECRET) == flask_cookie
        assert decode_remember_cookie(flask_cookie, SECRET) == user_id
        assert decode_cookie(encode_remember_cookie(user_id, SECRET)) == user_id
    assert decode_remember_cookie(flask_cookie, "another key") is None


# Round trips through both apps.


def test_a_flask_login_is_seen_by_fastapi(browser: Browser) -> None:
    browser.post("flask", "/login", data={"id": "1"})
    assert browser.get("fastapi", "/whoami").text == "ada|fresh=True"
    assert browser.get("fastapi", "/private").text == "private for ada"


def test_templates_rendered_from_fastapi_see_flask_logins_current_user(browser: Browser) -> None:
    assert browser.get("fastapi", "/greeting").text == "stranger"
    browser.post("flask", "/login", data={"id": "2"})
    assert browser.get("fastapi", "/greeting").text == "grace"


def test_a_fastapi_login_is_seen_by_flask(browser: Browser) -> None:
    browser.post("fastapi", "/fastapi-login", data={"id": "2"})
    assert browser.get("flask", "/whoami").text == "grace|fresh=True"


@pytest.mark.parametrize("side", SIDES)
def test_login_moves_the_session_to_a_new_id(
    browser: Browser, side: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    browser.get("flask", "/touch")
    before = browser.cookies["ssid"]
    path = "/login" if side == "flask" else "/fastapi-login"
    browser.post(side, path, data={"id": "1"})
    assert browser.cookies["ssid"] != before
    # The cookie issued before login (a planted one, in a fixation attack) is worthless now.
    attacker = Browser(browser.clients)
    attacker.cookies["ssid"] = before
    assert attacker.get("flask", "/whoami").text == "anonymous|fresh=False"
    assert attacker.get("fastapi", "/whoami").text == "anonymous|fresh=False"


def test_without_the_bridge_a_cleared_session_keeps_remember_me(
    settings_: SessionSettings,
) -> None:
    flask_app = create_flask(settings_, bridge=False)
    with over_http(flask_app, create_fastapi(flask_app, settings_)) as browser:
        browser.post("flask", "/login", data={"id": "1", "remember": "1"})
        browser.get("flask", "/logout-and-clear")
        assert "remember_token" in browser.cookies  # and the next request logs back in
        assert browser.get("flask", "/whoami").text == "ada|fresh=False"


def test_without_the_bridge_flask_login_keeps_the_session_id(settings_: SessionSettings) -> None:
    flask_app = create_flask(settings_, bridge=False)
    with over_http(flask_app, create_fastapi(flask_app, settings_)) as browser:
        browser.get("flask", "/touch")
        before = browser.cookies["ssid"]
        browser.post("flask", "/login", data={"id": "1"})
        assert browser.cookies["ssid"] == before  # the fixation risk the bridge removes


@pytest.mark.parametrize("side", SIDES)
def test_anonymous_users_are_sent_to_the_login_view_with_next(browser: Browser, side: str) -> None:
    flask_refusal = browser.get("flask", "/private?tab=1")
    refusal = browser.get(side, "/private?tab=1")
    assert refusal.status_code == 302
    assert refusal.headers["location"] == flask_refusal.headers["location"]
    assert refusal.headers["location"] == "/login?next=%2Fprivate%3Ftab%3D1"


@pytest.mark.parametrize("side", SIDES)
def test_the_login_message_is_flashed_as_flask_login_flashes_it(
    browser: Browser, side: str
) -> None:
    browser.get(side, "/private")
    assert browser.get("flask", "/flashes").json() == [
        ["message", "Please log in to access this page."]
    ]


def test_without_a_login_view_anonymous_users_get_401(settings_: SessionSettings) -> None:
    flask_app = create_flask(settings_)
    flask_app.login_manager.login_view = None  # type: ignore[attr-defined]
    with over_http(flask_app, create_fastapi(flask_app, settings_)) as browser:
        assert browser.get("flask", "/private").status_code == 401
        assert browser.get("fastapi", "/private").status_code == 401


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_remember_me_restores_a_stale_login_on_both_sides(
    settings_: SessionSettings, first: str, second: str
) -> None:
    with open_browser(settings_) as browser:
        path = "/login" if first == "flask" else "/fastapi-login"
        browser.post(first, path, data={"id": "1", "remember": "1"})
        assert "remember_token" in browser.cookies
        del browser.cookies["ssid"]  # the browser was closed: only the remember-me cookie is left
        assert browser.get(second, "/whoami").text == "ada|fresh=False"


def test_a_stale_login_is_refused_by_fresh_login_required(browser: Browser) -> None:
    browser.post("flask", "/login", data={"id": "1", "remember": "1"})
    del browser.cookies["ssid"]
    refusal = browser.get("fastapi", "/fresh-only")
    assert refusal.status_code == 302
    assert refusal.headers["location"] == "/login?next=%2Ffresh-only"


@pytest.mark.parametrize(
    ("logout_side", "logout_path"),
    [
        ("fastapi", "/logout"),
        ("flask", "/logout"),
        ("flask", "/logout-and-clear"),
    ],
)
def test_logout_on_either_side_also_forgets_remember_me(
    browser: Browser, logout_side: str, logout_path: str
) -> None:
    browser.post("flask", "/login", data={"id": "1", "remember": "1"})
    assert "remember_token" in browser.cookies
    browser.get(logout_side, logout_path)
    assert "remember_token" not in browser.cookies
    for side in SIDES:
        assert browser.get(side, "/whoami").text == "anonymous|fresh=False"


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("basic", "ada|fresh=False"),
        ("strong", "anonymous|fresh=False"),
    ],
)
def test_session_protection_is_checked_as_flask_login_checks_it(
    settings_: SessionSettings, side: str, mode: str, expected: str
) -> None:
    with open_browser(settings_, SESSION_PROTECTION=mode) as browser:
        browser.post("flask", "/login", data={"id": "1"})
        # The same session cookie from another browser (a stolen cookie).
        stolen = {"User-Agent": "another browser"}
        assert browser.get(side, "/whoami", headers=stolen).text == expected
        # Both apps agree afterwards, from the original browser too.
        for other in SIDES:
            assert browser.get(other, "/whoami").text == expected


def test_the_remember_cookie_settings_come_from_the_flask_config(
    settings_: SessionSettings,
) -> None:
    with open_browser(settings_, REMEMBER_COOKIE_NAME="stay_in") as browser:
        browser.post("fastapi", "/fastapi-login", data={"id": "1", "remember": "1"})
        assert "stay_in" in browser.cookies and "remember_token" not in browser.cookies
        browser.get("fastapi", "/logout")
        assert "stay_in" not in browser.cookies
        assert browser.get("flask", "/whoami").text == "anonymous|fresh=False"
