"""The compat ``url_for`` gives what Flask's gives, for the same endpoint and values."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.requests import Request

from flask_compat import FlaskCompat
from flask_compat import url_for as flask_url_for

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("static", {"filename": "style.css"}),
    ("webapp.index", {}),
    ("webapp.note", {"note_id": 7}),
    ("webapp.note", {"note_id": 7, "tab": "raw", "empty": None}),
    ("webapp.delete_note", {"note_id": 7, "_anchor": "top"}),
    ("auth.callback", {"_external": True}),
    ("api.get_note", {"note_id": 1, "_external": True, "_scheme": "https"}),
]


def fastapi_request(app: FastAPI, root_path: str = "") -> Request:
    return Request(
        {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "server": ("localhost", 80),
            "path": f"{root_path}/",
            "raw_path": b"/",
            "root_path": root_path,
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
            "app": app,
        }
    )


@pytest.mark.parametrize("root_path", ["", "/app"])
@pytest.mark.parametrize(("endpoint", "values"), CALLS, ids=[f"{e}{v}" for e, v in CALLS])
def test_same_url_as_flask(
    flask_app: Flask, fastapi_app: FastAPI, endpoint: str, values: dict[str, Any], root_path: str
) -> None:
    with flask_app.test_request_context("/", base_url=f"http://localhost{root_path}"):
        expected = flask.url_for(endpoint, **values)
    assert flask_url_for(fastapi_request(fastapi_app, root_path), endpoint, **values) == expected


def test_endpoint_names_map_other_route_names(fastapi_app: FastAPI) -> None:
    FlaskCompat.of(fastapi_app).endpoint_names["notes.show"] = "webapp.note"
    url = flask_url_for(fastapi_request(fastapi_app), "notes.show", note_id=3)
    assert url == "/notes/3"
