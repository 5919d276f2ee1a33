"""Which gateway workers are live, and which flag table version each applied.

Every worker of every replica heartbeats into Redis: a sorted set
``<flag_key>:workers`` (worker id -> expiry, on Redis's own clock, so hosts
with skewed clocks agree) and a hash ``<flag_key>:applied`` (worker id ->
applied flag version). A worker writes its version again the moment it
applies a new table, so a flip can wait until every live worker has it:
``wait_for_version`` returns who acknowledged and who did not within a bound.
Without Redis there is one process and nothing to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aredis

from gateway.flags import FlagTable
from gateway.flagstore.base import FlagStore
from gateway.flagstore.redis import slot_key
from shared_session.redis_connect import REDIS_ERRORS

log = logging.getLogger("gateway.presence")

_REDIS_ERRORS = (*REDIS_ERRORS, OSError, asyncio.TimeoutError)

# KEYS: workers zset, applied hash. ARGV: worker id, ttl seconds, version.
HEARTBEAT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""
# KEYS: workers zset, applied hash. Drops expired workers; returns {ids, versions}.
LIVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
"""
# KEYS: workers zset, applied hash. ARGV: worker id.
LEAVE_SCRIPT = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


def worker_id(replica: str | None = None) -> str:
    """``<replica>:<pid>``; the replica name defaults to the host name."""
    return f"{replica or socket.gethostname()}:{os.getpid()}"


def presence_keys(flag_key: str) -> tuple[str, str]:
    # One hash slot (the flag hash's): the scripts use both on a Redis Cluster.
    return slot_key(flag_key, "workers"), slot_key(flag_key, "applied")


@dataclass(frozen=True, slots=True)
class AckReport:
    """Who applied ``version``: ``acked`` and ``missing`` are worker ids.

    ``seconds`` is the time from the start of the wait to the last
    acknowledgement (or to giving up); ``complete`` is True when no live
    worker is missing.
    """

    version: int
    acked: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    seconds: float = 0.0
    error: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "acked": list(self.acked),
            "not_acked": list(self.missing),
            "seconds": round(self.seconds, 4),
            "complete": self.complete,
            "error": self.error,
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def live_workers(client: aredis.Redis, flag_key: str) -> dict[str, int | None]:
    """Live worker ids and the flag version each applied (None if unknown).

    Raises redis errors (the caller decides what an unreachable Redis means).
    """
    reply = await client.eval(LIVE_SCRIPT, 2, *presence_keys(flag_key))
    ids, versions = reply
    live: dict[str, int | None] = {}
    for wid, version in zip(ids, versions, strict=False):
        try:
            live[_text(wid)] = int(version) if version is not None else None
        except ValueError:
            live[_text(wid)] = None
    return live


async def wait_for_version(
    client: aredis.Redis,
    flag_key: str,
    version: int,
    timeout: float,
    *,
    poll: float = 0.01,
) -> AckReport:
    """Wait until every live worker applied ``version`` or later, at most ``timeout`` s.

    Never raises for Redis trouble: the report then carries ``error``.
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    live: dict[str, int | None] = {}
    while True:
        try:
            live = await live_workers(client, flag_key)
        except _REDIS_ERRORS as exc:
            return AckReport(version, seconds=time.monotonic() - started, error=str(exc))
        missing = tuple(sorted(w for w, v in live.items() if v is None or v < version))
        now = time.monotonic()
        if not missing or now >= deadline:
            acked = tuple(sorted(w for w in live if w not in missing))
            return AckReport(version, acked, missing, now - started)
        await asyncio.sleep(min(poll, max(0.0, deadline - now)))


@dataclass
class Presence:
    """This worker's heartbeat and acknowledgements (start/aclose in the lifespan).

    Heartbeats every ``interval`` seconds with its applied flag version; the
    entry expires ``ttl`` seconds after the last one (a killed worker drops
    out of the live set by itself). Redis trouble is logged, never raised.
    """

    client: aredis.Redis
    flag_key: str
    store: FlagStore
    worker: str
    interval: float = 1.0
    ttl: float = 5.0
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _pending: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _down: bool = field(default=False, init=False)
    # One beat at a time, each reading the version when its turn comes: two
    # beats racing on two connections could land an older version last.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def start(self) -> None:
        self.store.add_listener(self._applied)
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="presence-heartbeat")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._pending):
            task.cancel()
        with contextlib.suppress(*_REDIS_ERRORS):
            await self.client.eval(LEAVE_SCRIPT, 2, *presence_keys(self.flag_key), self.worker)

    async def beat(self) -> None:
        """Say "live, applied version N" now."""
        try:
            async with self._lock:
                version = self.store.table.version
                await self.client.eval(
                    HEARTBEAT_SCRIPT,
                    2,
                    *presence_keys(self.flag_key),
                    self.worker,
                    self.ttl,
                    version,
                )
        except _REDIS_ERRORS as exc:
            if not self._down:
                log.warning("worker heartbeat to Redis failed: %s", exc)
            self._down = True
            return
        self._down = False

    def _applied(self, table: FlagTable) -> None:
        # Called by the store when it swaps tables: acknowledge at once.
        try:
            task = asyncio.get_running_loop().create_task(self.beat())
        except RuntimeError:
            return  # no loop (a store used outside the gateway)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()
