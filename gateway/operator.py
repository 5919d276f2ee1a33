"""The operator plane of one gateway process: flips, audit, presence, metrics, guard.

Built from the settings beside the flag store: with Redis everything is
shared (audit trail, worker acknowledgements, rollback windows); without it,
one process keeps its own. ``start``/``aclose`` run in the gateway's lifespan.
"""

from __future__ import annotations

import functools
import logging

import redis.asyncio as aredis

from gateway.audit import AuditLog, MemoryAuditLog, RedisAuditLog, audit_key
from gateway.flagstore import FlagStore, RedisFlagStore
from gateway.flipping import FlipService
from gateway.flips import FlipRules
from gateway.presence import Presence, wait_for_version, worker_id
from gateway.settings import GatewaySettings

log = logging.getLogger("gateway.operator")


class OperatorPlane:
    """What operators act through; ``flips`` is the one way to change a flag."""

    def __init__(
        self,
        settings: GatewaySettings,
        rules: FlipRules,
        store: FlagStore,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker_id(settings.replica_name)
        self.redis: aredis.Redis | None = None
        self.presence: Presence | None = None
        ack_waiter = None
        if isinstance(store, RedisFlagStore):
            self.redis = aredis.Redis.from_url(
                store.url, socket_timeout=2, socket_connect_timeout=2
            )
            self.presence = Presence(
                self.redis,
                settings.flag_key,
                store,
                self.worker,
                settings.heartbeat_interval,
                settings.worker_ttl,
            )
            if settings.flip_ack_timeout > 0:
                ack_waiter = functools.partial(
                    wait_for_version,
                    self.redis,
                    settings.flag_key,
                    timeout=settings.flip_ack_timeout,
                )
        if audit is None:
            audit = (
                RedisAuditLog(self.redis, audit_key(settings.flag_key), settings.audit_max_entries)
                if self.redis is not None
                else MemoryAuditLog(settings.audit_max_entries)
            )
        self.audit = audit
        self.flips = FlipService(rules, store, audit, ack_waiter)

    async def start(self) -> None:
        """Start heartbeats (after the flag store has loaded its table)."""
        if self.presence is not None:
            await self.presence.start()

    async def aclose(self) -> None:
        if self.presence is not None:
            await self.presence.aclose()
        await self.audit.aclose()
        if self.redis is not None:
            await self.redis.aclose()
