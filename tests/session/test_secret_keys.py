"""Secret keys behave as in Flask: read per request, fallbacks verify, the newest signs.

A cookie signed with a fallback key is accepted and re-signed with the current
key; a cookie signed with a key no longer configured starts a fresh session.
The same rule holds for taking over a legacy Flask cookie.
"""

from __future__ import annotations

from typing import Any

import flask
import pytest

from shared_session import SessionConfigError, SessionSettings, install_flask_session
from shared_session.cookie import CookieSigner
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import SIDES, Browser, make_settings
from tests.session.test_takeover import legacy_flask_cookie


def _flask_app(settings: SessionSettings, probe: list[Any], secret_key: str) -> flask.Flask:
    app = flask.Flask("keys")
    app.config["SECRET_KEY"] = secret_key
    install_flask_session(app, settings)

    @app.get("/read")
    def read() -> str:
        probe.append(dict(flask.session))
        return "read"

    @app.post("/login")
    def login() -> str:
        flask.session["user"] = "alice"
        return "ok"

    return app


def _set_cookies(response: Any) -> dict[str, str]:
    cookies = {}
    headers = response.headers  # Werkzeug's (test client) or httpx's (Browser)
    values = (
        headers.get_list("set-cookie")
        if hasattr(headers, "get_list")
        else headers.getlist("Set-Cookie")
    )
    for header in values:
        name, _, rest = header.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    return cookies


@pytest.fixture
def app_keyed(redis_url: str, key_prefix: str) -> SessionSettings:
    """Settings without secret_keys: the Flask app's own keys sign."""
    return SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[])


def test_secret_key_changed_after_install_signs_new_cookies(app_keyed: SessionSettings) -> None:
    app = _flask_app(app_keyed, [], "key-one")
    app.config["SECRET_KEY"] = "key-two"
    cookie = _set_cookies(app.test_client().post("/login"))["ssid"]
    assert CookieSigner(["key-two"]).unsign(cookie) is not None
    assert CookieSigner(["key-one"]).unsign(cookie) is None


def test_cookie_signed_with_a_fallback_is_accepted_and_resigned(
    app_keyed: SessionSettings,
) -> None:
    probe: list[Any] = []
    app = _flask_app(app_keyed, probe, "key-one")
    client = app.test_client()
    old_cookie = _set_cookies(client.post("/login"))["ssid"]

    app.config["SECRET_KEY"] = "key-two"
    app.config["SECRET_KEY_FALLBACKS"] = ["key-one"]
    client = app.test_client()
    client.set_cookie("ssid", old_cookie)
    response = client.get("/read")
    assert probe[-1] == {"user": "alice"}
    resigned = _set_cookies(response)["ssid"]
    assert CookieSigner(["key-two"]).unsign(resigned) == CookieSigner(["key-one"]).unsign(
        old_cookie
    )
    # Signed with the current key now: the next request sends no cookie.
    client.set_cookie("ssid", resigned)
    assert "Set-Cookie" not in client.get("/read").headers
    assert probe[-1] == {"user": "alice"}


def test_cookie_signed_with_a_key_no_longer_configured_is_rejected(
    app_keyed: SessionSettings,
) -> None:
    probe: list[Any] = []
    app = _flask_app(app_keyed, probe, "key-one")
    old_cookie = _set_cookies(app.test_client().post("/login"))["ssid"]
    app.config["SECRET_KEY"] = "key-two"  # no fallback: key-one is gone
    client = app.test_client()
    client.set_cookie("ssid", old_cookie)
    response = client.get("/read")
    assert probe[-1] == {}
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_a_cookie_verified_before_a_key_change_is_judged_by_the_new_keys(
    app_keyed: SessionSettings,
) -> None:
    # Verified cookies are remembered per key list: after the change the
    # same cookie is refused (key dropped) or re-signed (key now a fallback),
    # never accepted from what was verified under the old keys.
    probe: list[Any] = []
    app = _flask_app(app_keyed, probe, "key-one")
    client = app.test_client()
    cookie = _set_cookies(client.post("/login"))["ssid"]
    for _ in range(2):
        assert "Set-Cookie" not in client.get("/read").headers
        assert probe[-1] == {"user": "alice"}

    app.config["SECRET_KEY"] = "key-two"
    response = client.get("/read")
    assert probe[-1] == {}
    assert "Max-Age=0" in response.headers["Set-Cookie"]

    app.config["SECRET_KEY_FALLBACKS"] = ["key-one"]
    client.set_cookie("ssid", cookie)
    resigned = _set_cookies(client.get("/read"))["ssid"]
    assert probe[-1] == {"user": "alice"}
    assert CookieSigner(["key-two"]).unsign(resigned) == CookieSigner(["key-one"]).unsign(cookie)

    app.config["SECRET_KEY"] = "key-one"
    app.config["SECRET_KEY_FALLBACKS"] = []
    client.set_cookie("ssid", cookie)
    assert "Set-Cookie" not in client.get("/read").headers
    assert probe[-1] == {"user": "alice"}
    client.set_cookie("ssid", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert probe[-1] == {"user": "alice"}
    client.get("/read")
    assert probe[-1] == {}  # a tampered value is verified, not taken from the cache


def test_install_without_any_key_is_refused(app_keyed: SessionSettings) -> None:
    app = flask.Flask("no-key")
    with pytest.raises(SessionConfigError, match="SECRET_KEY"):
        install_flask_session(app, app_keyed)


@pytest.mark.parametrize("side", SIDES)
def test_rotated_shared_keys_resign_an_old_cookie_on_both_sides(
    redis_url: str, key_prefix: str, side: str
) -> None:
    old = make_settings(redis_url, key_prefix, secret_keys=["old-key"])
    rotated = make_settings(redis_url, key_prefix, secret_keys=["old-key", "new-key"])
    probe: list[Any] = []
    before = Browser(make_flask(old, probe), make_asgi(old, probe))
    before.post(side, "/set/user", params={"value": "alice"})
    old_cookie = before.session_cookie()
    assert old_cookie is not None
    after = Browser(make_flask(rotated, probe), make_asgi(rotated, probe))
    after.cookies = {"ssid": old_cookie}
    response = after.get(side, "/read")
    assert probe[-1] == {"user": "alice"}
    resigned = _set_cookies(response)["ssid"]
    assert CookieSigner(["new-key"]).unsign(resigned) == old_cookie.partition(".")[0]
    for reader in SIDES:  # both sides take the re-signed cookie without a new one
        response = after.get(reader, "/read")
        assert probe[-1] == {"user": "alice"}
        assert "ssid" not in _set_cookies(response)


def test_legacy_flask_cookie_takeover_follows_the_current_app_keys(
    app_keyed: SessionSettings,
) -> None:
    probe: list[Any] = []
    shared = app_keyed.with_changes(secret_keys=["shared-key"])  # flask_secret_keys unset
    app = _flask_app(shared, probe, "legacy-one")
    legacy, _ = legacy_flask_cookie({"user": "alice"}, secret="legacy-one")

    app.config["SECRET_KEY"] = "legacy-two"  # rotated without a fallback
    client = app.test_client()
    client.set_cookie("session", legacy)
    client.get("/read")
    assert probe[-1] == {}

    app.config["SECRET_KEY_FALLBACKS"] = ["legacy-one"]
    client = app.test_client()
    client.set_cookie("session", legacy)
    client.get("/read")
    assert probe[-1] == {
        "user": "alice",
        "_flashes": [("info", "welcome back")],
        "_permanent": True,
    }


def test_a_bytes_secret_key_signs_and_takes_over_as_in_flask(app_keyed: SessionSettings) -> None:
    key = b'_5#y2L"F4Q8z\n\xec]/'  # the form of key Flask's old docs showed
    probe: list[Any] = []
    app = flask.Flask("bytes-key")
    app.secret_key = key
    install_flask_session(app, app_keyed)

    @app.get("/read")
    def read() -> str:
        probe.append(dict(flask.session))
        return "read"

    legacy, _ = legacy_flask_cookie({"user": "alice"}, secret=key)  # type: ignore[arg-type]
    client = app.test_client()
    client.set_cookie("session", legacy)
    response = client.get("/read")
    assert probe[-1]["user"] == "alice"
    assert CookieSigner([key]).unsign(_set_cookies(response)["ssid"]) is not None
