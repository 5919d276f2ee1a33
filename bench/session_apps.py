"""Apps for bench/session_bench.py and bench/session_peers.py: the same tiny
pages with and without the shared session, for Flask (gunicorn sync) and
FastAPI (uvicorn), and with the session of a peer users would pick instead:
Flask-Session (Redis backend) and starsessions (Redis store).

Settings come from the environment (SHARED_SESSION_*), as in production;
the peers use the same Redis (SHARED_SESSION_REDIS_URL).
"""

from __future__ import annotations

import flask
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from shared_session import SessionMiddleware, SessionSettings, install_flask_session


def _flask(with_session: bool, peer: bool = False) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "bench-secret"
    if peer:
        import redis
        from flask_session import Session

        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = redis.Redis.from_url(_redis_url())
        app.config["SESSION_KEY_PREFIX"] = "peer:flask:"
        Session(app)
    elif with_session:
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


def _asgi(with_session: bool, peer: bool = False) -> FastAPI:
    app = FastAPI()
    if peer:
        import redis.asyncio
        from starsessions import SessionAutoloadMiddleware
        from starsessions import SessionMiddleware as PeerSessionMiddleware
        from starsessions.stores.redis import RedisStore

        store = RedisStore(connection=redis.asyncio.Redis.from_url(_redis_url()))
        app.add_middleware(SessionAutoloadMiddleware)  # inner: loads before the endpoint
        app.add_middleware(
            PeerSessionMiddleware,
            store=store,
            lifetime=7 * 24 * 3600,
            rolling=True,
            cookie_https_only=False,
        )
    elif with_session:
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


def _redis_url() -> str:
    url = SessionSettings().redis_url
    assert url, "set SHARED_SESSION_REDIS_URL"
    return url


def flask_plain() -> flask.Flask:
    return _flask(False)


def flask_session() -> flask.Flask:
    return _flask(True)


def asgi_plain() -> FastAPI:
    return _asgi(False)


def asgi_session() -> FastAPI:
    return _asgi(True)


def flask_peer() -> flask.Flask:
    return _flask(True, peer=True)


def asgi_peer() -> FastAPI:
    return _asgi(True, peer=True)
