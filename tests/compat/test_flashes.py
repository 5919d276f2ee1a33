"""flash() and get_flashed_messages() as in Flask, across both apps (one real Redis session)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from flask_compat import flash, get_flashed_messages, render_template_string, url_for
from tests.compat.browser import Browser


def add_flash_routes(app: FastAPI) -> None:
    @app.post("/fastapi-create")
    def create(request: Request) -> Response:
        flash(request, "Made on <FastAPI>", "success")
        flash(request, "plain")
        return RedirectResponse(url_for(request, "blog.index"), 302)

    @app.get("/messages")
    def messages(request: Request) -> Response:
        return render_template_string(
            request,
            "{{ get_flashed_messages(category_filter=['success']) }}"
            "|{{ get_flashed_messages(with_categories=true) }}",
        )

    @app.get("/python-messages")
    def python_messages(request: Request) -> dict[str, object]:
        return {"messages": get_flashed_messages(request, with_categories=True)}


def test_a_flash_from_flask_shows_on_a_fastapi_page(browser: Browser) -> None:
    browser.post("flask", "/create", data={"title": "<post>"})
    page = browser.get("fastapi", "/")
    assert '<p class="success">Created &lt;post&gt;</p>' in page.text
    assert "Created" not in browser.get("flask", "/").text  # popped, as in Flask


def test_a_flash_from_fastapi_shows_on_a_flask_page(browser: Browser, fastapi_app: FastAPI) -> None:
    add_flash_routes(fastapi_app)
    assert browser.post("fastapi", "/fastapi-create").headers["location"] == "/"
    page = browser.get("flask", "/")
    assert '<p class="success">Made on &lt;FastAPI&gt;</p>' in page.text
    assert '<p class="message">plain</p>' in page.text


def test_filters_and_categories_work_as_in_flask(browser: Browser, fastapi_app: FastAPI) -> None:
    add_flash_routes(fastapi_app)
    browser.post("fastapi", "/fastapi-create")
    page = browser.get("fastapi", "/messages")
    # One pop per request: both calls see the same messages.
    success = "(&#39;success&#39;, &#39;Made on &lt;FastAPI&gt;&#39;)"
    plain = "(&#39;message&#39;, &#39;plain&#39;)"
    assert page.text == f"[&#39;Made on &lt;FastAPI&gt;&#39;]|[{success}, {plain}]"


def test_flashes_are_stored_as_flask_stores_them(browser: Browser, fastapi_app: FastAPI) -> None:
    add_flash_routes(fastapi_app)
    browser.post("fastapi", "/fastapi-create")
    assert browser.get("fastapi", "/python-messages").json() == {
        "messages": [["success", "Made on <FastAPI>"], ["message", "plain"]]
    }
