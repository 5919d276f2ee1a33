"""Flags shared by every worker and replica through Redis.

Layout: a hash ``flag_key`` (route or group -> flag text) and a counter
``{flag_key}:version`` in the same hash slot (``version_key``), so the
scripts run on a Redis Cluster too; ``redis_url`` may name one server, a
Sentinel set or a Cluster (``shared_session.redis_connect``). A flip changes
both and publishes the new version on ``flag_channel`` in one Lua script, so
readers never see a half-made change.
Each process listens on the channel and also polls the counter every
``poll_interval`` in case a message is lost; both reload the whole table in
one atomic read. When Redis is unreachable the last table stays in service
(and on disk); with nothing known at all, every route is legacy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.flags import LEGACY, Flag, FlagTable
from gateway.flagstore.base import FlagChange, FlagStore, FlagStoreUnavailable
from gateway.flagstore.cache import read_cache, write_cache
from shared_session.redis_connect import (
    REDIS_ERRORS as CLIENT_ERRORS,
)
from shared_session.redis_connect import (
    SyncClient,
    async_client,
    describe_redis_error,
    describe_redis_url,
)

log = logging.getLogger("gateway.flagstore")

# KEYS: hash, version. Returns {version, [k1, v1, ...]} read atomically.
READ_SCRIPT = """
return {redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1])}
"""
# KEYS: hash, version. ARGV: key, flag text, channel.
# Returns {version, [k1, v1, ...], previous text of key or false}.
FLIP_SCRIPT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], v)
return {tostring(v), redis.call('HGETALL', KEYS[1]), old}
"""
# KEYS: hash, version. ARGV: version, k1, v1, ... Seeds only an empty Redis.
# A hash without a version (kept from before the version key moved into the
# hash's slot, or written by hand) is adopted as it is, never replaced.
SEED_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

REDIS_ERRORS = (*CLIENT_ERRORS, OSError, asyncio.TimeoutError)


def slot_key(base: str, suffix: str) -> str:
    """``<base>:<suffix>`` in the Redis Cluster hash slot of ``base``, so one
    script or transaction may use both.

    A key without a hash tag hashes whole, so ``{base}:suffix`` lands where
    ``base`` does; a ``base`` with its own ``{...}`` tag keeps it.
    """
    start = base.find("{")
    if start >= 0 and base.find("}", start + 2) > start:
        return f"{base}:{suffix}"
    return f"{{{base}}}:{suffix}"


def version_key(flag_key: str) -> str:
    """The version counter's key, in the hash slot of ``flag_key``."""
    return slot_key(flag_key, "version")


def _decode(reply: Any) -> tuple[int | None, dict[str, str]]:
    raw_version, pairs = reply[0], reply[1]
    version = int(raw_version) if raw_version is not None else None
    texts: dict[str, str] = {}
    for i in range(0, len(pairs), 2):
        key, value = pairs[i], pairs[i + 1]
        texts[key.decode() if isinstance(key, bytes) else str(key)] = (
            value.decode() if isinstance(value, bytes) else str(value)
        )
    return version, texts


def flip_sync(client: SyncClient, flag_key: str, channel: str, key: str, flag: Flag) -> int:
    """Flip one flag from a synchronous client (the CLI); returns the new version."""
    reply = client.eval(FLIP_SCRIPT, 2, flag_key, version_key(flag_key), key, str(flag), channel)
    version, _ = _decode(reply)
    assert version is not None
    return version


def read_sync(client: SyncClient, flag_key: str) -> tuple[int | None, dict[str, str]]:
    """The stored version and flag texts, from a synchronous client (the CLI)."""
    return _decode(client.eval(READ_SCRIPT, 2, flag_key, version_key(flag_key)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisFlagStore(FlagStore):
    """Flag table shared through Redis, with pub/sub, polling and a disk cache."""

    def __init__(
        self,
        url: str,
        *,
        flag_key: str,
        channel: str,
        poll_interval: float = 0.5,
        cache_path: Path | None = None,
        initial: Mapping[str, Flag] | None = None,
        default: Flag = LEGACY,
        timeout: float = 1.0,
    ) -> None:
        self.url = url
        self.flag_key = flag_key
        self.version_key = version_key(flag_key)
        self.channel = channel
        self.poll_interval = poll_interval
        self.cache_path = cache_path
        self.initial = dict(initial or {})
        self.default = default
        # With nothing known (no Redis, no cache) every route is legacy.
        self.table = FlagTable(0, {}, LEGACY, "none")
        self.connected = False
        self.last_error: str | None = None
        self.last_refresh: float | None = None
        self._client = async_client(url, timeout=timeout)
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------
    async def start(self) -> None:
        """Load from Redis, or else from the disk cache; then follow changes."""
        if not await self.refresh():
            cached = read_cache(self.cache_path, self.default) if self.cache_path else None
            if cached is not None and self.table.source == "none":
                self.table = cached
                log.warning("Redis unreachable; serving cached flags version %d", cached.version)
            elif self.table.source == "none":
                log.error("Redis unreachable and no flag cache: serving every route from legacy")
        self._tasks = [
            asyncio.create_task(self._listen(), name="flags-listen"),
            asyncio.create_task(self._poll(), name="flags-poll"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._client.aclose()

    # --- reading ------------------------------------------------------
    async def refresh(self) -> bool:
        """Reload the whole table from Redis (seeding it if empty); False if unreachable."""
        async with self._lock:
            try:
                version, texts = _decode(
                    await self._client.eval(READ_SCRIPT, 2, self.flag_key, self.version_key)
                )
                if version is None:
                    await self._seed()
                    version, texts = _decode(
                        await self._client.eval(READ_SCRIPT, 2, self.flag_key, self.version_key)
                    )
            except REDIS_ERRORS as exc:
                self._mark_down(exc)
                return False
            except (ValueError, TypeError) as exc:  # someone wrote junk by hand
                log.error("unreadable flag table in Redis (%s); keeping what is served", exc)
                return False
            self._mark_up()
            if version is not None:
                await self._apply(version, texts)
            return True

    async def _seed(self) -> None:
        # An empty Redis (new, or restarted without persistence) gets the last
        # table this process knows, else the configured initial flags.
        if self.table.source in ("redis", "cache"):
            version, texts = self.table.version + 1, self.table.as_texts()
        else:
            version, texts = 1, {k: str(f) for k, f in self.initial.items()}
        args: list[str | int] = [version]
        for key, text in texts.items():
            args += [key, text]
        if await self._client.eval(SEED_SCRIPT, 2, self.flag_key, self.version_key, *args):
            log.info("seeded empty Redis with flags version %d", version)

    async def _apply(self, version: int, texts: dict[str, str]) -> None:
        self.last_refresh = time.time()
        if version == self.table.version and self.table.source == "redis":
            return
        table, broken = FlagTable.from_texts(version, texts, self.default, "redis")
        for key, error in broken.items():
            log.warning("flag %r in Redis ignored (served as default): %s", key, error)
        self.table = table
        log.info("serving flags version %d", version)
        self._changed(table)
        if self.cache_path is not None:
            await asyncio.to_thread(write_cache, self.cache_path, table)

    def _mark_down(self, exc: BaseException) -> None:
        if self.connected or self.last_error is None:
            log.error(
                "Redis flag store unreachable (%s); keeping flags version %d (%s)",
                describe_redis_error(exc),
                self.table.version,
                self.table.source,
            )
        self.connected = False
        self.last_error = f"{type(exc).__name__}: {describe_redis_error(exc)}"

    def _mark_up(self) -> None:
        if not self.connected and self.last_error is not None:
            log.warning("Redis flag store reachable again")
        self.connected = True

    # --- following changes --------------------------------------------
    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                raw = await self._client.get(self.version_key)
                current = self.table
                if raw is None or int(raw) != current.version or current.source != "redis":
                    await self.refresh()
                elif not self.connected:
                    self._mark_up()
            except REDIS_ERRORS as exc:
                self._mark_down(exc)
            except Exception:  # e.g. a non-numeric version: keep following changes
                log.exception("flag poll failed; keeping flags version %d", self.table.version)

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        try:
                            announced = int(message["data"])
                        except (TypeError, ValueError):
                            announced = -1
                        if announced != self.table.version:
                            await self.refresh()
            except REDIS_ERRORS as exc:
                self._mark_down(exc)
                await asyncio.sleep(self.poll_interval)
            except Exception as exc:  # never stop listening; polling still covers the gap
                if self.connected:
                    log.exception("flag listener failed; resubscribing")
                else:
                    # Redis is down already (logged once): redis-py's cluster
                    # client raises KeyError, not a RedisError, while it knows
                    # no node; part of the same outage, not a new failure.
                    self._mark_down(exc)
                await asyncio.sleep(self.poll_interval)
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()

    # --- writing ------------------------------------------------------
    async def set_flag(self, key: str, flag: Flag) -> FlagTable:
        return (await self.change_flag(key, flag)).table

    async def change_flag(self, key: str, flag: Flag) -> FlagChange:
        async with self._lock:
            try:
                reply = await self._client.eval(
                    FLIP_SCRIPT, 2, self.flag_key, self.version_key, key, str(flag), self.channel
                )
            except REDIS_ERRORS as exc:
                self._mark_down(exc)
                where = describe_redis_url(self.url)
                raise FlagStoreUnavailable(
                    f"flag not changed: Redis at {where} is unreachable ({exc})"
                ) from exc
            self._mark_up()
            version, texts = _decode(reply)
            assert version is not None
            previous = reply[2] if len(reply) > 2 and reply[2] else None
            await self._apply(version, texts)
            old = _text(previous) if previous is not None else str(self.default)
            return FlagChange(old, self.table)

    def status(self) -> dict[str, Any]:
        return {
            **super().status(),
            "redis_connected": self.connected,
            "last_error": self.last_error,
            "last_refresh": self.last_refresh,
        }
