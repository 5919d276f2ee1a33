"""Redis stores: a sync twin for Flask (redis-py) and an async twin for ASGI
(redis.asyncio). Both build the same script arguments and read the same
replies through the pure functions at the top of this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ReadOnlyError

from shared_session.codec import CREATED_FIELD, USER_PREFIX, VERSION_FIELD
from shared_session.cookie import FAMILY_CHARS
from shared_session.errors import SessionStoreUnavailable, SessionWriteRefused
from shared_session.events import store_error
from shared_session.redis_connect import (
    REDIS_ERRORS,
    AsyncClient,
    SyncClient,
    async_client,
    describe_redis_error,
    parse_redis_url,
    sync_client,
)
from shared_session.settings import SessionSettings
from shared_session.store import scripts
from shared_session.store.base import SaveOutcome, SavePlan, SaveStatus, StoredSession, Timing
from shared_session.store.wire import AsyncWire, Evalsha, SyncWire, pack


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_hash(flat: list[Any]) -> StoredSession | None:
    """A flat HGETALL reply as a StoredSession (None when empty)."""
    if not flat:
        return None
    fields: dict[str, bytes] = {}
    created = version = 0
    for i in range(0, len(flat), 2):
        name, value = _as_str(flat[i]), flat[i + 1]
        if name.startswith(USER_PREFIX):
            fields[name] = value if isinstance(value, bytes) else value.encode()
        elif name == CREATED_FIELD:
            created = int(value)
        elif name == VERSION_FIELD:
            version = int(value)
    return StoredSession(fields, created, version)


def load_args(timing: Timing) -> list[Any]:
    return [_now_ms(), timing.idle_ms, timing.absolute_ms, timing.refresh_slack_ms]


def save_args(plan: SavePlan, timing: Timing) -> list[Any]:
    args: list[Any] = [
        plan.mode.value,
        _now_ms(),
        timing.idle_ms,
        timing.absolute_ms,
        plan.created_ms,
        len(plan.set_fields),
    ]
    for name, value in plan.set_fields.items():
        args += [name, value]
    args += plan.delete_fields
    return args


def takeover_args(
    prefix: str, sid: str, fields: dict[str, bytes], timing: Timing, marker_ttl: int
) -> list[Any]:
    args: list[Any] = [
        prefix,
        sid,
        _now_ms(),
        timing.idle_ms,
        timing.absolute_ms,
        marker_ttl * 1000,
    ]
    for name, value in fields.items():
        args += [name, value]
    return args


def parse_takeover(
    reply: list[Any], fields: dict[str, bytes]
) -> tuple[str, dict[str, bytes]] | None:
    status = int(reply[0])
    if status == 2:
        return _as_str(reply[1]), fields
    if status == 1:
        stored = parse_hash(reply[2])
        return (_as_str(reply[1]), stored.fields) if stored else None
    return None


def unavailable(exc: Exception) -> SessionStoreUnavailable:
    """The session error for a failed Redis call.

    A write Redis refused before applying anything (out of memory with
    ``noeviction``, a read-only replica) is a SessionWriteRefused: the save
    scripts write first with a command Redis refuses when out of memory, so
    such a refusal leaves the session exactly as it was.
    """
    if isinstance(exc, OutOfMemoryError | ReadOnlyError):
        return SessionWriteRefused(f"session store refused the write: {exc}")
    return SessionStoreUnavailable(
        f"session store unavailable: {type(exc).__name__}: {describe_redis_error(exc)}"
    )


def create_client(settings: SessionSettings, asynchronous: bool) -> Any:
    """The Redis client of one side: one server, a Sentinel set or a Cluster,
    as ``redis_url`` says (``shared_session.redis_connect`` builds it).

    Both sides hold at most ``pool_size`` connections, with one immediate
    retry on a fresh connection when one turns out dead (a few, with a short
    backoff, on Sentinel and Cluster). The sync client has a blocking pool (on
    one server the store's ``SyncWire`` keeps the connections instead, with the
    same limits): a thread that finds every connection busy waits up to
    ``pool_timeout``; connects and replies are bounded by socket timeouts of
    ``timeout``. The
    async client's waiting is the store's (``_LoopClient``): a gate of
    ``pool_size`` slots in front of the pool, and one timer per call.
    """
    assert settings.redis_url
    if asynchronous and parse_redis_url(settings.redis_url).topology == "server":
        # One server: the store's gate and timer bound the call, so the
        # client needs neither a blocking pool nor socket read timeouts
        # (redis.asyncio arms a timer per read and write with them).
        return redis.asyncio.Redis.from_url(
            settings.redis_url,
            max_connections=settings.pool_size,
            socket_timeout=None,
            socket_connect_timeout=settings.timeout,
            retry=AsyncRetry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
        )
    make = async_client if asynchronous else sync_client
    return make(
        settings.redis_url,
        timeout=settings.timeout,
        retries=1,
        max_connections=settings.pool_size,
        pool_timeout=settings.pool_timeout,
    )


def _one_server(settings: SessionSettings) -> bool:
    assert settings.redis_url
    return parse_redis_url(settings.redis_url).topology == "server"


def session_key(prefix: str, sid: str) -> str:
    """The Redis key of a session: ``<prefix>{<family>}:<sid>``.

    The hash tag is the id's family (its first characters, kept when the id
    is replaced), so a session and the id it moves to share a Redis Cluster
    hash slot and the save script can touch both.
    """
    return f"{prefix}{{{sid[:FAMILY_CHARS]}}}:{sid}"


def untagged_session_key(prefix: str, sid: str) -> str:
    """Where releases before the hash-tagged layout kept a session: read once
    and moved (``RENAME``) on a load miss, so an upgrade logs nobody out."""
    return f"{prefix}{sid}"


def marker_key(prefix: str, fingerprint: str) -> str:
    """The takeover marker of a legacy cookie, in the hash slot of the session
    its takeover creates (that id's family is the fingerprint's)."""
    return f"{prefix}{{{fingerprint[:FAMILY_CHARS]}}}:takeover:{fingerprint}"


@dataclass(frozen=True, slots=True)
class _Lua:
    """A script and its SHA1: run with EVALSHA, loaded on NOSCRIPT."""

    text: str
    sha: str
    wire: Evalsha

    @classmethod
    def of(cls, text: str) -> _Lua:
        sha = hashlib.sha1(text.encode()).hexdigest()
        return cls(text, sha, Evalsha(sha, text))


LOAD = _Lua.of(scripts.LOAD)
SAVE = _Lua.of(scripts.SAVE)
TAKEOVER = _Lua.of(scripts.TAKEOVER)


class _Keys:
    def __init__(self, settings: SessionSettings) -> None:
        self.prefix = settings.key_prefix
        self.timing = Timing.from_settings(settings)
        # Sessions of the untagged layout can exist only where it was used:
        # one server or a Sentinel set (a Cluster always had the tagged one).
        assert settings.redis_url
        self.upgrades = parse_redis_url(settings.redis_url).topology != "cluster"

    def session(self, sid: str) -> str:
        return session_key(self.prefix, sid)

    def loaded(self, sid: str) -> list[str]:
        """LOAD's keys: the session's, and where an earlier release could
        have kept it (moved by the script on a miss)."""
        key = session_key(self.prefix, sid)
        return [key, untagged_session_key(self.prefix, sid)] if self.upgrades else [key]

    def marker(self, fingerprint: str) -> str:
        return marker_key(self.prefix, fingerprint)


class RedisStore(_Keys):
    """Sync Redis store for Flask; raises SessionStoreUnavailable on failure."""

    def __init__(self, settings: SessionSettings, client: SyncClient | None = None) -> None:
        super().__init__(settings)
        self.client = client or create_client(settings, asynchronous=False)
        # One server: the store's commands go on the client's pool directly.
        self._wire = (
            SyncWire(self.client.connection_pool, settings.pool_size, settings.pool_timeout)
            if client is None and _one_server(settings)
            else None
        )

    def _run(self, operation: str, lua: _Lua, keys: list[str], args: list[Any]) -> Any:
        try:
            wire = self._wire
            if wire is not None:
                command = lua.wire.command(keys, args)
                try:
                    return wire.call(command)
                except NoScriptError:
                    wire.call(lua.wire.script_load)
                    return wire.call(command)
            try:
                return self.client.evalsha(lua.sha, len(keys), *keys, *args)
            except NoScriptError:
                self.client.script_load(lua.text)
                return self.client.evalsha(lua.sha, len(keys), *keys, *args)
        except REDIS_ERRORS as exc:
            store_error("flask", operation)
            raise unavailable(exc) from exc

    def load(self, sid: str) -> StoredSession | None:
        return parse_hash(self._run("load", LOAD, self.loaded(sid), load_args(self.timing)))

    def save(self, plan: SavePlan) -> SaveOutcome:
        keys = [self.session(plan.source or plan.target), self.session(plan.target)]
        reply = self._run("save", SAVE, keys, save_args(plan, self.timing))
        return SaveOutcome(SaveStatus(int(reply[0])), int(reply[1]))

    def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        args = takeover_args(self.prefix, sid, fields, self.timing, marker_ttl)
        reply = self._run("takeover", TAKEOVER, [self.marker(fingerprint), self.session(sid)], args)
        return parse_takeover(reply, fields)

    def delete(self, sid: str) -> None:
        try:
            if self._wire is not None:
                self._wire.call(pack(["DEL", self.session(sid)]))
            else:
                self.client.delete(self.session(sid))
        except REDIS_ERRORS as exc:
            store_error("flask", "delete")
            raise unavailable(exc) from exc


class AsyncRedisStore(_Keys):
    """Async Redis store for ASGI; raises SessionStoreUnavailable on failure.

    A redis.asyncio client belongs to the event loop it was created on, so
    the store keeps one per running loop (normally exactly one per worker).
    """

    def __init__(self, settings: SessionSettings) -> None:
        super().__init__(settings)
        assert settings.redis_url
        self._settings = settings
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        bound = self._per_loop.get(loop)
        if bound is None:
            bound = self._per_loop[loop] = _LoopClient(
                create_client(self._settings, asynchronous=True),
                self._settings,
                wire=_one_server(self._settings),
            )
        return bound

    async def load(self, sid: str) -> StoredSession | None:
        reply = await self._client().run("load", LOAD, self.loaded(sid), load_args(self.timing))
        return parse_hash(reply)

    async def save(self, plan: SavePlan) -> SaveOutcome:
        keys = [self.session(plan.source or plan.target), self.session(plan.target)]
        reply = await self._client().run("save", SAVE, keys, save_args(plan, self.timing))
        return SaveOutcome(SaveStatus(int(reply[0])), int(reply[1]))

    async def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        args = takeover_args(self.prefix, sid, fields, self.timing, marker_ttl)
        keys = [self.marker(fingerprint), self.session(sid)]
        return parse_takeover(await self._client().run("takeover", TAKEOVER, keys, args), fields)

    async def delete(self, sid: str) -> None:
        await self._client().delete(self.session(sid))

    async def aclose(self) -> None:
        """Close the running loop's connections (clients of other loops are
        released with their loop)."""
        bound = self._per_loop.pop(asyncio.get_running_loop(), None)
        if bound is not None:
            await bound.aclose()


class _LoopClient:
    """One event loop's client, behind a gate of ``pool_size`` slots.

    A call that finds every slot taken waits up to ``pool_timeout`` for one
    (no timer when a slot is free); a call holds one connection at a time,
    so the pool behind never runs out. Each call, retry included, is
    bounded by ``timeout``. With ``wire`` (one server) the commands go on
    connections of the client's pool directly (``store.wire``).
    """

    def __init__(self, client: AsyncClient, settings: SessionSettings, wire: bool) -> None:
        self.client = client
        self._wire = AsyncWire(client.connection_pool) if wire else None  # type: ignore[union-attr]
        self._gate = asyncio.Semaphore(settings.pool_size)
        self._pool_timeout = settings.pool_timeout
        self._timeout = settings.timeout

    async def _enter(self, operation: str) -> None:
        if not self._gate.locked():
            await self._gate.acquire()  # a free slot: taken at once
            return
        try:
            async with asyncio.timeout(self._pool_timeout):
                await self._gate.acquire()
        except TimeoutError as exc:
            store_error("asgi", operation)
            raise SessionStoreUnavailable(
                f"session store unavailable: no free Redis connection within "
                f"{self._pool_timeout} s (pool_size, pool_timeout)"
            ) from exc

    async def run(self, operation: str, lua: _Lua, keys: list[str], args: list[Any]) -> Any:
        await self._enter(operation)
        try:
            async with asyncio.timeout(self._timeout):
                wire = self._wire
                if wire is not None:
                    command = lua.wire.command(keys, args)
                    try:
                        return await wire.call(command)
                    except NoScriptError:
                        await wire.call(lua.wire.script_load)
                        return await wire.call(command)
                try:
                    return await self.client.evalsha(lua.sha, len(keys), *keys, *args)
                except NoScriptError:
                    await self.client.script_load(lua.text)
                    return await self.client.evalsha(lua.sha, len(keys), *keys, *args)
        except (*REDIS_ERRORS, TimeoutError) as exc:
            store_error("asgi", operation)
            raise unavailable(exc) from exc
        finally:
            self._gate.release()

    async def delete(self, key: str) -> None:
        await self._enter("delete")
        try:
            async with asyncio.timeout(self._timeout):
                if self._wire is not None:
                    await self._wire.call(pack(["DEL", key]))
                else:
                    await self.client.delete(key)
        except (*REDIS_ERRORS, TimeoutError) as exc:
            store_error("asgi", "delete")
            raise unavailable(exc) from exc
        finally:
            self._gate.release()

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()
        await self.client.aclose()
