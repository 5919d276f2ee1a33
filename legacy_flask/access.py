"""Who is logged in, and the ``requires_auth`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, redirect, session, url_for

from legacy_flask.errors import is_api_request

# Session contract shared with new_fastapi: the ID token's claims under "user".
USER_KEY = "user"
ID_TOKEN_KEY = "id_token"


def current_user() -> dict[str, Any] | None:
    """The logged-in user's claims, or None."""
    user = session.get(USER_KEY)
    return user if isinstance(user, dict) and user.get("sub") else None


def current_sub() -> str:
    """The logged-in user's subject; only call it behind ``requires_auth``."""
    user = current_user()
    assert user is not None, "current_sub() called outside requires_auth"
    return str(user["sub"])


def requires_auth[**P, R](view: Callable[P, R]) -> Callable[P, Any]:
    """Decorator: anonymous users get 401 JSON on the API, a redirect to /login elsewhere."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        if current_user() is None:
            if is_api_request():
                abort(401, description="Log in first: this endpoint needs a session.")
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)

    return wrapper
