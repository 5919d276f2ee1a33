"""The audit trail: who changed which flag, when, from what to what, and why.

Every flag change goes through the flip service (gateway/flipping.py), which
records one AuditEntry per changed key. With Redis the entries live in a list
``<flag_key>:audit`` (newest first, trimmed to ``max_entries``), shared by
every worker and replica; without Redis they are kept in this process only
(bounded). Reading never raises for a malformed stored entry: it is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
import redis.asyncio as aredis

from shared_session.redis_connect import REDIS_ERRORS, async_client

log = logging.getLogger("gateway.audit")

Via = Literal["api", "cli", "dashboard", "auto"]
VIAS: tuple[str, ...] = ("api", "cli", "dashboard", "auto")
AUTO_ACTOR = "auto"
DEFAULT_MAX_ENTRIES = 10_000
_REDIS_ERRORS = (*REDIS_ERRORS, OSError, asyncio.TimeoutError)


class AuditUnavailable(Exception):
    """The audit trail could not be read or written (e.g. Redis is down)."""


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with a ``Z``, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One flag change.

    ``actor`` is the admin token's name, ``"auto"`` for automatic rollback and
    promotion, or the OS user for a local CLI flip; ``target`` the route or
    group key; ``version`` the flag table version the change produced.
    """

    time: str
    actor: str
    target: str
    old_flag: str
    new_flag: str
    reason: str
    via: str
    version: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> AuditEntry | None:
        """An entry from stored JSON data, or None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                time=str(data["time"]),
                actor=str(data["actor"]),
                target=str(data["target"]),
                old_flag=str(data["old_flag"]),
                new_flag=str(data["new_flag"]),
                reason=str(data.get("reason", "")),
                via=str(data["via"]),
                version=int(data["version"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class AuditLog(ABC):
    """Where audit entries are kept; newest first when read."""

    @abstractmethod
    async def record(self, entry: AuditEntry) -> None:
        """Keep ``entry``; raises AuditUnavailable if it could not be stored."""

    @abstractmethod
    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        """Up to ``limit`` entries, newest first; raises AuditUnavailable."""

    async def aclose(self) -> None:
        return None


class MemoryAuditLog(AuditLog):
    """Entries in this process only (the in-memory flag store's companion)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.entries: deque[AuditEntry] = deque(maxlen=max_entries)

    async def record(self, entry: AuditEntry) -> None:
        self.entries.appendleft(entry)

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        return list(self.entries)[: max(0, limit)]


class RedisAuditLog(AuditLog):
    """Entries in a Redis list, newest first, shared by every worker and replica."""

    def __init__(
        self,
        client: aredis.Redis,
        key: str,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.key = key
        self.max_entries = max_entries
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, key: str, max_entries: int = DEFAULT_MAX_ENTRIES) -> RedisAuditLog:
        client = async_client(url, timeout=2)
        return cls(client, key, max_entries, owns_client=True)

    async def record(self, entry: AuditEntry) -> None:
        data = json.dumps(entry.as_dict(), sort_keys=True)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.lpush(self.key, data)
                pipe.ltrim(self.key, 0, self.max_entries - 1)
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            raise AuditUnavailable(f"audit entry not stored in Redis: {exc}") from exc

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        if limit <= 0:
            return []
        try:
            raw = await self.client.lrange(self.key, 0, limit - 1)
        except _REDIS_ERRORS as exc:
            raise AuditUnavailable(f"cannot read the audit trail from Redis: {exc}") from exc
        return parse_entries(raw)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def parse_entries(raw: list[Any]) -> list[AuditEntry]:
    """Stored JSON values to entries; malformed ones are logged and skipped."""
    entries: list[AuditEntry] = []
    for value in raw:
        try:
            entry = AuditEntry.from_dict(json.loads(value))
        except ValueError:
            entry = None
        if entry is None:
            log.warning("skipping a malformed audit entry: %.200r", value)
            continue
        entries.append(entry)
    return entries


def read_recent_sync(client: redis.Redis, key: str, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` entries from a synchronous client (the CLI without --url)."""
    return parse_entries(client.lrange(key, 0, max(0, limit) - 1)) if limit > 0 else []


def audit_key(flag_key: str) -> str:
    """The Redis list of a deployment's audit trail, beside its flag table."""
    return f"{flag_key}:audit"
