"""legacy_flask's templates, static files and filters, rendered through flask_compat.

new_fastapi never imports the Flask app (its views, its settings): the kit
reads ``legacy_assets_app()``, a Flask object holding only what the two apps
share on disk (the template folders in Flask's order, the static folder) and
the Jinja filters. The compat logic itself (url_for, g, flashes, context,
static files) lives in flask_compat.
"""

from __future__ import annotations

import jinja2
from fastapi import FastAPI
from flask import Blueprint, Flask

from flask_compat import FlaskCompat
from legacy_flask.assets import APP_TEMPLATE_FOLDER, BLUEPRINT_TEMPLATE_FOLDERS, STATIC_FOLDER
from legacy_flask.filters import register_filters
from new_fastapi.csrf import csrf_token


def legacy_assets_app() -> Flask:
    """A Flask app with legacy_flask's template and static folders and filters, no views."""
    app = Flask("legacy_flask", template_folder=APP_TEMPLATE_FOLDER, static_folder=STATIC_FOLDER)
    # Blueprint template folders, registered in legacy_flask's order (Flask searches so).
    for name, folder in BLUEPRINT_TEMPLATE_FOLDERS.items():
        app.register_blueprint(Blueprint(name, "legacy_flask", template_folder=folder))
    register_filters(app.jinja_env)
    return app


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    return csrf_token(context["session"])


def install_templates(app: FastAPI) -> FlaskCompat:
    """Serve legacy_flask's static folder and render its templates on ``app``."""
    compat = FlaskCompat(legacy_assets_app())
    compat.install(app)
    # The reference CSRF helper is new_fastapi's own, so it is a global of the FastAPI side only.
    compat.jinja_env.globals["csrf_token"] = _csrf_token
    return compat
