"""Who may use the admin API: named bearer tokens, closed by default.

A token is ``name:secret`` (``settings.admin_tokens``) or the single
``settings.admin_token``, whose name is "admin". The name is the actor an
audit records. With no token configured every protected endpoint refuses,
unless ``settings.admin_open`` opens it to loopback clients that came
straight to the gateway (development).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from gateway.settings import GatewaySettings

SINGLE_TOKEN_NAME = "admin"
OPEN_ACTOR = "open-admin"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")

CLOSED_MESSAGE = (
    "the admin API is closed: no admin token is configured. Set GATEWAY_ADMIN_TOKEN, or "
    'GATEWAY_ADMIN_TOKENS=\'["alice:<token>", "deploy:<token>"]\' for named tokens, and '
    "send 'Authorization: Bearer <token>'. For local development only, "
    "GATEWAY_ADMIN_OPEN=true opens it to loopback clients."
)


class AdminTokenError(ValueError):
    """A configured admin token that cannot be used (no name, no secret, a repeated name)."""


@dataclass(frozen=True, slots=True)
class AdminToken:
    name: str
    secret: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one request: an actor name, or a refusal."""

    actor: str | None
    status: int = 200
    message: str = ""


def parse_tokens(single: str | None, named: Iterable[str]) -> tuple[AdminToken, ...]:
    """The configured tokens; raises AdminTokenError naming the bad entry (never its secret)."""
    tokens: list[AdminToken] = []
    if single:
        tokens.append(AdminToken(SINGLE_TOKEN_NAME, single.encode()))
    for position, entry in enumerate(named, start=1):
        name, sep, secret = entry.partition(":")
        name = name.strip()
        if not sep or not name or not secret:
            raise AdminTokenError(
                f"GATEWAY_ADMIN_TOKENS entry {position} must look like 'name:token'"
            )
        if not set(name) <= _NAME_CHARS:
            raise AdminTokenError(
                f"GATEWAY_ADMIN_TOKENS entry {position}: the name {name!r} may only use "
                "letters, digits and . _ @ -"
            )
        if any(t.name == name for t in tokens):
            raise AdminTokenError(f"admin token name {name!r} is used twice")
        tokens.append(AdminToken(name, secret.encode()))
    return tuple(tokens)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminAuth:
    """Checks the ``Authorization`` header of admin requests."""

    def __init__(self, tokens: tuple[AdminToken, ...], open_on_loopback: bool = False) -> None:
        self.tokens = tokens
        self.open_on_loopback = open_on_loopback
        self._process_key = os.urandom(32)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> AdminAuth:
        """Raises AdminTokenError for a malformed token entry."""
        single = settings.admin_token.get_secret_value() if settings.admin_token else None
        named = [token.get_secret_value() for token in settings.admin_tokens]
        return cls(parse_tokens(single, named), settings.admin_open)

    @property
    def closed(self) -> bool:
        """True when nobody at all can use the protected endpoints."""
        return not self.tokens and not self.open_on_loopback

    def check(self, connection: HTTPConnection) -> Verdict:
        """Who is asking, or why they may not."""
        if self.tokens:
            return self._check_token(connection.headers.get("authorization", ""))
        return self.check_open(connection)

    def check_open(self, connection: HTTPConnection) -> Verdict:
        """Without tokens: the open actor for a direct loopback client in open mode."""
        if self.open_on_loopback and not self.tokens:
            client = connection.client.host if connection.client else None
            forwarded = "forwarded" in connection.headers or "x-forwarded-for" in connection.headers
            # A request relayed by a proxy on this host looks like loopback: refuse it.
            if _is_loopback(client) and not forwarded:
                return Verdict(OPEN_ACTOR)
            return Verdict(
                None, 403, "the open admin API (GATEWAY_ADMIN_OPEN) answers loopback clients only"
            )
        return Verdict(None, 403, CLOSED_MESSAGE)

    def _check_token(self, header: str) -> Verdict:
        scheme, _, value = header.partition(" ")
        actor = self.actor_for(value.strip()) if scheme.lower() == "bearer" else None
        if actor is None:
            return Verdict(None, 401, "admin token required: send 'Authorization: Bearer <token>'")
        return Verdict(actor)

    def actor_for(self, token: str) -> str | None:
        """The name of the configured token equal to ``token``, or None."""
        given = token.encode("utf-8", "replace")
        actor: str | None = None
        # Every token is compared, whatever matched: the time taken says nothing.
        for known in self.tokens:
            if hmac.compare_digest(given, known.secret) and actor is None:
                actor = known.name
        return actor if given else None

    def session_key(self) -> bytes:
        """A key for the dashboard's session cookies, derived from the configured
        tokens: the same in every worker and replica with the same tokens, and
        changing any token signs every dashboard session out. Without tokens
        (open or closed admin), a random key of this process."""
        if not self.tokens:
            return self._process_key
        material = b"\0".join(t.name.encode() + b"=" + t.secret for t in self.tokens)
        return hmac.new(b"gateway-dashboard-session", material, hashlib.sha256).digest()
