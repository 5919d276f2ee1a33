"""Pages rendered from FastAPI through flask_compat are byte-identical to Flask's."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from flask import Flask
from flask.signals import template_rendered

from flask_compat import (
    ContextProcessorError,
    FlaskCompat,
    TemplateResponse,
    g,
    render_template,
    render_template_string,
)
from shared_session import SessionMiddleware, SessionSettings
from tests.compat.browser import Browser, in_process

PORTED_PAGES = ["/", "/post/1", "/post/2", "/admin/"]


@pytest.mark.parametrize("path", PORTED_PAGES)
def test_ported_page_is_byte_identical_for_an_anonymous_user(browser: Browser, path: str) -> None:
    flask_page = browser.get("flask", path)
    fastapi_page = browser.get("fastapi", path)
    assert flask_page.status_code == fastapi_page.status_code == 200
    assert fastapi_page.content == flask_page.content
    assert fastapi_page.headers["content-type"] == flask_page.headers["content-type"]


@pytest.mark.parametrize("path", PORTED_PAGES)
def test_ported_page_is_byte_identical_for_a_logged_in_user(browser: Browser, path: str) -> None:
    browser.post("flask", "/auth/login", data={"name": "Ada <3"})
    browser.get("flask", "/post/3")  # shows and consumes the welcome flash
    flask_page = browser.get("flask", path)
    fastapi_page = browser.get("fastapi", path)
    assert "Ada &lt;3" in flask_page.text
    assert fastapi_page.content == flask_page.content


def test_page_under_a_root_path_is_byte_identical(flask_app: Flask, fastapi_app: FastAPI) -> None:
    with in_process(flask_app, fastapi_app, root_path="/blog") as browser:
        flask_page = browser.get("flask", "/")
        fastapi_page = browser.get("fastapi", "/blog/")
    assert 'href="/blog/static/style.css"' in flask_page.text
    assert fastapi_page.content == flask_page.content


def test_text_template_is_not_autoescaped_as_in_flask(browser: Browser) -> None:
    flask_feed = browser.get("flask", "/feed.txt")
    fastapi_feed = browser.get("fastapi", "/feed.txt")
    assert "hello <world>" in flask_feed.text
    assert fastapi_feed.text == flask_feed.text


def test_templates_load_in_flasks_order(flask_app: Flask, fastapi_app: FastAPI) -> None:
    env = FlaskCompat.of(fastapi_app).jinja_env
    for name in ("notice.html", "common/box.html", "admin/dashboard.html", "base.html"):
        assert env.get_template(name).filename == flask_app.jinja_env.get_template(name).filename
    assert "app folder" in env.get_template("notice.html").render()
    assert "blog blueprint" in env.get_template("common/box.html").render()


def test_jinja_options_of_the_flask_app_apply(fastapi_app: FastAPI) -> None:
    env = FlaskCompat.of(fastapi_app).jinja_env
    assert env.trim_blocks and env.lstrip_blocks
    assert "jinja2.ext.LoopControlExtension" in env.extensions


def test_filters_tests_and_globals_registered_after_install_are_seen(
    flask_app: Flask, fastapi_app: FastAPI
) -> None:
    flask_app.add_template_filter(lambda s: s[::-1], "backwards")
    flask_app.add_template_test(lambda n: n % 2 == 0, "even")
    flask_app.add_template_global(lambda: "late", "late_global")
    source = "{{ 'abc'|backwards }} {{ 4 is even }} {{ late_global() }} {{ 'x y'|initials }}"

    def page(request: Request) -> Response:
        return render_template_string(request, source)

    fastapi_app.add_api_route("/string", page)
    with TestClient(fastapi_app) as client:
        assert client.get("/string").text == "cba True late XY"


def test_render_template_string_is_autoescaped_as_in_flask(
    flask_app: Flask, fastapi_app: FastAPI
) -> None:
    def page(request: Request) -> Response:
        g.mark = "<i>"
        return render_template_string(request, "{{ v }}|{{ g.mark }}", v="<b>")

    fastapi_app.add_api_route("/s", page, name="s")
    with flask_app.test_request_context("/"):
        flask.g.mark = "<i>"
        expected = flask.render_template_string("{{ v }}|{{ g.mark }}", v="<b>")
    with TestClient(fastapi_app) as client:
        assert client.get("/s").text == expected == "&lt;b&gt;|&lt;i&gt;"


def test_a_list_of_names_renders_the_first_that_exists(fastapi_app: FastAPI) -> None:
    def page(request: Request) -> Response:
        return render_template(request, ["missing.html", "notice.html"])

    fastapi_app.add_api_route("/first", page)
    with TestClient(fastapi_app) as client:
        assert "app folder" in client.get("/first").text


def test_the_views_own_values_win_over_context_processors(browser: Browser) -> None:
    page = browser.get("fastapi", "/admin/")
    assert "theme the view&#39;s own" in page.text  # the view's session=, not request.session
    assert "<span>Dashboard</span>" in page.text  # the blueprint's processor ran last


def test_blueprint_context_processors_run_only_for_their_blueprint(browser: Browser) -> None:
    page = browser.get("fastapi", "/")
    assert "<span>Home</span>" in page.text and "Dashboard" not in page.text


def test_a_failing_context_processor_is_named(flask_app: Flask, fastapi_app: FastAPI) -> None:
    @flask_app.context_processor
    def needs_user() -> dict[str, Any]:
        return {"name": flask.g.account.name}

    def page(request: Request) -> Response:
        return render_template(request, "notice.html")

    fastapi_app.add_api_route("/broken", page)
    with TestClient(fastapi_app) as client, pytest.raises(ContextProcessorError) as caught:
        client.get("/broken")
    assert "needs_user" in str(caught.value)
    assert "flask_compat.g" in str(caught.value)


def test_context_processors_see_g_set_by_a_dependency(browser: Browser) -> None:
    browser.post("flask", "/auth/login", data={"name": "Grace"})
    assert "<i>Hello, Grace</i>" in browser.get("fastapi", "/post/1").text


def test_templates_rendered_send_flasks_signals(flask_app: Flask, fastapi_app: FastAPI) -> None:
    seen: list[str] = []

    def record(sender: Flask, template: Any, context: dict[str, Any], **extra: Any) -> None:
        seen.append(template.name)

    with template_rendered.connected_to(record, flask_app), TestClient(fastapi_app) as client:
        client.get("/post/1")
    assert seen == ["blog/show.html"]


def test_the_response_keeps_template_and_context(fastapi_app: FastAPI) -> None:
    captured: list[TemplateResponse] = []

    def page(request: Request) -> Response:
        response = render_template(request, "notice.html", answer=42)
        response.status_code = 418
        captured.append(response)
        return response

    fastapi_app.add_api_route("/teapot", page)
    with TestClient(fastapi_app) as client:
        assert client.get("/teapot").status_code == 418
    assert captured[0].template.name == "notice.html"
    assert captured[0].context["answer"] == 42


@pytest.mark.parametrize(
    ("source", "varies"),
    [
        ("{{ 1 + 1 }}", False),
        ("{{ session.get('theme') }}", True),
        ("{{ get_flashed_messages() }}", True),
    ],
)
def test_the_response_varies_on_cookie_only_if_the_session_was_read(
    session_settings: SessionSettings, source: str, varies: bool
) -> None:
    # As in Flask: Vary: Cookie exactly when the page depends on the session.
    flask_app = Flask(__name__)
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    app.add_middleware(SessionMiddleware, settings=session_settings)

    @app.get("/")
    def page(request: Request) -> Response:
        return render_template_string(request, source)

    with TestClient(app) as client:
        assert ("vary" in client.get("/").headers) is varies
