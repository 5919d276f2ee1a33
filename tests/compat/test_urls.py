"""url_for: the FastAPI app's routes first, the Flask url_map for endpoints still on legacy,
with Flask's arguments and Flask's exact output."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from fastapi import APIRouter, FastAPI, Request
from flask import Blueprint, Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.routing import BuildError

from flask_compat import FlaskCompat, UrlBuildError, url_for


def make_flask() -> Flask:
    app = Flask(__name__)
    shop = Blueprint("shop", __name__, url_prefix="/shop")
    shop.add_url_rule("/item/<int:item_id>", "item", lambda item_id: "")
    shop.add_url_rule("/files/<path:name>", "files", lambda name: "")
    shop.add_url_rule("/tag/<tag>", "tag", lambda tag: "")
    edit = lambda: ""  # noqa: E731 - one view, two rules
    shop.add_url_rule("/edit", "edit", edit, methods=["POST"])
    shop.add_url_rule("/edit/form", "edit", edit, methods=["GET"])
    app.register_blueprint(shop)
    app.add_url_rule("/", "home", lambda: "")
    app.add_url_rule("/legacy-only/<slug>", "legacy_only", lambda slug: "")
    return app


def make_fastapi(flask_app: Flask) -> FastAPI:
    app = FastAPI()
    FlaskCompat(flask_app).install(app)
    router = APIRouter(prefix="/shop")

    @router.get("/item/{item_id:int}", name="shop.item")
    def item(item_id: int) -> None: ...

    @router.get("/files/{name:path}", name="shop.files")
    def files(name: str) -> None: ...

    @router.get("/tag/{tag}", name="shop.tag")
    def tag(tag: str) -> None: ...

    app.include_router(router)

    @app.get("/", name="home")
    def home() -> None: ...

    return app


def fastapi_request(app: FastAPI, root_path: str = "", route_name: str | None = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("example.org", 80),
        "path": f"{root_path}/",
        "raw_path": b"/",
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
        "app": app,
    }
    if route_name:
        scope["route"] = next(r for r in app.router.routes if getattr(r, "name", "") == route_name)
    return Request(scope)


def flask_url(app: Flask, endpoint: str, root_path: str = "", **values: Any) -> str:
    with app.test_request_context("/", base_url=f"http://example.org{root_path}"):
        return flask.url_for(endpoint, **values)


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("static", {"filename": "css/site.css"}),
    ("static", {"filename": "a b?.css"}),
    ("home", {}),
    ("home", {"q": "x y&z", "n": [1, 2], "skip": None}),
    ("shop.item", {"item_id": 7}),
    ("shop.item", {"item_id": 7, "_anchor": "reviews and more"}),
    ("shop.files", {"name": "dir/sub dir/é.txt"}),
    ("shop.tag", {"tag": "a/b c%"}),
    ("shop.item", {"item_id": 7, "_external": True}),
    ("shop.item", {"item_id": 7, "_external": True, "_scheme": "https"}),
    ("shop.edit", {"_method": "POST"}),
    ("shop.edit", {"_method": "GET"}),
    ("legacy_only", {"slug": "still on flask", "page": 2}),
]


@pytest.mark.parametrize("root_path", ["", "/app"])
@pytest.mark.parametrize(("endpoint", "values"), CALLS, ids=[f"{e}{v}" for e, v in CALLS])
def test_same_url_as_flask(endpoint: str, values: dict[str, Any], root_path: str) -> None:
    flask_app = make_flask()
    app = make_fastapi(flask_app)
    expected = flask_url(flask_app, endpoint, root_path, **values)
    assert url_for(fastapi_request(app, root_path), endpoint, **values) == expected


@settings(max_examples=60, deadline=None)
@given(
    tag=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s),
    query=st.dictionaries(st.sampled_from(["a", "b", "q"]), st.text(max_size=10), max_size=3),
)
def test_any_value_is_encoded_as_flask_encodes_it(tag: str, query: dict[str, str]) -> None:
    flask_app = make_flask()
    app = make_fastapi(flask_app)
    expected = flask_url(flask_app, "shop.tag", tag=tag, **query)
    assert url_for(fastapi_request(app), "shop.tag", tag=tag, **query) == expected


def test_a_ported_route_wins_over_the_flask_rule() -> None:
    flask_app = make_flask()
    app = make_fastapi(flask_app)

    @app.get("/new-place/{slug}", name="legacy_only")
    def moved(slug: str) -> None: ...

    assert url_for(fastapi_request(app), "legacy_only", slug="x") == "/new-place/x"


def test_an_endpoint_still_on_legacy_is_built_from_the_flask_url_map() -> None:
    app = make_fastapi(make_flask())
    assert url_for(fastapi_request(app), "legacy_only", slug="s") == "/legacy-only/s"
    assert url_for(fastapi_request(app), "shop.edit", _method="POST") == "/shop/edit"


def test_relative_endpoint_uses_the_blueprint_of_the_fastapi_route() -> None:
    app = make_fastapi(make_flask())
    request = fastapi_request(app, route_name="home")
    assert url_for(request, ".home") == "/"
    shop_request = fastapi_request(app)
    shop_request.scope["route"] = type("R", (), {"name": "shop.item"})()
    assert url_for(shop_request, ".tag", tag="t") == "/shop/tag/t"


def test_unknown_endpoint_names_both_apps() -> None:
    app = make_fastapi(make_flask())
    with pytest.raises(UrlBuildError) as caught:
        url_for(fastapi_request(app), "shop.nope")
    message = str(caught.value)
    assert "'shop.nope'" in message
    assert "the FastAPI app has no route named 'shop.nope'" in message
    assert "the Flask app's url_map has no endpoint 'shop.nope'" in message
    assert isinstance(caught.value, BuildError)  # Flask code catching BuildError still works


def test_missing_values_say_which_rules_exist() -> None:
    app = make_fastapi(make_flask())
    with pytest.raises(UrlBuildError) as caught:
        url_for(fastapi_request(app), "shop.item")
    assert "FastAPI route 'shop.item' (/shop/item/{item_id:int})" in str(caught.value)
    assert "/shop/item/<int:item_id>" in str(caught.value)


def test_scheme_without_external_is_an_error_as_in_flask() -> None:
    app = make_fastapi(make_flask())
    with pytest.raises(ValueError, match="_external"):
        url_for(fastapi_request(app), "home", _scheme="https", _external=False)


def test_url_defaults_of_the_flask_app_apply() -> None:
    flask_app = make_flask()

    @flask_app.url_defaults
    def default_page(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "home":
            values.setdefault("lang", flask.g.get("lang", "en"))

    app = make_fastapi(flask_app)
    assert url_for(fastapi_request(app), "home") == "/?lang=en"


def test_endpoint_names_map_flask_endpoints_to_other_route_names() -> None:
    flask_app = make_flask()
    app = FastAPI()
    FlaskCompat(flask_app).install(app, endpoint_names={"shop.item": "item_page"})

    @app.get("/items/{item_id}", name="item_page")
    def item(item_id: int) -> None: ...

    assert url_for(fastapi_request(app), "shop.item", item_id=3) == "/items/3"


def test_routes_added_after_the_first_url_for_are_seen() -> None:
    app = make_fastapi(make_flask())
    request = fastapi_request(app)
    assert url_for(request, "shop.item", item_id=1) == "/shop/item/1"
    late = APIRouter()

    @late.get("/late", name="late")
    def late_route() -> None: ...

    app.include_router(late)
    assert url_for(fastapi_request(app), "late") == "/late"


def test_mounted_sub_app_routes_use_starlette_names() -> None:
    app = make_fastapi(make_flask())
    sub = FastAPI()

    @sub.get("/page/{n:int}", name="page")
    def page(n: int) -> None: ...

    app.mount("/sub", sub, name="sub")
    assert url_for(fastapi_request(app), "sub:page", n=2) == "/sub/page/2"


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "bad host", ""])
def test_a_host_werkzeug_rejects_still_gets_relative_urls(host: str) -> None:
    app = make_fastapi(make_flask())
    request = fastapi_request(app)
    request.scope["headers"] = [(b"host", host.encode())]
    assert url_for(request, "shop.item", item_id=1) == "/shop/item/1"
    assert url_for(request, "legacy_only", slug="s") == "/legacy-only/s"


def test_a_host_flask_does_not_trust_still_gets_relative_legacy_urls() -> None:
    flask_app = make_flask()
    flask_app.config["TRUSTED_HOSTS"] = ["trusted.example"]
    app = make_fastapi(flask_app)
    assert url_for(fastapi_request(app), "legacy_only", slug="s") == "/legacy-only/s"


def test_websocket_routes_build_websocket_urls_as_flask_does() -> None:
    app = make_fastapi(make_flask())

    @app.websocket("/live/{room}", name="live")
    async def live(websocket: Any, room: str) -> None: ...

    assert url_for(fastapi_request(app), "live", room="a") == "ws://example.org/live/a"
