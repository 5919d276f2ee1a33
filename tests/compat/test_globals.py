"""g: one fresh namespace per request, set from FastAPI, seen by templates and Flask code."""

from __future__ import annotations

import flask
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from flask import Flask

from flask_compat import FlaskCompat, G, OutsideRequest, g, render_template_string


def make_app() -> FastAPI:
    app = FastAPI()
    FlaskCompat(Flask(__name__)).install(app)
    return app


def test_g_is_fresh_for_every_request() -> None:
    app = make_app()

    @app.get("/count")
    def count() -> Response:
        g.count = g.get("count", 0) + 1
        return PlainTextResponse(str(g.count))

    with TestClient(app) as client:
        assert [client.get("/count").text for _ in range(3)] == ["1", "1", "1"]


def test_g_set_in_a_dependency_is_seen_by_the_view_and_the_template() -> None:
    app = make_app()

    async def load_user() -> None:  # async dependency, sync view: one g across threads
        g.user = "ada"

    @app.get("/", dependencies=[Depends(load_user)])
    def page(request: Request) -> Response:
        assert g.user == "ada"
        return render_template_string(request, "{{ g.user }}")

    with TestClient(app) as client:
        assert client.get("/").text == "ada"


def test_the_g_dependency_is_the_same_object_as_the_proxy() -> None:
    app = make_app()

    @app.get("/")
    def page(request: Request, request_g: G) -> Response:
        request_g.flavour = "plain"
        return render_template_string(request, "{{ g.flavour }} {{ 'flavour' in g }}")

    with TestClient(app) as client:
        assert client.get("/").text == "plain True"


def test_flask_code_in_a_render_sees_the_same_g() -> None:
    flask_app = Flask(__name__)
    flask_app.add_template_global(lambda: flask.g.get("user", "nobody"), "who")
    app = FastAPI()
    FlaskCompat(flask_app).install(app)

    @app.get("/")
    def page(request: Request) -> Response:
        g.user = "grace"
        return render_template_string(request, "{{ who() }}")

    with TestClient(app) as client:
        assert client.get("/").text == "grace"


def test_g_outside_a_request_says_so() -> None:
    with pytest.raises(OutsideRequest, match="inside a request"):
        _ = g.user
