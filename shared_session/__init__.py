"""One server-side session that Flask and FastAPI share through one cookie.

Flask::

    from shared_session import SessionSettings, install_flask_session
    install_flask_session(app, SessionSettings())

FastAPI / Starlette::

    from shared_session import SessionMiddleware, SessionSettings
    app.add_middleware(SessionMiddleware, settings=SessionSettings())

See docs/shared-session.md.
"""

from shared_session.asgi import Session, SessionMiddleware
from shared_session.errors import (
    SessionConfigError,
    SessionError,
    SessionStoreUnavailable,
    SessionWriteRefused,
)
from shared_session.flashes import flash, get_flashed_messages
from shared_session.flask import FlaskSession, SharedSessionInterface, install_flask_session
from shared_session.settings import SessionSettings
from shared_session.state import READ_ONLY_SCOPE_KEY

__all__ = [
    "READ_ONLY_SCOPE_KEY",
    "FlaskSession",
    "Session",
    "SessionConfigError",
    "SessionError",
    "SessionMiddleware",
    "SessionSettings",
    "SessionStoreUnavailable",
    "SessionWriteRefused",
    "SharedSessionInterface",
    "flash",
    "get_flashed_messages",
    "install_flask_session",
]
