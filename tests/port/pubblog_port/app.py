"""The FastAPI app serving the ported routes of pubblog, next to the Flask app."""

from fastapi import FastAPI
from flask import Flask

from flask_compat import FlaskCompat
from flask_compat.login import FlaskLogin
from shared_session import SessionMiddleware, SessionSettings
from tests.port.pubblog.models import store
from tests.port.pubblog_port import auth, blog


def create_app(flask_app: Flask, session: SessionSettings) -> FastAPI:
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=session)
    login = FlaskLogin(flask_app)
    login.install(app)
    login.user_loader(lambda user_id: store.users.get(int(user_id)))
    app.include_router(blog.router)
    app.include_router(auth.router)
    return app
