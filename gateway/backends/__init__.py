"""Backends: where the gateway sends a request once the flag has decided.

Each backend is an ASGI app with a lifecycle: ``await start()`` once from the
gateway's lifespan (runs the new app's own lifespan), ``await aclose()`` at
shutdown.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from starlette.types import Receive, Scope, Send

from gateway.backends.asgi import ASGIBackend, LifespanError
from gateway.backends.http import HTTPBackend
from gateway.backends.wsgi import WSGIBackend
from gateway.settings import GatewaySettings


@runtime_checkable
class Backend(Protocol):
    """An ASGI app with a lifecycle."""

    name: str  # "legacy" | "new"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def build_legacy_backend(settings: GatewaySettings, legacy_app: object | None) -> Backend:
    """The legacy side: an HTTP upstream when ``settings.legacy_upstream`` is set
    (``legacy_app`` is then ignored), else ``legacy_app`` (a WSGI callable) in-process.

    Raises TypeError when neither is usable.
    """
    if settings.legacy_upstream:
        return HTTPBackend(
            settings.legacy_upstream,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            max_connections=settings.upstream_max_connections,
            preserve_host=settings.upstream_preserve_host,
        )
    if not callable(legacy_app):
        raise TypeError("legacy_app must be a WSGI callable when no legacy_upstream is set")
    return WSGIBackend(
        legacy_app,  # type: ignore[arg-type]
        threads=settings.wsgi_threads,
        timeout=settings.legacy_timeout,
        max_body_bytes=settings.max_body_bytes,
    )


def build_new_backend(settings: GatewaySettings, new_app: object) -> Backend:
    """The new side: ``new_app`` (an ASGI app) in-process. Call ``await start()``."""
    if not callable(new_app):
        raise TypeError("new_app must be an ASGI callable")
    return ASGIBackend(new_app, lifespan=settings.new_app_lifespan)  # type: ignore[arg-type]


__all__ = [
    "ASGIBackend",
    "Backend",
    "HTTPBackend",
    "LifespanError",
    "WSGIBackend",
    "build_legacy_backend",
    "build_new_backend",
]
