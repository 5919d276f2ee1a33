"""Sessions stored under the untagged key of earlier releases (``<prefix><sid>``)
are read and moved to the hash-tagged key on their first load: upgrading the
toolkit logs nobody out."""

from __future__ import annotations

import asyncio
import time

import redis

from shared_session.cookie import new_session_id
from shared_session.settings import SessionSettings
from shared_session.store.redis import AsyncRedisStore, RedisStore, session_key


def stored_untagged(client: redis.Redis, prefix: str, sid: str) -> None:
    now = int(time.time() * 1000)
    client.hset(f"{prefix}{sid}", mapping={"!c": now, "!v": 1, "k:user": b'"alice"'})
    client.pexpire(f"{prefix}{sid}", 60_000)


def settings_for(redis_url: str, prefix: str) -> SessionSettings:
    return SessionSettings(redis_url=redis_url, key_prefix=prefix, secret_keys=["k" * 32])


def test_the_sync_store_moves_an_untagged_session(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    sid = new_session_id()
    stored_untagged(redis_client, key_prefix, sid)
    loaded = RedisStore(settings_for(redis_url, key_prefix)).load(sid)
    assert loaded is not None and loaded.fields, "the session was not found"
    assert not redis_client.exists(f"{key_prefix}{sid}")
    assert redis_client.exists(session_key(key_prefix, sid))


def test_the_async_store_moves_an_untagged_session(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    sid = new_session_id()
    stored_untagged(redis_client, key_prefix, sid)

    async def load() -> object:
        store = AsyncRedisStore(settings_for(redis_url, key_prefix))
        try:
            return await store.load(sid)
        finally:
            await store.aclose()

    assert asyncio.run(load()) is not None
    assert redis_client.exists(session_key(key_prefix, sid))


def test_an_unknown_id_is_still_a_miss(redis_url: str, key_prefix: str) -> None:
    assert RedisStore(settings_for(redis_url, key_prefix)).load(new_session_id()) is None
