"""Flag stores: in memory (embedded default) or shared through Redis."""

from __future__ import annotations

from gateway.flags import FlagTable, parse_flag
from gateway.flagstore.base import FlagChange, FlagStore, FlagStoreUnavailable
from gateway.flagstore.memory import MemoryFlagStore
from gateway.flagstore.redis import RedisFlagStore
from gateway.settings import GatewaySettings


def build_flag_store(settings: GatewaySettings) -> FlagStore:
    """RedisFlagStore when ``settings.redis_url`` is set, else MemoryFlagStore.

    Raises FlagError if ``settings.flags`` or ``settings.default_flag`` do not parse.
    """
    initial = {key: parse_flag(text) for key, text in settings.flags.items()}
    default = parse_flag(settings.default_flag)
    if settings.redis_url:
        return RedisFlagStore(
            settings.redis_url,
            flag_key=settings.flag_key,
            channel=settings.flag_channel,
            poll_interval=settings.flag_poll_interval,
            cache_path=settings.flag_cache_path,
            initial=initial,
            default=default,
        )
    return MemoryFlagStore(initial, default)


__all__ = [
    "FlagChange",
    "FlagStore",
    "FlagStoreUnavailable",
    "FlagTable",
    "MemoryFlagStore",
    "RedisFlagStore",
    "build_flag_store",
]
