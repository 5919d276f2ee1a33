"""Sessions that browsers carry from before are taken over in place.

The legacy cookies are made by the real thing: Flask's own cookie session
and Starlette's own SessionMiddleware.
"""

from __future__ import annotations

import threading
from typing import Any

import flask
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as StarletteSessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from shared_session import SessionSettings
from tests.session.apps import make_asgi, make_flask, typed_values
from tests.session.conftest import SIDES, Browser, make_settings

LEGACY_FLASK_KEY = "legacy-flask-secret"
LEGACY_STARLETTE_KEY = "legacy-starlette-secret"


def legacy_flask_cookie(data: dict[str, Any], secret: str = LEGACY_FLASK_KEY) -> tuple[str, dict]:
    """A cookie from a plain Flask app, and the data Flask itself reads back."""
    app = flask.Flask("legacy")
    app.secret_key = secret
    seen: dict[str, Any] = {}

    @app.get("/login")
    def login() -> str:
        flask.session.update(data)
        flask.session.permanent = True
        flask.flash("welcome back", "info")
        return "ok"

    @app.get("/peek")
    def peek() -> str:
        seen.update(flask.session)
        return "ok"

    client = app.test_client()
    client.get("/login")
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.get("/peek")
    return cookie.value, seen


def legacy_starlette_cookie(data: dict[str, Any]) -> str:
    async def login(request: Request) -> PlainTextResponse:
        request.session.update(data)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/login", login)],
        middleware=[Middleware(StarletteSessionMiddleware, secret_key=LEGACY_STARLETTE_KEY)],
    )
    client = TestClient(app)
    response = client.get("/login")
    return response.cookies["session"]


@pytest.fixture
def takeover_settings(settings: SessionSettings) -> SessionSettings:
    return settings.with_changes(
        flask_secret_keys=[LEGACY_FLASK_KEY], starlette_secret_keys=[LEGACY_STARLETTE_KEY]
    )


@pytest.fixture
def tb(takeover_settings: SessionSettings, probe: list[Any]) -> Browser:
    return Browser(make_flask(takeover_settings, probe), make_asgi(takeover_settings, probe))


@pytest.mark.parametrize("side", SIDES)
def test_flask_cookie_session_is_taken_over_with_its_data(
    tb: Browser, probe: list[Any], side: str
) -> None:
    data = {k: v for k, v in typed_values().items() if k not in ("naive", "aware")}
    cookie, flask_sees = legacy_flask_cookie(data)
    tb.cookies = {"session": cookie}
    response = tb.get(side, "/read")
    assert response.status_code == 200
    assert probe[-1] == flask_sees
    assert probe[-1]["_flashes"] == [("info", "welcome back")]
    headers = response.headers.get_list("set-cookie")
    assert any(h.startswith("ssid=") for h in headers)
    assert any(h.startswith("session=;") and "Max-Age=0" in h for h in headers)
    assert set(tb.cookies) == {"ssid"}
    # The next request uses only the new cookie and sees the same data.
    tb.get(side, "/read")
    assert probe[-1] == flask_sees


@pytest.mark.parametrize("side", SIDES)
def test_flask_cookie_signed_with_a_fallback_key_is_taken_over(
    takeover_settings: SessionSettings, probe: list[Any], side: str
) -> None:
    settings = takeover_settings.with_changes(flask_secret_keys=["older-key", LEGACY_FLASK_KEY])
    browser = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    cookie, _ = legacy_flask_cookie({"user": "alice"}, secret="older-key")
    browser.cookies = {"session": cookie}
    browser.get(side, "/read")
    assert probe[-1]["user"] == "alice"


@pytest.mark.parametrize("side", SIDES)
def test_starlette_cookie_session_is_taken_over_with_its_data(
    tb: Browser, probe: list[Any], side: str
) -> None:
    data = {"user": {"sub": "alice", "roles": ["admin"]}, "n": 3}
    tb.cookies = {"session": legacy_starlette_cookie(data)}
    tb.get(side, "/read")
    assert probe[-1] == data
    assert set(tb.cookies) == {"ssid"}


@pytest.mark.parametrize("side", SIDES)
def test_forged_legacy_cookie_is_ignored(tb: Browser, probe: list[Any], side: str) -> None:
    cookie, _ = legacy_flask_cookie({"user": "alice"}, secret="attacker-key")
    tb.cookies = {"session": cookie}
    response = tb.get(side, "/read")
    assert probe[-1] == {}
    assert not any(h.startswith("ssid=") for h in response.headers.get_list("set-cookie"))


def test_concurrent_requests_with_the_same_old_cookie_share_one_session(
    takeover_settings: SessionSettings,
) -> None:
    cookie, _ = legacy_flask_cookie({"user": "alice"})
    probe: list[Any] = []
    flask_app = make_flask(takeover_settings, probe)
    asgi_app = make_asgi(takeover_settings, probe)
    new_cookies: list[str] = []
    barrier = threading.Barrier(16)

    def visit(i: int) -> None:
        browser = Browser(flask_app, asgi_app)
        browser.cookies = {"session": cookie}
        barrier.wait()
        browser.post(SIDES[i % 2], f"/set/k{i}")
        new_cookies.append(browser.cookies["ssid"])

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(new_cookies) == 16
    assert len({c.partition(".")[0] for c in new_cookies}) == 1
    reader = Browser(flask_app, asgi_app)
    reader.cookies = {"ssid": new_cookies[0]}
    reader.get("flask", "/read")
    assert probe[-1]["user"] == "alice"
    assert {f"k{i}" for i in range(16)} <= set(probe[-1])


@pytest.mark.parametrize("side", SIDES)
def test_replaying_the_old_cookie_after_logout_does_not_log_back_in(
    tb: Browser, probe: list[Any], side: str
) -> None:
    cookie, _ = legacy_flask_cookie({"user": "alice"})
    tb.cookies = {"session": cookie}
    tb.get(side, "/read")
    assert probe[-1]["user"] == "alice"
    tb.post(side, "/logout")
    tb.cookies = {"session": cookie}
    response = tb.get(side, "/read")
    assert probe[-1] == {}
    assert not any(h.startswith("ssid=") for h in response.headers.get_list("set-cookie"))


def test_takeover_can_be_switched_off(redis_url: str, key_prefix: str) -> None:
    settings = make_settings(
        redis_url, key_prefix, takeover_flask=False, flask_secret_keys=[LEGACY_FLASK_KEY]
    )
    probe: list[Any] = []
    browser = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    cookie, _ = legacy_flask_cookie({"user": "alice"})
    browser.cookies = {"session": cookie}
    browser.get("asgi", "/read")
    assert probe[-1] == {}
