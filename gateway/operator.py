"""The operator plane of one gateway process: flips, audit, presence, metrics, guard.

Built from the settings beside the flag store: with Redis everything is
shared (audit trail, worker acknowledgements, rollback windows); without it,
one process keeps its own. ``start``/``aclose`` run in the gateway's lifespan.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import redis.asyncio as aredis

from gateway.audit import AuditLog, MemoryAuditLog, RedisAuditLog, audit_key
from gateway.flagstore import FlagStore, RedisFlagStore
from gateway.flipping import Change, FlipService
from gateway.flips import FlipRules
from gateway.metrics import GatewayMetrics, metrics_dir_for
from gateway.observing import RequestObserver
from gateway.presence import Presence, wait_for_version, worker_id
from gateway.rollback import RollbackGuard, RouteWindows, Windows
from gateway.settings import GatewaySettings
from shared_session.events import add_store_error_listener
from shared_session.redis_connect import async_client

log = logging.getLogger("gateway.operator")


class OperatorPlane:
    """What operators act through and see: ``flips`` (the one way to change a
    flag), ``audit``, ``metrics`` (None when switched off), ``guard``
    (automatic rollback/promotion) and ``observer`` (what the gateway calls
    each backend through; None when nothing watches answers)."""

    def __init__(
        self,
        settings: GatewaySettings,
        rules: FlipRules,
        store: FlagStore,
        *,
        audit: AuditLog | None = None,
        workers: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.worker = worker_id(settings.replica_name)
        self.redis: aredis.Redis | None = None
        self.presence: Presence | None = None
        ack_waiter = None
        if isinstance(store, RedisFlagStore):
            self.redis = async_client(store.url, timeout=2)  # type: ignore[assignment]
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

        watching = settings.metrics_enabled or settings.rollback_enabled
        watching = watching or bool(settings.promotion_steps)
        self.observer = RequestObserver() if watching else None
        rows = self.observer.rows if self.observer is not None else {}
        self.metrics: GatewayMetrics | None = None
        if settings.metrics_enabled:
            self.metrics = GatewayMetrics(
                lambda: store.table.version, rows, metrics_dir_for(settings, workers)
            )
        windows = Windows(self.redis, settings.flag_key, settings.rollback_window_seconds)
        self.route_windows = RouteWindows(windows, rows, rules.groups.key_for, self._guarded)
        self.guard = RollbackGuard(
            settings, store, self.flips, windows, self.route_windows, self.worker
        )
        self.flips.listeners.append(self._restart_window)
        self._windows = windows
        self._remove_listener: Callable[[], None] | None = None

    def _guarded(self, key: str) -> bool:
        flag = self.store.table.flags.get(key)
        return flag is not None and flag.kind in ("canary", "new")

    async def _restart_window(self, change: Change) -> None:
        # Answers given before a flip say nothing about the route after it.
        await self._windows.mark_changed(change.target, time.time())

    def shadow_result(self, endpoint: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.shadow_result(endpoint, result)

    def fallback(self, endpoint: str) -> None:
        if self.metrics is not None:
            self.metrics.fallback(endpoint)

    async def start(self) -> None:
        """Start heartbeats and the rollback guard (after the flag store has loaded)."""
        if self.metrics is not None:
            self._remove_listener = add_store_error_listener(self.metrics.session_store_error)
            await self.metrics.start()
        if self.presence is not None:
            await self.presence.start()
        await self.guard.start()

    async def aclose(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
        if self.metrics is not None:
            await self.metrics.aclose()
        await self.guard.aclose()
        if self.presence is not None:
            await self.presence.aclose()
        await self.audit.aclose()
        if self.redis is not None:
            await self.redis.aclose()
