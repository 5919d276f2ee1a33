"""A Flask app and a FastAPI app sharing a session, each side configured by its own
environment variables, so that doctor tests can make them disagree for real.

``DOCTOR_<SIDE>_KEY`` (signing key), ``DOCTOR_<SIDE>_COOKIE`` (cookie name),
``DOCTOR_<SIDE>_SAMESITE``, ``DOCTOR_<SIDE>_REDIS`` (else ``REDIS_URL``), where SIDE
is LEGACY or NEW; ``SHARED_SESSION_KEY_PREFIX`` for both.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from flask import Flask, session

from shared_session import SessionMiddleware, SessionSettings, install_flask_session


def side_settings(side: str) -> SessionSettings:
    env = os.environ
    return SessionSettings(
        secret_keys=[env[f"DOCTOR_{side}_KEY"]],
        cookie_name=env.get(f"DOCTOR_{side}_COOKIE", "ssid"),
        cookie_samesite=env.get(f"DOCTOR_{side}_SAMESITE", "lax"),  # type: ignore[arg-type]
        redis_url=env.get(f"DOCTOR_{side}_REDIS") or env.get("REDIS_URL"),
        key_prefix=env.get("SHARED_SESSION_KEY_PREFIX", "ss:"),
    )


def create_flask() -> Flask:
    app = Flask(__name__)
    install_flask_session(app, side_settings("LEGACY"))

    @app.get("/who")
    def who() -> str:
        return str(session.get("who", "nobody"))

    return app


def create_fastapi() -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, settings=side_settings("NEW"))

    @app.get("/api/who", name="who_new")
    def who(request: Request) -> dict[str, str]:
        return {"who": request.session.get("who", "nobody")}

    return app
