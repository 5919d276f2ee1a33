"""What every flag store offers the gateway.

The gateway reads ``store.table`` on every request: a plain attribute holding
an immutable FlagTable, so the request path never waits on I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.flags import Flag, FlagTable


class FlagStoreUnavailable(Exception):
    """A flip could not be stored (e.g. Redis is down); nothing was changed."""


@dataclass(frozen=True, slots=True)
class FlagChange:
    """One stored flip: the key's flag text before it, and the table after it."""

    previous: str
    table: FlagTable


TableListener = Callable[[FlagTable], None]


class FlagStore(ABC):
    """Holds the current FlagTable and changes it; subclasses add propagation."""

    table: FlagTable
    _listeners: tuple[TableListener, ...] = ()

    def add_listener(self, listener: TableListener) -> None:
        """Call ``listener(table)`` each time this process starts serving a new table."""
        self._listeners = (*self._listeners, listener)

    def _changed(self, table: FlagTable) -> None:
        for listener in self._listeners:
            listener(table)

    async def start(self) -> None:
        """Load the initial table and start background work (called in lifespan)."""
        return None

    async def aclose(self) -> None:
        """Stop background work."""
        return None

    @abstractmethod
    async def set_flag(self, key: str, flag: Flag) -> FlagTable:
        """Store one flag and return the new table; raises FlagStoreUnavailable."""

    async def change_flag(self, key: str, flag: Flag) -> FlagChange:
        """Store one flag; returns what it was before and the new table.

        Raises FlagStoreUnavailable. Stores shared between processes override
        this to read the previous flag in the same atomic step as the write.
        """
        previous = str(self.table.flag_for(key))
        return FlagChange(previous, await self.set_flag(key, flag))

    def status(self) -> dict[str, Any]:
        """What the admin API shows about this store."""
        return {
            "store": type(self).__name__,
            "version": self.table.version,
            "source": self.table.source,
        }
