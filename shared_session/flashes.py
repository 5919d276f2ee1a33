"""flash() and get_flashed_messages() for any session mapping.

The same storage as Flask's: a list of (category, message) tuples under
"_flashes", so a message flashed on one side shows on the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, MutableMapping
from typing import Any

FLASHES_KEY = "_flashes"
_CACHE_ATTRIBUTE = "_shared_session_flashes"


def flash(session: MutableMapping[str, Any], message: str, category: str = "message") -> None:
    """Queue a message for the next page that reads flashed messages."""
    flashes = session.get(FLASHES_KEY, [])
    flashes.append((category, message))
    session[FLASHES_KEY] = flashes


def get_flashed_messages(
    session: MutableMapping[str, Any],
    with_categories: bool = False,
    category_filter: Iterable[str] = (),
) -> list[Any]:
    """Pop the flashed messages, as Flask does (repeat calls in one request agree)."""
    flashes = getattr(session, _CACHE_ATTRIBUTE, None)
    if flashes is None:
        flashes = list(session.pop(FLASHES_KEY)) if FLASHES_KEY in session else []
        # A plain dict cannot cache; fine, its flashes are popped already.
        with contextlib.suppress(AttributeError):
            setattr(session, _CACHE_ATTRIBUTE, flashes)
    wanted = set(category_filter)
    if wanted:
        flashes = [f for f in flashes if f[0] in wanted]
    if not with_categories:
        return [f[1] for f in flashes]
    return list(flashes)
