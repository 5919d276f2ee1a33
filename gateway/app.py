"""The gateway: one ASGI app in front of the legacy and the new app.

Per request, a straight line: request id -> admin paths -> route table match
-> flag decision (override > flag state > canary bucket) -> exactly one
backend -> response carrying ``X-Served-By``. Everything is compiled at start;
the request path reads only memory.

Run it with ``uvicorn gateway.app:create_gateway --factory`` or
``gunicorn -k uvicorn_worker.UvicornWorker 'gateway.app:create_gateway()'``.
"""

from __future__ import annotations

import gc
import logging
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin import build_admin_app
from gateway.bucketing import (
    bucket_cookie_header,
    in_canary,
    is_valid_bucket_id,
    new_bucket_id,
    read_cookie,
)
from gateway.flags import Flag, FlagTable, Groups, parse_flag
from gateway.flagstore import FlagStore, build_flag_store
from gateway.loading import load_asgi_app, load_flask_app
from gateway.override import Override
from gateway.routes import RouteTable, app_routes
from gateway.settings import GatewaySettings

log = logging.getLogger("gateway")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class GatewayConfigError(Exception):
    """The settings and the apps do not fit together; the message says what to fix."""


class Backend(Protocol):
    """What the gateway needs from a backend (see gateway/backends)."""

    name: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def aclose(self) -> None: ...


class Gateway:
    """The ASGI app. Build it with ``create_gateway``; it runs its own lifespan."""

    def __init__(
        self,
        settings: GatewaySettings,
        routes: RouteTable,
        groups: Groups,
        store: FlagStore,
        legacy: Backend,
        new: Backend,
        shadow: Any | None = None,
        fallback: Callable[..., Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.groups = groups
        self.store = store
        self.legacy = legacy
        self.new = new
        self.shadow = shadow
        self.fallback = fallback
        self.fallbacks: Counter[str] = Counter()  # per endpoint
        self.override = Override(
            settings.override_secret.get_secret_value() if settings.override_secret else None
        )
        self._fallback_keys = frozenset(settings.fallback)
        self._prefix = settings.admin_prefix.rstrip("/")
        self._prefix_slash = self._prefix + "/"
        self._rid_header = settings.request_id_header.lower().encode("latin-1")
        self._override_header = settings.override_header.lower().encode("latin-1")
        self._own_headers = frozenset(
            {b"x-served-by", b"x-request-id", b"x-gateway-flags-version", self._rid_header}
        )
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self.admin: ASGIApp = build_admin_app(
            self._prefix,
            token,
            routes,
            groups,
            store,
            shadow_stats=shadow.stats if shadow is not None else None,
            fallback_stats=lambda: dict(self.fallbacks),
        )

    @property
    def fallback_count(self) -> int:
        """How many requests the legacy app answered for a failing new app."""
        return self.fallbacks.total()

    # --- lifecycle ----------------------------------------------------
    async def startup(self) -> None:
        """Load flags and start the backends and the shadow runner."""
        await self.store.start()
        for part in (self.legacy, self.new, self.shadow):
            start = getattr(part, "start", None)
            if start is not None:
                await start()
        # Both apps' start-up objects (modules, routes, templates) live for the
        # whole process: keep them out of every later garbage collection.
        gc.collect()
        gc.freeze()

    async def shutdown(self) -> None:
        for part in (self.shadow, self.new, self.legacy, self.store):
            if part is not None:
                try:
                    await part.aclose()
                except Exception:
                    log.exception("closing %r failed", part)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- requests -----------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            return

        # One pass over the headers for everything the gateway reads.
        request_id: str | None = None
        cookie_parts: list[str] = []
        override_value: str | None = None
        for name, value in scope["headers"]:
            if name == self._rid_header:
                request_id = value.decode("latin-1")
            elif name == b"cookie":
                cookie_parts.append(value.decode("latin-1"))
            elif name == self._override_header:
                override_value = value.decode("latin-1")
        if request_id is None or not _SANE_REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
            headers = [(n, v) for n, v in scope["headers"] if n != self._rid_header]
            headers.append((self._rid_header, request_id.encode("ascii")))
            scope = {**scope, "headers": headers}
        table = self.store.table  # one snapshot per request: header and decision agree
        extra: list[tuple[bytes, bytes]] = [
            (b"x-request-id", request_id.encode("ascii")),
            (b"x-gateway-flags-version", str(table.version).encode("ascii")),
        ]
        if self._rid_header != b"x-request-id":
            extra.append((self._rid_header, request_id.encode("ascii")))

        path = _route_path(scope)
        if path == self._prefix or path.startswith(self._prefix_slash):
            await self.admin(
                scope, receive, _with_headers(send, [*extra, (b"x-served-by", b"gateway")])
            )
            return

        try:
            side, key, endpoint = self._decide(
                scope, path, table, "; ".join(cookie_parts), override_value, extra
            )
        except Exception:  # never let hostile input turn into a gateway 500
            log.exception("routing decision failed for %r; serving legacy", path[:200])
            side, key, endpoint = "legacy", None, None

        own = self._own_headers
        # Shadowed requests are answered by legacy; a fallback rewrites this too.
        served = ["legacy" if side == "shadow" else side]

        def on_fallback() -> None:
            served[0] = "legacy"
            self.fallbacks[endpoint or "?"] += 1
            log.warning("new app failed on %s; answered by legacy (fallback)", endpoint)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The gateway's own headers replace any the app set (no duplicates).
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in own]
                headers.append((b"x-served-by", served[0].encode("ascii")))
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        if side == "shadow" and self.shadow is not None:
            await self.shadow.serve(scope, receive, send_wrapper, primary=self.legacy, route=key)
        elif side == "new":
            if self.fallback is not None and (
                key in self._fallback_keys or endpoint in self._fallback_keys
            ):
                await self.fallback(
                    scope, receive, send_wrapper, self.new, self.legacy, on_fallback
                )
            else:
                await self.new(scope, receive, send_wrapper)
        else:
            await self.legacy(scope, receive, send_wrapper)

    def _decide(
        self,
        scope: Scope,
        path: str,
        table: FlagTable,
        cookies: str,
        override_value: str | None,
        extra: list[tuple[bytes, bytes]],
    ) -> tuple[str, str | None, str | None]:
        """(side, flag key, endpoint): side is "legacy", "new" or "shadow"."""
        match = self.routes.match(path, scope.get("method", "GET"), scope["type"] == "websocket")
        if match.target != "flag":
            return match.target, None, match.endpoint
        endpoint = match.endpoint
        assert endpoint is not None
        key = self.groups.key_for(endpoint)
        if override_value is None and cookies:
            override_value = read_cookie(cookies, self.settings.override_cookie)
        if override_value is not None:
            forced = self.override.check(override_value)
            if forced is not None:
                return forced, key, endpoint
        flag: Flag = table.flag_for(key)
        if flag.kind != "canary":
            return flag.kind, key, endpoint
        bucket_id = read_cookie(cookies, self.settings.bucket_cookie) if cookies else None
        if not is_valid_bucket_id(bucket_id):
            bucket_id = new_bucket_id()
            extra.append(
                (
                    b"set-cookie",
                    bucket_cookie_header(
                        self.settings.bucket_cookie, bucket_id, self.settings.bucket_cookie_secure
                    ),
                )
            )
        assert bucket_id is not None
        return ("new" if in_canary(bucket_id, key, flag.basis_points) else "legacy"), key, endpoint


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return wrapped


def create_gateway(
    settings: GatewaySettings | None = None,
    *,
    legacy_app: object | None = None,
    new_app: object | None = None,
    legacy_backend: Backend | None = None,
    new_backend: Backend | None = None,
    store: FlagStore | None = None,
) -> Gateway:
    """Build the gateway from settings (read from the environment when None).

    The apps are loaded from ``settings.legacy_app`` / ``settings.new_app``
    unless given; backends come from ``gateway.backends`` unless given (tests
    pass small ASGI apps). Raises AppLoadError when an app cannot be loaded,
    GatewayConfigError when groups or flags name unknown routes, and FlagError
    for a malformed configured flag.
    """
    settings = settings or GatewaySettings()
    if legacy_app is None:
        source = settings.legacy_app or settings.legacy_url_map
        legacy_app = load_flask_app(source) if source else None
    if new_app is None:
        new_app = load_asgi_app(settings.new_app)

    legacy_map = getattr(legacy_app, "url_map", None)
    if legacy_map is None:
        log.warning(
            "no legacy url_map (set legacy_url_map): every path but new-only ones is legacy"
        )
    routes = RouteTable(legacy_map, app_routes(new_app))
    groups = _check_config(settings, routes, legacy_map is not None)

    if legacy_backend is None or new_backend is None:
        from gateway.backends import build_legacy_backend, build_new_backend

        legacy_backend = legacy_backend or build_legacy_backend(settings, legacy_app)
        new_backend = new_backend or build_new_backend(settings, new_app)

    shadow = None
    try:
        from gateway.shadow import ShadowRunner
    except ImportError:
        log.warning(
            "gateway.shadow not available: routes flagged 'shadow' are served by legacy only"
        )
    else:
        shadow = ShadowRunner(settings, new_backend)
    fallback = None
    try:
        from gateway.fallback import serve_with_fallback as fallback
    except ImportError:
        if settings.fallback:
            log.warning("gateway.fallback not available: settings.fallback is ignored")

    return Gateway(
        settings,
        routes,
        groups,
        store or build_flag_store(settings),
        legacy_backend,
        new_backend,
        shadow=shadow,
        fallback=fallback,
    )


def _check_config(settings: GatewaySettings, routes: RouteTable, know_legacy: bool) -> Groups:
    try:
        groups = Groups.from_settings(settings.groups)
    except ValueError as exc:
        raise GatewayConfigError(str(exc)) from exc
    for text in [settings.default_flag, *settings.flags.values()]:
        parse_flag(text)
    if not know_legacy:
        return groups
    known = routes.legacy_endpoints
    for name, members in groups.members.items():
        unknown = sorted(set(members) - known)
        if unknown:
            raise GatewayConfigError(f"group {name!r} names unknown legacy routes {unknown}")
    for key in settings.flags:
        if key not in known and key not in groups.members:
            raise GatewayConfigError(f"flags: {key!r} is neither a legacy route nor a group")
        if key in groups.group_of:
            raise GatewayConfigError(
                f"flags: {key!r} moves with group {groups.group_of[key]!r}; set the group's flag"
            )
    return groups
