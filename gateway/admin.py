"""The gateway's own HTTP API under ``settings.admin_prefix``.

``GET /health`` (no auth), ``GET /routes``, ``GET /flags``, ``PUT /flags/{key}``
with ``{"flag": "canary 10"}``, ``GET /shadow``, ``GET /fallbacks`` (answers the
legacy app gave in place of a failing new one, per route). When ``settings.admin_token``
is set, every endpoint but health needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import socket
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.flags import FlagError, FlagTable, Groups, parse_flag
from gateway.flagstore import FlagStore, FlagStoreUnavailable
from gateway.routes import RouteTable

REPLICA = f"{socket.gethostname()}:{os.getpid()}"


def route_rows(routes: RouteTable, groups: Groups, table: FlagTable) -> list[dict[str, Any]]:
    """The route table as JSON-ready rows, with each route's current flag and group."""
    rows = []
    for info in routes.rows():
        group = groups.group_of.get(info.endpoint) if info.origin == "legacy" else None
        flag = (
            str(table.flag_for(groups.key_for(info.endpoint))) if info.origin == "legacy" else "new"
        )
        rows.append(
            {
                "rule": info.rule,
                "methods": list(info.methods),
                "endpoint": info.endpoint,
                "origin": info.origin,
                "implemented": info.implemented,
                "new_methods": list(info.new_methods),
                "group": group,
                "flag": flag,
            }
        )
    return rows


class FlipRefused(ValueError):
    """A flip naming an unknown route, a grouped route, or a new-only route."""


def check_flip(routes: RouteTable, groups: Groups, key: str) -> list[str]:
    """The legacy endpoints a flip of ``key`` moves; raises FlipRefused if it cannot."""
    if key in groups.members:
        return list(groups.members[key])
    if key in groups.group_of:
        raise FlipRefused(
            f"route {key!r} moves with group {groups.group_of[key]!r}; flip the group instead"
        )
    if key in routes.legacy_endpoints:
        return [key]
    if any(info.endpoint == key for info in routes.rows()):
        raise FlipRefused(f"route {key!r} exists only in the new app and is always served by it")
    raise FlipRefused(f"unknown route or group {key!r}; see GET /routes for the names")


def unimplemented(routes: RouteTable, endpoints: list[str]) -> list[str]:
    """Those of ``endpoints`` whose rules the new app does not fully serve."""
    wanted = set(endpoints)
    return sorted({i.endpoint for i in routes.rows() if i.endpoint in wanted and not i.implemented})


def build_admin_app(
    prefix: str,
    token: str | None,
    routes: RouteTable,
    groups: Groups,
    store: FlagStore,
    shadow_stats: Callable[[], dict[str, Any]] | None = None,
    fallback_stats: Callable[[], dict[str, int]] | None = None,
) -> Starlette:
    """A small Starlette app answering the admin paths (full paths, prefix included)."""

    def authorized(request: Request) -> JSONResponse | None:
        if not token:
            return None
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("utf-8", "replace"), token.encode()
        ):
            return None
        return JSONResponse(
            {"error": "admin token required: send 'Authorization: Bearer <token>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "flags_version": store.table.version})

    async def list_routes(request: Request) -> JSONResponse:
        if denied := authorized(request):
            return denied
        return JSONResponse({"routes": route_rows(routes, groups, store.table)})

    async def list_flags(request: Request) -> JSONResponse:
        if denied := authorized(request):
            return denied
        table = store.table
        return JSONResponse(
            {
                "version": table.version,
                "source": table.source,
                "replica": REPLICA,
                "pid": os.getpid(),
                "default": str(table.default),
                "flags": table.as_texts(),
                "groups": {name: list(members) for name, members in groups.members.items()},
                "store": store.status(),
            }
        )

    async def flip(request: Request) -> JSONResponse:
        if denied := authorized(request):
            return denied
        key = request.path_params["key"]
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": 'body must be JSON like {"flag": "canary 10"}'}, 400)
        if not isinstance(body, dict) or "flag" not in body:
            return JSONResponse({"error": 'body must be JSON like {"flag": "canary 10"}'}, 400)
        try:
            endpoints = check_flip(routes, groups, key)
            flag = parse_flag(body["flag"])
        except (FlipRefused, FlagError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        try:
            table = await store.set_flag(key, flag)
        except FlagStoreUnavailable as exc:
            return JSONResponse({"error": str(exc)}, 503)
        warnings = []
        missing = unimplemented(routes, endpoints) if flag.kind != "legacy" else []
        if missing:
            warnings.append(f"the new app does not implement {', '.join(missing)}")
        return JSONResponse(
            {"key": key, "flag": str(flag), "version": table.version, "warnings": warnings}
        )

    async def shadow(request: Request) -> JSONResponse:
        if denied := authorized(request):
            return denied
        return JSONResponse({"shadow": shadow_stats() if shadow_stats else None})

    async def fallbacks(request: Request) -> JSONResponse:
        if denied := authorized(request):
            return denied
        by_route = fallback_stats() if fallback_stats else {}
        return JSONResponse({"total": sum(by_route.values()), "by_route": by_route})

    return Starlette(
        routes=[
            Route(f"{prefix}/health", health, methods=["GET"]),
            Route(f"{prefix}/routes", list_routes, methods=["GET"]),
            Route(f"{prefix}/flags", list_flags, methods=["GET"]),
            Route(f"{prefix}/flags/{{key}}", flip, methods=["PUT"]),
            Route(f"{prefix}/shadow", shadow, methods=["GET"]),
            Route(f"{prefix}/fallbacks", fallbacks, methods=["GET"]),
        ]
    )
