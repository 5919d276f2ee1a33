"""The gateway's own HTTP API under ``settings.admin_prefix``.

``GET /health`` and ``GET /ready`` answer anyone (probes). Everything else
needs an admin token (see gateway/admin/auth.py): ``GET /routes``,
``GET /flags``, ``PUT /flags/{key}`` with ``{"flag": "canary 10", "reason":
"..."}``, ``POST /flips`` (bulk: ``{"targets": [...]}`` and/or ``{"match":
"webapp.*"}``), ``GET /audit?limit=``, ``GET /rollbacks`` (the automatic flips),
``GET /metrics`` (Prometheus), ``GET /shadow``, ``GET /fallbacks``,
``GET /status`` (parity and progress, gateway/parity.py),
``GET /doctor`` (this worker's findings, gateway/doctor.py).
Flips go through the flip service (gateway/flipping.py): audited, and
answered once every live worker applied them. Answers are JSON; client
mistakes are 4xx with an ``error`` message, never a 500. ``GET /`` is the
HTML dashboard (gateway/admin/dashboard.py), with its own sign-in.
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
from gateway.admin.dashboard import Dashboard
from gateway.audit import AuditLog, AuditUnavailable
from gateway.flags import FlagError
from gateway.flagstore import FlagStore, FlagStoreUnavailable
from gateway.flipping import FlipService
from gateway.flips import FlipRefused, FlipRules
from gateway.metrics import GatewayMetrics
from gateway.parity import build_report
from gateway.readiness import Readiness

REPLICA = f"{socket.gethostname()}:{os.getpid()}"
MAX_BODY_BYTES = 64 * 1024
FLIP_BODY_HINT = 'body must be JSON like {"flag": "canary 10", "reason": "why (optional)"}'
# What a flip body may hold: a misspelt field ("reson") is refused, not dropped.
_FLIP_FIELDS = frozenset({"flag", "reason"})
_BULK_FIELDS = frozenset({"flag", "reason", "targets", "match"})
BULK_BODY_HINT = (
    'body must be JSON like {"targets": ["a", "b"], "flag": "new", "reason": "..."} '
    'or {"match": "notes.*", "flag": "new"} ("*" for every route)'
)
DEFAULT_AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1000

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
        flips: FlipService,
        audit: AuditLog,
        metrics: GatewayMetrics | None = None,
        shadow_stats: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        fallback_stats: Callable[[], Mapping[str, int]] | None = None,
        doctor: DoctorReport | None = None,
        probes_only: bool = False,
        dashboard_session_seconds: int = 1800,
    ) -> None:
        self.auth = auth
        self.rules = rules
        self.store = store
        self.readiness = readiness
        self.flips = flips
        self.audit = audit
        self.metrics = metrics
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
                ("/flips", self.flip_bulk, "POST"),
                ("/audit", self.audit_trail, "GET"),
                ("/rollbacks", self.rollbacks, "GET"),
                ("/metrics", self.prometheus, "GET"),
                ("/shadow", self.shadow, "GET"),
                ("/fallbacks", self.fallbacks, "GET"),
                ("/status", self.status, "GET"),
                ("/doctor", self.doctor, "GET"),
            ]
            routes += [
                Route(prefix + path, self._guarded(handler), methods=[method])
                for path, handler, method in protected
            ]
            # The HTML dashboard signs in with a token and keeps a session cookie.
            dashboard = Dashboard(
                prefix,
                auth,
                rules,
                store,
                flips,
                audit,
                shadow_stats=shadow_stats,
                metrics=metrics,
                session_seconds=dashboard_session_seconds,
            )
            routes += dashboard.routes()
        self.router = Router(routes=routes, default=self._not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)

    @staticmethod
    async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _error(404, "no such admin endpoint")(scope, receive, send)
        elif scope["type"] == "websocket":
            # No admin endpoint is a WebSocket: refused before the handshake
            # (the server answers 403), as Starlette refuses unrouted ones.
            await send({"type": "websocket.close", "code": 1008})

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
            self.rules.endpoints_for(key)
        except FlipRefused as exc:
            return _error(400, str(exc))
        try:
            body = await read_json(request)
        except ValueError as exc:
            return _error(400, f"{exc}; {FLIP_BODY_HINT}")
        if not isinstance(body, dict) or "flag" not in body:
            return _error(400, FLIP_BODY_HINT)
        if unknown := _unknown_fields(body, _FLIP_FIELDS):
            return _error(400, f"unknown field {unknown}; {FLIP_BODY_HINT}")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            return _error(400, FLIP_BODY_HINT)
        return await self._flip([key], body["flag"], reason, request)

    async def flip_bulk(self, request: Request) -> Response:
        try:
            body = await read_json(request)
        except ValueError as exc:
            return _error(400, f"{exc}; {BULK_BODY_HINT}")
        if not isinstance(body, dict) or "flag" not in body:
            return _error(400, BULK_BODY_HINT)
        if unknown := _unknown_fields(body, _BULK_FIELDS):
            return _error(400, f"unknown field {unknown}; {BULK_BODY_HINT}")
        targets, match, reason = body.get("targets", []), body.get("match"), body.get("reason", "")
        if (
            not isinstance(targets, list)
            or not all(isinstance(t, str) for t in targets)
            or not (match is None or isinstance(match, str))
            or not isinstance(reason, str)
            or (not targets and match is None)
        ):
            return _error(400, BULK_BODY_HINT)
        try:
            keys = self.flips.keys_for(targets, match)
        except FlipRefused as exc:
            return _error(400, str(exc))
        return await self._flip(keys, body["flag"], reason, request)

    async def _flip(self, keys: list[str], flag: object, reason: str, request: Request) -> Response:
        if not isinstance(flag, str):
            return _error(400, f"a flag must be a string; {FLIP_BODY_HINT}")
        try:
            result = await self.flips.flip_many(
                keys, flag, actor=request.state.actor, reason=reason, via="api"
            )
        except (FlipRefused, FlagError) as exc:
            return _error(400, str(exc))
        except FlagStoreUnavailable as exc:
            return _error(503, str(exc))
        return JSONResponse(result.as_dict())

    async def audit_trail(self, request: Request) -> Response:
        raw = request.query_params.get("limit", str(DEFAULT_AUDIT_LIMIT))
        if not raw.isdigit() or not 0 < int(raw) <= MAX_AUDIT_LIMIT:
            return _error(400, f"limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}")
        try:
            entries = await self.audit.recent(int(raw))
        except AuditUnavailable as exc:
            return _error(503, str(exc))
        return JSONResponse({"entries": [e.as_dict() for e in entries]})

    async def rollbacks(self, request: Request) -> Response:
        try:
            entries = await self.audit.recent(MAX_AUDIT_LIMIT)
        except AuditUnavailable as exc:
            return _error(503, str(exc))
        return JSONResponse({"entries": [e.as_dict() for e in entries if e.via == "auto"]})

    async def prometheus(self, request: Request) -> Response:
        if self.metrics is None:
            return _error(404, "metrics are switched off (GATEWAY_METRICS_ENABLED=false)")
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def shadow(self, request: Request) -> Response:
        stats = await self.shadow_stats() if self.shadow_stats else None
        return JSONResponse({"shadow": stats, "replica": REPLICA})

    async def status(self, request: Request) -> Response:
        stats = await self.shadow_stats() if self.shadow_stats else None
        table = self.rules.routes
        report = build_report(
            table.legacy_rules, table.new_routes, self.store.table, self.rules.groups, stats
        )
        return JSONResponse(report.as_dict())

    async def fallbacks(self, request: Request) -> Response:
        by_route = dict(self.fallback_stats()) if self.fallback_stats else {}
        return JSONResponse({"total": sum(by_route.values()), "by_route": by_route})

    async def doctor(self, request: Request) -> Response:
        if self.doctor_report is None:
            return _error(404, "this gateway was built without a doctor report")
        return JSONResponse(dict(await self.doctor_report(request)))


def _unknown_fields(body: dict[str, object], allowed: frozenset[str]) -> str | None:
    """The first field of ``body`` not in ``allowed``, quoted (at most 100 characters)."""
    for name in body:
        if name not in allowed:
            return repr(name[:100])
    return None
