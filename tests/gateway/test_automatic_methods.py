"""HEAD and OPTIONS keep answering as on Flask once a route is on the new app,
through the real gateway under uvicorn with a Flask app and a FastAPI app
whose routes are plain ``@app.get`` (gateway/automatic.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from flask import Flask
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from gateway.app import Gateway, create_gateway
from gateway.automatic import AutomaticMethods, HeadFromGet, OptionsLikeFlask
from tests.gateway.support import serve, settings_for

ORIGIN = "https://monitor.example"
MODULE = "tests.gateway.test_automatic_methods"
STREAMED: list[int] = []  # the chunks the new app's /stream has made


def legacy_app() -> Flask:
    app = Flask("automatic_legacy")

    @app.get("/post/<int:post_id>", endpoint="blog.show")
    def show(post_id: int) -> str:
        return f"post {post_id} on legacy"

    @app.post("/post/<int:post_id>", endpoint="blog.update")
    def update(post_id: int) -> str:
        return "updated"

    @app.get("/own-head", endpoint="own_head")
    def own_head() -> str:
        return "legacy"

    @app.get("/own-options", endpoint="own_options")
    def own_options() -> str:
        return "legacy"

    @app.get("/stream", endpoint="stream")
    def stream() -> str:
        return "legacy"

    return app


def new_app() -> FastAPI:
    """Only ``@app.get``/``@app.post`` (no HEAD, no OPTIONS), but for the routes
    with their own, and a CORS middleware answering preflights."""
    app = FastAPI()

    @app.get("/post/{post_id:int}", name="blog.show")
    async def show(post_id: int) -> Response:
        return HTMLResponse(f"post {post_id} on the new app", headers={"x-app": "new"})

    @app.post("/post/{post_id:int}", name="blog.update")
    async def update(post_id: int) -> Response:
        return PlainTextResponse("updated")

    @app.get("/own-head", name="own_head")
    async def own_head_get() -> Response:
        return PlainTextResponse("the whole body")

    @app.head("/own-head", name="own_head")
    async def own_head() -> Response:
        return Response(status_code=204, headers={"x-own": "head"})

    @app.get("/own-options", name="own_options")
    async def own_options_get() -> Response:
        return PlainTextResponse("new")

    @app.options("/own-options", name="own_options")
    async def own_options() -> Response:
        return Response(status_code=204, headers={"x-own": "options", "allow": "GET"})

    @app.get("/stream", name="stream")
    async def stream() -> Response:
        async def forever() -> object:
            for i in range(100):
                STREAMED.append(i)
                yield b"chunk %d\n" % i
                await asyncio.sleep(0.1)

        return StreamingResponse(forever(), media_type="text/plain")

    @app.get("/new-only", name="new_only")
    async def new_only() -> Response:
        return PlainTextResponse("only on the new app")

    app.add_middleware(
        CORSMiddleware, allow_origins=[ORIGIN], allow_methods=["GET", "POST"], max_age=60
    )
    return app


def gateway_for(tmp_path: Path, **overrides: object) -> Gateway:
    settings = settings_for(
        tmp_path,
        legacy_app=f"{MODULE}:legacy_app()",
        new_app=f"{MODULE}:new_app()",
        **overrides,
    )
    return create_gateway(settings)


ALL_NEW = {e: "new" for e in ("blog.show", "blog.update", "own_head", "own_options", "stream")}


@pytest.fixture
def new_side(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    gateway = gateway_for(tmp_path, flags=ALL_NEW)
    with serve(gateway) as url:
        yield gateway, url


@pytest.fixture
def legacy_side(tmp_path: Path) -> Iterator[str]:
    with serve(gateway_for(tmp_path)) as url:
        yield url


def test_head_of_a_get_only_route_is_its_get_without_the_body(
    new_side: tuple[Gateway, str],
) -> None:
    _, url = new_side
    get = httpx.get(f"{url}/post/1")
    head = httpx.head(f"{url}/post/1")
    assert get.status_code == 200 and get.text == "post 1 on the new app"
    assert head.status_code == 200, head.headers
    assert head.headers["x-served-by"] == "new"
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["x-app"] == "new"


def test_head_is_answered_on_both_sides_alike(
    new_side: tuple[Gateway, str], legacy_side: str
) -> None:
    _, url = new_side
    new, legacy = httpx.head(f"{url}/post/7"), httpx.head(f"{legacy_side}/post/7")
    assert (legacy.headers["x-served-by"], new.headers["x-served-by"]) == ("legacy", "new")
    assert legacy.status_code == new.status_code == 200
    assert legacy.content == new.content == b""


def test_options_is_answered_as_flask_does(new_side: tuple[Gateway, str], legacy_side: str) -> None:
    _, url = new_side
    new = httpx.options(f"{url}/post/1")
    legacy = httpx.options(f"{legacy_side}/post/1")
    assert new.headers["x-served-by"] == "new"
    assert legacy.status_code == new.status_code == 200, new.text
    assert new.content == legacy.content == b""
    allowed = {m.strip() for m in new.headers["allow"].split(",")}
    assert allowed == {m.strip() for m in legacy.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS", "POST"}
    assert new.headers["content-length"] == "0"
    assert new.headers["content-type"] == legacy.headers["content-type"]


def test_a_route_with_its_own_head_keeps_its_answer(new_side: tuple[Gateway, str]) -> None:
    _, url = new_side
    head = httpx.head(f"{url}/own-head")
    assert head.status_code == 204
    assert head.headers["x-own"] == "head"
    assert head.headers["x-served-by"] == "new"


def test_a_route_with_its_own_options_keeps_its_answer(new_side: tuple[Gateway, str]) -> None:
    _, url = new_side
    options = httpx.options(f"{url}/own-options")
    assert options.status_code == 204
    assert options.headers["x-own"] == "options"
    assert options.headers["allow"] == "GET"


def test_a_cors_preflight_is_answered_by_the_apps_middleware(
    new_side: tuple[Gateway, str],
) -> None:
    _, url = new_side
    preflight = httpx.options(
        f"{url}/post/1",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["x-served-by"] == "new"
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-max-age"] == "60"
    assert "allow" not in preflight.headers  # CORSMiddleware's answer, not Flask's
    assert preflight.text == "OK"
    refused = httpx.options(
        f"{url}/post/1",
        headers={"origin": "https://elsewhere.example", "access-control-request-method": "GET"},
    )
    assert refused.status_code == 400  # the middleware refuses: not replaced either
    assert refused.text == "Disallowed CORS origin"


def test_options_with_an_origin_keeps_the_middlewares_headers(
    new_side: tuple[Gateway, str],
) -> None:
    _, url = new_side
    options = httpx.options(f"{url}/post/1", headers={"origin": ORIGIN})  # not a preflight
    assert options.status_code == 200
    assert options.headers["access-control-allow-origin"] == ORIGIN
    assert "GET" in options.headers["allow"]


def test_head_of_a_stream_ends_without_waiting_for_it(new_side: tuple[Gateway, str]) -> None:
    _, url = new_side
    STREAMED.clear()
    started = time.monotonic()
    head = httpx.head(f"{url}/stream", timeout=5)
    assert head.status_code == 200
    assert head.content == b""
    assert time.monotonic() - started < 3  # the stream would take 10 s
    time.sleep(0.3)
    made = len(STREAMED)
    time.sleep(0.5)
    assert len(STREAMED) == made < 5  # the app was told the client is gone
    assert httpx.get(f"{url}/post/1").status_code == 200  # the gateway still serves


def test_a_new_only_route_answers_head_and_options(new_side: tuple[Gateway, str]) -> None:
    _, url = new_side
    head = httpx.head(f"{url}/new-only")
    options = httpx.options(f"{url}/new-only")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len("only on the new app"))
    assert (options.status_code, options.headers["allow"]) == (200, "GET, HEAD, OPTIONS")


def test_gets_are_decided_without_any_wrapper(new_side: tuple[Gateway, str]) -> None:
    gateway, url = new_side
    for method in ("GET", "HEAD", "OPTIONS"):
        assert httpx.request(method, f"{url}/post/1").status_code == 200
    backends = {
        method: getattr(route[4], "__self__", route[4])  # bound for a direct call
        for (path, method, _), route in gateway._decisions.items()
        if path == "/post/1"
    }
    assert backends["GET"] is gateway.new_backend
    assert isinstance(backends["HEAD"], HeadFromGet)
    assert isinstance(backends["OPTIONS"], OptionsLikeFlask)


@pytest.mark.parametrize(
    ("overrides", "served_by"),
    [
        ({"flags": {"blog.show": "canary 100", "blog.update": "canary 100"}}, "new"),
        ({"flags": {"blog.show": "new", "blog.update": "new"}, "fallback": ["blog.show"]}, "new"),
    ],
    ids=["canary", "fallback"],
)
def test_canary_and_fallback_decisions_answer_head_and_options(
    tmp_path: Path, overrides: dict[str, object], served_by: str
) -> None:
    with serve(gateway_for(tmp_path, **overrides)) as url:
        head = httpx.head(f"{url}/post/2")
        options = httpx.options(f"{url}/post/2")
    assert (head.status_code, head.content, head.headers["x-served-by"]) == (200, b"", served_by)
    assert head.headers["content-length"] == str(len("post 2 on the new app"))
    assert (options.status_code, options.headers["x-served-by"]) == (200, served_by)
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_a_shadow_replay_of_head_matches_legacy(tmp_path: Path) -> None:
    gateway = gateway_for(tmp_path, flags={"blog.show": "shadow"})
    assert gateway.shadow is not None
    with serve(gateway) as url:
        head = httpx.head(f"{url}/post/3")
        assert (head.status_code, head.headers["x-served-by"]) == (200, "legacy")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not gateway.shadow.stats().get("replayed"):
            time.sleep(0.02)
        stats = gateway.shadow.stats()
    assert stats["replayed_by_route"] == {"blog.show": 1}, stats
    assert stats["matched"] == {"blog.show": 1}, stats["samples"]


async def _endpoint(request: object) -> Response:  # pragma: no cover - matching only
    return Response()


def test_plans_follow_the_route_table() -> None:
    api = FastAPI()
    api.get("/api", name="api")(lambda: None)
    starlette_route = Route("/plain", _endpoint, methods=["GET"])  # Starlette adds HEAD
    automatic = AutomaticMethods([*api.router.routes, starlette_route])
    assert automatic.plan("/api", "HEAD") == "head"
    assert automatic.plan("/api", "OPTIONS") == b"GET, HEAD, OPTIONS"
    assert automatic.plan("/plain", "HEAD") == "app"
    assert automatic.plan("/nowhere", "HEAD") == "app"
    assert automatic.plan("/nowhere", "OPTIONS") == "app"
    app = object()
    assert automatic.wrap(app, "/api", "GET") is app  # type: ignore[arg-type]
