"""The Flask app's static folders, app and blueprints, at Flask's URLs (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Blueprint, Flask

from flask_compat import FlaskCompat
from tests.compat.browser import Browser, over_http

FILES = ["/static/style.css", "/admin/assets/admin.css", "/admin/assets/logo%20image.svg"]


@pytest.fixture
def http_browser(flask_app: Flask, fastapi_app: FastAPI) -> Iterator[Browser]:
    with over_http(flask_app, fastapi_app) as browser:
        yield browser


@pytest.mark.parametrize("path", FILES)
def test_static_file_is_served_at_flasks_url(http_browser: Browser, path: str) -> None:
    flask_file = http_browser.get("flask", path)
    fastapi_file = http_browser.get("fastapi", path)
    assert flask_file.status_code == fastapi_file.status_code == 200
    assert fastapi_file.content == flask_file.content
    for header in ("content-type", "cache-control", "content-length", "last-modified"):
        assert fastapi_file.headers[header] == flask_file.headers[header], header


@pytest.mark.parametrize("path", ["/static/nope.css", "/admin/assets/../../secret.py"])
def test_missing_or_escaping_file_is_404_on_both(http_browser: Browser, path: str) -> None:
    assert http_browser.get("flask", path).status_code == 404
    assert http_browser.get("fastapi", path).status_code == 404


def test_a_static_folder_that_does_not_exist_answers_404_like_flask() -> None:
    flask_app = Flask(__name__, static_folder="no-such-folder")
    nested = Blueprint("nested", __name__, static_folder="also-missing", url_prefix="/n")
    flask_app.register_blueprint(nested)
    app = FastAPI()
    compat = FlaskCompat(flask_app)
    compat.install(app)
    assert [f.url_prefix for f in compat.static_folders] == ["/no-such-folder", "/n/also-missing"]
    with TestClient(app) as client:
        assert client.get("/no-such-folder/x.css").status_code == 404
        assert client.get("/n/also-missing/x.css").status_code == 404
