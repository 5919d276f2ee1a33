"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from legacy_flask import api, auth, webapp
from legacy_flask.assets import APP_TEMPLATE_FOLDER, STATIC_FOLDER
from legacy_flask.csrf import csrf_token
from legacy_flask.errors import register_error_handlers
from legacy_flask.filters import register_filters
from legacy_flask.oidc import init_oidc
from notes_core.notes import NotesStore
from notes_core.settings import load_settings
from shared_session import SessionSettings, install_flask_session


def create_app(
    config: Mapping[str, Any] | None = None,
    session_settings: SessionSettings | None = None,
) -> Flask:
    """Build the app. ``config`` overrides settings by name (``NOTES_DB_PATH``, ``OIDC_ISSUER``...)
    and is also copied into ``app.config`` (``TESTING``...)."""
    settings = load_settings(config)
    app = Flask(__name__, template_folder=APP_TEMPLATE_FOLDER, static_folder=STATIC_FOLDER)
    *fallbacks, secret_key = settings.signing_keys()
    app.config.update(
        SECRET_KEY=secret_key,
        SECRET_KEY_FALLBACKS=fallbacks,
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )
    app.config.update(config or {})
    app.extensions["settings"] = settings

    store = NotesStore(settings.notes_db_path)
    store.create_schema()
    app.extensions["notes_store"] = store

    install_flask_session(
        app, (session_settings or SessionSettings()).with_default_keys(settings.signing_keys())
    )
    init_oidc(app, settings)

    register_filters(app.jinja_env)
    app.jinja_env.globals["csrf_token"] = csrf_token
    register_error_handlers(app)

    app.register_blueprint(webapp.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    return app
