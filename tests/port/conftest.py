"""pubblog (a Flask app shaped like public ones) and its FastAPI port behind one gateway:
Flask in-process (WSGI), FastAPI in-process (ASGI), one real Redis session store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from flask import Flask

from flask_compat.login import bridge_flask_login
from gateway.app import create_gateway
from gateway.override import sign_override
from shared_session import SessionSettings, install_flask_session
from tests.gateway.support import serve, settings_for
from tests.port import pubblog
from tests.port.pubblog.models import store
from tests.port.pubblog_port.app import create_app

SECRET = "pubblog-port-secret-0123456789abcdef"
STAFF = "pubblog-staff-override-secret"
PORTED = ("blog.index", "blog.show", "blog.create", "blog.comment", "auth.logout")
# Ported and flipped to the new app; blog.comment stays on Flask (not flipped yet), so
# a comment form rendered by FastAPI is posted to Flask.
FLIPPED = ("blog.index", "blog.show", "blog.create", "auth.logout")


@dataclass
class Site:
    """A browser on the gateway, able to force one side as staff do."""

    client: httpx.Client
    flask_app: Flask

    def get(self, url: str, side: str | None = None) -> httpx.Response:
        return self.client.get(url, headers=self._force(side))

    def post(self, url: str, data: dict[str, str], side: str | None = None) -> httpx.Response:
        return self.client.post(url, data=data, headers=self._force(side))

    @staticmethod
    def _force(side: str | None) -> dict[str, str]:
        return {"X-Gateway-Force": sign_override(STAFF, side)} if side else {}  # type: ignore[arg-type]


@pytest.fixture
def blog_data() -> Iterator[None]:
    store.users.clear()
    store.posts.clear()
    ada = store.add_user("ada", "lovelace")
    store.add_post(ada, "Hello <world>", "The first post, with a body long enough to be cut.")
    store.add_post(ada, "Second", "Short.", created=datetime(2026, 2, 1))
    yield
    store.users.clear()
    store.posts.clear()


def build_site(
    tmp_path: Path, redis_url: str, key_prefix: str, flags: dict[str, str]
) -> tuple[object, Flask]:
    session = SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[SECRET])
    flask_app = pubblog.create_app({"SECRET_KEY": SECRET})
    install_flask_session(flask_app, session)
    bridge_flask_login(flask_app)
    fastapi_app = create_app(flask_app, session)
    settings = settings_for(tmp_path, override_secret=STAFF, flags=flags)
    gateway = create_gateway(settings, legacy_app=flask_app, new_app=fastapi_app)
    return gateway, flask_app


@pytest.fixture
def site_factory(
    tmp_path: Path, redis_url: str, key_prefix: str, blog_data: None
) -> Iterator[object]:
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make(flags: dict[str, str]) -> Site:
            gateway, flask_app = build_site(tmp_path, redis_url, key_prefix, flags)
            url = stack.enter_context(serve(gateway))
            client = stack.enter_context(httpx.Client(base_url=url, timeout=10))
            return Site(client, flask_app)

        yield make


@pytest.fixture
def site(site_factory: object) -> Site:
    return site_factory({endpoint: "new" for endpoint in FLIPPED})  # type: ignore[operator]
