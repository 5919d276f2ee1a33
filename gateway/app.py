"""The gateway: one ASGI app in front of the legacy and the new app.

Per request, a straight line: request id -> admin paths -> route table match
-> flag decision (override > flag state > canary bucket) -> one Decision ->
its backend -> response carrying ``X-Served-By``. Everything is compiled at
start; the request path reads only memory.

Run it with ``uvicorn gateway.app:create_gateway --factory`` or
``gunicorn -k uvicorn_worker.UvicornWorker 'gateway.app:create_gateway()'``.
"""

from __future__ import annotations

import gc
import logging
import re
import uuid
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin.api import AdminAPI
from gateway.admin.auth import AdminAuth, AdminTokenError
from gateway.admin.listener import AdminListener
from gateway.backends.label import ServedBy
from gateway.bucketing import (
    bucket_cookie_header,
    in_canary,
    is_valid_bucket_id,
    new_bucket_id,
    read_cookie,
)
from gateway.decision import DECISION_KEY, Decision
from gateway.fallback import Fallback
from gateway.flags import FlagTable, GroupError, Groups
from gateway.flagstore import FlagStore, MemoryFlagStore, build_flag_store
from gateway.flips import FlipRules, GatewayConfigError
from gateway.loading import load_asgi_app, load_flask_app
from gateway.override import Override
from gateway.processes import server_worker_count
from gateway.readiness import Readiness
from gateway.routes import RouteTable, app_routes
from gateway.settings import GatewaySettings, parse_host_port
from gateway.shadow import Shadowed, ShadowRunner

log = logging.getLogger("gateway")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_CONNECTION_CLOSE = (b"connection", b"close")

__all__ = ["Gateway", "GatewayConfigError", "create_gateway"]


class Backend(Protocol):
    """What the gateway needs from a backend (see gateway/backends)."""

    name: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Gateway:
    """The ASGI app. Build it with ``create_gateway``; it runs its own lifespan."""

    def __init__(
        self,
        settings: GatewaySettings,
        rules: FlipRules,
        store: FlagStore,
        legacy: Backend,
        new: Backend,
        *,
        auth: AdminAuth,
        shadow: ShadowRunner | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.routes = rules.routes
        self.groups: Groups = rules.groups
        self.store = store
        self.legacy_backend = legacy
        self.new_backend = new
        self.shadow = shadow
        self.readiness = Readiness(settings.drain_seconds)
        self.override = Override(
            settings.override_secret.get_secret_value() if settings.override_secret else None
        )
        # The backends a decision can name, built once: each labels its answers.
        self.legacy: ASGIApp = ServedBy(legacy, "legacy")
        self.new: ASGIApp = ServedBy(new, "new")
        self.fallback = Fallback(self.new, self.legacy)
        self.shadowed: ASGIApp = Shadowed(shadow, self.legacy) if shadow else self.legacy
        self._fallback_keys = frozenset(settings.fallback)

        self._prefix = settings.admin_prefix.rstrip("/")
        self._prefix_slash = self._prefix + "/"
        self._rid_header = settings.request_id_header.lower().encode("latin-1")
        self._override_header = settings.override_header.lower().encode("latin-1")
        self._own_headers = frozenset(
            {b"x-request-id", b"x-gateway-flags-version", self._rid_header}
        )

        def admin_api(probes_only: bool) -> AdminAPI:
            return AdminAPI(
                self._prefix,
                auth,
                rules,
                store,
                self.readiness,
                shadow_stats=shadow.stats if shadow is not None else None,
                fallback_stats=lambda: self.fallback.counts,
                probes_only=probes_only,
            )

        self.listener: AdminListener | None = None
        if settings.admin_listen:
            host, port = parse_host_port(settings.admin_listen)
            self.listener = AdminListener(admin_api(probes_only=False), host, port)
            self.admin: ASGIApp = admin_api(probes_only=True)
        else:
            self.admin = admin_api(probes_only=False)

    @property
    def fallback_count(self) -> int:
        """How many requests the legacy app answered for a failing new app."""
        return self.fallback.counts.total()

    # --- lifecycle ----------------------------------------------------
    async def startup(self) -> None:
        """Load flags, start the backends (the new app's lifespan), shadow and admin listener.

        Raises whatever fails (LifespanError from the new app, AdminListenerError...).
        """
        await self.store.start()
        await self.legacy_backend.start()
        await self.new_backend.start()
        if self.shadow is not None:
            await self.shadow.start()
        if self.listener is not None:
            await self.listener.start()
        # Both apps' start-up objects (modules, routes, templates) live for the
        # whole process: keep them out of every later garbage collection.
        gc.collect()
        gc.freeze()
        self.readiness.install()
        self.readiness.mark_ready()

    async def shutdown(self) -> None:
        parts = (self.listener, self.shadow, self.new_backend, self.legacy_backend, self.store)
        for part in parts:
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
                    await self.shutdown()
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
            scope["headers"] = headers
        table = self.store.table  # one snapshot per request: header and decision agree

        path = _route_path(scope)
        if path == self._prefix or path.startswith(self._prefix_slash):
            extra = self._own(request_id, table, (b"x-served-by", b"gateway"))
            await self.admin(scope, receive, self._with_headers(send, extra))
            return

        try:
            decision = self._decide(scope, path, table, "; ".join(cookie_parts), override_value)
        except Exception:  # never let hostile input turn into a gateway 500
            log.exception("routing decision failed for %r; serving legacy", path[:200])
            decision = Decision(self.legacy)
        scope[DECISION_KEY] = decision
        extra = self._own(request_id, table, decision.set_cookie)
        await decision.backend(scope, receive, self._with_headers(send, extra))

    def _own(
        self, request_id: str, table: FlagTable, more: tuple[bytes, bytes] | bytes | None
    ) -> list[tuple[bytes, bytes]]:
        """The headers the gateway adds to every answer."""
        rid = request_id.encode("ascii")
        extra = [(b"x-request-id", rid), (b"x-gateway-flags-version", b"%d" % table.version)]
        if self._rid_header != b"x-request-id":
            extra.append((self._rid_header, rid))
        if isinstance(more, tuple):
            extra.append(more)
        elif more is not None:
            extra.append((b"set-cookie", more))
        if self.readiness.draining:
            extra.append(_CONNECTION_CLOSE)  # move clients off this process while it drains
        return extra

    def _with_headers(self, send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
        own = self._own_headers

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The gateway's own headers replace any the app set (no duplicates).
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in own]
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        return send_wrapper

    def _decide(
        self,
        scope: Scope,
        path: str,
        table: FlagTable,
        cookies: str,
        override_value: str | None,
    ) -> Decision:
        match = self.routes.match(path, scope.get("method", "GET"), scope["type"] == "websocket")
        if match.target != "flag":
            backend = self.new if match.target == "new" else self.legacy
            return Decision(backend, None, match.endpoint)
        endpoint = match.endpoint
        assert endpoint is not None
        key = self.groups.key_for(endpoint)
        if override_value is None and cookies:
            override_value = read_cookie(cookies, self.settings.override_cookie)
        if override_value is not None:
            forced = self.override.check(override_value)
            if forced is not None:
                return Decision(self._side(forced, key, endpoint), key, endpoint)
        flag = table.flag_for(key)
        if flag.kind != "canary":
            return Decision(self._side(flag.kind, key, endpoint), key, endpoint)
        bucket_id = read_cookie(cookies, self.settings.bucket_cookie) if cookies else None
        set_cookie = None
        if not is_valid_bucket_id(bucket_id):
            bucket_id = new_bucket_id()
            set_cookie = bucket_cookie_header(
                self.settings.bucket_cookie, bucket_id, self.settings.bucket_cookie_secure
            )
        assert bucket_id is not None
        side = "new" if in_canary(bucket_id, key, flag.basis_points) else "legacy"
        return Decision(self._side(side, key, endpoint), key, endpoint, set_cookie)

    def _side(self, side: str, key: str, endpoint: str) -> ASGIApp:
        if side == "new":
            if key in self._fallback_keys or endpoint in self._fallback_keys:
                return self.fallback
            return self.new
        if side == "shadow":
            return self.shadowed
        return self.legacy


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


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

    The apps are loaded from ``settings.legacy_app`` (or ``legacy_url_map``)
    and ``settings.new_app`` unless given; backends come from
    ``gateway.backends`` unless given (tests pass small ASGI apps). Raises
    GatewayConfigError when an app is not configured, when groups or flags name
    unknown routes, when admin tokens are malformed, or when flags would be kept
    in memory by several worker processes; AppLoadError when an app cannot be
    loaded; FlagError for a malformed configured flag.
    """
    settings = settings or GatewaySettings()
    if legacy_app is None:
        source = settings.legacy_app or settings.legacy_url_map
        if source:
            legacy_app = load_flask_app(source)
        elif legacy_backend is None and not settings.legacy_upstream:
            raise GatewayConfigError(
                "no legacy app: set GATEWAY_LEGACY_APP to your Flask app's import string "
                "(e.g. 'yourapp:create_app()') or GATEWAY_LEGACY_UPSTREAM to its URL"
            )
    if new_app is None:
        if not settings.new_app:
            raise GatewayConfigError(
                "no new app: set GATEWAY_NEW_APP to your FastAPI app's import string "
                "(e.g. 'yourapp_fastapi:app' or 'yourapp_fastapi:create_app()')"
            )
        new_app = load_asgi_app(settings.new_app)

    legacy_map = getattr(legacy_app, "url_map", None)
    if legacy_map is None:
        log.warning(
            "no legacy url_map (set legacy_url_map): every path but new-only ones is legacy"
        )
    try:
        groups = Groups.from_settings(settings.groups)
        auth = AdminAuth.from_settings(settings)
    except (GroupError, AdminTokenError) as exc:
        raise GatewayConfigError(str(exc)) from exc
    rules = FlipRules(RouteTable(legacy_map, app_routes(new_app)), groups)
    rules.check_configured(settings.flags, settings.default_flag)
    if auth.closed:
        log.warning("the admin API is closed: %s", "set GATEWAY_ADMIN_TOKEN to use it")

    store = store or build_flag_store(settings)
    _refuse_split_memory_flags(store, server_worker_count())

    if legacy_backend is None or new_backend is None:
        from gateway.backends import build_legacy_backend, build_new_backend

        legacy_backend = legacy_backend or build_legacy_backend(settings, legacy_app)
        new_backend = new_backend or build_new_backend(settings, new_app)

    return Gateway(
        settings,
        rules,
        store,
        legacy_backend,
        new_backend,
        auth=auth,
        shadow=ShadowRunner(settings, new_backend),
    )


def _refuse_split_memory_flags(store: FlagStore, workers: int | None) -> None:
    """Flags in memory under several workers would be one table per worker."""
    if isinstance(store, MemoryFlagStore) and workers is not None and workers > 1:
        raise GatewayConfigError(
            f"flags are kept in memory but the server runs {workers} workers: each would keep "
            "its own flags and a flip would reach one of them. Set REDIS_URL (or "
            "GATEWAY_REDIS_URL) so every worker shares the flags, or run one worker."
        )
