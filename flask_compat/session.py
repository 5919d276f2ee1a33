"""``session``, ``flash`` and ``get_flashed_messages`` as Flask has them, on ``request.session``.

Flashes are stored exactly as Flask stores them (a list of (category,
message) tuples under ``_flashes``, through ``shared_session.flashes``), so a
message flashed on one side shows on the other. Flask code that runs during a
compat render (context processors, Flask-Login, Flask-WTF) sees the same
session through ``FlaskSessionView``, which adds what ``flask.session`` has
and a plain mapping lacks (``permanent``, ``modified``, ``accessed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from flask.sessions import SessionMixin
from starlette.requests import Request
from starlette.types import Scope

from flask_compat.errors import FlaskCompatError
from shared_session import flashes


class SessionMissing(FlaskCompatError):
    """The FastAPI app has no session middleware, and something tried to write a session."""


class MissingSession(dict[str, Any]):
    """Stands in for ``request.session`` when no session middleware runs: reads see an
    empty session (a page that only checks ``session.get('user')`` still renders), writes
    raise ``SessionMissing``."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SessionMissing(
            "this FastAPI app has no session: add shared_session.SessionMiddleware "
            "(the session both apps share) before writing to the session or flashing"
        )

    __setitem__ = __delitem__ = setdefault = update = pop = popitem = clear = _refuse


def raw_session(scope: Scope) -> MutableMapping[str, Any]:
    """The request's session without marking it accessed (a read-only empty one if none)."""
    session = scope.get("session")
    return MissingSession() if session is None else session


def mark_accessed(session: MutableMapping[str, Any]) -> None:
    """Mark ``session`` accessed, as ``request.session`` does: the response then varies on
    Cookie (and the store refreshes the session)."""
    mark = getattr(session, "mark_accessed", None)
    if callable(mark):
        mark()


def scope_session(scope: Scope) -> MutableMapping[str, Any]:
    """The request's session (``request.session``), marked accessed."""
    session = raw_session(scope)
    mark_accessed(session)
    return session


class FlaskSessionView(SessionMixin):
    """``flask.session`` while Flask code runs inside a compat render: every read and
    write goes to ``request.session``; ``clear()`` and ``regenerate()`` are the shared
    session's own (they end, or move, the session on both frameworks)."""

    def __init__(self, session: MutableMapping[str, Any]) -> None:
        self.session = session

    @property  # type: ignore[override]
    def accessed(self) -> bool:
        return bool(getattr(self.session, "accessed", True))

    @accessed.setter
    def accessed(self, value: bool) -> None:
        # Flask sets this when Flask code touches flask.session; only then does the
        # response vary on Cookie, as in Flask.
        if value:
            mark_accessed(self.session)

    def __getitem__(self, key: str) -> Any:
        return self.session[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.session[key] = value

    def __delitem__(self, key: str) -> None:
        del self.session[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.session)

    def __len__(self) -> int:
        return len(self.session)

    def clear(self) -> None:
        self.session.clear()

    def regenerate(self) -> None:
        """Move the session to a new id when saved (shared_session); a no-op for plain dicts."""
        regenerate = getattr(self.session, "regenerate", None)
        if callable(regenerate):
            regenerate()

    @property  # type: ignore[override]
    def modified(self) -> bool:
        return bool(getattr(self.session, "modified", True))

    @modified.setter
    def modified(self, value: bool) -> None:
        # Flask code sets modified after changing a nested value; the store must then save.
        mark = getattr(self.session, "mark_modified", None)
        if value and callable(mark):
            mark()


def flash(request: Request, message: str, category: str = "message") -> None:
    """Flask's ``flash()``: queue ``message`` for the next page, on either framework.

    Raises ``SessionMissing`` when the FastAPI app has no session middleware.
    """
    flashes.flash(scope_session(request.scope), message, category)


def get_flashed_messages(
    request: Request, with_categories: bool = False, category_filter: Iterable[str] = ()
) -> list[Any]:
    """Flask's ``get_flashed_messages()``: pop the queued messages (repeat calls in one
    request return the same list). With ``with_categories``, (category, message) tuples."""
    return flashes.get_flashed_messages(
        scope_session(request.scope), with_categories, category_filter
    )
