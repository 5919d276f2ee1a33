"""In-memory store with the Redis store's semantics, for one process.

The embedded default of ``make run`` when no REDIS_URL is set: the Flask
side and the ASGI side of the same process share one ``MemoryBackend``
(looked up by key prefix), so a login on one is seen by the other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from shared_session.codec import USER_PREFIX
from shared_session.settings import SessionSettings
from shared_session.store.base import (
    Mode,
    SaveOutcome,
    SavePlan,
    SaveStatus,
    StoredSession,
    Timing,
)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Entry:
    fields: dict[str, bytes]
    created_ms: int
    version: int = 0
    expires_ms: int = 0


@dataclass(slots=True)
class MemoryBackend:
    """The data of every in-memory session; thread-safe."""

    sessions: dict[str, _Entry] = field(default_factory=dict)
    markers: dict[str, tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self, sid: str, now: int) -> _Entry | None:
        entry = self.sessions.get(sid)
        if entry is not None and entry.expires_ms <= now:
            del self.sessions[sid]
            return None
        return entry


_backends: dict[str, MemoryBackend] = {}
_backends_lock = threading.Lock()


def shared_backend(name: str) -> MemoryBackend:
    with _backends_lock:
        return _backends.setdefault(name, MemoryBackend())


class MemoryStore:
    """Sync in-memory store (the Flask side's twin of RedisStore)."""

    def __init__(self, settings: SessionSettings, backend: MemoryBackend | None = None) -> None:
        self.timing = Timing.from_settings(settings)
        self.backend = backend or shared_backend(settings.key_prefix)

    def _ttl(self, entry: _Entry, now: int) -> int:
        return min(self.timing.idle_ms, entry.created_ms + self.timing.absolute_ms - now)

    def load(self, sid: str) -> StoredSession | None:
        now = _now_ms()
        with self.backend.lock:
            entry = self.backend.live(sid, now)
            if entry is None:
                return None
            ttl = self._ttl(entry, now)
            if ttl <= 0:
                del self.backend.sessions[sid]
                return None
            entry.expires_ms = now + ttl
            return StoredSession(dict(entry.fields), entry.created_ms, entry.version)

    def save(self, plan: SavePlan) -> SaveOutcome:
        now = _now_ms()
        b = self.backend
        with b.lock:
            source = b.live(plan.source, now) if plan.source else None
            if plan.mode in (Mode.UPDATE, Mode.REGENERATE):
                if source is None:
                    return SaveOutcome(SaveStatus.GONE)
                entry = source
                if plan.mode is Mode.REGENERATE and plan.source != plan.target:
                    if b.live(plan.target, now) is not None:
                        return SaveOutcome(SaveStatus.COLLISION)
                    del b.sessions[plan.source]  # type: ignore[arg-type]
                    entry.created_ms = now
            else:
                if plan.mode is Mode.CLEAR:
                    if plan.source:
                        b.sessions.pop(plan.source, None)
                    if not plan.set_fields:
                        return SaveOutcome(SaveStatus.EMPTY)
                if b.live(plan.target, now) is not None:
                    return SaveOutcome(SaveStatus.COLLISION)
                entry = _Entry({}, now)
            entry.fields.update(plan.set_fields)
            for name in plan.delete_fields:
                entry.fields.pop(name, None)
            if not any(name.startswith(USER_PREFIX) for name in entry.fields):
                b.sessions.pop(plan.target, None)
                return SaveOutcome(SaveStatus.EMPTY)
            ttl = self._ttl(entry, now)
            if ttl <= 0:
                b.sessions.pop(plan.target, None)
                return SaveOutcome(SaveStatus.EXPIRED)
            entry.version += 1
            entry.expires_ms = now + ttl
            b.sessions[plan.target] = entry
            return SaveOutcome(SaveStatus.SAVED, entry.version)

    def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        now = _now_ms()
        b = self.backend
        with b.lock:
            marker = b.markers.get(fingerprint)
            if marker is not None and marker[1] > now:
                entry = b.live(marker[0], now)
                return (marker[0], dict(entry.fields)) if entry else None
            b.markers[fingerprint] = (sid, now + marker_ttl * 1000)
            entry = _Entry(dict(fields), now, 1)
            entry.expires_ms = now + min(self.timing.idle_ms, self.timing.absolute_ms)
            b.sessions[sid] = entry
            return sid, fields

    def delete(self, sid: str) -> None:
        with self.backend.lock:
            self.backend.sessions.pop(sid, None)


class AsyncMemoryStore:
    """Async face of MemoryStore: no I/O, so it calls the sync store directly."""

    def __init__(self, settings: SessionSettings, backend: MemoryBackend | None = None) -> None:
        self.sync = MemoryStore(settings, backend)

    async def load(self, sid: str) -> StoredSession | None:
        return self.sync.load(sid)

    async def save(self, plan: SavePlan) -> SaveOutcome:
        return self.sync.save(plan)

    async def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None:
        return self.sync.takeover(fingerprint, sid, fields, marker_ttl)

    async def delete(self, sid: str) -> None:
        self.sync.delete(sid)

    async def aclose(self) -> None:
        return None
