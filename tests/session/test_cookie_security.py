"""Hostile and stale cookies: each yields a fresh session, never a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from shared_session import SessionSettings
from shared_session.cookie import CookieSigner, new_session_id
from shared_session.store.redis import session_key
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import SECRET, SIDES, Browser, make_settings


def _logged_in(browser: Browser, side: str) -> str:
    browser.post(side, "/set/user", params={"value": "alice"})
    cookie = browser.session_cookie()
    assert cookie
    return cookie


def _reads_fresh_session(browser: Browser, probe: list[Any], side: str, cookie: str) -> Any:
    browser.cookies = {"ssid": cookie}
    response = browser.get(side, "/read")
    assert response.status_code == 200
    assert probe[-1] == {}
    return response


def _hostile_cookies(valid: str) -> dict[str, str]:
    sid, _, signature = valid.partition(".")
    # Alter a middle character: the last one of a base64 HMAC also carries
    # padding bits, so changing it may leave the decoded signature intact.
    middle = len(signature) // 2
    flipped = (
        signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    )
    return {
        "forged signature": f"{sid}.{flipped}",
        "wrong key": CookieSigner(["some-other-key"]).sign(sid),
        "truncated": valid[: len(valid) // 2],
        "signature only": f".{signature}",
        "random": "q8Zk3v0dD1lC9bX2",
        "oversized": "A" * 5000,
        "client-chosen id, unsigned": sid,
        "percent-encoded junk": "ab%00cd.e%ffg",
    }


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("kind", list(_hostile_cookies("a.b").keys()))
def test_hostile_cookie_yields_a_fresh_session_and_a_log_line(
    browser: Browser, probe: list[Any], side: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    valid = _logged_in(browser, side)
    with caplog.at_level(logging.WARNING, logger="shared_session"):
        response = _reads_fresh_session(browser, probe, side, _hostile_cookies(valid)[kind])
    assert "rejected session cookie" in caplog.text
    assert any("Max-Age=0" in h for h in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize("side", SIDES)
def test_signed_but_unknown_id_is_never_adopted(
    browser: Browser, probe: list[Any], side: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    chosen = new_session_id()
    _reads_fresh_session(browser, probe, side, CookieSigner([SECRET]).sign(chosen))
    browser.cookies = {"ssid": CookieSigner([SECRET]).sign(chosen)}
    browser.post(side, "/set/user", params={"value": "mallory"})
    assert browser.session_cookie() is not None
    assert browser.session_cookie().partition(".")[0] != chosen  # type: ignore[union-attr]
    assert not redis_client.exists(session_key(key_prefix, chosen))


@pytest.mark.parametrize("side", SIDES)
def test_cookie_signed_with_an_older_rotated_key_still_verifies(
    store_kind: str, redis_url: str, key_prefix: str, side: str
) -> None:
    old = make_settings(
        redis_url if store_kind == "redis" else None, key_prefix, secret_keys=["old-key"]
    )
    rotated = make_settings(
        redis_url if store_kind == "redis" else None, key_prefix, secret_keys=["old-key", "new-key"]
    )
    probe: list[Any] = []
    before = Browser(make_flask(old, probe), make_asgi(old, probe))
    cookie = _logged_in(before, side)
    after = Browser(make_flask(rotated, probe), make_asgi(rotated, probe))
    after.cookies = {"ssid": cookie}
    after.get(side, "/read")
    assert probe[-1] == {"user": "alice"}
    after.post(side, "/regenerate")
    new_cookie = after.session_cookie()
    assert new_cookie is not None
    assert CookieSigner(["new-key"]).unsign(new_cookie) is not None
    assert CookieSigner(["old-key"]).unsign(new_cookie) is None


@pytest.mark.parametrize("side", SIDES)
def test_replaying_a_cookie_after_logout_does_not_log_back_in(
    browser: Browser, probe: list[Any], side: str
) -> None:
    cookie = _logged_in(browser, side)
    browser.post(side, "/logout")
    _reads_fresh_session(browser, probe, side, cookie)


def test_flask_side_honours_secret_key_and_fallbacks(redis_url: str, key_prefix: str) -> None:
    settings = SessionSettings(redis_url=redis_url, key_prefix=key_prefix)
    probe: list[Any] = []
    old_app = make_flask(settings, probe)  # signs with SECRET_KEY of make_flask
    old_browser = Browser(old_app, make_asgi(make_settings(redis_url, key_prefix), probe))
    cookie = _logged_in(old_browser, "flask")

    import flask

    from shared_session import install_flask_session

    rotated = flask.Flask("rotated")
    rotated.config["SECRET_KEY"] = "brand-new-key"
    rotated.config["SECRET_KEY_FALLBACKS"] = [old_app.config["SECRET_KEY"]]
    install_flask_session(rotated, settings)

    @rotated.get("/read")
    def read() -> str:
        probe.append(dict(flask.session))
        return "ok"

    client = rotated.test_client()
    client.set_cookie("ssid", cookie)
    assert client.get("/read").status_code == 200
    assert probe[-1] == {"user": "alice"}


def test_cookie_attributes_are_safe_by_default_and_secure_on_https(
    browser: Browser,
) -> None:
    for side in SIDES:
        browser.cookies.clear()
        header = browser.post(side, "/set/user").headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
        assert "Secure" not in header
    flask_https = browser.clients["flask"].post("https://testserver/set/user")
    assert "Secure" in flask_https.headers["set-cookie"]
    asgi_https = browser.clients["asgi"].post("https://testserver/set/user")
    assert "Secure" in asgi_https.headers["set-cookie"]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "header", ['ssid="\\x00\\t', "ssid", "=;=;ssid==", "ssid=\u00e9\u00e9", "ssid=" + "x" * 10000]
)
def test_unparseable_cookie_header_is_a_fresh_session(
    browser: Browser, probe: list[Any], side: str, header: str
) -> None:
    if side == "flask" and not header.isascii():
        pytest.skip("httpx's WSGI test transport cannot carry non-ASCII header bytes")
    _logged_in(browser, side)
    browser.cookies.clear()
    response = browser.get(side, "/read", headers={"cookie": header.encode("latin-1")})
    assert response.status_code == 200
    assert probe[-1] == {}
