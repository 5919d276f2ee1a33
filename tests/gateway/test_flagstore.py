"""Flag stores: memory, Redis with pub/sub and polling, and life without Redis."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis

from gateway.app import Gateway, create_gateway
from gateway.flags import LEGACY, Flag, parse_flag
from gateway.flagstore import FlagStoreUnavailable, MemoryFlagStore, RedisFlagStore
from gateway.flagstore.cache import read_cache, write_cache
from gateway.flagstore.redis import version_key
from tests.gateway.support import EchoBackend, serve, settings_for
from tests.redis_server import RedisServer

NEW = parse_flag("new")


def redis_gateway(server: RedisServer, prefix: str, tmp_path: Path, poll: float) -> Gateway:
    """A gateway on echo backends whose flags ("prices" -> new) live in ``server``."""
    settings = settings_for(
        tmp_path,
        redis_url=server.url,
        flag_key=f"{prefix}flags",
        flag_channel=f"{prefix}channel",
        flag_poll_interval=poll,
        flags={"prices": "new"},
    )
    return create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )


def store_for(url: str, prefix: str, tmp_path: Path, **kwargs: object) -> RedisFlagStore:
    options: dict[str, object] = {
        "flag_key": f"{prefix}flags",
        "channel": f"{prefix}channel",
        "poll_interval": 0.2,
        "cache_path": tmp_path / "flags.json",
    }
    options.update(kwargs)
    return RedisFlagStore(url, **options)  # type: ignore[arg-type]


async def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_memory_store_bumps_the_version_on_each_flip() -> None:
    async def scenario() -> None:
        store = MemoryFlagStore({"a": NEW})
        assert (store.table.version, store.table.flag_for("a")) == (1, NEW)
        table = await store.set_flag("b", parse_flag("canary 5"))
        assert table.version == 2
        assert store.table.flag_for("b") == Flag("canary", 500)
        assert store.table.flag_for("unknown") == LEGACY

    run(scenario())


def test_empty_redis_is_seeded_with_the_configured_flags(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = store_for(redis_url, key_prefix, tmp_path, initial={"a": NEW})
        await store.start()
        try:
            assert store.table.version == 1
            assert store.table.source == "redis"
            assert store.table.flag_for("a") == NEW
        finally:
            await store.aclose()

    run(scenario())


def test_a_flag_hash_without_its_version_counter_is_adopted_not_replaced(
    redis_url: str, key_prefix: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    # As left by a gateway that named the counter <flag_key>:version (before
    # it moved into the hash's slot): the flips are kept, not re-seeded.
    redis_client.hset(f"{key_prefix}flags", mapping={"a": "new", "b": "canary 5"})
    redis_client.set(f"{key_prefix}flags:version", 9)

    async def scenario() -> None:
        store = store_for(redis_url, key_prefix, tmp_path, initial={"a": Flag("legacy")})
        await store.start()
        try:
            assert store.table.flag_for("a") == NEW
            assert store.table.flag_for("b") == Flag("canary", 500)
            assert store.table.source == "redis"
        finally:
            await store.aclose()

    run(scenario())
    assert redis_client.get(version_key(f"{key_prefix}flags")) is not None


def test_a_flip_reaches_another_process_by_pubsub(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        # Polling slowed to 30 s, so only pub/sub can deliver in time.
        writer = store_for(redis_url, key_prefix, tmp_path / "w", poll_interval=30)
        reader = store_for(redis_url, key_prefix, tmp_path / "r", poll_interval=30)
        await writer.start()
        await reader.start()
        try:
            await asyncio.sleep(0.2)  # let the subscription settle
            start = time.monotonic()
            table = await writer.set_flag("a", NEW)
            await wait_until(lambda: reader.table.version == table.version, 1.0)
            took = time.monotonic() - start
            assert reader.table.flag_for("a") == NEW
            print(f"pub/sub propagation: {took * 1000:.1f} ms")
        finally:
            await writer.aclose()
            await reader.aclose()

    run(scenario())


def test_polling_catches_changes_whose_message_was_lost(
    redis_url: str, key_prefix: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        reader = store_for(redis_url, key_prefix, tmp_path, poll_interval=0.2)
        await reader.start()
        try:
            # A change made without PUBLISH: only the version counter tells.
            redis_client.hset(f"{key_prefix}flags", "a", "canary 12.5")
            version = redis_client.incr(version_key(f"{key_prefix}flags"))
            await wait_until(lambda: reader.table.version == version, 1.0)
            assert reader.table.flag_for("a") == Flag("canary", 1250)
        finally:
            await reader.aclose()

    run(scenario())


def test_broken_entries_in_redis_fall_back_to_the_default(
    redis_url: str, key_prefix: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    redis_client.hset(f"{key_prefix}flags", mapping={"a": "garbage", "b": "new"})
    redis_client.set(version_key(f"{key_prefix}flags"), 7)

    async def scenario() -> None:
        store = store_for(redis_url, key_prefix, tmp_path)
        await store.start()
        try:
            assert store.table.version == 7
            assert (store.table.flag_for("a"), store.table.flag_for("b")) == (LEGACY, NEW)
        finally:
            await store.aclose()

    run(scenario())


def test_redis_stopped_keeps_serving_the_last_flags(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = store_for(redis_server.url, key_prefix, tmp_path)
        await store.start()
        try:
            table = await store.set_flag("a", NEW)
            redis_server.stop()
            await asyncio.sleep(0.6)  # a few failed polls
            assert store.table == table
            assert store.status()["redis_connected"] is False
            with pytest.raises(FlagStoreUnavailable, match="unreachable"):
                await store.set_flag("a", LEGACY)
            assert store.table.flag_for("a") == NEW
        finally:
            await store.aclose()

    run(scenario())


def test_restart_without_redis_serves_the_disk_cache(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        first = store_for(redis_server.url, key_prefix, tmp_path)
        await first.start()
        table = await first.set_flag("a", parse_flag("canary 30"))
        await first.aclose()
        redis_server.stop()

        second = store_for(redis_server.url, key_prefix, tmp_path)
        await second.start()
        try:
            assert second.table.source == "cache"
            assert second.table.version == table.version
            assert second.table.flag_for("a") == Flag("canary", 3000)
            # Redis comes back empty (no persistence): it is re-seeded with the
            # last known flags instead of losing the flip.
            redis_server.start()
            await wait_until(lambda: second.table.source == "redis", 3.0)
            assert second.table.flag_for("a") == Flag("canary", 3000)
            assert second.table.version == table.version + 1
        finally:
            await second.aclose()

    run(scenario())


def test_nothing_known_serves_every_route_from_legacy(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    redis_server.stop()

    async def scenario() -> None:
        store = store_for(redis_server.url, key_prefix, tmp_path, initial={"a": NEW}, default=NEW)
        await store.start()
        try:
            assert (store.table.version, store.table.source) == (0, "none")
            assert store.table.flag_for("a") == LEGACY
            assert store.table.flag_for("b") == LEGACY
        finally:
            await store.aclose()

    run(scenario())


def test_paused_redis_does_not_block_requests(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    gateway = redis_gateway(redis_server, key_prefix, tmp_path, poll=0.2)
    with serve(gateway) as url:
        redis_server.pause()
        try:
            start = time.monotonic()
            sides = [httpx.get(f"{url}/prices/1.5").headers["x-served-by"] for _ in range(20)]
            elapsed = time.monotonic() - start
            flip = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "legacy"}, timeout=10)
        finally:
            redis_server.resume()
    assert sides == ["new"] * 20
    # A request that waited on Redis would wait its 1 s socket timeout: 20 of
    # them would take >= 20 s. The bound leaves room for a loaded machine.
    assert elapsed < 10.0
    assert flip.status_code == 503


def test_disk_cache_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "flags.json"
    store = MemoryFlagStore({"a": NEW, "b": Flag("canary", 1250)})
    write_cache(path, store.table)
    assert json.loads(path.read_text())["flags"] == {"a": "new", "b": "canary 12.5"}
    assert [p.name for p in path.parent.iterdir()] == ["flags.json"]
    cached = read_cache(path, LEGACY)
    assert cached is not None
    assert cached.flags == store.table.flags
    assert cached.source == "cache"


def test_unreadable_disk_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text("{not json")
    assert read_cache(path, LEGACY) is None
    assert read_cache(tmp_path / "missing.json", LEGACY) is None


def test_gateway_restarted_while_redis_is_down_serves_cached_flags(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        tmp_path,
        redis_url=redis_server.url,
        flag_key=f"{key_prefix}flags",
        flag_channel=f"{key_prefix}channel",
        flag_poll_interval=0.2,
    )

    def gateway() -> object:
        return create_gateway(
            settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
        )

    with serve(gateway()) as url:
        flip = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"})
        assert flip.status_code == 200
    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="gateway.flagstore")
    with serve(gateway()) as url:
        response = httpx.get(f"{url}/prices/1.5")
        flags = httpx.get(f"{url}/_gateway/flags").json()
    assert response.headers["x-served-by"] == "new"
    assert response.headers["x-gateway-flags-version"] == str(flip.json()["version"])
    assert (flags["source"], flags["store"]["redis_connected"]) == ("cache", False)
    assert any("serving cached flags" in r.getMessage() for r in caplog.records)


def test_a_garbage_version_in_redis_does_not_stop_following_changes(
    redis_url: str, key_prefix: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        store = store_for(redis_url, key_prefix, tmp_path, poll_interval=0.1)
        await store.start()
        restarted = store_for(redis_url, key_prefix, tmp_path / "other", poll_interval=0.1)
        try:
            redis_client.set(version_key(f"{key_prefix}flags"), "not-a-number")
            await restarted.start()  # does not fail: serves what it knows (nothing: legacy)
            assert restarted.table.source == "none"
            await asyncio.sleep(0.4)
            assert store.table.version == 1
            redis_client.set(version_key(f"{key_prefix}flags"), 5)
            await wait_until(lambda: store.table.version == 5, 2.0)
            await wait_until(lambda: restarted.table.version == 5, 2.0)
        finally:
            await store.aclose()
            await restarted.aclose()

    run(scenario())


@pytest.mark.slow
def test_redis_stopped_under_load_keeps_routing_with_the_last_flags(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    gateway = redis_gateway(redis_server, key_prefix, tmp_path, poll=0.1)

    async def load(url: str, seconds: float) -> list[tuple[int, str]]:
        results: list[tuple[int, str]] = []
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=10) as client:

            async def worker() -> None:
                while time.monotonic() < deadline:
                    response = await client.get(f"{url}/prices/1.5")
                    results.append((response.status_code, response.headers["x-served-by"]))

            await asyncio.gather(*(worker() for _ in range(8)))
        return results

    with serve(gateway) as url:
        loop = asyncio.new_event_loop()
        try:
            load_task = loop.create_task(load(url, 2.0))
            loop.run_until_complete(asyncio.sleep(0.5))
            redis_server.stop()  # mid-load
            results = loop.run_until_complete(load_task)
        finally:
            loop.close()
        health = httpx.get(f"{url}/_gateway/flags").json()
    assert len(results) > 100
    assert set(results) == {(200, "new")}
    # The admin API still answers, and says what the gateway is running on.
    assert health["store"]["redis_connected"] is False
    assert health["flags"]["prices"] == "new"
