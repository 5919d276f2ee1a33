"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from new_fastapi.body_limit import BodySizeLimitMiddleware
from new_fastapi.errors import register_error_handlers
from new_fastapi.oidc import init_oidc
from new_fastapi.routers import api, auth, webapp
from new_fastapi.templating import install_templates
from notes_core.notes import NotesStore
from notes_core.settings import load_settings
from shared_session import SessionMiddleware, SessionSettings


def create_app(
    config: Mapping[str, Any] | None = None,
    session_settings: SessionSettings | None = None,
) -> FastAPI:
    """Build the app. ``config`` overrides settings by name, exactly as for legacy_flask."""
    settings = load_settings(config)
    store = NotesStore(settings.notes_db_path)
    # At build time, like the Flask factory (in-process test clients may skip a lifespan).
    store.create_schema()
    # No trailing-slash redirects and no /docs: Flask has neither, and paths must match.
    app = FastAPI(
        title="Notes", redirect_slashes=False, openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.notes_store = store
    app.state.oauth = init_oidc(settings)

    register_error_handlers(app)
    app.include_router(webapp.router)
    app.include_router(auth.router)
    app.include_router(api.router)
    # legacy_flask's templates, static folder and filters, through flask_compat.
    install_templates(app)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_content_length)
    app.add_middleware(
        SessionMiddleware,
        settings=(session_settings or SessionSettings()).with_default_keys(settings.signing_keys()),
    )
    return app
