"""The pool waits for a free connection, up to pool_timeout, then fails cleanly.

One connection, held by a call to a frozen private redis-server: a second
call waits pool_timeout for it and fails with SessionStoreUnavailable (the
503), instead of opening more connections or hanging.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shared_session import SessionStoreUnavailable
from shared_session.store.redis import AsyncRedisStore, RedisStore
from tests.redis_server import RedisServer
from tests.session.conftest import make_settings


@pytest.mark.slow
def test_async_side_waits_pool_timeout_for_a_connection(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url, "pool:", pool_size=1, pool_timeout=0.3, timeout=3)
    store = AsyncRedisStore(settings)

    async def scenario() -> tuple[float, BaseException | None]:
        await store.load("warm" * 8)  # the one connection exists
        redis_server.pause()
        try:
            holder = asyncio.create_task(store.load("held" * 8))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(SessionStoreUnavailable, match="no free Redis connection"):
                await store.load("waits" * 8)
            waited = time.monotonic() - started
        finally:
            redis_server.resume()
        error = None
        try:
            await holder  # completes once Redis runs again
        except BaseException as exc:
            error = exc
        await store.aclose()
        return waited, error

    waited, error = asyncio.run(scenario())
    assert 0.25 <= waited < 1.5
    assert error is None


@pytest.mark.slow
def test_flask_side_waits_pool_timeout_for_a_connection(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url, "pool:", pool_size=1, pool_timeout=0.3, timeout=3)
    store = RedisStore(settings)
    store.load("warm" * 8)
    redis_server.pause()
    holder = threading.Thread(target=store.load, args=("held" * 8,))
    try:
        holder.start()
        time.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(SessionStoreUnavailable):
            store.load("waits" * 8)
        waited = time.monotonic() - started
    finally:
        redis_server.resume()
        holder.join(10)
    assert 0.25 <= waited < 1.5
    store.load("after" * 8)  # the connection came back to the pool
