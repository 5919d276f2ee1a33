"""The gateway: one ASGI app in front of the legacy and the new app.

Per request, a straight line: request id -> admin paths -> route table match
-> flag decision (override > flag state > canary bucket) -> one Decision ->
its backend -> response carrying ``X-Served-By``. Everything is compiled at
start; the request path reads only memory.

Run it with ``uvicorn gateway.app:create_gateway --factory`` or
``gunicorn -k uvicorn_worker.UvicornWorker 'gateway.app:create_gateway()'``.
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from werkzeug.routing import Map

from gateway.admin.api import AdminAPI, DoctorReport
from gateway.admin.auth import AdminAuth, AdminTokenError
from gateway.admin.listener import AdminListener
from gateway.automatic import AUTOMATIC_METHODS, AutomaticMethods
from gateway.backends.label import SERVED_BY, ServedBy
from gateway.bucketing import (
    bucket_cookie_header,
    in_canary,
    is_valid_bucket_id,
    new_bucket_id,
    read_cookie,
)
from gateway.decision import DECISION_KEY, Decision
from gateway.direct_call import direct_call
from gateway.doctor_facts import doctor_report
from gateway.fallback import Fallback
from gateway.flags import FlagTable, GroupError, Groups
from gateway.flagstore import FlagStore, MemoryFlagStore, build_flag_store
from gateway.flips import FlipRules, GatewayConfigError
from gateway.loading import load_asgi_app, load_flask_app
from gateway.observing import SESSION_DOWN_HEADER, SESSION_DOWN_STATUS
from gateway.observing import SIDES as _SIDES
from gateway.operator import OperatorPlane
from gateway.override import Override
from gateway.processes import server_worker_count, under_uvicorn_supervisor
from gateway.readiness import Readiness
from gateway.request_ids import RequestIds, is_sane
from gateway.routefile import RouteFileError, read_routes_file
from gateway.routes import RouteTable, app_routes
from gateway.settings import GatewaySettings, parse_host_port
from gateway.shadow import Shadowed, ShadowRunner

log = logging.getLogger("gateway")
# uvicorn's exit code for a worker that cannot start (uvicorn.config.STARTUP_FAILURE).
_STARTUP_FAILURE = 3

_CONNECTION_CLOSE = (b"connection", b"close")
_X_REQUEST_ID = b"x-request-id"
LEGACY, NEW = b"legacy", b"new"
_REMEMBERED_DECISIONS = 4096
_REMEMBER_PATHS_UP_TO = 256
GATEWAY_LABEL = (SERVED_BY, b"gateway")
_clock = time.perf_counter

Headers = tuple[tuple[bytes, bytes], ...]
# What the gateway remembers per (path, method, websocket) and flag table:
# the decision, the headers it adds besides the request id's (flags version,
# label, a bucket cookie), the side metrics count it under ("" when the
# backend labels its own answers), the header names the answer's own
# headers must not repeat, and the decision's backend to call (see
# gateway/direct_call.py).
Route = tuple[Decision, Headers, str, frozenset[bytes], ASGIApp]

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
        doctor: DoctorReport | None = None,
        operator: OperatorPlane | None = None,
    ) -> None:
        self.settings = settings
        self.operator = operator or OperatorPlane(settings, rules, store)
        self.observer = self.operator.observer
        self.rules = rules
        self.routes = rules.routes
        self.groups: Groups = rules.groups
        self.store = store
        self.legacy_backend = legacy
        self.new_backend = new
        self.shadow = shadow
        self.readiness = Readiness(settings.drain_seconds)
        self.request_ids = RequestIds()
        # Decisions that depend only on (path, method, websocket) and the flag
        # table: remembered until the table changes (bounded, short paths only).
        self._decisions: dict[tuple[str, str, bool], Route] = {}
        self._decided_for: FlagTable | None = None
        self._versioned: FlagTable | None = None
        self._version_header = (b"x-gateway-flags-version", b"0")
        self._override_cookie = settings.override_cookie
        self.override = Override(
            settings.override_secret.get_secret_value() if settings.override_secret else None
        )
        # What a decision can name, built once. Fallback may switch sides
        # mid-request, so its backends label their own answers.
        self.fallback = Fallback(ServedBy(new, "new"), ServedBy(legacy, "legacy"))
        self.shadowed: ASGIApp = Shadowed(shadow, legacy) if shadow else legacy
        # Each backend a decision can name, bound for a direct call, once.
        self._direct = {
            id(app): direct_call(app) for app in (legacy, new, self.fallback, self.shadowed)
        }
        # HEAD and OPTIONS as Flask answers them, for routes of the new app
        # without their own (gateway/automatic.py): decided with the route.
        self.automatic = AutomaticMethods(self.routes.new_routes)
        self.fallback.on_fallback = self.operator.fallback
        if shadow is not None:
            shadow.on_result = self.operator.shadow_result
            shadow.replay_app = self._shadow_replay_app
        self._fallback_keys = frozenset(settings.fallback)

        self._prefix = settings.admin_prefix.rstrip("/")
        self._prefix_slash = self._prefix + "/"
        self._rid_header = settings.request_id_header.lower().encode("latin-1")
        self._override_header = settings.override_header.lower().encode("latin-1")
        self._custom_rid = self._rid_header != _X_REQUEST_ID
        own = {_X_REQUEST_ID, b"x-gateway-flags-version", self._rid_header}
        self._own_headers = frozenset(own)
        self._read_headers = frozenset({self._rid_header, b"cookie", self._override_header})
        self._own_and_label = frozenset({*own, SERVED_BY})

        def admin_api(probes_only: bool) -> AdminAPI:
            return AdminAPI(
                self._prefix,
                auth,
                rules,
                store,
                self.readiness,
                flips=self.operator.flips,
                audit=self.operator.audit,
                metrics=self.operator.metrics,
                shadow_stats=shadow.snapshot if shadow is not None else None,
                fallback_stats=lambda: self.fallback.counts,
                doctor=doctor,
                probes_only=probes_only,
                dashboard_session_seconds=settings.dashboard_session_seconds,
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
        self.request_ids.reseed()  # this worker's own prefix, after any fork
        await self.store.start()
        await self.operator.start()
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
        parts = (
            self.listener,
            self.shadow,
            self.new_backend,
            self.legacy_backend,
            self.operator,
            self.store,
        )
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
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
                return
            if kind != "websocket":
                return

        # One pass over the headers for everything the gateway reads.
        request_id: str | None = None
        cookie_parts: list[str] | None = None
        override_value: str | None = None
        read = self._read_headers
        for name, value in scope["headers"]:
            if name not in read:  # most headers: one set lookup
                continue
            if name == self._rid_header:
                request_id = value.decode("latin-1")
            elif name == b"cookie":
                if cookie_parts is None:
                    cookie_parts = []
                cookie_parts.append(value.decode("latin-1"))
            elif name == self._override_header:
                override_value = value.decode("latin-1")
        if request_id is None or not is_sane(request_id):
            rid = self.request_ids.next()
            headers = scope["headers"]
            if request_id is not None:
                headers = [(n, v) for n, v in headers if n != self._rid_header]
            scope["headers"] = [*headers, (self._rid_header, rid)]
        else:
            rid = request_id.encode("ascii")
        table = self.store.table  # one snapshot per request: header and decision agree

        path: str = scope.get("path", "/")
        if scope.get("root_path"):
            path = _route_path(scope)
        if path.startswith(self._prefix) and (
            path == self._prefix or path.startswith(self._prefix_slash)
        ):
            tail = self._tail(table, GATEWAY_LABEL)
            send = self._with_headers(send, self._ids(rid, tail), self._own_and_label)
            await self.admin(scope, receive, send)
            return

        route: Route | None = None
        if override_value is None and not cookie_parts and table is self._decided_for:
            # The common case, _decide's remembered route without the call.
            route = self._decisions.get((path, scope.get("method", "GET"), kind == "websocket"))
        if route is None:
            route = self._route(scope, path, table, cookie_parts or [], override_value)
        decision, tail, side, replaced, backend = route
        scope[DECISION_KEY] = decision
        if self._custom_rid or self.readiness.state == "draining":
            extra = self._ids(rid, tail)
        else:  # the common case of _ids, without the call
            extra = ((_X_REQUEST_ID, rid), *tail)
        observer = self.observer
        if observer is None or kind != "http":
            await backend(scope, receive, self._with_headers(send, extra, replaced))
            return

        # Metrics and rollback windows see the answer's end. Counted here, in
        # the send wrapper the headers need anyway, rather than through
        # RequestObserver.__call__: one coroutine and one call per message less.
        started = _clock()
        status = 0

        def observed_send(message: Message) -> Awaitable[None]:
            nonlocal status, side
            if message["type"] == "http.response.start":
                status = message["status"]
                app_headers = message.get("headers", ())
                if status == 503 and SESSION_DOWN_HEADER in app_headers:
                    status = SESSION_DOWN_STATUS  # counted apart: no fault of the backend
                if not side:  # fallback labels its own answers
                    for name, value in app_headers:
                        if name == SERVED_BY:
                            side = _SIDES.get(value, "")
                headers = [h for h in app_headers if h[0] not in replaced]
                headers += extra
                # A copy, never the app's own dict: an app may send one constant
                # start message on every request (nothing of one may reach the next).
                return send({**message, "headers": headers})
            return send(message)

        try:
            await backend(scope, receive, observed_send)
        except BaseException:
            status = status or 500  # a backend that raises before answering: a 500
            raise
        finally:
            if status:  # a client gone before any answer is not counted
                observer.count(decision.endpoint, side, status, _clock() - started)

    def _ids(self, rid: bytes, tail: Headers) -> Headers:
        """All the headers the gateway adds: the request id's, then ``tail``."""
        if not self._custom_rid:
            extra = ((_X_REQUEST_ID, rid), *tail)
        else:
            extra = ((_X_REQUEST_ID, rid), (self._rid_header, rid), *tail)
        if self.readiness.state == "draining":
            extra += (_CONNECTION_CLOSE,)  # move clients off this process while it drains
        return extra

    def _tail(
        self, table: FlagTable, label: tuple[bytes, bytes] | None, set_cookie: bytes | None = None
    ) -> Headers:
        """The headers the gateway adds to an answer besides the request id's."""
        if table is not self._versioned:  # formatted once per flag table, not per request
            self._versioned = table
            self._version_header = (b"x-gateway-flags-version", b"%d" % table.version)
        tail: Headers = (self._version_header,)
        if label is not None:
            tail += (label,)
        if set_cookie is not None:
            tail += ((b"set-cookie", set_cookie),)
        return tail

    def _route_of(self, decision: Decision, table: FlagTable) -> Route:
        """What the request path needs of a decision, worked out once per decision."""
        backend = self._direct.get(id(decision.backend))
        if backend is None:
            backend = direct_call(decision.backend)
        if decision.served_by is None:  # the backend labels its own answers
            tail = self._tail(table, None, decision.set_cookie)
            return decision, tail, "", self._own_headers, backend
        label = (SERVED_BY, decision.served_by)
        tail = self._tail(table, label, decision.set_cookie)
        side = _SIDES.get(decision.served_by, "")
        return decision, tail, side, self._own_and_label, backend

    @staticmethod
    def _with_headers(send: Send, extra: Headers, own: frozenset[bytes]) -> Send:
        # A plain function handing on send's awaitable: no coroutine of its own
        # per message (the body messages pass straight through).
        def send_wrapper(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                # The gateway's own headers replace any the app set (no duplicates).
                # ASGI header names are lowercase (the spec requires it of apps).
                headers = [h for h in message.get("headers", ()) if h[0] not in own]
                headers += extra
                # A copy, never the app's own dict: an app may send one constant
                # start message on every request (nothing of one may reach the next).
                return send({**message, "headers": headers})
            return send(message)

        return send_wrapper

    def _route(
        self,
        scope: Scope,
        path: str,
        table: FlagTable,
        cookie_parts: list[str],
        override_value: str | None,
    ) -> Route:
        try:
            return self._decide(scope, path, table, "; ".join(cookie_parts), override_value)
        except Exception:  # never let hostile input turn into a gateway 500
            log.exception("routing decision failed for %r; serving legacy", path[:200])
            return self._route_of(Decision(self.legacy_backend, LEGACY), table)

    def _decide(
        self,
        scope: Scope,
        path: str,
        table: FlagTable,
        cookies: str,
        override_value: str | None,
    ) -> Route:
        method: str = scope.get("method", "GET")
        websocket = scope["type"] == "websocket"
        overridable = override_value is not None or self._override_cookie in cookies
        if not overridable:
            if table is not self._decided_for:
                self._decisions, self._decided_for = {}, table
            found = self._decisions.get((path, method, websocket))
            if found is not None:
                return found
        decision, pure = self._decide_now(path, method, websocket, table, cookies, override_value)
        if method in AUTOMATIC_METHODS and not websocket:  # never a GET's cost
            decision = self._automatic(decision, path, method)
        route = self._route_of(decision, table)
        if pure and not overridable and len(path) <= _REMEMBER_PATHS_UP_TO:
            if len(self._decisions) >= _REMEMBERED_DECISIONS:
                self._decisions.clear()  # a flood of distinct paths: start over
            self._decisions[(path, method, websocket)] = route
        return route

    def _automatic(self, decision: Decision, path: str, method: str) -> Decision:
        """A HEAD or OPTIONS for the new app, answered like Flask's where the app has none."""
        if decision.backend is not self.new_backend and decision.backend is not self.fallback:
            return decision
        backend = self.automatic.wrap(decision.backend, path, method)
        if backend is decision.backend:
            return decision
        return replace(decision, backend=backend)

    def _shadow_replay_app(self, scope: Scope, new: ASGIApp) -> ASGIApp:
        """Where a shadow replay goes: the new app, with Flask's HEAD and OPTIONS."""
        return self.automatic.wrap(new, _route_path(scope), scope.get("method", "GET"))

    def _decide_now(
        self,
        path: str,
        method: str,
        websocket: bool,
        table: FlagTable,
        cookies: str,
        override_value: str | None,
    ) -> tuple[Decision, bool]:
        """The decision, and whether it depends on nothing but path, method and table."""
        match = self.routes.match(path, method, websocket)
        if match.target == "new":
            return Decision(self.new_backend, NEW, None, match.endpoint), True
        if match.target != "flag":
            return Decision(self.legacy_backend, LEGACY, None, match.endpoint), True
        endpoint = match.endpoint
        assert endpoint is not None
        key = self.groups.key_for(endpoint)
        if override_value is None and cookies:
            override_value = read_cookie(cookies, self._override_cookie)
        if override_value is not None:
            forced = self.override.check(override_value)
            if forced is not None:
                return self._side(forced, key, endpoint), False
        flag = table.flag_for(key)
        if flag.kind != "canary":
            return self._side(flag.kind, key, endpoint), True
        bucket_id = read_cookie(cookies, self.settings.bucket_cookie) if cookies else None
        set_cookie = None
        if not is_valid_bucket_id(bucket_id):
            bucket_id = new_bucket_id()
            set_cookie = bucket_cookie_header(
                self.settings.bucket_cookie, bucket_id, self.settings.bucket_cookie_secure
            )
        assert bucket_id is not None
        side = "new" if in_canary(bucket_id, key, flag.basis_points) else "legacy"
        return self._side(side, key, endpoint, set_cookie), False

    def _side(
        self, side: str, key: str, endpoint: str, set_cookie: bytes | None = None
    ) -> Decision:
        if side == "new":
            if key in self._fallback_keys or endpoint in self._fallback_keys:
                return Decision(self.fallback, None, key, endpoint, set_cookie)
            return Decision(self.new_backend, NEW, key, endpoint, set_cookie)
        if side == "shadow":
            return Decision(self.shadowed, LEGACY, key, endpoint, set_cookie)
        return Decision(self.legacy_backend, LEGACY, key, endpoint, set_cookie)


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


def _stops_uvicorns_supervisor[**P](build: Callable[P, Gateway]) -> Callable[P, Gateway]:
    """``build``, except that under uvicorn's ``--workers`` supervisor an error is
    logged and the worker exits with code 3: the one exit that supervisor does not
    answer with a new worker (which would fail the same way, for ever)."""

    @functools.wraps(build)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> Gateway:
        try:
            return build(*args, **kwargs)
        except Exception:
            if not under_uvicorn_supervisor():
                raise
            log.exception("the gateway cannot start")
            raise SystemExit(_STARTUP_FAILURE) from None

    return guarded


@_stops_uvicorns_supervisor
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
    and ``settings.new_app`` unless given, each from its source root when one
    is set; in upstream mode ``legacy_routes_file`` gives the legacy routes
    without importing anything; backends come from
    ``gateway.backends`` unless given (tests pass small ASGI apps). Raises
    GatewayConfigError when an app is not configured, when groups or flags name
    unknown routes, when admin tokens are malformed, or when flags would be kept
    in memory by several worker processes; AppLoadError when an app cannot be
    loaded; FlagError for a malformed configured flag.

    Under uvicorn's ``--workers`` supervisor any of these is logged and the
    worker exits with code 3 instead, the one exit that supervisor does not
    answer with a new worker (which would fail the same way, for ever).
    """
    settings = settings or GatewaySettings()
    legacy_map: Map | None = None
    if legacy_app is None:
        source = settings.legacy_app or settings.legacy_url_map
        if settings.legacy_routes_file:
            try:
                legacy_map = read_routes_file(settings.legacy_routes_file)
            except RouteFileError as exc:
                raise GatewayConfigError(str(exc)) from exc
        elif source:
            legacy_app = load_flask_app(source, settings.legacy_source_root)
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
        new_app = load_asgi_app(settings.new_app, settings.new_source_root)

    legacy_map = legacy_map or getattr(legacy_app, "url_map", None)
    if legacy_map is None:
        log.warning(
            "no legacy url_map (set legacy_routes_file or legacy_url_map): every path but "
            "new-only ones is legacy"
        )
    try:
        groups = Groups.from_settings(settings.groups)
        auth = AdminAuth.from_settings(settings)
    except (GroupError, AdminTokenError) as exc:
        raise GatewayConfigError(str(exc)) from exc
    rules = FlipRules(RouteTable(legacy_map, app_routes(new_app)), groups, settings.admin_prefix)
    rules.check_configured(settings.flags, settings.default_flag)
    if auth.closed:
        log.warning("the admin API is closed: %s", "set GATEWAY_ADMIN_TOKEN to use it")

    store = store or build_flag_store(settings)
    workers = server_worker_count()
    _refuse_split_memory_flags(store, workers)

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
        doctor=doctor_report(settings, legacy_app, new_app, workers),
        operator=OperatorPlane(settings, rules, store, workers=workers),
    )


def _refuse_split_memory_flags(store: FlagStore, workers: int | None) -> None:
    """Flags in memory under several workers would be one table per worker."""
    if isinstance(store, MemoryFlagStore) and workers is not None and workers > 1:
        raise GatewayConfigError(
            f"flags are kept in memory but the server runs {workers} workers: each would keep "
            "its own flags and a flip would reach one of them. Set REDIS_URL (or "
            "GATEWAY_REDIS_URL) so every worker shares the flags, or run one worker."
        )
