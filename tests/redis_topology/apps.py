"""The two apps the failover tests serve through the gateway.

Both read ``SessionSettings()`` from the environment, as a deployment does:
``REDIS_URL`` names the Cluster or Sentinel set, ``SHARED_SESSION_KEY_PREFIX``
and ``SHARED_SESSION_SECRET_KEYS`` come from the test.
"""

from __future__ import annotations

import flask
from fastapi import FastAPI, Request

from shared_session import SessionMiddleware, SessionSettings, install_flask_session


def legacy() -> flask.Flask:
    app = flask.Flask("topology_legacy")
    install_flask_session(app, SessionSettings())

    @app.post("/login/<user>")
    def login(user: str) -> str:
        flask.session["user"] = user
        flask.session["n"] = 0
        return user

    @app.post("/count")
    def count() -> dict[str, object]:
        flask.session["n"] = int(flask.session.get("n", 0)) + 1
        return {"user": flask.session.get("user"), "n": flask.session["n"]}

    @app.get("/whoami")
    def whoami() -> dict[str, object]:
        return {"user": flask.session.get("user"), "n": flask.session.get("n"), "side": "legacy"}

    return app


def new() -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, settings=SessionSettings())

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        s = request.session
        return {"user": s.get("user"), "n": s.get("n"), "side": "new"}

    return app
