"""Redis round trips per request, counted with MONITOR on a private server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.redis_server import CommandLog, RedisServer
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import SIDES, Browser, make_settings


@pytest.fixture
def counted(redis_server: RedisServer) -> Iterator[tuple[Browser, CommandLog]]:
    settings = make_settings(redis_server.url, "rt:")
    probe: list[Any] = []
    browser = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    log = CommandLog(redis_server.url)
    # Warm up: connections made and scripts loaded, as in a running worker.
    for side in SIDES:
        browser.post(side, "/set/warm")
        browser.post(side, "/set/warm2")
    browser.cookies.clear()
    log.take()
    yield browser, log
    log.close()


@pytest.mark.parametrize("side", SIDES)
def test_request_without_a_session_cookie_costs_no_round_trip(
    counted: tuple[Browser, CommandLog], side: str
) -> None:
    browser, log = counted
    browser.get(side, "/read")
    browser.get(side, "/noop")
    assert log.take() == []


@pytest.mark.parametrize("side", SIDES)
def test_read_only_request_costs_one_round_trip(
    counted: tuple[Browser, CommandLog], side: str
) -> None:
    browser, log = counted
    browser.post(side, "/set/user")
    log.take()
    browser.get(side, "/read")
    commands = log.take()
    assert len(commands) == 1, [c["command"][:60] for c in commands]
    assert str(commands[0]["command"]).upper().startswith("EVALSHA")


@pytest.mark.parametrize("side", SIDES)
def test_modifying_request_costs_two_round_trips(
    counted: tuple[Browser, CommandLog], side: str
) -> None:
    browser, log = counted
    browser.post(side, "/set/user")
    log.take()
    browser.post(side, "/set/other")
    assert len(log.take()) == 2
    browser.post(side, "/regenerate")
    assert len(log.take()) == 2
    browser.post(side, "/logout")
    assert len(log.take()) == 2


@pytest.mark.parametrize("side", SIDES)
def test_first_write_of_a_new_session_costs_one_round_trip(
    counted: tuple[Browser, CommandLog], side: str
) -> None:
    browser, log = counted
    browser.post(side, "/set/user")
    assert len(log.take()) == 1
