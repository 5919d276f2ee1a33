"""Errors of the session layer that callers are expected to handle."""

from __future__ import annotations


class SessionError(Exception):
    """Base class of every error raised on purpose by shared_session."""


class SessionStoreUnavailable(SessionError):
    """The session store did not answer in time or refused the connection.

    Both sides turn it into a 503 page with Retry-After; the request can be
    retried once the store is back, and nothing was half-written.
    """


class SessionTooLarge(SessionError):
    """The session would exceed ``max_session_bytes``; nothing was saved.

    Keep large data elsewhere (a database row) and store its id in the session.
    """


class SessionConfigError(SessionError):
    """The settings cannot work (for example no secret key)."""
