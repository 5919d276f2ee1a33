"""The data that crosses the store boundary, and the two store protocols."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from shared_session.settings import SessionSettings


class SaveStatus(enum.IntEnum):
    SAVED = 1
    EMPTY = 0  # nothing left in the session: it was deleted
    GONE = -1  # deleted meanwhile (logout elsewhere): nothing written
    EXPIRED = -2  # past its absolute lifetime: deleted
    COLLISION = -3  # the new id exists already (retry with another id)


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    status: SaveStatus
    version: int = 0


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as loaded: its user fields (hash field -> encoded value)."""

    fields: dict[str, bytes]
    created_ms: int
    version: int


class Mode(enum.StrEnum):
    UPDATE = "u"  # merge changes into the existing session
    REGENERATE = "r"  # move the session to a new id, then merge
    CLEAR = "c"  # delete the session; anything set after clear() goes to a new id
    NEW = "n"  # create a session under a new id


@dataclass(frozen=True, slots=True)
class SavePlan:
    mode: Mode
    source: str | None  # id the request loaded
    target: str  # id the data ends up under
    set_fields: dict[str, bytes] = field(default_factory=dict)
    delete_fields: list[str] = field(default_factory=list)
    created_ms: int = 0  # creation time of ``source`` as loaded (0: unknown)


@dataclass(frozen=True, slots=True)
class Timing:
    """Expiry in milliseconds, derived once from the settings."""

    idle_ms: int
    absolute_ms: int
    refresh_slack_ms: int

    @classmethod
    def from_settings(cls, settings: SessionSettings) -> Timing:
        idle_ms = settings.idle_timeout * 1000
        # Refresh the sliding TTL only once it has dropped by this much, so
        # read-only requests almost never write.
        slack = max(1000, min(60_000, idle_ms // 20))
        return cls(idle_ms, settings.absolute_lifetime * 1000, slack)


class SyncStore(Protocol):
    def load(self, sid: str) -> StoredSession | None: ...
    def save(self, plan: SavePlan) -> SaveOutcome: ...
    def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None: ...
    def delete(self, sid: str) -> None: ...


class AsyncStore(Protocol):
    async def load(self, sid: str) -> StoredSession | None: ...
    async def save(self, plan: SavePlan) -> SaveOutcome: ...
    async def takeover(
        self, fingerprint: str, sid: str, fields: dict[str, bytes], marker_ttl: int
    ) -> tuple[str, dict[str, bytes]] | None: ...
    async def delete(self, sid: str) -> None: ...
    async def aclose(self) -> None: ...
