"""A save that cannot happen as asked never fails the request nor sticks the session.

Over ``max_session_bytes`` the oldest flashes are dropped, else the request's
changes are; a write Redis refuses (out of memory) leaves the session as it
was. In both cases the response goes out as the handler produced it, a
warning names the largest keys (never their values), the reason is counted,
and the user's next requests work. docs/shared-session.md, "Failure behaviour".
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from shared_session import SessionMiddleware
from shared_session.state import SessionCore
from tests.redis_server import RedisServer
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import SIDES, Browser, make_settings, set_cookie_headers


def _cores(browser: Browser) -> dict[str, SessionCore]:
    """Each side's SessionCore (the ASGI one once its stack is built)."""
    flask_app = browser.clients["flask"]._transport.app
    asgi: Any = browser.clients["asgi"].app.middleware_stack
    while not isinstance(asgi, SessionMiddleware):
        asgi = asgi.app
    return {"flask": flask_app.session_interface.core, "asgi": asgi.core}


def _browser(url: str | None, prefix: str, probe: list[Any], **overrides: Any) -> Browser:
    settings = make_settings(url, prefix, **overrides)
    return Browser(make_flask(settings, probe), make_asgi(settings, probe))


@pytest.mark.parametrize("side", SIDES)
def test_a_change_over_the_size_limit_is_dropped_and_the_answer_is_the_handlers(
    side: str, store_kind: str, redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    probe: list[Any] = []
    url = redis_url if store_kind == "redis" else None
    browser = _browser(url, key_prefix, probe, max_session_bytes=1000)
    browser.post(side, "/set/user", params={"value": "alice"})
    cookie = browser.session_cookie()
    with caplog.at_level(logging.WARNING, logger="shared_session"):
        response = browser.post(side, "/big", params={"size": 5000})
    assert (response.status_code, response.text) == (200, "big")
    assert set_cookie_headers(response) == []
    warning = next(r.getMessage() for r in caplog.records if "not saved" in r.getMessage())
    assert "'big' 5002 B" in warning and "'user'" in warning
    assert "xxxx" not in caplog.text and "alice" not in caplog.text  # never values
    assert _cores(browser)[side].counters.snapshot() == {"too_large": 1}
    # The stored session is as before, and the next requests of this user work.
    for other in SIDES:
        browser.get(other, "/read")
        assert probe[-1] == {"user": "alice"}
    for other in SIDES:
        assert browser.post(other, "/set/k", params={"value": other}).status_code == 200
    browser.get(side, "/read")
    assert probe[-1] == {"user": "alice", "k": SIDES[-1]}
    assert browser.session_cookie() == cookie


def test_flashes_piling_up_drop_the_oldest_and_every_request_succeeds(
    store_kind: str, redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    probe: list[Any] = []
    url = redis_url if store_kind == "redis" else None
    browser = _browser(url, key_prefix, probe, max_session_bytes=2000)
    browser.post("flask", "/set/user", params={"value": "alice"})
    with caplog.at_level(logging.WARNING, logger="shared_session"):
        for i in range(60):  # about 6 KB of flashes, three times the limit
            side = SIDES[i % 2]
            message = f"note {i:02d} saved " + "." * 80
            response = browser.post(side, "/flash", params={"message": message})
            assert (response.status_code, response.text) == (200, "flashed"), i
    assert "dropped the 1 oldest flash messages" in caplog.text
    assert "'_flashes'" in caplog.text
    counts = [_cores(browser)[s].counters.snapshot().get("trimmed", 0) for s in SIDES]
    assert sum(counts) >= 30
    browser.get("asgi", "/flashes")
    shown = [message for _, message in probe[-1]]
    assert 10 <= len(shown) < 60
    assert shown[-1].startswith("note 59 ")  # the newest kept, in order
    assert shown == sorted(shown)
    browser.get("flask", "/read")
    assert probe[-1] == {"user": "alice"}  # popped, and the rest untouched


def test_a_session_stored_over_the_limit_can_still_shrink(
    redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    probe: list[Any] = []
    roomy = _browser(redis_url, key_prefix, probe, max_session_bytes=100_000)
    roomy.post("flask", "/big", params={"size": 3000})
    for i in range(3):
        roomy.post("asgi", "/flash", params={"message": f"m{i}"})
    # The limit is lowered below what is stored: requests that do not grow
    # the session still save, so the flashes shown are not shown again.
    tight = _browser(redis_url, key_prefix, probe, max_session_bytes=1000)
    tight.cookies = dict(roomy.cookies)
    for side in SIDES:
        with caplog.at_level(logging.WARNING, logger="shared_session"):
            tight.get(side, "/flashes")
        assert [m for _, m in probe[-1]] == (["m0", "m1", "m2"] if side == "flask" else [])
    assert "saved 3007 bytes (still over, but not larger than as loaded)" in caplog.text
    tight.get("flask", "/read")
    assert set(probe[-1]) == {"big"}
    assert tight.post("asgi", "/logout").status_code == 200
    assert tight.session_cookie() is None


@pytest.mark.slow
def test_redis_out_of_memory_after_the_handler_ran_is_no_503(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    probe: list[Any] = []
    browser = _browser(redis_server.url, "oom:", probe)
    browser.post("flask", "/set/user", params={"value": "alice"})
    cookie = browser.session_cookie()
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # every write that needs memory is refused
    try:
        with caplog.at_level(logging.WARNING, logger="shared_session"):
            for side in SIDES:
                response = browser.post(side, "/set/note", params={"value": side})
                assert (response.status_code, response.text) == (200, "set")
                assert set_cookie_headers(response) == []
                browser.get(side, "/read")  # reading works while Redis is full
                assert probe[-1] == {"user": "alice"}
            # A visitor without a session: answered, and no cookie to nothing.
            visitor = _browser(redis_server.url, "oom:", probe)
            response = visitor.post("asgi", "/set/user", params={"value": "bob"})
            assert response.status_code == 200 and visitor.session_cookie() is None
        assert caplog.text.count("session store refused the save") == 3
        assert "OOM" in caplog.text or "maxmemory" in caplog.text
        assert "'note' " in caplog.text and "alice" not in caplog.text
        counts = _cores(browser)
        assert counts["flask"].counters.snapshot() == {"write_refused": 1}
        assert counts["asgi"].counters.snapshot() == {"write_refused": 1}
    finally:
        admin.config_set("maxmemory", 0)
    # Memory back: the same session saves again, on both sides.
    for side in SIDES:
        assert browser.post(side, "/set/after", params={"value": side}).status_code == 200
    browser.get("flask", "/read")
    assert probe[-1] == {"user": "alice", "after": "asgi"}
    assert browser.session_cookie() == cookie


@pytest.mark.slow
def test_logging_out_works_while_redis_is_out_of_memory(redis_server: RedisServer) -> None:
    probe: list[Any] = []
    browser = _browser(redis_server.url, "oom:", probe)
    browser.post("asgi", "/set/user", params={"value": "alice"})
    cookie = browser.session_cookie()
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        assert browser.post("flask", "/logout").status_code == 200
        assert browser.session_cookie() is None
        assert admin.keys("oom:*") == []
    finally:
        admin.config_set("maxmemory", 0)
    browser.cookies["ssid"] = cookie  # the old cookie leads nowhere
    browser.get("asgi", "/read")
    assert probe[-1] == {}
