"""In-process ASGI backend: the new FastAPI app, called directly on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.direct_call import direct_call

log = logging.getLogger("gateway.backends.asgi")

# Keys a Starlette gateway puts in the scope while routing; the inner app must
# not see them or its url_for() would resolve against the gateway's router.
_GATEWAY_KEYS = frozenset({"router", "endpoint", "route", "path_params", "app_root_path"})


class LifespanError(RuntimeError):
    """The new app's lifespan startup failed; its message says why."""


class ASGIBackend:
    """Pass requests to an ASGI app and run its lifespan.

    Call ``await start()`` once before serving (from the gateway's lifespan) and
    ``await aclose()`` at shutdown: they run the app's lifespan startup and
    shutdown. ``start()`` raises LifespanError when the app reports a startup
    failure or raises during it - its middleware is built then too, so a
    misconfigured middleware stops the gateway before it serves a request (as
    uvicorn's ``--lifespan on`` does). An app that returns without answering
    has no lifespan and is served as it is; with ``lifespan=False`` none is run.
    """

    def __init__(self, app: ASGIApp, *, name: str = "new", lifespan: bool = True) -> None:
        self.app = app
        self._call_app = direct_call(app)
        self.name = name
        self.lifespan = lifespan
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._lifespan_supported = False

    async def start(self) -> None:
        """Run the app's lifespan startup; raises LifespanError if it fails."""
        if not self.lifespan:
            return
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.create_task(self._run_lifespan(scope))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] == "lifespan.startup.failed":
            raise LifespanError(f"{self.name} app failed to start: {message.get('message', '')}")
        if self._error is not None:
            error = self._error
            raise LifespanError(
                f"{self.name} app raised {type(error).__name__} during its lifespan startup: "
                f"{error} (if the app has no lifespan support, set GATEWAY_NEW_APP_LIFESPAN=false)"
            ) from error
        self._lifespan_supported = message["type"] == "lifespan.startup.complete"
        if not self._lifespan_supported:
            log.info("%s app has no lifespan (it returned without answering)", self.name)

    async def _run_lifespan(self, scope: Scope) -> None:
        try:
            await self.app(scope, self._to_app.get, self._from_app.put)
        except Exception as exc:
            self._error = exc
        finally:
            await self._from_app.put({"type": "gateway.lifespan.ended"})

    async def aclose(self) -> None:
        if self._task is None:
            return
        if self._lifespan_supported and not self._task.done():
            await self._to_app.put({"type": "lifespan.shutdown"})
            message = await self._from_app.get()
            if message["type"] == "lifespan.shutdown.failed":
                log.error("%s app failed to shut down: %s", self.name, message.get("message"))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    # A plain function handing on the app's awaitable: the backend adds no
    # coroutine of its own to every request. Marked as a coroutine function so
    # servers and frameworks that inspect it (uvicorn's ASGI 2/3 detection)
    # still see an ASGI 3 app.
    @inspect.markcoroutinefunction
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # keys().isdisjoint(a set) looks the five keys up in the scope (in C).
        if self.state or not scope.keys().isdisjoint(_GATEWAY_KEYS):
            scope = {k: v for k, v in scope.items() if k not in _GATEWAY_KEYS}
            if self.state:
                # What the app's lifespan yielded, as uvicorn would give it.
                scope["state"] = dict(self.state)
        return self._call_app(scope, receive, send)
