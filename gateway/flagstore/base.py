"""What every flag store offers the gateway.

The gateway reads ``store.table`` on every request: a plain attribute holding
an immutable FlagTable, so the request path never waits on I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from gateway.flags import Flag, FlagTable


class FlagStoreUnavailable(Exception):
    """A flip could not be stored (e.g. Redis is down); nothing was changed."""


class FlagStore(ABC):
    """Holds the current FlagTable and changes it; subclasses add propagation."""

    table: FlagTable

    async def start(self) -> None:
        """Load the initial table and start background work (called in lifespan)."""
        return None

    async def aclose(self) -> None:
        """Stop background work."""
        return None

    @abstractmethod
    async def set_flag(self, key: str, flag: Flag) -> FlagTable:
        """Store one flag and return the new table; raises FlagStoreUnavailable."""

    def status(self) -> dict[str, Any]:
        """What the admin API shows about this store."""
        return {
            "store": type(self).__name__,
            "version": self.table.version,
            "source": self.table.source,
        }
