"""Session stores: Redis (sync and async twins) and in-memory, one contract.

Every operation is one round trip. ``save`` merges: it writes only the
fields a request changed, atomically, and writes nothing when the session
was deleted meanwhile.
"""

from __future__ import annotations

from shared_session.settings import SessionSettings
from shared_session.store.base import (
    AsyncStore,
    SaveOutcome,
    SavePlan,
    SaveStatus,
    StoredSession,
    SyncStore,
    Timing,
)

__all__ = [
    "AsyncStore",
    "SaveOutcome",
    "SavePlan",
    "SaveStatus",
    "StoredSession",
    "SyncStore",
    "Timing",
    "async_store",
    "sync_store",
]


def sync_store(settings: SessionSettings) -> SyncStore:
    """The Flask side's store: Redis when ``redis_url`` is set, else in-memory."""
    if settings.redis_url:
        from shared_session.store.redis import RedisStore

        return RedisStore(settings)
    from shared_session.store.memory import MemoryStore

    return MemoryStore(settings)


def async_store(settings: SessionSettings) -> AsyncStore:
    """The ASGI side's store: Redis when ``redis_url`` is set, else in-memory."""
    if settings.redis_url:
        from shared_session.store.redis import AsyncRedisStore

        return AsyncRedisStore(settings)
    from shared_session.store.memory import AsyncMemoryStore

    return AsyncMemoryStore(settings)
