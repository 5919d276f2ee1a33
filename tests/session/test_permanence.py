"""``session.permanent`` as in Flask, honoured by both sides, with real cookies.

False gives a browser-session cookie (no Max-Age, no Expires) and the other
side keeps it that way; the flag lives in the session under ``_permanent``.
"""

from __future__ import annotations

import time
from typing import Any

import flask
import pytest
import redis
from fastapi import FastAPI, Request

from shared_session import SessionSettings
from shared_session.store.redis import session_key
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import PAIRS, SIDES, Browser


def _browser(settings: SessionSettings, probe: list[Any]) -> Browser:
    flask_app = make_flask(settings, probe)

    @flask_app.post("/permanent/<value>")
    def set_permanent(value: str) -> str:
        flask.session.permanent = value == "true"
        return "ok"

    @flask_app.get("/permanent")
    def get_permanent() -> str:
        probe.append(flask.session.permanent)
        return "ok"

    asgi_app: FastAPI = make_asgi(settings, probe)

    @asgi_app.post("/permanent/{value}")
    def set_permanent_asgi(request: Request, value: str) -> str:
        request.session.permanent = value == "true"
        return "ok"

    @asgi_app.get("/permanent")
    def get_permanent_asgi(request: Request) -> str:
        probe.append(request.session.permanent)
        return "ok"

    return Browser(flask_app, asgi_app)


def _session_cookie(response: Any) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("ssid=")]
    assert len(headers) == 1, headers
    return headers[0]


def _is_browser_session_cookie(header: str) -> bool:
    lowered = header.lower()
    return "max-age" not in lowered and "expires" not in lowered


@pytest.mark.parametrize(("writer", "other"), PAIRS)
def test_permanent_false_gives_a_browser_session_cookie_on_both_sides(
    redis_settings: SessionSettings,
    redis_client: redis.Redis,
    writer: str,
    other: str,
) -> None:
    probe: list[Any] = []
    browser = _browser(redis_settings, probe)
    response = browser.post(writer, "/permanent/false")
    assert _is_browser_session_cookie(_session_cookie(response))
    browser.post(writer, "/set/user", params={"value": "alice"})
    browser.get(other, "/permanent")
    assert probe[-1] is False
    # The other side issues the next cookie (a new id at login): still no Max-Age.
    response = browser.post(other, "/regenerate")
    assert _is_browser_session_cookie(_session_cookie(response))
    browser.get(writer, "/read")
    assert probe[-1]["user"] == "alice"
    assert probe[-1]["_permanent"] is False
    # The server-side session is still bounded by the idle timeout.
    sid = (browser.session_cookie() or "").partition(".")[0]
    ttl = redis_client.pttl(session_key(redis_settings.key_prefix, sid))
    assert 0 < ttl <= redis_settings.idle_timeout * 1000


@pytest.mark.parametrize(("writer", "other"), PAIRS)
def test_changing_permanence_resends_the_cookie_with_the_new_lifetime(
    redis_settings: SessionSettings, writer: str, other: str
) -> None:
    probe: list[Any] = []
    browser = _browser(redis_settings, probe)
    first = _session_cookie(browser.post(writer, "/set/user", params={"value": "alice"}))
    assert f"Max-Age={redis_settings.absolute_lifetime}" in first  # cookie_persistent
    browser.get(other, "/permanent")
    assert probe[-1] is False  # unset reads False, as in Flask
    assert _is_browser_session_cookie(_session_cookie(browser.post(writer, "/permanent/false")))
    again = _session_cookie(browser.post(other, "/permanent/true"))
    assert f"Max-Age={redis_settings.absolute_lifetime}" in again
    # Same id throughout: only the cookie's lifetime changed.
    assert again.split(";")[0] == first.split(";")[0]


@pytest.mark.parametrize("side", SIDES)
def test_without_a_flag_cookie_persistent_false_gives_a_browser_session_cookie(
    redis_settings: SessionSettings, side: str
) -> None:
    settings = redis_settings.with_changes(cookie_persistent=False)
    probe: list[Any] = []
    browser = _browser(settings, probe)
    assert _is_browser_session_cookie(_session_cookie(browser.post(side, "/set/user")))
    browser.get(side, "/permanent")
    assert probe[-1] is False
    permanent = _session_cookie(browser.post(side, "/permanent/true"))
    assert f"Max-Age={settings.absolute_lifetime}" in permanent


@pytest.mark.parametrize("side", SIDES)
def test_a_cookie_jar_keeps_the_cookie_for_the_browser_session_only(
    redis_settings: SessionSettings, side: str
) -> None:
    """The stdlib cookie jar (browser rules) reads the headers the same way."""
    client = _browser(redis_settings, []).clients[side]
    client.post("http://testserver/permanent/false")
    (cookie,) = [c for c in client.cookies.jar if c.name == "ssid"]
    assert cookie.discard and cookie.expires is None
    client.post("http://testserver/permanent/true")
    (cookie,) = [c for c in client.cookies.jar if c.name == "ssid"]
    assert not cookie.discard and cookie.expires is not None
    assert cookie.expires > time.time() + redis_settings.absolute_lifetime - 60
