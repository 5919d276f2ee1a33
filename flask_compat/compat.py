"""``FlaskCompat``: one Flask app's templates, static files and URLs, for a FastAPI app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from jinja2 import Environment
from starlette.applications import Starlette

from flask_compat.errors import AlreadyInstalled, FlaskCompatError, NotAFlaskApp
from flask_compat.state import APP_STATE_ATTRIBUTE, RequestStateMiddleware, compat_of
from flask_compat.static import StaticFolder, mount_static_folders
from flask_compat.templating import compat_environment
from flask_compat.urls import NewAppRoutes


class FlaskCompat:
    """Reads a Flask app (any: app factory, blueprints with their own template and
    static folders) so a FastAPI app can render its templates unchanged.

    ``FlaskCompat(flask_app).install(fastapi_app)``, then in views
    ``flask_compat.render_template(request, "page.html", **context)``.
    Raises ``NotAFlaskApp`` if ``flask_app`` is not a ``flask.Flask``.
    """

    def __init__(self, flask_app: Flask) -> None:
        if not isinstance(flask_app, Flask):
            raise NotAFlaskApp(
                f"FlaskCompat needs a flask.Flask application object, got "
                f"{type(flask_app).__module__}.{type(flask_app).__qualname__}; with an app "
                "factory, pass its result: FlaskCompat(create_app())"
            )
        self.flask_app = flask_app
        #: The Jinja environment renders use (an overlay of ``flask_app.jinja_env``).
        self.jinja_env: Environment = compat_environment(flask_app)
        #: Flask endpoint -> FastAPI route name, for routes not named after their endpoint.
        self.endpoint_names: dict[str, str] = {}
        self.static_folders: list[StaticFolder] = []
        self._app: Starlette | None = None
        self._routes: NewAppRoutes | None = None

    @property
    def app(self) -> Starlette:
        """The FastAPI app this kit is installed on.

        Raises ``FlaskCompatError`` before ``install()``.
        """
        if self._app is None:
            raise FlaskCompatError("FlaskCompat is not installed yet: call install(fastapi_app)")
        return self._app

    @property
    def routes(self) -> NewAppRoutes:
        """The FastAPI app's routes as a Werkzeug map (for ``url_for``)."""
        if self._routes is None:
            raise FlaskCompatError("FlaskCompat is not installed yet: call install(fastapi_app)")
        return self._routes

    def install(
        self, fastapi_app: Starlette, *, endpoint_names: Mapping[str, str] | None = None
    ) -> None:
        """Make ``fastapi_app`` serve the Flask app's static folders at Flask's URLs and
        give every request a ``g`` and Flask's template names. Call it while building
        the app (it adds a middleware), before or after declaring routes.

        ``endpoint_names`` maps Flask endpoints to FastAPI route names that differ.
        Raises ``AlreadyInstalled`` if ``fastapi_app`` (or this kit) was installed before,
        ``FlaskCompatError`` if ``fastapi_app`` is not a FastAPI/Starlette app.
        """
        if not isinstance(fastapi_app, Starlette):
            raise FlaskCompatError(
                f"install() needs a FastAPI or Starlette app, got {type(fastapi_app).__name__}"
            )
        existing = getattr(fastapi_app.state, APP_STATE_ATTRIBUTE, None)
        if existing is not None:
            raise AlreadyInstalled(
                "this FastAPI app already has a FlaskCompat installed; install one per app "
                "(for a second Flask app's templates, add its folders to the first Flask app)"
            )
        if self._app is not None:
            raise AlreadyInstalled(
                "this FlaskCompat is installed on another FastAPI app already; create one "
                "FlaskCompat per FastAPI app: FlaskCompat(flask_app).install(other_app)"
            )
        self._app = fastapi_app
        self._routes = NewAppRoutes(fastapi_app)
        self.endpoint_names.update(endpoint_names or {})
        setattr(fastapi_app.state, APP_STATE_ATTRIBUTE, self)
        self.static_folders = mount_static_folders(fastapi_app, self.flask_app)
        fastapi_app.add_middleware(RequestStateMiddleware, compat=self)

    @classmethod
    def of(cls, fastapi_app: Any) -> FlaskCompat:
        """The kit installed on ``fastapi_app``.

        Raises ``NotInstalled`` if ``install()`` never ran on it.
        """
        return compat_of(fastapi_app)
