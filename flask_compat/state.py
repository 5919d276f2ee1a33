"""What flask_compat keeps per request, and the middleware that starts it.

Each request gets one ``RequestState`` in its scope: the kit serving it, a
fresh ``g``, and (built on first use) the WSGI environ, the Flask request
context and the URL adapters. A context variable points at the current one,
so ``g`` and the template ``url_for`` need no request argument, as in Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from flask.ctx import RequestContext, _AppCtxGlobals
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.routing import MapAdapter, Rule

from flask_compat.context import environ_from_scope, hostless_map
from flask_compat.errors import NotInstalled, OutsideRequest
from flask_compat.session import FlaskSessionView, raw_session

if TYPE_CHECKING:
    from flask_compat.compat import FlaskCompat

STATE_KEY = "flask_compat.state"
_current: ContextVar[RequestState] = ContextVar("flask_compat.request_state")


class RequestState:
    """One request, as flask_compat sees it. Created by the middleware (or on first use)."""

    def __init__(self, compat: FlaskCompat, scope: Scope) -> None:
        self.compat = compat
        self.scope = scope
        # Flask's own class, so g.get(), g.pop(), g.setdefault() and `in` work as in Flask.
        self.g: _AppCtxGlobals = compat.flask_app.app_ctx_globals_class()
        self._environ: dict[str, Any] | None = None
        self._flask_ctx: RequestContext | None = None
        self._new_adapter: MapAdapter | None = None
        self._flask_active = False

    @property
    def request(self) -> Request:
        """The Starlette request."""
        return Request(self.scope)

    @property
    def route_name(self) -> str | None:
        """The name of the FastAPI route that matched (the Flask endpoint it ports)."""
        return getattr(self.scope.get("route"), "name", None)

    @property
    def blueprint(self) -> str | None:
        """The blueprint of the matched route, from its name ("blog.index" -> "blog")."""
        name = self.route_name
        if not name or "." not in name:
            return None
        return name.rpartition(".")[0]

    def environ(self) -> dict[str, Any]:
        """The request as a WSGI environ (built once)."""
        if self._environ is None:
            self._environ = environ_from_scope(self.scope)
        return self._environ

    def new_url_adapter(self) -> MapAdapter:
        """The FastAPI app's routes bound to this request (host, root path, scheme)."""
        if self._new_adapter is None:
            self._new_adapter = self.compat.routes.bind(self.environ(), self.compat.flask_app)
        return self._new_adapter

    def legacy_url_adapter(self) -> MapAdapter:
        """The Flask app's ``url_map`` bound as Flask binds it for this request."""
        adapter = self.flask_request_context().url_adapter
        if adapter is None:
            # Flask refused the Host (malformed, or not in TRUSTED_HOSTS) and would answer
            # 400; FastAPI serves this request, and relative URLs need no host.
            adapter = hostless_map(self.compat.flask_app.url_map, self.environ())
        return adapter

    def flask_request_context(self) -> RequestContext:
        """Flask's request context for this request, sharing its session (built once)."""
        if self._flask_ctx is None:
            session = FlaskSessionView(raw_session(self.scope))
            # RequestContext takes the session directly, so Flask never opens one of its own.
            self._flask_ctx = RequestContext(self.compat.flask_app, self.environ(), session=session)
        return self._flask_ctx

    @contextmanager
    def flask_context(self) -> Iterator[RequestContext]:
        """Push Flask's app and request contexts for this request: ``flask.g`` is this
        request's ``g``, ``flask.session`` its session, ``flask.request`` a Flask view of it.

        Popping runs the Flask app's teardown functions, as the end of a Flask request does.
        """
        ctx = self.flask_request_context()
        if self._flask_active:
            yield ctx  # already pushed by an outer render of the same request
            return
        app_ctx = self.compat.flask_app.app_context()
        app_ctx.g = self.g
        app_ctx.push()
        try:
            ctx.push()
            try:
                self._route_flask_request(ctx)
                self._flask_active = True
                yield ctx
            finally:
                self._flask_active = False
                ctx.pop()
        finally:
            app_ctx.pop()

    def _route_flask_request(self, ctx: RequestContext) -> None:
        # Flask matched the path against its own url_map; the FastAPI route that
        # answers decides request.endpoint and request.blueprint(s) instead.
        name = self.route_name
        if not name:
            return
        rule = self.compat.routes.first_rule(name) or Rule("/", endpoint=name)
        ctx.request.url_rule = rule
        ctx.request.view_args = dict(self.scope.get("path_params") or {})
        ctx.request.routing_exception = None

    @contextmanager
    def current(self) -> Iterator[RequestState]:
        """Make this the current request state (for ``g`` and the template ``url_for``)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current_state() -> RequestState:
    """The state of the request being served.

    Raises ``OutsideRequest`` outside a request of an app with ``install()`` run on it.
    """
    try:
        return _current.get()
    except LookupError:
        raise OutsideRequest(
            "no FastAPI request is being served here: flask_compat's g and the template "
            "url_for work inside a request of an app that had FlaskCompat.install() run on it"
        ) from None


def state_for(request: Request) -> RequestState:
    """The state of ``request`` (created if the middleware has not run, as in unit tests).

    Raises ``NotInstalled`` if ``request.app`` never had ``FlaskCompat.install()`` run on it.
    """
    scope = request.scope
    state = scope.get(STATE_KEY)
    if isinstance(state, RequestState):
        return state
    state = RequestState(compat_of(request.app), scope)
    scope[STATE_KEY] = state
    return state


APP_STATE_ATTRIBUTE = "flask_compat"


def compat_of(app: Any) -> FlaskCompat:
    """The ``FlaskCompat`` installed on the FastAPI (or Starlette) ``app``.

    Raises ``NotInstalled`` if ``install()`` never ran on it.
    """
    compat = getattr(getattr(app, "state", None), APP_STATE_ATTRIBUTE, None)
    if compat is None:
        raise NotInstalled(
            f"{type(app).__name__} app has no flask_compat: call "
            "FlaskCompat(flask_app).install(fastapi_app) when building it"
        )
    return compat


class RequestStateMiddleware:
    """Pure ASGI: gives every HTTP and WebSocket request a fresh ``RequestState``.

    Installed by ``FlaskCompat.install()``; it only creates a small object, the
    Flask context and URL adapters are built when a render or ``url_for`` needs them.
    """

    def __init__(self, app: ASGIApp, compat: FlaskCompat) -> None:
        self.app = app
        self.compat = compat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = RequestState(self.compat, scope)
        scope[STATE_KEY] = state
        with state.current():
            await self.app(scope, receive, send)
