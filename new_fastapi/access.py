"""Who is logged in, and the ``requires_auth`` dependency."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from new_fastapi.errors import LoginRequired

# Session contract shared with legacy_flask: the ID token's claims under "user".
USER_KEY = "user"
ID_TOKEN_KEY = "id_token"


def current_user(request: Request) -> dict[str, Any] | None:
    """The logged-in user's claims, or None."""
    user = request.session.get(USER_KEY)
    return user if isinstance(user, dict) and user.get("sub") else None


def requires_auth(request: Request) -> str:
    """Dependency: the logged-in user's ``sub``.

    Raises ``LoginRequired`` for anonymous users (a redirect to /login, or 401
    JSON under /api/).
    """
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return str(user["sub"])
