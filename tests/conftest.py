"""Fixtures shared by every test package: real Redis, never a mock.

- ``redis_url``: the shared server (``$REDIS_URL`` or 127.0.0.1:6379; a
  throwaway one is started if neither answers), for ordinary tests.
- ``key_prefix``: a fresh prefix per test; its keys are deleted afterwards.
- ``redis_server``: a throwaway ``redis-server`` on a free port, for tests that
  stop, restart or pause Redis.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.redis_server import RedisServer

# The reference apps refuse to start without a SECRET_KEY (there is no
# default): the suite's processes, and the servers they start, get a random one.
os.environ.setdefault("SECRET_KEY", "test-suite-" + secrets.token_urlsafe(24))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.RedisError:
        server = RedisServer()
        server.start()
        try:
            yield server.url
        finally:
            server.close()
        return
    yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
