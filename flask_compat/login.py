"""Flask-Login's session contract on the FastAPI side, and two fixes for the Flask side.

Flask-Login 0.6 keeps, in the session both apps share:

- ``_user_id``: the logged-in user's id; ``_fresh``: False once restored
  from the remember-me cookie or flagged by session protection;
- ``_id``: the session-protection identifier (sha512 of the remote address
  and user agent); ``_remember`` ("set"/"clear") and ``_remember_seconds``:
  what to do with the remember-me cookie on the next Flask response;
- the remember-me cookie itself, ``REMEMBER_COOKIE_NAME`` (default
  ``remember_token``): ``"<user id>|<HMAC-SHA512 of it keyed by SECRET_KEY>"``.

``FlaskLogin(flask_app)`` reads those, checks session protection exactly as
Flask-Login does, and loads users with a loader the FastAPI app registers.
``bridge_flask_login(flask_app)``, called in the Flask app's factory, moves
the session to a new id at every ``login_user()`` (a server-side session
keeps its id otherwise: a fixation risk cookie sessions did not have) and
deletes the remember-me cookie at every ``logout_user()``, even when the
view clears the session afterwards.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from hashlib import sha512
from typing import Annotated, Any, NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import flask
from fastapi import Depends
from flask import Flask
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from flask_compat.errors import FlaskCompatError
from flask_compat.session import flash as compat_flash
from flask_compat.session import scope_session
from flask_compat.state import state_for
from flask_compat.urls import url_for

# Flask-Login's own names and defaults (flask_login.config).
SESSION_KEYS = ("_user_id", "_remember", "_remember_seconds", "_id", "_fresh", "next")
COOKIE_NAME = "remember_token"
COOKIE_DURATION = timedelta(days=365)
EXEMPT_METHODS = frozenset({"OPTIONS"})
_USER_CACHE_KEY = "flask_compat.login.user"
_FORGET_FLAG = "_flask_compat_forget_remember"

UserLoader = Callable[[str], Any]


class LoginNotConfigured(FlaskCompatError):
    """The Flask app has no Flask-Login ``LoginManager``, or no user loader was registered."""


class LoginRedirect(HTTPException):
    """Raised by ``login_required`` for an anonymous user when a login view is set: a 302
    to it. ``FlaskLogin.install()`` answers it with a plain redirect; without it,
    Starlette's default handler still sends the 302 with its ``Location``."""

    def __init__(self, location: str) -> None:
        super().__init__(302, detail="Log in to see this page.", headers={"Location": location})
        self.location = location


def session_identifier(remote_addr: str | None, user_agent: str | None) -> str:
    """Flask-Login's ``_create_identifier`` for these values (the session's ``_id``)."""
    address = (
        remote_addr.encode("utf-8").split(b",")[0].strip() if remote_addr is not None else None
    )
    agent = user_agent.encode("utf-8") if user_agent is not None else None
    # Flask-Login formats the bytes themselves ("b'127.0.0.1'|b'Mozilla...'"); keep that.
    return sha512(f"{address}|{agent}".encode()).hexdigest()


def request_identifier(request: Request) -> str:
    """The session-protection identifier of ``request``, as Flask-Login computes it."""
    client = request.client.host if request.client else None
    remote = request.headers.get("X-Forwarded-For", client)
    return session_identifier(remote, request.headers.get("User-Agent"))


def _key(secret_key: str | bytes) -> bytes:
    return secret_key.encode("latin1") if isinstance(secret_key, str) else secret_key


def encode_remember_cookie(user_id: str, secret_key: str | bytes) -> str:
    """Flask-Login's remember-me cookie value for ``user_id``."""
    digest = hmac.new(_key(secret_key), user_id.encode("utf-8"), sha512).hexdigest()
    return f"{user_id}|{digest}"


def decode_remember_cookie(cookie: str, secret_key: str | bytes) -> str | None:
    """The user id in a remember-me cookie, or None if it is not signed with ``secret_key``."""
    payload, separator, digest = cookie.rpartition("|")
    if not separator:
        return None
    expected = hmac.new(_key(secret_key), payload.encode("utf-8"), sha512).hexdigest()
    return payload if hmac.compare_digest(expected, digest) else None


def make_next_param(login_url: str, current_url: str) -> str:
    """Flask-Login's ``make_next_param``: the current URL, reduced to path and query
    when it is on the login URL's host."""
    login, current = urlsplit(login_url), urlsplit(current_url)
    if (not login.scheme or login.scheme == current.scheme) and (
        not login.netloc or login.netloc == current.netloc
    ):
        return urlunsplit(("", "", current.path, current.query, ""))
    return current_url


class FlaskLogin:
    """The Flask app's Flask-Login, seen from FastAPI: dependencies and login/logout helpers.

    ::

        login = FlaskLogin(flask_app)   # after LoginManager().init_app(flask_app)
        login.install(fastapi_app)      # after FlaskCompat(flask_app).install(fastapi_app)

        @login.user_loader
        def load_user(user_id: str) -> User | None: ...

        @app.get("/settings")
        def settings(user: User = Depends(login.login_required)): ...

    Settings are read from the Flask app on every request, as Flask-Login does:
    ``SESSION_PROTECTION``, ``REMEMBER_COOKIE_*``, ``USE_SESSION_FOR_NEXT``,
    ``LOGIN_DISABLED``, and the manager's ``login_view``, ``blueprint_login_views``,
    messages and ``refresh_view``. Raises ``LoginNotConfigured`` if the Flask app has
    no ``LoginManager``.
    """

    def __init__(self, flask_app: Flask) -> None:
        if getattr(flask_app, "login_manager", None) is None:
            raise LoginNotConfigured(
                "the Flask app has no Flask-Login LoginManager: call "
                "LoginManager().init_app(flask_app) before FlaskLogin(flask_app)"
            )
        self.flask_app = flask_app
        self._loader: UserLoader | None = None

    @property
    def manager(self) -> Any:
        """The Flask app's ``LoginManager``."""
        return self.flask_app.login_manager  # type: ignore[attr-defined]

    def install(self, fastapi_app: Starlette) -> None:
        """Answer ``LoginRedirect`` on ``fastapi_app`` with a plain 302 (no JSON body), and
        record this bridge on the app for the module-level dependencies (``CurrentUser``,
        ``login_required``) that converted views use."""
        fastapi_app.add_exception_handler(LoginRedirect, _redirect)
        fastapi_app.state.flask_compat_login = self

    @classmethod
    def of(cls, fastapi_app: Any) -> FlaskLogin:
        """The bridge installed on ``fastapi_app``; raises ``LoginNotConfigured`` if none."""
        state = getattr(fastapi_app, "state", None)
        found = getattr(state, "flask_compat_login", None)
        if not isinstance(found, FlaskLogin):
            raise LoginNotConfigured(
                "no Flask-Login bridge on this FastAPI app: call "
                "FlaskLogin(flask_app).install(fastapi_app) and register a user_loader"
            )
        return found

    def user_loader(self, loader: UserLoader) -> UserLoader:
        """Register the FastAPI side's loader: ``user_id -> user or None`` (sync or async).
        Returns it, so it works as a decorator."""
        self._loader = loader
        return loader

    # Reading the session -------------------------------------------------------

    def user_id(self, request: Request) -> str | None:
        """The logged-in user's id after session protection, or None (no loader needed)."""
        session = scope_session(request.scope)
        if self._protection_failed(request, session):
            return None
        user_id = session.get("_user_id")
        return None if user_id is None else str(user_id)

    def is_fresh(self, request: Request) -> bool:
        """Flask-Login's ``login_fresh()``: the session's ``_fresh``."""
        return bool(scope_session(request.scope).get("_fresh", False))

    async def current_user(self, request: Request) -> Any | None:
        """Dependency: the logged-in user from the registered loader, or None.

        Restores a login from the remember-me cookie as Flask-Login does. Cached for the
        request. Raises ``LoginNotConfigured`` if no loader was registered.
        """
        scope = request.scope
        if _USER_CACHE_KEY in scope:
            return scope[_USER_CACHE_KEY]
        if self._loader is None:
            raise LoginNotConfigured(
                "no user loader on the FastAPI side: decorate a function "
                "`def load_user(user_id: str)` with @FlaskLogin.user_loader"
            )
        user = None
        user_id = self.user_id(request)
        if user_id is not None:
            user = await self._load(user_id)
        if user is None:
            user = await self._load_from_remember_cookie(request)
        scope[_USER_CACHE_KEY] = user
        return user

    async def login_required(self, request: Request) -> Any:
        """Dependency: the logged-in user; for anyone else Flask-Login's ``unauthorized()``:
        a redirect to the login view (``LoginRedirect``, with the login message flashed
        and ``next``), or 401 when no login view is set."""
        user = await self.current_user(request)
        if user is None and not self._exempt(request):
            self._refuse(request, self._login_view(request), refresh=False)
        return user

    async def fresh_login_required(self, request: Request) -> Any:
        """Dependency: as ``login_required``, and the login must be fresh (not restored from
        the remember-me cookie); otherwise Flask-Login's ``needs_refresh()``."""
        user = await self.login_required(request)
        if user is not None and not self.is_fresh(request) and not self._exempt(request):
            self._refuse(request, self.manager.refresh_view, refresh=True)
        return user

    # Writing the session ------------------------------------------------------

    def login_user(
        self,
        request: Request,
        user_id: str,
        *,
        remember: bool = False,
        duration: timedelta | None = None,
        fresh: bool = True,
        response: Response | None = None,
    ) -> None:
        """Log ``user_id`` in, with the keys Flask-Login's ``login_user()`` writes, under a
        new session id. With ``remember`` and a ``response``, the remember-me cookie is set
        on it; without a response the next Flask response sets it, as Flask-Login would.
        """
        session = scope_session(request.scope)
        session["_user_id"] = str(user_id)
        session["_fresh"] = fresh
        session["_id"] = request_identifier(request)
        if remember:
            session["_remember"] = "set"
            if duration is not None:
                session["_remember_seconds"] = duration.total_seconds()
        regenerate = getattr(session, "regenerate", None)
        if callable(regenerate):
            regenerate()  # a new id at login defeats session fixation
        if remember and response is not None:
            session.pop("_remember", None)
            self.set_remember_cookie(response, str(user_id), duration)
        request.scope.pop(_USER_CACHE_KEY, None)

    def logout_user(self, request: Request, response: Response) -> None:
        """Log out on both apps: end the shared session and delete the remember-me cookie
        on ``response``, so the next Flask request does not log the user back in."""
        scope_session(request.scope).clear()
        self.delete_remember_cookie(response)
        request.scope[_USER_CACHE_KEY] = None

    def set_remember_cookie(
        self, response: Response, user_id: str, duration: timedelta | None = None
    ) -> None:
        """Set the remember-me cookie as Flask-Login's ``_set_cookie`` does."""
        config = self.flask_app.config
        if duration is None:
            configured = config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
            # Flask-Login accepts seconds or a timedelta.
            duration = (
                configured if isinstance(configured, timedelta) else timedelta(seconds=configured)
            )
        response.set_cookie(
            config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME),
            encode_remember_cookie(user_id, config["SECRET_KEY"]),
            expires=datetime.now(UTC) + duration,
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            secure=bool(config.get("REMEMBER_COOKIE_SECURE", False)),
            httponly=bool(config.get("REMEMBER_COOKIE_HTTPONLY", True)),
            samesite=config.get("REMEMBER_COOKIE_SAMESITE"),
        )

    def delete_remember_cookie(self, response: Response) -> None:
        """Delete the remember-me cookie (name, path and domain from ``REMEMBER_COOKIE_*``)."""
        config = self.flask_app.config
        response.delete_cookie(
            config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME),
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
        )

    # Flask-Login's rules -------------------------------------------------------

    def _protection_failed(self, request: Request, session: MutableMapping[str, Any]) -> bool:
        # LoginManager._session_protection_failed, on the shared session.
        mode = self.flask_app.config.get("SESSION_PROTECTION", self.manager.session_protection)
        if mode not in ("basic", "strong"):
            return False
        if not session or request_identifier(request) == session.get("_id"):
            return False
        if mode == "basic" or session.get("_permanent", False):
            if session.get("_fresh") is not False:
                session["_fresh"] = False
            return False
        for key in SESSION_KEYS:
            session.pop(key, None)
        session["_remember"] = "clear"  # the next Flask response deletes the cookie
        return True

    async def _load(self, user_id: str) -> Any | None:
        assert self._loader is not None
        if inspect.iscoroutinefunction(self._loader):
            return await self._loader(user_id)
        # A loader usually queries a database: keep it off the event loop.
        return await run_in_threadpool(self._loader, user_id)

    async def _load_from_remember_cookie(self, request: Request) -> Any | None:
        config = self.flask_app.config
        session = scope_session(request.scope)
        cookie = request.cookies.get(config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME))
        if cookie is None or session.get("_remember") == "clear":
            return None
        user_id = decode_remember_cookie(cookie, config["SECRET_KEY"])
        if user_id is None:
            return None
        session["_user_id"] = user_id
        session["_fresh"] = False
        return await self._load(user_id)

    def _exempt(self, request: Request) -> bool:
        return request.method in EXEMPT_METHODS or bool(self.flask_app.config.get("LOGIN_DISABLED"))

    def _login_view(self, request: Request) -> str | None:
        blueprint = state_for(request).blueprint
        views: dict[str | None, str] = self.manager.blueprint_login_views
        return views.get(blueprint, self.manager.login_view)

    def _refuse(self, request: Request, view: str | None, *, refresh: bool) -> NoReturn:
        # LoginManager.unauthorized() / needs_refresh(): flash, then redirect with next.
        if not view:
            raise HTTPException(401)
        manager = self.manager
        message = manager.needs_refresh_message if refresh else manager.login_message
        category = (
            manager.needs_refresh_message_category if refresh else manager.login_message_category
        )
        if message:
            if manager.localize_callback is not None:
                message = manager.localize_callback(message)
            compat_flash(request, message, category)
        login_url = self._expand(request, view)
        current_url = state_for(request).flask_request_context().request.url
        config = self.flask_app.config
        if config.get("USE_SESSION_FOR_NEXT", False):
            session = scope_session(request.scope)
            session["_id"] = request_identifier(request)
            session["next"] = make_next_param(login_url, current_url)
            raise LoginRedirect(login_url)
        raise LoginRedirect(self._with_next(login_url, current_url))

    def _expand(self, request: Request, view: str) -> str:
        if view.startswith(("https://", "http://", "/")):
            return view
        return url_for(request, view)

    def _with_next(self, login_url: str, next_url: str) -> str:
        # flask_login.login_url(login_view, next_url)
        parsed = urlsplit(login_url)
        query = parse_qs(parsed.query, keep_blank_values=True)
        query["next"] = [make_next_param(login_url, next_url)]
        netloc = self.flask_app.config.get("FORCE_HOST_FOR_REDIRECTS") or parsed.netloc
        return urlunsplit(parsed._replace(netloc=netloc, query=urlencode(query, doseq=True)))


async def current_user_or_anonymous(request: Request) -> Any:
    """Dependency: Flask-Login's ``current_user`` as Flask views see it: the logged-in
    user, or the LoginManager's anonymous user (``is_authenticated`` False) instead of
    None. Uses the bridge installed on ``request.app``; raises ``LoginNotConfigured``."""
    login = FlaskLogin.of(request.app)
    user = await login.current_user(request)
    return user if user is not None else login.manager.anonymous_user()


async def login_required(request: Request) -> Any:
    """Dependency: ``FlaskLogin.login_required`` of the bridge installed on ``request.app``
    (what Flask-Login's ``@login_required`` becomes: ``dependencies=[Depends(login_required)]``)."""
    return await FlaskLogin.of(request.app).login_required(request)


async def fresh_login_required(request: Request) -> Any:
    """Dependency: ``FlaskLogin.fresh_login_required`` of the installed bridge."""
    return await FlaskLogin.of(request.app).fresh_login_required(request)


# `def view(current_user: CurrentUser)`: the Flask view's `current_user`, as a parameter.
CurrentUser = Annotated[Any, Depends(current_user_or_anonymous)]


async def _redirect(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRedirect)
    return RedirectResponse(error.location, 302)


def bridge_flask_login(flask_app: Flask) -> None:
    """Call in the Flask app's factory (after ``LoginManager().init_app``). On Flask-Login's
    signals: ``user_logged_in`` moves the session to a new id (``session.regenerate()``,
    when the session has it, as shared_session's does); ``user_logged_out`` makes the
    response delete the remember-me cookie even if the view then clears the session.

    Idempotent. Raises ``LoginNotConfigured`` if Flask-Login is not installed.
    """
    try:
        from flask_login.signals import user_logged_in, user_logged_out
    except ImportError as error:
        raise LoginNotConfigured("bridge_flask_login needs Flask-Login installed") from error
    if flask_app.extensions.get("flask_compat.login"):
        return
    flask_app.extensions["flask_compat.login"] = True
    user_logged_in.connect(_regenerate_session, flask_app, weak=False)
    user_logged_out.connect(_forget_remember_cookie, flask_app, weak=False)
    flask_app.after_request(_delete_forgotten_cookie)


def _regenerate_session(sender: Flask, **extra: Any) -> None:
    regenerate = getattr(flask.session, "regenerate", None)
    if callable(regenerate):
        regenerate()


def _forget_remember_cookie(sender: Flask, **extra: Any) -> None:
    setattr(flask.g, _FORGET_FLAG, True)


def _delete_forgotten_cookie(response: flask.Response) -> flask.Response:
    config = flask.current_app.config
    name = config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    # With "_remember" still in the session, Flask-Login's own after_request deletes it.
    if (
        flask.g.get(_FORGET_FLAG)
        and name in flask.request.cookies
        and "_remember" not in flask.session
    ):
        response.delete_cookie(
            name,
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
        )
    return response


__all__ = [
    "CurrentUser",
    "FlaskLogin",
    "LoginNotConfigured",
    "LoginRedirect",
    "bridge_flask_login",
    "current_user_or_anonymous",
    "decode_remember_cookie",
    "encode_remember_cookie",
    "fresh_login_required",
    "login_required",
    "make_next_param",
    "request_identifier",
    "session_identifier",
]
