"""Fallback: a failed GET on the new app is answered by the legacy app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from flask import Flask

from gateway.backends import ASGIBackend, WSGIBackend
from gateway.fallback import Fallback

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def legacy() -> Flask:
    app = Flask("fallback_legacy")

    @app.route("/<path:anything>", methods=["GET", "POST"])
    def anything(anything: str) -> str:
        return f"legacy {anything}"

    return app


def new() -> FastAPI:
    app = FastAPI()

    @app.get("/raises")
    async def raises() -> str:
        raise RuntimeError("bug in the new code")

    @app.api_route("/unavailable", methods=["GET", "POST"])
    async def unavailable() -> Response:
        return PlainTextResponse("down", status_code=503)

    @app.get("/missing")
    async def missing() -> Response:
        return PlainTextResponse("not here", status_code=404)

    @app.get("/fine")
    async def fine() -> str:
        return "new fine"

    @app.get("/breaks-midway")
    async def breaks_midway() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first part"
            raise RuntimeError("too late to fall back")

        return StreamingResponse(body())

    return app


class Counter:
    """How many requests the fallback sent to legacy."""

    def __init__(self, fallback: Fallback) -> None:
        self.fallback = fallback

    @property
    def count(self) -> int:
        return self.fallback.counts.total()


@pytest.fixture
def fallback() -> Fallback:
    return Fallback(ASGIBackend(new()), WSGIBackend(legacy(), threads=2))


@pytest.fixture
def fallbacks(fallback: Fallback) -> Counter:
    return Counter(fallback)


@pytest.fixture
def client(fallback: Fallback) -> Iterator[httpx.AsyncClient]:
    legacy_backend = fallback.legacy
    assert isinstance(legacy_backend, WSGIBackend)
    transport = httpx.ASGITransport(app=fallback, raise_app_exceptions=False)
    yield httpx.AsyncClient(transport=transport, base_url="http://gw")
    legacy_backend.executor.shutdown()


async def test_exception_in_new_app_is_answered_by_legacy(
    client: httpx.AsyncClient, fallbacks: Counter
) -> None:
    response = await client.get("/raises")
    assert (response.status_code, response.text) == (200, "legacy raises")
    assert fallbacks.count == 1


async def test_5xx_from_new_app_is_answered_by_legacy(
    client: httpx.AsyncClient, fallbacks: Counter
) -> None:
    response = await client.get("/unavailable")
    assert (response.status_code, response.text) == (200, "legacy unavailable")
    assert fallbacks.count == 1


async def test_non_get_requests_are_never_retried(
    client: httpx.AsyncClient, fallbacks: Counter
) -> None:
    response = await client.post("/unavailable", content=b"x")
    assert (response.status_code, response.text) == (503, "down")
    assert fallbacks.count == 0


async def test_4xx_and_success_pass_through(client: httpx.AsyncClient, fallbacks: Counter) -> None:
    assert (await client.get("/missing")).status_code == 404
    assert (await client.get("/fine")).json() == "new fine"
    assert fallbacks.count == 0


async def test_no_fallback_once_bytes_were_sent(
    client: httpx.AsyncClient, fallbacks: Counter
) -> None:
    response = await client.get("/breaks-midway")
    assert response.status_code == 200
    assert "legacy" not in response.text
    assert fallbacks.count == 0
