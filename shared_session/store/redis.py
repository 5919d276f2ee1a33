"""Redis stores: a sync twin for Flask (redis-py) and an async twin for ASGI
(redis.asyncio). Both build the same script arguments and read the same
replies through the pure functions at the top of this module.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from shared_session.codec import CREATED_FIELD, USER_PREFIX, VERSION_FIELD
from shared_session.errors import SessionStoreUnavailable
from shared_session.events import store_error
from shared_session.settings import SessionSettings
from shared_session.store import scripts
from shared_session.store.base import SaveOutcome, SavePlan, SaveStatus, StoredSession, Timing

T = TypeVar("T")


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


def save_args(plan: SavePlan, timing: Timing) -> list[Any]:
    args: list[Any] = [
        plan.mode.value,
        _now_ms(),
        timing.idle_ms,
        timing.absolute_ms,
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


def _retry() -> Retry:
    # One immediate retry on a fresh connection: pooled connections are dead
    # after a Redis restart, and the first command on each must not fail.
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def _client_options(settings: SessionSettings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        "retry": _retry(),
        "health_check_interval": 0,
    }


class _Keys:
    def __init__(self, settings: SessionSettings) -> None:
        self.prefix = settings.key_prefix
        self.timing = Timing.from_settings(settings)

    def session(self, sid: str) -> str:
        return f"{self.prefix}{sid}"

    def marker(self, fingerprint: str) -> str:
        return f"{self.prefix}takeover:{fingerprint}"


class RedisStore(_Keys):
    """Sync Redis store for Flask; raises SessionStoreUnavailable on failure."""

    def __init__(self, settings: SessionSettings, client: redis.Redis | None = None) -> None:
        super().__init__(settings)
        assert settings.redis_url or client is not None
        self.client = client or redis.Redis.from_url(
            settings.redis_url, **_client_options(settings)
        )
        self._load = self.client.register_script(scripts.LOAD)
        self._save = self.client.register_script(scripts.SAVE)
        self._takeover = self.client.register_script(scripts.TAKEOVER)

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis.RedisError as exc:
            store_error("flask", operation)
            raise SessionStoreUnavailable(f"session store unavailable: {exc}") from exc

    def load(self, sid: str) -> StoredSession | None:
        t = self.timing
        reply = self._call(
            "load",
            lambda: self._load(
                keys=[self.session(sid)],
                args=[_now_ms(), t.idle_ms, t.absolute_ms, t.refresh_slack_ms],
            ),
        )
        return parse_hash(reply)

    def save(self, plan: SavePlan) -> SaveOutcome:
        source = self.session(plan.source or plan.target)
        reply = self._call(
            "save",
            lambda: self._save(
                keys=[source, self.session(plan.target)], args=save_args(plan, self.timing)
            ),
        )
        return SaveOutcome(SaveStatus(int(reply[0])), int(reply[1]))

    def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        args = takeover_args(self.prefix, sid, fields, self.timing, marker_ttl)
        reply = self._call(
            "takeover",
            lambda: self._takeover(keys=[self.marker(fingerprint), self.session(sid)], args=args),
        )
        return parse_takeover(reply, fields)

    def delete(self, sid: str) -> None:
        self._call("delete", lambda: self.client.delete(self.session(sid)))


class AsyncRedisStore(_Keys):
    """Async Redis store for ASGI; raises SessionStoreUnavailable on failure.

    A redis.asyncio client belongs to the event loop it was created on, so
    the store keeps one per running loop (normally exactly one per worker).
    """

    def __init__(self, settings: SessionSettings) -> None:
        super().__init__(settings)
        assert settings.redis_url
        self._url = settings.redis_url
        self._options = _client_options(settings)
        self._timeout = settings.timeout
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        bound = self._per_loop.get(loop)
        if bound is None:
            bound = self._per_loop[loop] = _LoopClient(
                redis.asyncio.Redis.from_url(self._url, **self._options)
            )
        return bound

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            # Bounds the whole call (connect + retry + read), not each phase.
            async with asyncio.timeout(self._timeout * 2):
                return await make()
        except (redis.RedisError, TimeoutError) as exc:
            store_error("asgi", operation)
            raise SessionStoreUnavailable(f"session store unavailable: {exc!r}") from exc

    async def load(self, sid: str) -> StoredSession | None:
        script = self._client().load
        t = self.timing
        reply = await self._call(
            "load",
            lambda: script(
                keys=[self.session(sid)],
                args=[_now_ms(), t.idle_ms, t.absolute_ms, t.refresh_slack_ms],
            ),
        )
        return parse_hash(reply)

    async def save(self, plan: SavePlan) -> SaveOutcome:
        script = self._client().save
        source = self.session(plan.source or plan.target)
        reply = await self._call(
            "save",
            lambda: script(
                keys=[source, self.session(plan.target)], args=save_args(plan, self.timing)
            ),
        )
        return SaveOutcome(SaveStatus(int(reply[0])), int(reply[1]))

    async def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        script = self._client().takeover
        args = takeover_args(self.prefix, sid, fields, self.timing, marker_ttl)
        reply = await self._call(
            "takeover",
            lambda: script(keys=[self.marker(fingerprint), self.session(sid)], args=args),
        )
        return parse_takeover(reply, fields)

    async def delete(self, sid: str) -> None:
        client = self._client().client
        await self._call("delete", lambda: client.delete(self.session(sid)))

    async def aclose(self) -> None:
        """Close the running loop's connections (clients of other loops are
        released with their loop)."""
        bound = self._per_loop.pop(asyncio.get_running_loop(), None)
        if bound is not None:
            await bound.client.aclose()


class _LoopClient:
    """One event loop's client and its registered scripts."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.load = client.register_script(scripts.LOAD)
        self.save = client.register_script(scripts.SAVE)
        self.takeover = client.register_script(scripts.TAKEOVER)
