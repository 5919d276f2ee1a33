"""The admin API on a listener of its own, off the public port.

Each gateway process (every gunicorn worker) binds ``host:port`` with
SO_REUSEPORT, so the kernel spreads admin requests over the workers like the
public port's. It runs inside the gateway's event loop, so the admin API
uses the same flag store, and it starts and stops with the gateway's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("gateway.admin")


class AdminListenerError(RuntimeError):
    """The admin listener could not start (port taken, bad address)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class AdminListener:
    """Serves ``app`` on ``host:port`` with uvicorn, inside the running event loop."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Raises AdminListenerError when the address cannot be bound."""
        try:
            sock = _bind(self.host, self.port)
        except OSError as exc:
            raise AdminListenerError(
                f"cannot serve the admin API on {self.host}:{self.port} (GATEWAY_ADMIN_LISTEN): "
                f"{exc}"
            ) from exc
        config = uvicorn.Config(
            self.app, lifespan="off", log_config=None, access_log=False, server_header=False
        )
        server = self._server = uvicorn.Server(config)
        # Server.serve() would install its own SIGINT/SIGTERM handlers over the
        # worker's; _serve() is the same minus that.
        self._task = asyncio.create_task(server._serve(sockets=[sock]), name="admin-listener")
        for _ in range(500):  # up to 5 s
            if server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await self.aclose()
            raise AdminListenerError(f"the admin listener on {self.host}:{self.port} did not start")
        log.info("admin API on http://%s:%d", self.host, self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, SystemExit, Exception):
                await asyncio.wait_for(self._task, timeout=5)
        self._server = self._task = None
