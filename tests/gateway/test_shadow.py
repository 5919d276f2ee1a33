"""Shadow traffic: legacy answers, the new app is replayed afterwards and compared."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from flask import Flask

from gateway.backends import ASGIBackend, WSGIBackend
from gateway.settings import GatewaySettings
from gateway.shadow import Recorded, ShadowRunner, compare, normalise_body
from shared_session import SessionMiddleware, SessionSettings
from tests.gateway.test_backend_helpers import uvicorn_server


def settings(**values: object) -> GatewaySettings:
    return GatewaySettings(legacy_app="x:y", flag_cache_path=None, **values)  # type: ignore[arg-type]


def legacy() -> Flask:
    app = Flask("shadow_legacy")

    @app.get("/page")
    def page() -> str:
        return (
            '<html>\n  <body>\n    <form><input type="hidden" name="csrf_token" value="abc123">'
            "</form>\n    <p>Rendered 2026-11-24T19:00:01Z</p>\n  </body>\n</html>"
        )

    @app.get("/data")
    def data() -> dict[str, Any]:
        return {"b": [1, 2], "a": "x", "when": "Tue, 24 Nov 2026 19:00:00 GMT"}

    @app.get("/changed")
    def changed() -> str:
        return "legacy text"

    @app.route("/form", methods=["GET", "POST"])
    def form() -> str:
        return "ok"

    @app.get("/big")
    def big() -> str:
        return "x" * 5000

    return app


def new(seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            '<html><body><form><input name="csrf_token" type="hidden" value="zzz999"></form>'
            "<p>Rendered 2026-11-24T19:00:02Z</p></body></html>"
        )

    @app.get("/data")
    async def data() -> JSONResponse:
        return JSONResponse({"a": "x", "when": "Tue, 24 Nov 2026 19:00:05 GMT", "b": [1, 2]})

    @app.get("/changed")
    async def changed(request: Request) -> HTMLResponse:
        seen.append({"scope": dict(request.scope), "at": time.monotonic()})
        response = HTMLResponse("new text")
        response.set_cookie("shadow_cookie", "must-not-leak")
        return response

    @app.api_route("/form", methods=["GET", "POST"])
    async def form() -> PlainTextResponse:
        seen.append({"form": True})
        return PlainTextResponse("ok")

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(1)
        return PlainTextResponse("late")

    return app


class ShadowGateway:
    """Every request shadowed; the route name is the first path segment."""

    def __init__(self, runner: ShadowRunner, primary: object, new: ASGIBackend) -> None:
        self.runner, self.primary, self.new = runner, primary, new

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            await receive()
            await self.new.start()
            await self.runner.start()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await self.runner.aclose()
            await self.new.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        route = scope["path"].strip("/").split("/")[0]
        await self.runner.serve(scope, receive, send, self.primary, route)  # type: ignore[arg-type]


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


def shadowed(seen: list[dict[str, Any]], new_app: object = None, **values: object) -> Iterator:
    config = settings(**values)
    primary = WSGIBackend(legacy(), threads=4)
    new_backend = ASGIBackend(new_app or new(seen))  # type: ignore[arg-type]
    runner = ShadowRunner(config, new_backend)
    with uvicorn_server(ShadowGateway(runner, primary, new_backend)) as url:
        yield url, runner


@pytest.fixture
def gateway(seen: list[dict[str, Any]]) -> Iterator[tuple[str, ShadowRunner]]:
    yield from shadowed(seen, shadow_timeout=0.5)


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_client_gets_the_legacy_answer_and_the_replay_happens_after(
    gateway: tuple[str, ShadowRunner], seen: list[dict[str, Any]]
) -> None:
    url, runner = gateway
    response = httpx.get(f"{url}/changed")
    answered = time.monotonic()
    assert response.text == "legacy text"
    assert "shadow_cookie" not in response.headers.get("set-cookie", "")
    wait_for(lambda: runner.stats()["replayed"] == 1)
    assert seen[0]["at"] >= answered - 0.05  # replay ran once the client had its answer


def test_mismatch_is_counted_per_route_with_a_sample(gateway: tuple[str, ShadowRunner]) -> None:
    url, runner = gateway
    httpx.get(f"{url}/changed?x=1")
    wait_for(lambda: runner.stats()["replayed"] == 1)
    stats = runner.stats()
    assert stats["mismatched"] == {"changed": 1}
    sample = stats["samples"][0]
    assert sample["route"] == "changed"
    assert sample["query"] == "x=1"
    assert sample["differences"] == ["body"]
    assert sample["legacy"]["body"] == "legacy text"
    assert sample["new"]["body"] == "new text"


def test_csrf_tokens_dates_layout_and_json_key_order_do_not_count(
    gateway: tuple[str, ShadowRunner],
) -> None:
    url, runner = gateway
    httpx.get(f"{url}/page")
    httpx.get(f"{url}/data")
    wait_for(lambda: runner.stats()["replayed"] == 2)
    assert runner.stats()["matched"] == {"page": 1, "data": 1}
    assert runner.stats()["mismatched"] == {}


def test_replay_is_read_only_and_marked(
    gateway: tuple[str, ShadowRunner], seen: list[dict[str, Any]]
) -> None:
    url, runner = gateway
    httpx.get(f"{url}/changed")
    wait_for(lambda: runner.stats()["replayed"] == 1)
    scope = seen[0]["scope"]
    assert scope["shared_session.read_only"] is True
    assert (b"x-gateway-shadow", b"1") in scope["headers"]


def test_methods_outside_the_list_are_not_replayed(
    gateway: tuple[str, ShadowRunner], seen: list[dict[str, Any]]
) -> None:
    url, runner = gateway
    assert httpx.post(f"{url}/form", data={"a": "1"}).text == "ok"
    time.sleep(0.2)
    assert runner.stats()["replayed"] == 0
    assert seen == []


def test_oversized_answers_are_dropped(seen: list[dict[str, Any]]) -> None:
    for url, runner in shadowed(seen, shadow_max_body_bytes=1000):
        assert len(httpx.get(f"{url}/big").text) == 5000
        assert runner.stats()["dropped"]["too_big"] == 1
        assert runner.stats()["replayed"] == 0


def test_slow_replays_time_out_and_are_counted(seen: list[dict[str, Any]]) -> None:
    app = new(seen)

    @app.get("/changed", include_in_schema=False)
    async def never() -> None:
        await asyncio.sleep(10)

    app.router.routes.insert(0, app.router.routes.pop())
    for url, runner in shadowed(seen, new_app=app, shadow_timeout=2):
        started = time.monotonic()
        assert httpx.get(f"{url}/changed").text == "legacy text"
        # The client is not held for the replay: it would have waited >= 2 s.
        assert time.monotonic() - started < 1.5
        wait_for(lambda: runner.stats()["dropped"]["timeout"] == 1, timeout=6)  # noqa: B023


def test_queue_is_bounded_and_overflow_is_dropped(seen: list[dict[str, Any]]) -> None:
    app = new(seen)

    @app.get("/form")
    async def slow_form() -> PlainTextResponse:
        await asyncio.sleep(0.3)
        return PlainTextResponse("ok")

    app.router.routes.insert(0, app.router.routes.pop())
    for url, runner in shadowed(seen, new_app=app, shadow_queue_size=1):
        with httpx.Client() as client:
            for _ in range(8):
                assert client.get(f"{url}/form").text == "ok"
        stats = runner.stats()
        # Two workers busy, one job queued: the other five are dropped.
        assert stats["dropped"]["queue_full"] >= 4
        assert stats["queued"] <= 1
        wait_for(lambda: runner.stats()["queued"] == 0)  # noqa: B023


def test_shadow_never_writes_the_shared_session(
    seen: list[dict[str, Any]], redis_url: str, key_prefix: str
) -> None:
    session_settings = SessionSettings(
        redis_url=redis_url, key_prefix=key_prefix, secret_keys=["test-secret"]
    )
    app = FastAPI()

    @app.get("/visit")
    async def visit(request: Request) -> PlainTextResponse:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return PlainTextResponse(str(request.session["visits"]))

    app.add_middleware(SessionMiddleware, settings=session_settings)
    new_backend = ASGIBackend(app)
    client = redis.Redis.from_url(redis_url)

    def session_values() -> dict[bytes, Any]:
        keys = sorted(client.scan_iter(match=f"{key_prefix}*"))
        return {key: client.dump(key) for key in keys}

    for url, runner in shadowed(seen, new_app=app):
        # A real session first, written by the new app when it serves directly.
        with uvicorn_server(new_backend) as direct:
            first = httpx.get(f"{direct}/visit")
        assert first.text == "1"
        cookie = first.headers["set-cookie"].split(";")[0]
        before = session_values()
        assert before
        # Legacy has no /visit (404); the shadow replays it with the session cookie.
        response = httpx.get(f"{url}/visit", headers={"Cookie": cookie})
        assert "set-cookie" not in response.headers
        wait_for(lambda: runner.stats()["replayed"] == 1)  # noqa: B023
        assert session_values() == before
    client.close()


def recorded(status: int, content_type: str, body: bytes, **headers: str) -> Recorded:
    pairs = [(b"content-type", content_type.encode())]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    return Recorded(status=status, headers=pairs, body=bytearray(body), complete=True)


def test_comparison_reports_status_and_content_type() -> None:
    legacy_answer = recorded(200, "text/html; charset=utf-8", b"a")
    new_answer = recorded(404, "application/json", b"b")
    mismatch = compare(legacy_answer, new_answer)
    assert mismatch is not None
    assert mismatch.differences == [
        "status 200 != 404",
        "content-type 'text/html;charset=utf-8' != 'application/json'",
        "body",
    ]


def test_redirects_compare_where_they_point() -> None:
    legacy_answer = recorded(302, "text/html", b"<a>x</a>", location="http://old:8001/next")
    assert compare(legacy_answer, recorded(302, "text/html", b"", location="/next")) is None
    assert compare(legacy_answer, recorded(302, "text/html", b"", location="/other")) is not None


def test_a_redirect_without_a_body_matches_flasks_html_one() -> None:
    """Flask's redirect() sends an HTML page, Starlette's RedirectResponse no
    body and no content type: the same redirect all the same."""
    flask_answer = recorded(302, "text/html; charset=utf-8", b"<p>Redirecting</p>", location="/a")
    starlette_answer = Recorded(
        status=302, headers=[(b"location", b"/a")], body=bytearray(), complete=True
    )
    assert compare(flask_answer, starlette_answer) is None
    mismatch = compare(flask_answer, recorded(301, "", b"", location="/a"))
    assert mismatch is not None
    assert mismatch.differences == ["status 302 != 301"]


def test_json_is_compared_as_a_structure() -> None:
    assert normalise_body("application/json", b'{"a": 1, "csrf_token": "x"}') == normalise_body(
        "application/json", b'{"csrf_token":"y","a":1}'
    )
    assert normalise_body("application/json", b"[1, 2]") != normalise_body(
        "application/json", b"[2, 1]"
    )
