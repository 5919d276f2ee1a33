"""Apps for bench/session_bench.py: the same tiny pages with and without the
shared session, for Flask (gunicorn sync) and FastAPI (uvicorn).

Settings come from the environment (SHARED_SESSION_*), as in production.
"""

from __future__ import annotations

import flask
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from shared_session import SessionMiddleware, SessionSettings, install_flask_session


def _flask(with_session: bool) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "bench-secret"
    if with_session:
        install_flask_session(app, SessionSettings())

    @app.get("/plain")
    def plain() -> str:
        return "hello"

    @app.get("/read")
    def read() -> str:
        return f"hello {flask.session.get('user', 'anonymous')}"

    @app.get("/write")
    def write() -> str:
        flask.session["n"] = flask.session.get("n", 0) + 1
        flask.session.setdefault("user", "alice")
        return "written"

    return app


def _asgi(with_session: bool) -> FastAPI:
    app = FastAPI()
    if with_session:
        app.add_middleware(SessionMiddleware, settings=SessionSettings())

    @app.get("/plain", response_class=PlainTextResponse)
    async def plain() -> str:
        return "hello"

    @app.get("/read", response_class=PlainTextResponse)
    async def read(request: Request) -> str:
        return f"hello {request.session.get('user', 'anonymous')}"

    @app.get("/write", response_class=PlainTextResponse)
    async def write(request: Request) -> str:
        request.session["n"] = request.session.get("n", 0) + 1
        request.session.setdefault("user", "alice")
        return "written"

    return app


def flask_plain() -> flask.Flask:
    return _flask(False)


def flask_session() -> flask.Flask:
    return _flask(True)


def asgi_plain() -> FastAPI:
    return _asgi(False)


def asgi_session() -> FastAPI:
    return _asgi(True)
