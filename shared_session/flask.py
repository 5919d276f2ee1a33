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

from shared_session import unavailable
from shared_session.cookie import CookieSigner, new_session_id
from shared_session.errors import SessionStoreUnavailable, SessionWriteRefused
from shared_session.flask_config import check_flask_config
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


def _app_keys(app: Flask) -> list[str | bytes]:
    """SECRET_KEY_FALLBACKS + SECRET_KEY of ``app``, newest last (str or bytes, as Flask)."""
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    return [k if isinstance(k, (str, bytes)) else str(k) for k in [*fallbacks, app.secret_key] if k]


def _current_app_keys() -> list[str | bytes]:
    # Per request, as Flask does: a SECRET_KEY changed after install signs,
    # SECRET_KEY_FALLBACKS added later verify.
    return _app_keys(current_app)


class SharedSessionInterface(SessionInterface):
    """Flask session interface over the shared store."""

    session_class = FlaskSession

    def __init__(self, settings: SessionSettings, store: SyncStore, core: SessionCore) -> None:
        self.settings = settings
        self.store = store
        self.core = core
        self.config_checked = False

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        if not self.config_checked:
            # Again at the first request: config set after install counts too.
            check_flask_config(app.config, self.settings)
            self.config_checked = True
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

    # Flask's cookie hooks, answered for the shared cookie (for extensions
    # that ask the interface); SessionSettings decides, on both sides.

    def get_cookie_name(self, app: Flask) -> str:
        return self.settings.cookie_name

    def get_cookie_domain(self, app: Flask) -> str | None:
        return self.settings.cookie_domain

    def get_cookie_path(self, app: Flask) -> str:
        return self.settings.cookie_path

    def get_cookie_httponly(self, app: Flask) -> bool:
        return self.settings.cookie_httponly

    def get_cookie_secure(self, app: Flask) -> bool:
        s = self.settings
        if s.cookie_samesite == "none" or s.cookie_partitioned:
            return True  # required by browsers; set_cookie_header does the same
        if s.cookie_secure is not None:
            return s.cookie_secure
        return bool(request) and request.is_secure

    def get_cookie_samesite(self, app: Flask) -> str | None:
        samesite = self.settings.cookie_samesite
        return samesite.capitalize() if samesite else None

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return self.settings.cookie_partitioned


def make_unavailable(response: Response, retry_after: int) -> None:
    """Turn a response that cannot be completed into the 503 page, in place."""
    response.status_code = 503
    response.set_data(UNAVAILABLE_HTML)
    response.mimetype = "text/html"
    response.headers["Retry-After"] = str(retry_after)
    response.headers[unavailable.HEADER] = unavailable.VALUE
    response.headers.pop("Set-Cookie", None)


def _unavailable(error: SessionStoreUnavailable) -> tuple[str, int, dict[str, str]]:
    interface = current_app.session_interface
    retry_after = (
        interface.settings.retry_after if isinstance(interface, SharedSessionInterface) else 5
    )
    headers = {"Retry-After": str(retry_after), unavailable.HEADER: unavailable.VALUE}
    return UNAVAILABLE_HTML, 503, headers


def install_flask_session(
    app: Flask, settings: SessionSettings | None = None, store: SyncStore | None = None
) -> SharedSessionInterface:
    """Make ``app`` keep its sessions in the shared store; returns the interface.

    Signing keys are ``settings.secret_keys`` or else the app's
    SECRET_KEY_FALLBACKS + SECRET_KEY, read on every request as Flask does
    (a key changed after install takes effect; a cookie signed with a
    fallback is accepted and re-signed with SECRET_KEY). Legacy Flask cookies
    are verified with ``settings.flask_secret_keys`` or else the same app keys.

    Raises SessionConfigError when there is no key at all, or when one of
    Flask's session settings (SESSION_COOKIE_*, APPLICATION_ROOT,
    PERMANENT_SESSION_LIFETIME, SESSION_REFRESH_EACH_REQUEST) disagrees with
    ``settings`` (the message names both). Registers a 503 handler for
    SessionStoreUnavailable (register your own afterwards to replace the page).
    """
    settings = settings or SessionSettings()
    check_flask_config(app.config, settings)
    configured = settings.keys()
    configured_flask = [k.get_secret_value() for k in settings.flask_secret_keys]

    def legacy_keys() -> list[str | bytes]:
        return _current_app_keys() or configured

    if not configured:
        CookieSigner(_app_keys(app))  # raises SessionConfigError without any key
    core = SessionCore(
        settings,
        configured or _current_app_keys,
        configured_flask or legacy_keys,
    )
    interface = SharedSessionInterface(settings, store or sync_store(settings), core)
    app.session_interface = interface
    app.register_error_handler(SessionStoreUnavailable, _unavailable)
    return interface
