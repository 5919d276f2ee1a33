"""The gateway's own HTTP API under ``settings.admin_prefix``.

``GET /health`` and ``GET /ready`` answer anyone (probes). Everything else
needs an admin token (see gateway/admin/auth.py): ``GET /routes``,
``GET /flags``, ``PUT /flags/{key}`` with ``{"flag": "canary 10"}``,
``GET /shadow``, ``GET /fallbacks``, ``GET /doctor`` (this worker's findings,
see gateway/doctor.py). Answers are JSON; client mistakes are
4xx with an ``error`` message, never a 500.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from gateway.admin.auth import AdminAuth
from gateway.flags import FlagError, parse_flag
from gateway.flagstore import FlagStore, FlagStoreUnavailable
from gateway.flips import FlipRefused, FlipRules
from gateway.readiness import Readiness

REPLICA = f"{socket.gethostname()}:{os.getpid()}"
MAX_BODY_BYTES = 64 * 1024
FLIP_BODY_HINT = 'body must be JSON like {"flag": "canary 10"}'

Handler = Callable[[Request], Awaitable[Response]]
# The running gateway's doctor report for one request (gateway.app builds it).
DoctorReport = Callable[[Request], Awaitable[Mapping[str, Any]]]


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=headers)


async def read_json(request: Request) -> Any:
    """The request body as JSON; raises ValueError with a message for the client.

    Bodies over 64 KiB, malformed or too deeply nested JSON (RecursionError)
    and undecodable bytes all end as ValueError, so callers answer 400.
    """
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise ValueError(f"body over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("body is not valid JSON") from None


class AdminAPI:
    """The admin endpoints as one ASGI app (full paths, prefix included).

    With ``probes_only`` it answers only health and ready (the public port
    when the admin API has its own listener) and 404 for the rest.
    """

    def __init__(
        self,
        prefix: str,
        auth: AdminAuth,
        rules: FlipRules,
        store: FlagStore,
        readiness: Readiness,
        *,
        shadow_stats: Callable[[], dict[str, Any]] | None = None,
        fallback_stats: Callable[[], Mapping[str, int]] | None = None,
        doctor: DoctorReport | None = None,
        probes_only: bool = False,
    ) -> None:
        self.auth = auth
        self.rules = rules
        self.store = store
        self.readiness = readiness
        self.shadow_stats = shadow_stats
        self.fallback_stats = fallback_stats
        self.doctor_report = doctor
        routes = [
            Route(f"{prefix}/health", self.health, methods=["GET"]),
            Route(f"{prefix}/ready", self.ready, methods=["GET"]),
        ]
        if not probes_only:
            protected: list[tuple[str, Handler, str]] = [
                ("/routes", self.list_routes, "GET"),
                ("/flags", self.list_flags, "GET"),
                ("/flags/{key}", self.flip, "PUT"),
                ("/shadow", self.shadow, "GET"),
                ("/fallbacks", self.fallbacks, "GET"),
                ("/doctor", self.doctor, "GET"),
            ]
            routes += [
                Route(prefix + path, self._guarded(handler), methods=[method])
                for path, handler, method in protected
            ]
        self.router = Router(routes=routes, default=self._not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)

    @staticmethod
    async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _error(404, "no such admin endpoint")(scope, receive, send)

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            verdict = self.auth.check(request)
            if verdict.actor is None:
                headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else None
                return _error(verdict.status, verdict.message, headers)
            request.state.actor = verdict.actor
            return await handler(request)

        return guarded

    # --- probes ---------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "flags_version": self.store.table.version})

    async def ready(self, request: Request) -> Response:
        ready = self.readiness.ready
        return JSONResponse({"ready": ready, "state": self.readiness.state}, 200 if ready else 503)

    # --- protected ------------------------------------------------------
    async def list_routes(self, request: Request) -> Response:
        return JSONResponse({"routes": self.rules.rows(self.store.table)})

    async def list_flags(self, request: Request) -> Response:
        table = self.store.table
        return JSONResponse(
            {
                "version": table.version,
                "source": table.source,
                "replica": REPLICA,
                "pid": os.getpid(),
                "default": str(table.default),
                "flags": table.as_texts(),
                "groups": {name: list(m) for name, m in self.rules.groups.members.items()},
                "store": self.store.status(),
            }
        )

    async def flip(self, request: Request) -> Response:
        key = request.path_params["key"]
        try:
            endpoints = self.rules.endpoints_for(key)
        except FlipRefused as exc:
            return _error(400, str(exc))
        try:
            body = await read_json(request)
        except ValueError as exc:
            return _error(400, f"{exc}; {FLIP_BODY_HINT}")
        if not isinstance(body, dict) or "flag" not in body:
            return _error(400, FLIP_BODY_HINT)
        try:
            flag = parse_flag(body["flag"])
        except FlagError as exc:
            return _error(400, str(exc))
        try:
            table = await self.store.set_flag(key, flag)
        except FlagStoreUnavailable as exc:
            return _error(503, str(exc))
        missing = self.rules.unimplemented(endpoints) if flag.kind != "legacy" else []
        warnings = [f"the new app does not implement {', '.join(missing)}"] if missing else []
        return JSONResponse(
            {"key": key, "flag": str(flag), "version": table.version, "warnings": warnings}
        )

    async def shadow(self, request: Request) -> Response:
        return JSONResponse({"shadow": self.shadow_stats() if self.shadow_stats else None})

    async def fallbacks(self, request: Request) -> Response:
        by_route = dict(self.fallback_stats()) if self.fallback_stats else {}
        return JSONResponse({"total": sum(by_route.values()), "by_route": by_route})

    async def doctor(self, request: Request) -> Response:
        if self.doctor_report is None:
            return _error(404, "this gateway was built without a doctor report")
        return JSONResponse(dict(await self.doctor_report(request)))
