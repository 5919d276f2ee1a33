"""Errors of the session layer that callers are expected to handle."""

from __future__ import annotations


class SessionError(Exception):
    """Base class of every error raised on purpose by shared_session."""


class SessionStoreUnavailable(SessionError):
    """The session store did not answer in time or refused the connection.

    Both sides turn it into a 503 page with Retry-After; the request can be
    retried once the store is back, and nothing was half-written.
    """


class SessionWriteRefused(SessionStoreUnavailable):
    """The store refused a write (Redis out of memory, or a read-only replica);
    nothing of that write was applied.

    Opening a session that needs a write (taking over a legacy cookie) answers
    503 like any unavailability; a refused save after the handler ran does
    not: the response goes out as produced and the refusal is logged.
    """


class SessionConfigError(SessionError):
    """The settings cannot work (for example no secret key)."""
