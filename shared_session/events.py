"""Store failures, told to whoever listens (e.g. the gateway's metrics).

shared_session depends on no other package of the project, and its stores
are built inside apps the gateway loads by import string, so an observer
cannot be passed down: it registers here instead. A failing listener is
logged and never breaks the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("shared_session.events")

StoreErrorListener = Callable[[str, str], None]
"""Called as ``listener(side, operation)``: side "flask" or "asgi", operation
"load", "save", "takeover" or "delete"."""

_listeners: list[StoreErrorListener] = []


def add_store_error_listener(listener: StoreErrorListener) -> Callable[[], None]:
    """Register ``listener``; returns a function that removes it again."""
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


def store_error(side: str, operation: str) -> None:
    """Tell every listener that a store ``operation`` failed on ``side``."""
    for listener in tuple(_listeners):
        try:
            listener(side, operation)
        except Exception:
            log.exception("session store error listener failed")
