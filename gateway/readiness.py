"""Readiness for load balancers, and a drain period before shutdown.

A process is *starting* until its lifespan start-up is done, then *ready*.
On SIGTERM it turns *draining*: the readiness probe answers 503 and
responses carry ``Connection: close``, so a load balancer stops sending new
work and clients leave their kept-alive connections, while every request
is still served. After ``drain_seconds`` the server's own SIGTERM handling
runs (uvicorn, also under gunicorn's UvicornWorker): it stops accepting,
closes idle connections and lets in-flight requests, streams included, finish.
A second SIGTERM during the drain skips the rest of it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal

log = logging.getLogger("gateway.readiness")

State = Literal["starting", "ready", "draining"]
SignalHandler = Callable[[int, FrameType | None], Any]


class Readiness:
    """The process's readiness, and its SIGTERM drain."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.state: State = "starting"
        self._previous: SignalHandler | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def draining(self) -> bool:
        return self.state == "draining"

    def mark_ready(self) -> None:
        if self.state == "starting":
            self.state = "ready"

    def install(self) -> bool:
        """Take over SIGTERM, keeping the server's handler to call after the drain.

        Only in the main thread (signals are delivered there) and only when
        the server installed a Python handler; returns whether it did.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False  # default or ignored: nothing to delay, leave it alone
        loop = asyncio.get_running_loop()
        self._previous = previous

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            # A signal handler must not touch the loop's internals directly.
            loop.call_soon_threadsafe(self._sigterm, signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    def _sigterm(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous
        if previous is None:
            return
        if self.state == "draining":
            log.warning("second SIGTERM: ending the drain now")
            self._finish(previous, signum, frame)
            return
        self.state = "draining"
        log.warning(
            "SIGTERM: not ready; draining for %.1f s before the listener closes",
            self.drain_seconds,
        )
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.drain_seconds, self._finish, previous, signum, frame)

    def _finish(self, previous: SignalHandler, signum: int, frame: FrameType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._previous = None
        previous(signum, frame)
