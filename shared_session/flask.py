"""The Flask side: a SessionInterface on the shared store (sync redis-py).

``install_flask_session(app)`` is the one call an app needs. ``flask.session``
keeps its semantics (modified, accessed, permanent, Vary: Cookie, flash());
``session.regenerate()`` moves the data to a new id (call it at login) and
``session.clear()`` ends the session on both frameworks (logout).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from shared_session.cookie import new_session_id
from shared_session.errors import SessionStoreUnavailable, SessionWriteRefused
from shared_session.settings import SessionSettings
from shared_session.state import READ_ONLY_SCOPE_KEY, SessionCore, SessionState
from shared_session.store import SyncStore, sync_store
from shared_session.store.base import SaveStatus

log = logging.getLogger("shared_session")

UNAVAILABLE_HTML = (
    "<!doctype html><title>503 Service Unavailable</title><h1>Service Unavailable</h1>"
    "<p>Sessions are briefly unavailable. Please try again in a few seconds.</p>"
)


class FlaskSession(CallbackDict[str, Any], SessionMixin):
    """``flask.session``: a dict that records access and changes."""

    modified = False
    accessed = False

    def __init__(self, initial: dict[str, Any], state: SessionState) -> None:
        def on_update(self: FlaskSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.state = state

    @property
    def sid(self) -> str | None:
        """The stored session's id (None until first saved)."""
        return self.state.sid

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)

    def regenerate(self) -> None:
        """Move the data to a new session id when saved (at login)."""
        self.state.regenerate = True
        self.modified = True

    def clear(self) -> None:
        """Delete the whole session, on both frameworks (logout)."""
        self.state.cleared = True
        super().clear()


class UnavailableSession(FlaskSession):
    """Stands in when the store is down: any use raises SessionStoreUnavailable,
    which the installed error handler turns into a 503. Pages that never touch
    the session keep working."""

    def __init__(self, error: SessionStoreUnavailable) -> None:
        super().__init__({}, SessionState(read_only=True))
        self.error = error

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    __getitem__ = __setitem__ = __delitem__ = __contains__ = __iter__ = __len__ = _fail
    get = setdefault = pop = popitem = update = clear = keys = items = values = _fail
    regenerate = _fail


def _app_keys(app: Flask) -> list[str]:
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    return [str(k) for k in [*fallbacks, app.config.get("SECRET_KEY")] if k]


class SharedSessionInterface(SessionInterface):
    """Flask session interface over the shared store."""

    session_class = FlaskSession

    def __init__(self, settings: SessionSettings, store: SyncStore, core: SessionCore) -> None:
        self.settings = settings
        self.store = store
        self.core = core

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        core = self.core
        identity = core.identify(request.cookies)
        read_only = bool(request.environ.get(READ_ONLY_SCOPE_KEY))
        try:
            stored = self.store.load(identity.sid) if identity.sid else None
            taken = None
            fields = None if stored or read_only else core.takeover_fields(identity)
            if fields and identity.legacy:
                taken = self.store.takeover(
                    identity.legacy.fingerprint,
                    new_session_id(identity.legacy.fingerprint),
                    fields,
                    core.takeover_ttl(identity.legacy),
                )
        except SessionStoreUnavailable as exc:
            log.error("session store unavailable while opening a session: %s", exc)
            return UnavailableSession(exc)
        data, state = core.opened(identity, stored, taken)
        state.read_only = read_only
        return FlaskSession(data, state)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, UnavailableSession) or not isinstance(session, FlaskSession):
            return
        state = session.state
        if session.accessed:
            response.vary.add("Cookie")
        plan = outcome = None
        if session.accessed or session.modified:
            plan = self.core.plan_save(state, session)
        try:
            if plan is not None:
                outcome = self.store.save(plan)
                if outcome.status is SaveStatus.COLLISION:
                    plan = self.core.retarget(plan)
                    outcome = self.store.save(plan)
        except SessionWriteRefused as exc:
            # Nothing was written and the handler's work is done: answer as
            # it did, without this request's session changes.
            assert plan is not None
            self.core.save_refused(plan, exc)
            plan = outcome = None
        except SessionStoreUnavailable as exc:
            log.error("session store unavailable while saving a session: %s", exc)
            make_unavailable(response, self.settings.retry_after)
            return
        if outcome is not None and outcome.status is SaveStatus.GONE:
            log.info("session ended meanwhile (logout elsewhere): changes not saved")
        for value in self.core.cookie_headers(
            state, plan, outcome, session, secure=request.is_secure
        ):
            response.headers.add("Set-Cookie", value)


def make_unavailable(response: Response, retry_after: int) -> None:
    """Turn a response that cannot be completed into the 503 page, in place."""
    response.status_code = 503
    response.set_data(UNAVAILABLE_HTML)
    response.mimetype = "text/html"
    response.headers["Retry-After"] = str(retry_after)
    response.headers.pop("Set-Cookie", None)


def _unavailable(error: SessionStoreUnavailable) -> tuple[str, int, dict[str, str]]:
    interface = current_app.session_interface
    retry_after = (
        interface.settings.retry_after if isinstance(interface, SharedSessionInterface) else 5
    )
    return UNAVAILABLE_HTML, 503, {"Retry-After": str(retry_after)}


def install_flask_session(
    app: Flask, settings: SessionSettings | None = None, store: SyncStore | None = None
) -> SharedSessionInterface:
    """Make ``app`` keep its sessions in the shared store; returns the interface.

    Signing keys are ``settings.secret_keys`` or else the app's
    SECRET_KEY_FALLBACKS + SECRET_KEY. Raises SessionConfigError when there
    is no key at all. Registers a 503 handler for SessionStoreUnavailable
    (register your own afterwards to replace the page).
    """
    settings = settings or SessionSettings()
    app_keys = _app_keys(app)
    keys = settings.keys() or app_keys
    flask_keys = [k.get_secret_value() for k in settings.flask_secret_keys] or app_keys or keys
    interface = SharedSessionInterface(
        settings, store or sync_store(settings), SessionCore(settings, keys, flask_keys)
    )
    app.session_interface = interface
    app.register_error_handler(SessionStoreUnavailable, _unavailable)
    return interface
