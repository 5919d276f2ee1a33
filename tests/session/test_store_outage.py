"""Redis stopped, paused and restarted under running apps (a throwaway server)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.servers import serve_asgi, serve_wsgi
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import make_settings


def _status(url: str, cookie: str) -> httpx.Response:
    return httpx.post(url, headers={"cookie": f"ssid={cookie}"}, timeout=10)


@pytest.mark.slow
def test_store_down_gives_503_then_service_resumes_by_itself(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url, "outage:", timeout=0.3)
    probe: list[Any] = []
    with (
        serve_wsgi(make_flask(settings, probe)) as flask_url,
        serve_asgi(make_asgi(settings, probe)) as asgi_url,
    ):
        cookie = httpx.post(f"{flask_url}/set/user").cookies["ssid"]
        redis_server.stop()
        for base in (flask_url, asgi_url):
            started = time.monotonic()
            response = _status(f"{base}/set/x", cookie)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            # Says why, so a watcher (the gateway's rollback guard) can tell it from a bug.
            assert response.headers["x-shared-session"] == "unavailable"
            assert "Service Unavailable" in response.text
            assert time.monotonic() - started < 1.5
        # A Flask page that never touches the session keeps working.
        assert httpx.get(f"{flask_url}/noop").status_code == 200

        redis_server.start()
        back = time.monotonic()
        for base in (flask_url, asgi_url):
            while _status(f"{base}/set/y", cookie).status_code != 200:
                assert time.monotonic() - back < 1.0, "service did not resume within 1 s"
                time.sleep(0.05)
        # The workers survived: new sessions work on both sides.
        for base in (flask_url, asgi_url):
            assert httpx.post(f"{base}/set/z").status_code == 200


@pytest.mark.slow
def test_store_that_hangs_fails_fast_with_503(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url, "hang:", timeout=0.3)
    probe: list[Any] = []
    with (
        serve_wsgi(make_flask(settings, probe)) as flask_url,
        serve_asgi(make_asgi(settings, probe)) as asgi_url,
    ):
        cookie = httpx.post(f"{flask_url}/set/user").cookies["ssid"]
        redis_server.pause()
        try:
            for base in (flask_url, asgi_url):
                started = time.monotonic()
                assert _status(f"{base}/set/x", cookie).status_code == 503
                assert time.monotonic() - started < 2.0
        finally:
            redis_server.resume()
        deadline = time.monotonic() + 2
        for base in (flask_url, asgi_url):
            while _status(f"{base}/set/y", cookie).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
