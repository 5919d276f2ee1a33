"""Flask's session settings take effect on both sides or stop install_flask_session.

Every Flask setting the app set to something other than Flask's default must
agree with SessionSettings; the error names the Flask setting, its value, the
SessionSettings field and its environment variable.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import pytest

from shared_session import SessionConfigError, SessionSettings, install_flask_session
from shared_session.flask_config import FLASK_DEFAULTS, disagreements
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import SIDES, Browser, make_settings
from tests.session.test_takeover import LEGACY_FLASK_KEY, legacy_flask_cookie


def _install(settings: SessionSettings, **config: Any) -> flask.Flask:
    app = flask.Flask("config")
    app.config["SECRET_KEY"] = "config-test-key"
    app.config.update(config)
    install_flask_session(app, settings)
    return app


@pytest.fixture
def plain(redis_url: str, key_prefix: str) -> SessionSettings:
    return make_settings(redis_url, key_prefix)


# (Flask setting, its value, the field and env var named in the error)
DISAGREEING = [
    ("SESSION_COOKIE_NAME", "myapp", "flask_cookie_name", "SHARED_SESSION_FLASK_COOKIE_NAME"),
    ("SESSION_COOKIE_DOMAIN", "example.org", "cookie_domain", "SHARED_SESSION_COOKIE_DOMAIN"),
    ("SESSION_COOKIE_PATH", "/app", "cookie_path", "SHARED_SESSION_COOKIE_PATH"),
    ("APPLICATION_ROOT", "/root", "cookie_path", "SHARED_SESSION_COOKIE_PATH"),
    ("SESSION_COOKIE_SECURE", True, "cookie_secure", "SHARED_SESSION_COOKIE_SECURE"),
    ("SESSION_COOKIE_HTTPONLY", False, "cookie_httponly", "SHARED_SESSION_COOKIE_HTTPONLY"),
    ("SESSION_COOKIE_SAMESITE", "Strict", "cookie_samesite", "SHARED_SESSION_COOKIE_SAMESITE"),
    (
        "SESSION_COOKIE_PARTITIONED",
        True,
        "cookie_partitioned",
        "SHARED_SESSION_COOKIE_PARTITIONED",
    ),
    (
        "PERMANENT_SESSION_LIFETIME",
        timedelta(hours=1),
        "idle_timeout",
        "SHARED_SESSION_IDLE_TIMEOUT",
    ),
    (
        "PERMANENT_SESSION_LIFETIME",
        timedelta(hours=1),
        "flask_max_age",
        "SHARED_SESSION_FLASK_MAX_AGE",
    ),
    (
        "PERMANENT_SESSION_LIFETIME",
        timedelta(days=60),
        "absolute_lifetime",
        "SHARED_SESSION_ABSOLUTE_LIFETIME",
    ),
    ("SESSION_REFRESH_EACH_REQUEST", False, "idle_timeout", "SHARED_SESSION_IDLE_TIMEOUT"),
]


@pytest.mark.parametrize(("setting", "value", "field", "env"), DISAGREEING)
def test_disagreeing_flask_setting_stops_install_naming_both(
    plain: SessionSettings, setting: str, value: Any, field: str, env: str
) -> None:
    with pytest.raises(SessionConfigError) as raised:
        _install(plain, **{setting: value})
    message = str(raised.value)
    assert f"{setting}={value!r}" in message
    assert field in message and env in message


def test_every_disagreement_is_listed_at_once(plain: SessionSettings) -> None:
    with pytest.raises(SessionConfigError) as raised:
        _install(plain, SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_DOMAIN="example.org")
    assert "SESSION_COOKIE_SAMESITE" in str(raised.value)
    assert "SESSION_COOKIE_DOMAIN" in str(raised.value)


def test_flask_defaults_never_stop_install(plain: SessionSettings) -> None:
    unusual = plain.with_changes(
        cookie_domain="example.org",
        cookie_path="/x",
        cookie_secure=False,
        cookie_samesite="strict",
        cookie_httponly=True,
        idle_timeout=600,
        absolute_lifetime=3600,
        flask_cookie_name="old",
    )
    assert disagreements(dict(FLASK_DEFAULTS), unusual) == []
    _install(unusual, **FLASK_DEFAULTS)  # set explicitly to Flask's defaults: still fine


def test_setting_changed_after_install_is_refused_at_the_first_request(
    plain: SessionSettings,
) -> None:
    app = _install(plain)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.testing = True

    @app.get("/")
    def index() -> str:
        return "ok"

    with pytest.raises(SessionConfigError, match="SESSION_COOKIE_SAMESITE"):
        app.test_client().get("/")


AGREEING_CONFIG: dict[str, Any] = {
    "SESSION_COOKIE_DOMAIN": "testserver.local",
    "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_PARTITIONED": True,
    "PERMANENT_SESSION_LIFETIME": 3600,  # Flask also takes int seconds
}


def test_agreeing_settings_take_effect_on_both_sides(plain: SessionSettings) -> None:
    settings = plain.with_changes(
        cookie_domain="testserver.local",
        cookie_secure=True,
        cookie_samesite="strict",
        cookie_partitioned=True,
        idle_timeout=3600,
        flask_max_age=3600,
    )
    probe: list[Any] = []
    flask_app = make_flask(settings, probe)
    flask_app.config.update(AGREEING_CONFIG)
    browser = Browser(flask_app, make_asgi(settings, probe))
    headers = {}
    for side in SIDES:
        browser.cookies.clear()
        response = browser.post(side, "/set/user")
        assert response.status_code == 200
        header = response.headers["set-cookie"]
        headers[side] = header.split(";", 1)[1]  # the attributes, not the value
    assert headers["flask"] == headers["asgi"]
    for attribute in ("Domain=testserver.local", "Secure", "SameSite=Strict", "Partitioned"):
        assert attribute in headers["flask"]
    assert flask_app.session_interface.get_cookie_samesite(flask_app) == "Strict"


@pytest.mark.parametrize("side", SIDES)
def test_flask_cookie_name_agreeing_with_takeover_takes_over_that_cookie(
    plain: SessionSettings, side: str
) -> None:
    settings = plain.with_changes(flask_cookie_name="myapp", flask_secret_keys=[LEGACY_FLASK_KEY])
    probe: list[Any] = []
    flask_app = flask.Flask("named")
    flask_app.config.update(SECRET_KEY=LEGACY_FLASK_KEY, SESSION_COOKIE_NAME="myapp")
    install_flask_session(flask_app, settings)

    @flask_app.get("/read")
    def read() -> str:
        probe.append(dict(flask.session))
        return "read"

    browser = Browser(flask_app, make_asgi(settings, probe))
    cookie, _ = legacy_flask_cookie({"user": "alice"})
    browser.cookies = {"myapp": cookie}
    browser.get(side, "/read")
    assert probe[-1]["user"] == "alice"
    assert set(browser.cookies) == {"ssid"}


def test_the_documented_table_covers_every_checked_setting_with_real_env_vars() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "shared-session.md").read_text()
    section = doc.split("## Flask's own session settings", 1)[1].split("\n## ", 1)[0]
    for setting in FLASK_DEFAULTS:
        assert f"`{setting}`" in section, setting
    for env in re.findall(r"SHARED_SESSION_[A-Z_]+", doc):
        field = env.removeprefix("SHARED_SESSION_").lower()
        assert field in SessionSettings.model_fields, env
