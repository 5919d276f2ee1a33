"""Flips without ``--url``: the gateway's own flip service, run from the shell.

Written straight to Redis through the same FlipService the admin API uses,
so a local flip is checked, audited (actor: the OS user, via "cli") and
waits for every live worker's acknowledgement like any other.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Iterable, Sequence

from gateway.audit import RedisAuditLog, audit_key
from gateway.cli.common import CliError, local_rules
from gateway.flags import Groups, parse_flag
from gateway.flagstore import RedisFlagStore
from gateway.flipping import Change, FlipResult, FlipService
from gateway.flips import FlipRules
from gateway.presence import wait_for_version
from gateway.rollback import Windows
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from shared_session.redis_connect import async_client

LOCAL_ACTOR = "cli-local"


def local_actor() -> str:
    """The OS user running the CLI, or "cli-local" when it cannot be told."""
    try:
        return getpass.getuser() or LOCAL_ACTOR
    except (OSError, KeyError):
        return LOCAL_ACTOR


class _UncheckedRules(FlipRules):
    """``--no-check``: any key may be flipped (the apps are not loaded)."""

    def endpoints_for(self, key: str) -> tuple[str, ...]:
        return (key,)

    def unimplemented(self, endpoints: Iterable[str]) -> list[str]:
        return []


def rules_for(settings: GatewaySettings, check: bool) -> FlipRules:
    """The route rules a local flip is checked against; raises CliError."""
    if check:
        return local_rules(settings)
    return _UncheckedRules(RouteTable(None, []), Groups.from_settings(settings.groups))


def flip_locally(
    settings: GatewaySettings,
    keys: Sequence[str],
    flag: str,
    *,
    rules: FlipRules,
    reason: str = "",
) -> FlipResult:
    """Flip ``keys`` in Redis through the flip service; raises CliError without Redis.

    Raises FlipRefused / FlagError / FlagStoreUnavailable as the service does.
    """
    if not settings.redis_url:
        raise CliError("no GATEWAY_REDIS_URL set: pass --url to use a running gateway instead")
    parsed = parse_flag(flag)
    redis_url = settings.redis_url

    async def run() -> FlipResult:
        store = RedisFlagStore(
            redis_url,
            flag_key=settings.flag_key,
            channel=settings.flag_channel,
            cache_path=None,  # the gateway's cache file is the gateway's
            default=parse_flag(settings.default_flag),
        )
        client = async_client(redis_url, timeout=3)
        try:
            audit = RedisAuditLog(client, audit_key(settings.flag_key), settings.audit_max_entries)

            async def acks(version: int):  # type: ignore[no-untyped-def]
                return await wait_for_version(
                    client, settings.flag_key, version, settings.flip_ack_timeout
                )

            waiter = acks if settings.flip_ack_timeout > 0 else None
            service = FlipService(rules, store, audit, waiter)
            windows = Windows(client, settings.flag_key, settings.rollback_window_seconds)

            async def restart_window(change: Change) -> None:
                # As in the gateway: the rollback window of a flipped key starts afresh.
                await windows.mark_changed(change.target, time.time())

            service.listeners.append(restart_window)
            return await service.flip_many(
                list(keys), parsed, actor=local_actor(), reason=reason, via="cli"
            )
        finally:
            await client.aclose()
            await store.aclose()

    return asyncio.run(run())
