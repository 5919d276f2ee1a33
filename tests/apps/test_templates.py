"""Every template renders through both apps to the same HTML, from the same file on disk.

The templates are enumerated from legacy_flask's folders: a new template
without a render case below makes this test fail.
"""

from __future__ import annotations

from typing import Any

import flask
import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.requests import Request

from flask_compat import FlaskCompat, render_template
from legacy_flask.assets import STATIC_FOLDER, TEMPLATE_FOLDERS
from tests.apps.browser import Browser, login, normalise_text
from tests.apps.world import SEED_NOTES

NOTES = [{"id": n[0], "title": n[2], "body": n[3], "created_at": n[4]} for n in SEED_NOTES[:2]]
USER = {"sub": "alice", "email": "alice@example.org", "name": "Alice <A>", "aud": ["notes"]}

CONTEXTS: dict[str, dict[str, Any]] = {
    "base.html": {},
    "errors/404.html": {"status": 404, "title": "Not Found", "detail": "Nothing here."},
    "errors/500.html": {"status": 500, "title": "Internal Server Error", "detail": "x"},
    "errors/error.html": {"status": 405, "title": "Method Not Allowed", "detail": "No <b>."},
    "webapp/index.html": {},
    "webapp/notes.html": {
        "notes": NOTES,
        "form": {"title": "<t>", "body": "b"},
        "problems": [{"field": "title", "message": "Too short"}],
    },
    "webapp/note.html": {"note": NOTES[0]},
    "webapp/upload.html": {},
    "webapp/upload_result.html": {"filename": "a<b>.txt", "size": 12, "sha256": "ab" * 32},
    "auth/profile.html": {"user": USER},
}
SESSIONS: dict[str, dict[str, Any]] = {
    "anonymous": {},
    "logged-in": {
        "user": USER,
        "_csrf_token": "fixed-token",
        "_flashes": [("success", "Saved <it>."), ("message", "Plain")],
    },
}


def all_templates() -> list[str]:
    """Every template file in the folders both apps load, as a template name."""
    names = {
        path.relative_to(folder).as_posix()
        for folder in TEMPLATE_FOLDERS
        for path in folder.rglob("*.html")
    }
    return sorted(names)


def render_flask(app: Flask, name: str, context: dict[str, Any], session: dict[str, Any]) -> str:
    with app.test_request_context("/", base_url="http://localhost"):
        flask.session.update(session)
        return flask.render_template(name, **context)


def render_fastapi(
    app: FastAPI, name: str, context: dict[str, Any], session: dict[str, Any]
) -> str:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("localhost", 80),
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "app": app,
        "session": dict(session),
    }
    response = render_template(Request(scope), name, **context)
    return bytes(response.body).decode()


def test_template_folders_are_found() -> None:
    assert "base.html" in all_templates()
    assert (STATIC_FOLDER / "style.css").is_file()


@pytest.mark.parametrize("session_name", sorted(SESSIONS))
@pytest.mark.parametrize("name", all_templates())
def test_template_renders_the_same_on_both_apps(
    flask_app: Flask, fastapi_app: FastAPI, name: str, session_name: str
) -> None:
    context = CONTEXTS.get(name)
    assert context is not None, f"add a render case for the new template {name!r}"
    session = SESSIONS[session_name]

    flask_html = render_flask(flask_app, name, context, session)
    fastapi_html = render_fastapi(fastapi_app, name, context, session)

    # A session without a token gets a fresh random one on each side.
    assert normalise_text(flask_html) == normalise_text(fastapi_html)
    assert 'href="/static/style.css"' in flask_html
    if session_name == "logged-in":
        assert "Saved &lt;it&gt;." in flask_html  # flashes shown, escaped


@pytest.mark.parametrize("name", all_templates())
def test_both_apps_load_the_same_template_file(
    flask_app: Flask, fastapi_app: FastAPI, name: str
) -> None:
    flask_file = flask_app.jinja_env.get_template(name).filename
    fastapi_file = FlaskCompat.of(fastapi_app).jinja_env.get_template(name).filename
    assert flask_file == fastapi_file


def test_filters_are_registered_on_both_environments(
    flask_app: Flask, fastapi_app: FastAPI
) -> None:
    flask_filter = flask_app.jinja_env.filters["to_pretty_json"]
    assert FlaskCompat.of(fastapi_app).jinja_env.filters["to_pretty_json"] is flask_filter


def test_pages_under_a_root_path_link_to_the_same_urls(
    flask_app: Flask, fastapi_app: FastAPI
) -> None:
    browser = Browser(flask_app, fastapi_app, root_path="/app")
    plain = Browser(flask_app, fastapi_app)
    try:
        login(plain)
        plain.get("flask", "/")  # shows (and consumes) the sign-in flash
        browser.cookies = dict(plain.cookies)
        # A WSGI server strips SCRIPT_NAME from PATH_INFO; an ASGI path keeps the root path.
        pages = {
            "flask": browser.get("flask", "/notes"),
            "fastapi": browser.get("fastapi", "/app/notes"),
        }
        assert pages["flask"].status_code == pages["fastapi"].status_code == 200
        assert pages["flask"].text == pages["fastapi"].text
        assert 'href="/app/static/style.css"' in pages["flask"].text
        assert 'action="/app/notes/1/delete"' not in pages["flask"].text  # no notes yet
        assert 'action="/app/notes"' in pages["flask"].text
    finally:
        browser.close()
        plain.close()
