"""The legacy Flask 3 application, as a team would have written it.

Import string for servers and the gateway: ``legacy_flask:create_app()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legacy_flask.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so new_fastapi can import legacy_flask.assets and legacy_flask.filters
    # (templates, static files, filters) without building any Flask machinery.
    if name == "create_app":
        from legacy_flask.app import create_app

        return create_app
    raise AttributeError(f"module 'legacy_flask' has no attribute {name!r}")
