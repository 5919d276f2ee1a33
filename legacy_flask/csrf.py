"""CSRF protection: one random token per session, checked on every unsafe request.

The session key, form field and header names are part of the contract shared
with ``new_fastapi`` (a token issued by one app is accepted by the other).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps

from flask import abort, request, session

SESSION_KEY = "_csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
REJECTED = (
    "The form was not sent from this site or has expired (missing or wrong CSRF token). "
    "Reload the page and try again."
)


def csrf_token() -> str:
    """The session's CSRF token, created on first use (templates: ``csrf_token()``)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def validate_csrf() -> None:
    """Abort with 400 unless the request carries the session's token (header or form field)."""
    expected = session.get(SESSION_KEY)
    given = request.headers.get(HEADER) or request.form.get(FORM_FIELD)
    if (
        not isinstance(expected, str)
        or not expected
        or not given
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        abort(400, description=REJECTED)


def csrf_protected[**P, R](view: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``validate_csrf()`` before the view (put it under ``requires_auth``)."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        validate_csrf()
        return view(*args, **kwargs)

    return wrapper
