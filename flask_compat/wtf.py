"""Flask-WTF's CSRF tokens on the FastAPI side: check them, and issue ones Flask-WTF accepts.

The contract (Flask-WTF 1.x, ``flask_wtf.csrf``):

- the raw token (sha1 hex of 64 random bytes) lives in
  ``session[WTF_CSRF_FIELD_NAME]`` (default ``"csrf_token"``);
- forms and headers carry it signed:
  ``URLSafeTimedSerializer(WTF_CSRF_SECRET_KEY or SECRET_KEY,
  salt="wtf-csrf-token").dumps(raw)``, valid ``WTF_CSRF_TIME_LIMIT``
  seconds (3600; None for no limit);
- it is read from the form field (or one ending in the field name, for
  prefixed forms), then from the ``WTF_CSRF_HEADERS`` (``X-CSRFToken``,
  ``X-CSRF-Token``), on ``WTF_CSRF_METHODS`` (POST, PUT, PATCH, DELETE);
- one signed token per request, cached in ``g.<field name>``.

Templates rendered through flask_compat call Flask-WTF's own ``csrf_token()``
(``CSRFProtect`` registers it on the Flask app's Jinja environment), in the
same request ``g`` and session as ``FlaskCSRF``: one token per request,
accepted by both apps.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from flask import Flask
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request

from flask_compat.errors import FlaskCompatError
from flask_compat.session import scope_session
from flask_compat.state import state_for

SALT = "wtf-csrf-token"
# CSRFProtect.init_app's defaults, used when the Flask app has not set them.
DEFAULTS: dict[str, Any] = {
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_METHODS": {"POST", "PUT", "PATCH", "DELETE"},
    "WTF_CSRF_FIELD_NAME": "csrf_token",
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    "WTF_CSRF_TIME_LIMIT": 3600,
    "WTF_CSRF_SSL_STRICT": True,
}


class CSRFError(HTTPException):
    """400: the request's CSRF token is missing, expired, invalid or not this session's.
    ``reason`` is Flask-WTF's own message for the same failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, detail=reason)
        self.reason = reason


class CSRFNotConfigured(FlaskCompatError):
    """Neither ``WTF_CSRF_SECRET_KEY`` nor ``SECRET_KEY`` is set on the Flask app."""


class FlaskCSRF:
    """Flask-WTF's ``CSRFProtect`` for FastAPI routes, configured by the Flask app's config.

    ::

        csrf = FlaskCSRF(flask_app)   # FlaskCompat(flask_app) must be installed too

        @app.post("/posts", dependencies=[Depends(csrf.protect)])
        def create(...): ...

    Config is read on every request, as Flask-WTF does.
    """

    def __init__(self, flask_app: Flask) -> None:
        self.flask_app = flask_app

    def setting(self, name: str) -> Any:
        """A ``WTF_CSRF_*`` value from the Flask config, else Flask-WTF's default."""
        return self.flask_app.config.get(name, DEFAULTS.get(name))

    def _serializer(self) -> URLSafeTimedSerializer:
        secret = self.flask_app.config.get("WTF_CSRF_SECRET_KEY", self.flask_app.secret_key)
        if secret is None:
            raise CSRFNotConfigured(
                "Flask-WTF's CSRF tokens need a key: set SECRET_KEY (or WTF_CSRF_SECRET_KEY) "
                "on the Flask app"
            )
        return URLSafeTimedSerializer(secret, salt=SALT)

    def generate_csrf(self, request: Request) -> str:
        """The signed token for this request's session (Flask-WTF's ``generate_csrf``):
        creates the session's raw token on first use; one token per request.

        Raises ``CSRFNotConfigured`` without a secret key, ``SessionMissing`` without a
        session middleware.
        """
        field = self.setting("WTF_CSRF_FIELD_NAME")
        g = state_for(request).g
        if field not in g:
            session = scope_session(request.scope)
            serializer = self._serializer()
            if field not in session:
                session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
            try:
                token = serializer.dumps(session[field])
            except TypeError:  # a value that is not JSON: replace it, as Flask-WTF does
                session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
                token = serializer.dumps(session[field])
            setattr(g, field, token)
        return str(g.get(field))

    def validate_csrf(self, request: Request, data: str | None) -> None:
        """Check a signed token against the session (Flask-WTF's ``validate_csrf``).

        Raises ``CSRFError`` with Flask-WTF's reason when it does not hold.
        """
        field = self.setting("WTF_CSRF_FIELD_NAME")
        if not data:
            raise CSRFError("The CSRF token is missing.")
        session = scope_session(request.scope)
        if field not in session:
            raise CSRFError("The CSRF session token is missing.")
        try:
            token = self._serializer().loads(data, max_age=self.setting("WTF_CSRF_TIME_LIMIT"))
        except SignatureExpired as error:
            raise CSRFError("The CSRF token has expired.") from error
        except BadData as error:
            raise CSRFError("The CSRF token is invalid.") from error
        expected = session[field]
        if not isinstance(expected, str) or not isinstance(token, str):
            raise CSRFError("The CSRF tokens do not match.")
        if not hmac.compare_digest(expected, token):
            raise CSRFError("The CSRF tokens do not match.")

    async def form(self, request: Request, form_class: type, /, **kwargs: Any) -> Any:
        """A Flask-WTF form class (a ``FlaskForm`` subclass) built for this FastAPI request:
        same fields, validators and HTML, data from the body on POST/PUT/PATCH/DELETE,
        a ``csrf_token`` field with this request's token, checked by ``validate()``.
        ``kwargs`` go to the form (``obj=``, ``data=``, ``prefix=``). See flask_compat/forms.py.
        """
        from flask_compat.forms import build_form

        return await build_form(self, request, form_class, **kwargs)

    async def protect(self, request: Request) -> None:
        """Dependency: Flask-WTF's ``CSRFProtect.protect()`` for this route.

        Unsafe methods (``WTF_CSRF_METHODS``) need a valid token in the form field
        or a ``WTF_CSRF_HEADERS`` header; over https the Referer must be this host.
        Raises ``CSRFError`` (400, Flask-WTF's reason as detail). Reads the form,
        which Starlette caches for the route.
        """
        if not self.setting("WTF_CSRF_ENABLED"):
            return
        if request.method not in self.setting("WTF_CSRF_METHODS"):
            return
        self.validate_csrf(request, await self._token(request))
        if request.url.scheme == "https" and self.setting("WTF_CSRF_SSL_STRICT"):
            referrer = request.headers.get("referer")
            if not referrer:
                raise CSRFError("The referrer header is missing.")
            if not _same_origin(referrer, f"https://{request.url.netloc}/"):
                raise CSRFError("The referrer does not match the host.")
        state_for(request).g.csrf_valid = True  # as Flask-WTF marks the request

    async def _token(self, request: Request) -> str | None:
        field = self.setting("WTF_CSRF_FIELD_NAME")
        form = await request.form()
        token = form.get(field)
        if isinstance(token, str) and token:
            return token
        # A form with a prefix names the field "<prefix>-csrf_token".
        for key, value in form.multi_items():
            if key.endswith(field) and isinstance(value, str) and value:
                return value
        headers: Iterable[str] = self.setting("WTF_CSRF_HEADERS")
        for header in headers:
            value = request.headers.get(header)
            if value:
                return value
        return None


async def csrf_protect(request: Request) -> None:
    """Dependency: ``FlaskCSRF.protect`` for the Flask app the kit installed on
    ``request.app`` reads (what Flask-WTF's ``CSRFProtect`` does for every Flask view).
    Raises ``CSRFError`` (400), ``NotInstalled`` without ``FlaskCompat.install()``."""
    await FlaskCSRF(_installed_flask_app(request)).protect(request)


async def flask_form(request: Request, form_class: type, /, **kwargs: Any) -> Any:
    """``FlaskCSRF.form`` for the Flask app the kit installed on ``request.app`` reads:
    what ``PostForm()`` becomes in a converted view (``await flask_form(request, PostForm)``)."""
    return await FlaskCSRF(_installed_flask_app(request)).form(request, form_class, **kwargs)


def _installed_flask_app(request: Request) -> Flask:
    from flask_compat.compat import FlaskCompat

    return FlaskCompat.of(request.app).flask_app


def _same_origin(current_uri: str, compare_uri: str) -> bool:
    current, compare = urlparse(current_uri), urlparse(compare_uri)
    return (
        current.scheme == compare.scheme
        and current.hostname == compare.hostname
        and current.port == compare.port
    )
