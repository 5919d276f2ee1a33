"""HEAD and OPTIONS on the new side, answered as Flask answers them.

Flask adds HEAD and OPTIONS to every rule; FastAPI's ``@router.get`` adds
neither (Starlette's plain ``Route`` adds HEAD only), so a route flipped to
the new app would answer both with 405. For each (path, method) sent to the
new app the gateway works out once, from the new app's route table, whether
the app has a handler of its own; when it has none:

- HEAD on a path whose route has GET: the app is called with GET and the
  answer goes out without its body, status and headers (Content-Length
  included) as they are - what Werkzeug does for HEAD. The response ends at
  the first body message, so a stream is not waited for (the app is then
  told the client is gone).
- OPTIONS on a path with routes: the app is called with OPTIONS first (a
  CORS middleware answers preflights itself); only a 405 answer is replaced
  by Flask's: 200, an empty ``text/html`` body and ``Allow`` listing the
  methods of every route of the path, with HEAD (when GET is there) and
  OPTIONS. The 405's other headers (cookies, labels) are kept.

A route with its own HEAD or OPTIONS, a Mount, or a path no route knows is
left to the app. GET and every other method never go through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
_CACHE_ENTRIES = 4096
_CACHE_MAX_PATH = 256
# Headers of the new app's 405 that describe its body or its methods: Flask's
# answer has its own.
_NOT_KEPT = frozenset(
    {b"allow", b"content-length", b"content-type", b"content-encoding", b"transfer-encoding"}
)

Plan = Literal["app", "head"] | bytes  # bytes: OPTIONS answered with this Allow


class AutomaticMethods:
    """Built once from the new app's routes (flattened, see ``gateway.routes.app_routes``)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes = tuple(r for r in routes if isinstance(r, Route | Mount))
        self._cached_plan = lru_cache(maxsize=_CACHE_ENTRIES)(self._plan)

    def wrap(self, app: ASGIApp, path: str, method: str) -> ASGIApp:
        """``app``, or ``app`` wrapped to answer HEAD/OPTIONS of ``path`` like Flask."""
        if method not in AUTOMATIC_METHODS:
            return app
        plan = self.plan(path, method)
        if plan == "head":
            return HeadFromGet(app)
        if isinstance(plan, bytes):
            return OptionsLikeFlask(app, plan)
        return app

    def plan(self, path: str, method: str) -> Plan:
        """The plan for ``method path``: "app" (the app answers), "head", or an OPTIONS Allow."""
        if len(path) <= _CACHE_MAX_PATH:
            return self._cached_plan(path, method)
        return self._plan(path, method)

    def _plan(self, path: str, method: str) -> Plan:
        full, partial = self._matching(path, method)
        if full or method not in AUTOMATIC_METHODS:
            return "app"  # the app's own handler (or a mount, whose methods are unknown)
        if method == "HEAD":
            return "head" if self._matching(path, "GET")[0] else "app"
        methods: set[str] = set()
        for route in partial:
            methods.update(route.methods or ())
        if not methods:
            return "app"  # no route of the path: the app's own 404
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        return ", ".join(sorted(methods)).encode("latin-1")

    def _matching(self, path: str, method: str) -> tuple[bool, list[Route]]:
        """Whether a route answers ``method path``, and the routes of the path that do not."""
        scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
        partial: list[Route] = []
        for route in self._routes:
            try:
                result, _ = route.matches(scope)
            except Exception:  # a convertor choking on junk: not this route
                continue
            if result is Match.FULL:
                return True, partial
            if result is Match.PARTIAL and isinstance(route, Route):
                partial.append(route)
        return False, partial


class HeadFromGet:
    """HEAD answered by the app's GET, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def head_send(message: Message) -> None:
            nonlocal done
            if done:
                return  # the rest of the GET's body, or a stream: not for a HEAD
            if message["type"] == "http.response.start":
                await send(message)
                return
            # The first body message (or pathsend...) ends the answer, empty.
            done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def head_receive() -> Message:
            # Once the answer is out, a streaming GET is told the client is gone
            # (the server tells a receive already waiting, as uvicorn does).
            if done:
                return {"type": "http.disconnect"}
            return await receive()

        await self.app({**scope, "method": "GET"}, head_receive, head_send)


class OptionsLikeFlask:
    """OPTIONS tried on the app first; a 405 is replaced by Flask's automatic answer."""

    def __init__(self, app: ASGIApp, allow: bytes) -> None:
        self.app = app
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "OPTIONS":
            await self.app(scope, receive, send)
            return
        refused: Message | None = None

        async def options_send(message: Message) -> None:
            nonlocal refused
            if refused is not None:
                return  # the 405's body
            if message["type"] == "http.response.start" and message["status"] == 405:
                refused = message
                return
            await send(message)

        await self.app(scope, receive, options_send)
        if refused is None:
            return
        headers = [h for h in refused.get("headers", ()) if h[0].lower() not in _NOT_KEPT]
        headers += [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"allow", self.allow),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
