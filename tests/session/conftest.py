from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shared_session import SessionSettings
from tests.session.apps import make_asgi, make_flask

SECRET = "test-secret-newest"


def make_settings(redis_url: str | None, key_prefix: str, **overrides: Any) -> SessionSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": key_prefix,
        "secret_keys": [SECRET],
    }
    values.update(overrides)
    return SessionSettings(**values)


@pytest.fixture(params=["redis", "memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(store_kind: str, redis_url: str, key_prefix: str) -> SessionSettings:
    return make_settings(redis_url if store_kind == "redis" else None, key_prefix)


@pytest.fixture
def redis_settings(redis_url: str, key_prefix: str) -> SessionSettings:
    return make_settings(redis_url, key_prefix)


_open_browsers: list[Browser] = []


@pytest.fixture(autouse=True)
def _close_browsers() -> Iterator[None]:
    yield
    while _open_browsers:
        _open_browsers.pop().close()


class Browser:
    """One cookie jar used against both apps, as a user's browser would.

    It keeps the jar itself (name -> value) and honours Max-Age=0 deletions,
    so exactly what the apps send is what the next request carries.
    """

    def __init__(self, flask_app: Any, asgi_app: Any) -> None:
        self.clients: dict[str, Any] = {
            "flask": httpx.Client(
                transport=httpx.WSGITransport(app=flask_app), base_url="http://testserver"
            ),
            # Entered, so all requests share one event loop, as in a worker.
            "asgi": TestClient(asgi_app, base_url="http://testserver").__enter__(),
        }
        self.cookies: dict[str, str] = {}
        _open_browsers.append(self)

    def request(self, side: str, method: str, path: str, **kwargs: Any) -> Any:
        client = self.clients[side]
        client.cookies.clear()
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = client.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        client.cookies.clear()
        return response

    def get(self, side: str, path: str, **kwargs: Any) -> Any:
        return self.request(side, "GET", path, **kwargs)

    def post(self, side: str, path: str, **kwargs: Any) -> Any:
        return self.request(side, "POST", path, **kwargs)

    def session_cookie(self) -> str | None:
        return self.cookies.get("ssid")

    def close(self) -> None:
        self.clients["flask"].close()
        self.clients["asgi"].__exit__(None, None, None)


@pytest.fixture
def probe() -> list[Any]:
    return []


@pytest.fixture
def browser(settings: SessionSettings, probe: list[Any]) -> Browser:
    return Browser(make_flask(settings, probe), make_asgi(settings, probe))


def set_cookie_headers(response: Any) -> list[str]:
    return response.headers.get_list("set-cookie")


SIDES = ["flask", "asgi"]
PAIRS = [("flask", "asgi"), ("asgi", "flask")]
