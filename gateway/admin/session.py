"""The dashboard's sign-in session: a signed cookie naming the actor, with the
CSRF token its forms must carry.

The cookie holds ``{"actor": name, "csrf": random}`` signed with itsdangerous
(timestamped, ``max_age`` seconds). It is HttpOnly, SameSite=Strict, scoped to
the admin prefix and Secure over https. Every state-changing form carries the
session's CSRF token; the sign-in form, before any session, carries the value
of a short-lived pre-session cookie (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "gw_admin"
LOGIN_COOKIE = "gw_admin_login"
LOGIN_MAX_AGE = 600


@dataclass(frozen=True, slots=True)
class DashboardSession:
    actor: str
    csrf: str

    def accepts(self, form_token: object) -> bool:
        """True when a form's CSRF token is this session's."""
        return isinstance(form_token, str) and hmac.compare_digest(
            form_token.encode(), self.csrf.encode()
        )


class DashboardSessions:
    """Issues and reads dashboard session cookies (and the sign-in form's token)."""

    def __init__(self, key: bytes, max_age: int, path: str) -> None:
        self.max_age = max_age
        self.path = path
        self._sessions = URLSafeTimedSerializer(key, salt="gateway-dashboard-session")
        self._logins = URLSafeTimedSerializer(key, salt="gateway-dashboard-login")

    def issue(self, actor: str) -> tuple[str, DashboardSession]:
        """A new session for ``actor``: (cookie value, session)."""
        session = DashboardSession(actor, secrets.token_urlsafe(24))
        return self._sessions.dumps({"actor": actor, "csrf": session.csrf}), session

    def read(self, value: str | None) -> DashboardSession | None:
        """The session in a cookie value; None when missing, forged or expired."""
        if not value:
            return None
        try:
            data = self._sessions.loads(value, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        actor, csrf = data.get("actor"), data.get("csrf")
        if not isinstance(actor, str) or not isinstance(csrf, str):
            return None
        return DashboardSession(actor, csrf)

    def login_token(self) -> tuple[str, str]:
        """For the sign-in form: (cookie value, form value)."""
        token = secrets.token_urlsafe(24)
        return self._logins.dumps(token), token

    def login_accepts(self, cookie: str | None, form_token: object) -> bool:
        """True when the sign-in form carries the token of its pre-session cookie."""
        if not cookie or not isinstance(form_token, str):
            return False
        try:
            token = self._logins.loads(cookie, max_age=LOGIN_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(token, str) and hmac.compare_digest(token.encode(), form_token.encode())

    def cookie_header(self, name: str, value: str, *, secure: bool, max_age: int) -> str:
        """A Set-Cookie value: HttpOnly, SameSite=Strict, on the admin prefix."""
        parts = [
            f"{name}={value}",
            f"Path={self.path}",
            f"Max-Age={max_age}",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if secure:
            parts.append("Secure")
        return "; ".join(parts)
