"""The FastAPI app serving the ported routes of pubblog, next to the Flask app."""

from fastapi import FastAPI
from flask import Flask

from flask_compat import FlaskCompat
from flask_compat.login import FlaskLogin
from flask_compat.wtf import FlaskCSRF
from shared_session import SessionMiddleware, SessionSettings
from tests.port.pubblog.models import store
from tests.port.pubblog_port import auth, blog


def create_app(flask_app: Flask, session: SessionSettings) -> FastAPI:
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=session)
    app.state.login = FlaskLogin(flask_app)
    app.state.login.install(app)
    app.state.login.user_loader(lambda user_id: store.users.get(int(user_id)))
    app.state.csrf = FlaskCSRF(flask_app)
    app.include_router(blog.router)
    app.include_router(auth.router)
    return app
