"""The embedded flag store: one process, no propagation (development, tests)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.flags import LEGACY, Flag, FlagTable
from gateway.flagstore.base import FlagStore


class MemoryFlagStore(FlagStore):
    """Flags in this process only; each flip bumps the version by one."""

    def __init__(self, initial: Mapping[str, Flag] | None = None, default: Flag = LEGACY) -> None:
        self.table = FlagTable(1, dict(initial or {}), default, "memory")

    async def set_flag(self, key: str, flag: Flag) -> FlagTable:
        flags = {**self.table.flags, key: flag}
        self.table = FlagTable(self.table.version + 1, flags, self.table.default, "memory")
        self._changed(self.table)
        return self.table
