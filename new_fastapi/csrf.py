"""CSRF protection, the same contract as legacy_flask's (a token from one app works on the other).

One random token per session under ``_csrf_token``, sent back in the form field
``csrf_token`` or the header ``X-CSRF-Token``, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from fastapi import HTTPException, Request

SESSION_KEY = "_csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
REJECTED = (
    "The form was not sent from this site or has expired (missing or wrong CSRF token). "
    "Reload the page and try again."
)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, created on first use (templates: ``csrf_token()``)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


async def csrf_protected(request: Request) -> None:
    """Dependency: 400 unless the request carries the session's token (header or form field).

    Put it after ``requires_auth`` in ``dependencies=[...]``; it reads the form
    (Starlette caches it, so the route can read it again).
    """
    expected = request.session.get(SESSION_KEY)
    given = request.headers.get(HEADER)
    if not given:
        field = (await request.form()).get(FORM_FIELD)
        given = field if isinstance(field, str) else None
    if (
        not isinstance(expected, str)
        or not expected
        or not given
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        raise HTTPException(400, detail=REJECTED)
