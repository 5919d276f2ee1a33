"""A Flask app using the real Flask-Login on the shared session, and a FastAPI app using
flask_compat.login on the same session: the pair the login tests drive with one browser."""

from dataclasses import dataclass
from typing import Annotated, Any

import flask
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from flask import Flask
from flask_login import (
    LoginManager,
    current_user,
    login_fresh,
    login_required,
    login_user,
    logout_user,
)

from flask_compat import FlaskCompat, render_template_string
from flask_compat.login import FlaskLogin, bridge_flask_login
from shared_session import SessionMiddleware, SessionSettings, install_flask_session

SECRET = "login-secret-key-0123456789"


@dataclass
class User:
    id: str
    name: str
    is_active: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return self.id


USERS = {"1": User("1", "ada"), "2": User("2", "grace")}


def create_flask(settings: SessionSettings, bridge: bool = True, **config: Any) -> Flask:
    app = Flask("login_flask")
    app.config.update(SECRET_KEY=SECRET, **config)
    install_flask_session(app, settings)
    manager = LoginManager(app)
    manager.login_view = "login"
    manager.refresh_view = "login"
    manager.user_loader(USERS.get)
    if bridge:
        bridge_flask_login(app)

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str:
        if flask.request.method == "POST":
            form = flask.request.form
            login_user(USERS[form["id"]], remember=form.get("remember") == "1")
        return "login page"

    @app.get("/whoami")
    def whoami() -> str:
        name = current_user.name if current_user.is_authenticated else "anonymous"
        return f"{name}|fresh={login_fresh()}"

    @app.get("/private")
    @login_required
    def private() -> str:
        return f"private for {current_user.name}"

    @app.get("/flashes")
    def flashes() -> Any:
        return flask.jsonify(flask.get_flashed_messages(with_categories=True))

    @app.get("/touch")
    def touch() -> str:
        flask.session["visited"] = True
        return "touched"

    @app.get("/logout")
    def logout() -> str:
        logout_user()
        return "bye"

    @app.get("/logout-and-clear")
    def logout_and_clear() -> str:
        logout_user()
        flask.session.clear()  # common in real apps: drop everything else too
        return "bye"

    return app


def create_fastapi(flask_app: Flask, settings: SessionSettings) -> FastAPI:
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=settings)
    login = FlaskLogin(flask_app)
    login.install(app)
    login.user_loader(USERS.get)

    @app.get("/whoami")
    async def whoami(
        request: Request, user: Annotated[Any, Depends(login.current_user)]
    ) -> Response:
        name = user.name if user is not None else "anonymous"
        return PlainTextResponse(f"{name}|fresh={login.is_fresh(request)}")

    @app.get("/private", name="private")
    def private(user: Annotated[User, Depends(login.login_required)]) -> Response:
        return PlainTextResponse(f"private for {user.name}")

    @app.get("/fresh-only")
    def fresh_only(user: Annotated[User, Depends(login.fresh_login_required)]) -> Response:
        return PlainTextResponse(f"fresh {user.name}")

    @app.post("/fastapi-login")
    async def fastapi_login(request: Request) -> Response:
        form = await request.form()
        response = PlainTextResponse("logged in on FastAPI")
        remember = form.get("remember") == "1"
        login.login_user(request, str(form["id"]), remember=remember, response=response)
        return response

    @app.get("/greeting")
    def greeting(request: Request) -> Response:
        # Flask-Login's own context processor (current_user) runs inside the compat render.
        return render_template_string(
            request, "{{ current_user.name if current_user.is_authenticated else 'stranger' }}"
        )

    @app.get("/logout")
    def logout(request: Request) -> Response:
        response = PlainTextResponse("bye")
        login.logout_user(request, response)
        return response

    return app
