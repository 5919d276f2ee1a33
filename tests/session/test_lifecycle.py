"""Saving, regenerating, clearing and expiring, on both sides and both stores."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from shared_session import SessionSettings
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import PAIRS, SIDES, Browser, make_settings, set_cookie_headers


def _stored_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    return [k for k in client.scan_iter(match=f"{prefix}*") if b"takeover:" not in k]


@pytest.mark.parametrize("side", SIDES)
def test_untouched_session_creates_nothing_and_sends_no_cookie(
    browser: Browser, side: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    for path in ("/noop", "/read", "/flashes"):
        response = browser.get(side, path)
        assert response.status_code == 200
        assert set_cookie_headers(response) == []
    assert _stored_keys(redis_client, key_prefix) == []


@pytest.mark.parametrize("side", SIDES)
def test_read_only_request_sends_no_cookie_and_writes_nothing(
    side: str, redis_settings: SessionSettings, redis_client: redis.Redis, key_prefix: str
) -> None:
    browser = Browser(make_flask(redis_settings, []), make_asgi(redis_settings, []))
    browser.post("flask", "/set/user", params={"value": "alice"})
    (key,) = _stored_keys(redis_client, key_prefix)
    version = redis_client.hget(key, "!v")
    response = browser.get(side, "/read")
    assert set_cookie_headers(response) == []
    assert response.headers["vary"] == "Cookie"
    assert redis_client.hget(key, "!v") == version


@pytest.mark.parametrize("side", SIDES)
def test_session_that_was_not_touched_adds_no_vary(browser: Browser, side: str) -> None:
    browser.post(side, "/set/user")
    assert "cookie" not in browser.get(side, "/noop").headers.get("vary", "").lower()


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_regenerate_moves_data_to_a_new_id_and_deletes_the_old_key(
    first: str,
    second: str,
    redis_settings: SessionSettings,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    probe: list[Any] = []
    browser = Browser(make_flask(redis_settings, probe), make_asgi(redis_settings, probe))
    browser.post(first, "/set/user", params={"value": "alice"})
    old_cookie = browser.session_cookie()
    (old_key,) = _stored_keys(redis_client, key_prefix)
    response = browser.post(second, "/regenerate")
    assert len(set_cookie_headers(response)) == 1
    assert browser.session_cookie() != old_cookie
    (new_key,) = _stored_keys(redis_client, key_prefix)
    assert new_key != old_key
    browser.get(first, "/read")
    assert probe[-1] == {"user": "alice"}


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_logout_on_either_side_logs_out_of_both(
    browser: Browser, probe: list[Any], first: str, second: str
) -> None:
    browser.post(first, "/set/user", params={"value": "alice"})
    old_cookie = browser.session_cookie()
    response = browser.post(second, "/logout")
    assert any("Max-Age=0" in h for h in set_cookie_headers(response))
    assert browser.session_cookie() is None
    browser.get(first, "/read")
    assert probe[-1] == {}
    # The old cookie, replayed, leads nowhere either.
    browser.cookies["ssid"] = old_cookie  # type: ignore[assignment]
    browser.get(first, "/read")
    assert probe[-1] == {}


@pytest.mark.parametrize("side", SIDES)
def test_writing_after_clear_starts_a_new_session(
    browser: Browser, probe: list[Any], side: str
) -> None:
    browser.post(side, "/set/user", params={"value": "alice"})
    old_cookie = browser.session_cookie()
    browser.post(side, "/logout")
    browser.post(side, "/flash", params={"message": "bye"})
    assert browser.session_cookie() not in (None, old_cookie)
    browser.get(side, "/read")
    assert "user" not in probe[-1]


def test_slow_request_does_not_resurrect_a_logged_out_session(
    settings: SessionSettings, probe: list[Any]
) -> None:
    gate = threading.Event()
    browser = Browser(make_flask(settings, probe, gate), make_asgi(settings, probe))
    browser.post("flask", "/set/user", params={"value": "alice"})
    cookie = browser.session_cookie()
    slow_browser = Browser(make_flask(settings, probe, gate), make_asgi(settings, probe))
    slow_browser.cookies["ssid"] = cookie  # type: ignore[assignment]
    results: list[Any] = []
    slow = threading.Thread(
        target=lambda: results.append(slow_browser.post("flask", "/slow-set/x"))
    )
    slow.start()
    time.sleep(0.2)  # the slow request has loaded the session
    browser.post("asgi", "/logout")
    gate.set()
    slow.join(10)
    assert results[0].status_code == 200
    browser.cookies["ssid"] = cookie  # type: ignore[assignment]
    browser.get("asgi", "/read")
    assert probe[-1] == {}


def test_idle_timeout_slides_with_use_and_expires_when_idle(
    store_kind: str, redis_url: str, key_prefix: str
) -> None:
    settings = make_settings(
        redis_url if store_kind == "redis" else None, key_prefix, idle_timeout=2
    )
    probe: list[Any] = []
    browser = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    browser.post("flask", "/set/user", params={"value": "alice"})
    for step in range(4):  # 3.2 s of activity on both sides, longer than the idle timeout
        time.sleep(0.8)
        browser.get(SIDES[step % 2], "/read")
        assert probe[-1] == {"user": "alice"}
    time.sleep(2.1)
    browser.get("asgi", "/read")
    assert probe[-1] == {}


def test_absolute_lifetime_ends_even_an_active_session(
    store_kind: str, redis_url: str, key_prefix: str
) -> None:
    settings = make_settings(
        redis_url if store_kind == "redis" else None,
        key_prefix,
        idle_timeout=60,
        absolute_lifetime=2,
    )
    probe: list[Any] = []
    browser = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    browser.post("asgi", "/set/user", params={"value": "alice"})
    time.sleep(1.0)
    browser.post("flask", "/set/other")
    browser.get("asgi", "/read")
    assert probe[-1] == {"user": "alice", "other": "other"}
    time.sleep(1.2)
    browser.get("flask", "/read")
    assert probe[-1] == {}
