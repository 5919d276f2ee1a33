"""The Flask app's static folders (app and blueprints), served at Flask's URLs.

The folders and URLs are read from the Flask app's own ``url_map``: every
rule named ``static`` or ``<blueprint>.static`` that Flask added for a
static folder, so ``url_prefix``, ``static_url_path`` and nested or renamed
blueprints come out as Flask routes them.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.sansio.scaffold import Scaffold
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import ASGIApp, Scope
from werkzeug.utils import get_content_type

log = logging.getLogger("flask_compat")

STATIC_SUFFIX = "/<path:filename>"


@dataclass(frozen=True, slots=True)
class StaticFolder:
    """One static folder: its endpoint (``static``, ``admin.static``), URL prefix and folder."""

    endpoint: str
    url_prefix: str
    folder: Path


def static_folders(flask_app: Flask) -> list[StaticFolder]:
    """The static folders Flask serves, in ``url_map`` order (app first, then blueprints)."""
    found: list[StaticFolder] = []
    for rule in flask_app.url_map.iter_rules():
        endpoint = rule.endpoint
        if not (endpoint == "static" or endpoint.endswith(".static")):
            continue
        # The app's static view is a weakref lambda; a blueprint's is its bound method.
        view = flask_app.view_functions.get(endpoint)
        owner = flask_app if endpoint == "static" else getattr(view, "__self__", None)
        if not isinstance(owner, Scaffold) or owner.static_folder is None:
            continue  # a custom static view: nothing we can serve for it
        if not rule.rule.endswith(STATIC_SUFFIX) or rule.host or rule.subdomain:
            continue
        found.append(
            StaticFolder(endpoint, rule.rule[: -len(STATIC_SUFFIX)], Path(owner.static_folder))
        )
    return found


class FlaskStaticFiles(StaticFiles):
    """Starlette's ``StaticFiles`` with the two headers Flask's static view sets differently:
    ``Content-Type`` with a charset for text-like types (``image/svg+xml; charset=utf-8``)
    and ``Cache-Control`` from ``SEND_FILE_MAX_AGE_DEFAULT`` (``no-cache`` when None)."""

    def __init__(self, *, directory: Path, max_age: int | timedelta | None) -> None:
        super().__init__(directory=directory)
        if isinstance(max_age, timedelta):
            max_age = int(max_age.total_seconds())
        self.cache_control = f"public, max-age={max_age}" if max_age else "no-cache"

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if status_code == 200 and "content-type" in response.headers:
            mimetype = mimetypes.guess_type(str(full_path))[0] or "application/octet-stream"
            response.headers["content-type"] = get_content_type(mimetype, "utf-8")
        response.headers["cache-control"] = self.cache_control
        return response


def _not_found() -> ASGIApp:
    # Flask keeps the static rule for a folder that does not exist and answers 404.
    return PlainTextResponse("Not Found", status_code=404)


def mount_static_folders(app: Starlette, flask_app: Flask) -> list[StaticFolder]:
    """Mount each static folder of ``flask_app`` on ``app`` at Flask's URL, named after
    Flask's endpoint so ``url_for('static', filename=...)`` builds it.

    A static URL path of "" (Flask's ``static_url_path=""``) is not mounted: a
    catch-all mount would answer every later route; it is logged instead.
    """
    mounted: list[StaticFolder] = []
    for folder in static_folders(flask_app):
        if not folder.url_prefix:
            log.warning(
                "flask_compat: static folder %s has static_url_path '' (it would shadow every "
                "FastAPI route); mount it yourself after your routes",
                folder.folder,
            )
            continue
        max_age = flask_app.config.get("SEND_FILE_MAX_AGE_DEFAULT")
        files: ASGIApp = (
            FlaskStaticFiles(directory=folder.folder, max_age=max_age)
            if folder.folder.is_dir()
            else _not_found()
        )
        app.mount(folder.url_prefix, files, name=folder.endpoint)
        mounted.append(folder)
    return mounted
