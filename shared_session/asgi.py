"""The ASGI side: pure ASGI middleware giving ``request.session`` (redis.asyncio).

The session is loaded before the endpoint runs, so synchronous readers such
as authlib's Starlette client work; it is saved when the response starts.
``request.session`` is a Starlette 1.x ``Session`` (dict-like, accessed and
modified flags, ``Vary: Cookie``) with ``regenerate()``; ``clear()`` ends
the session on both frameworks.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import Session as StarletteSession
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_session import unavailable
from shared_session.cookie import new_session_id
from shared_session.errors import (
    SessionConfigError,
    SessionStoreUnavailable,
    SessionWriteRefused,
)
from shared_session.settings import SessionSettings
from shared_session.state import (
    PERMANENT_KEY,
    READ_ONLY_SCOPE_KEY,
    SessionCore,
    SessionState,
)
from shared_session.store import AsyncStore, async_store
from shared_session.store.base import SaveOutcome, SavePlan, SaveStatus

log = logging.getLogger("shared_session")

UNAVAILABLE_HTML = (
    b"<!doctype html><title>503 Service Unavailable</title><h1>Service Unavailable</h1>"
    b"<p>Sessions are briefly unavailable. Please try again in a few seconds.</p>"
)


class Session(StarletteSession):
    """``request.session``: Starlette's Session plus regenerate()."""

    state: SessionState

    @property
    def sid(self) -> str | None:
        """The stored session's id (None until first saved)."""
        return self.state.sid

    @property
    def permanent(self) -> bool:
        """Flask's ``session.permanent``, stored under ``_permanent`` as Flask does.

        Set, it decides the cookie on both sides (False: a browser-session
        cookie). Unset, it reads False as in Flask (Flask-Login's strong
        session protection relies on that) and ``cookie_persistent`` decides.
        """
        return bool(self.get(PERMANENT_KEY, False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self[PERMANENT_KEY] = bool(value)

    def regenerate(self) -> None:
        """Move the data to a new session id when saved (at login)."""
        self.state.regenerate = True
        self.mark_modified()

    def clear(self) -> None:
        """Delete the whole session, on both frameworks (logout)."""
        self.state.cleared = True
        super().clear()


class SessionMiddleware:
    """Shared-store sessions for any ASGI app.

    ``unavailable_app`` answers when the store is down (default: a 503 page
    with Retry-After). A scope with ``scope["shared_session.read_only"]`` set
    reads the session but never writes it or sets a cookie (shadow traffic).
    Raises SessionConfigError at construction when no secret key is set.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: SessionSettings | None = None,
        store: AsyncStore | None = None,
        unavailable_app: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or SessionSettings()
        keys = self.settings.keys()
        if not keys:
            raise SessionConfigError(
                "SessionMiddleware needs secret keys: set SHARED_SESSION_SECRET_KEYS "
                "(JSON list, newest last), the same as the Flask side's"
            )
        flask_keys = [k.get_secret_value() for k in self.settings.flask_secret_keys] or keys
        self.core = SessionCore(self.settings, keys, flask_keys)
        self.store = store or async_store(self.settings)
        self.unavailable_app = unavailable_app or self._unavailable

    async def _unavailable(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"retry-after", str(self.settings.retry_after).encode()),
                    (b"content-length", str(len(UNAVAILABLE_HTML)).encode()),
                    unavailable.ASGI_HEADER,
                ],
            }
        )
        await send({"type": "http.response.body", "body": UNAVAILABLE_HTML})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_store(send))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            session = await self._open(scope)
        except SessionStoreUnavailable as exc:
            log.error("session store unavailable while opening a session: %s", exc)
            if scope["type"] == "http":
                await self.unavailable_app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1013})
            return
        scope["session"] = session
        secure = scope.get("scheme") in ("https", "wss")
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the 503 page went out instead of the app's response
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if session.accessed:
                    headers.add_vary_header("Cookie")
                try:
                    cookies = await self._save(session, secure)
                except SessionStoreUnavailable as exc:
                    log.error("session store unavailable while saving a session: %s", exc)
                    replaced = True
                    await self.unavailable_app(scope, _no_body, send)
                    return
                for value in cookies:
                    headers.append("set-cookie", value)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _closing_store(self, send: Send) -> Send:
        """Close the store's connections once the app has shut down."""

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.store.aclose()
            await send(message)

        return send_wrapper

    async def _open(self, scope: Scope) -> Session:
        core = self.core
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies.update(cookie_parser(value.decode("latin-1")))
        identity = core.identify(cookies)
        read_only = bool(scope.get(READ_ONLY_SCOPE_KEY))
        stored = await self.store.load(identity.sid) if identity.sid else None
        taken = None
        fields = None if stored or read_only else core.takeover_fields(identity)
        if fields and identity.legacy:
            taken = await self.store.takeover(
                identity.legacy.fingerprint,
                new_session_id(identity.legacy.fingerprint),
                fields,
                core.takeover_ttl(identity.legacy),
            )
        data, state = core.opened(identity, stored, taken)
        state.read_only = read_only
        session = Session(data)
        session.state = state
        return session

    async def _save(self, session: Session, secure: bool) -> list[str]:
        plan: SavePlan | None = None
        outcome: SaveOutcome | None = None
        if session.accessed or session.modified:
            plan = self.core.plan_save(session.state, session)
        try:
            if plan is not None:
                outcome = await self.store.save(plan)
                if outcome.status is SaveStatus.COLLISION:
                    plan = self.core.retarget(plan)
                    outcome = await self.store.save(plan)
        except SessionWriteRefused as exc:
            # Nothing was written and the handler's work is done: answer as
            # it did, without this request's session changes.
            assert plan is not None
            self.core.save_refused(plan, exc)
            plan = outcome = None
        if outcome is not None and outcome.status is SaveStatus.GONE:
            log.info("session ended meanwhile (logout elsewhere): changes not saved")
        return self.core.cookie_headers(session.state, plan, outcome, session, secure=secure)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}
