"""Render a Flask app's templates from FastAPI, unchanged, during a route-by-route port.

::

    from flask_compat import FlaskCompat, render_template

    compat = FlaskCompat(create_flask_app())
    compat.install(fastapi_app)

    @fastapi_app.get("/", name="blog.index")   # named after the Flask endpoint
    def index(request: Request):
        return render_template(request, "blog/index.html", posts=posts)

Imports no application of this project. See docs/flask-compat.md.
"""

from flask_compat.compat import FlaskCompat
from flask_compat.errors import (
    AlreadyInstalled,
    ContextProcessorError,
    FlaskCompatError,
    NotAFlaskApp,
    NotInstalled,
    OutsideRequest,
    UrlBuildError,
)
from flask_compat.flask_context import FlaskContext, flask_context
from flask_compat.globals import G, g, get_g
from flask_compat.session import SessionMissing, flash, get_flashed_messages
from flask_compat.templating import TemplateResponse, render_template, render_template_string
from flask_compat.urls import root_path, url_for

__all__ = [
    "AlreadyInstalled",
    "ContextProcessorError",
    "FlaskCompat",
    "FlaskCompatError",
    "FlaskContext",
    "G",
    "NotAFlaskApp",
    "NotInstalled",
    "OutsideRequest",
    "SessionMissing",
    "TemplateResponse",
    "UrlBuildError",
    "flash",
    "flask_context",
    "g",
    "get_flashed_messages",
    "get_g",
    "render_template",
    "render_template_string",
    "root_path",
    "url_for",
]
