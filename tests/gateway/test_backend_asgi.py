"""The in-process FastAPI backend: pass-through and the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, Request

from gateway.backends import build_new_backend
from gateway.backends.asgi import ASGIBackend, LifespanError
from gateway.settings import GatewaySettings
from shared_session import SessionMiddleware, SessionSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(log: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        log.append("startup")
        yield {"db": "connected"}
        log.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(request: Request) -> dict[str, str]:
        return {"db": request.state.db, "url": str(request.url_for("state"))}

    return app


async def test_lifespan_runs_and_its_state_reaches_requests() -> None:
    log: list[str] = []
    backend = build_new_backend(GatewaySettings(flag_cache_path=None), make_app(log))
    await backend.start()
    assert log == ["startup"]
    transport = httpx.ASGITransport(app=backend)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get("/state")
    assert response.json() == {"db": "connected", "url": "http://gw/state"}
    await backend.aclose()
    assert log == ["startup", "shutdown"]


async def test_failed_startup_raises() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database is down")
        yield

    backend = ASGIBackend(FastAPI(lifespan=lifespan))
    with pytest.raises(LifespanError, match="database is down"):
        await backend.start()
    await backend.aclose()


async def http_only(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        raise RuntimeError("http only")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_an_app_raising_in_its_lifespan_stops_the_start() -> None:
    backend = ASGIBackend(http_only)
    with pytest.raises(LifespanError, match=r"http only.*GATEWAY_NEW_APP_LIFESPAN"):
        await backend.start()
    await backend.aclose()


async def test_a_misconfigured_middleware_stops_the_start() -> None:
    # Starlette builds its middleware on the first call, the lifespan's: a
    # session middleware without keys must fail there, not on a user's request.
    app = FastAPI()
    app.add_middleware(SessionMiddleware, settings=SessionSettings(secret_keys=[]))
    backend = ASGIBackend(app)
    with pytest.raises(LifespanError, match="secret keys"):
        await backend.start()
    await backend.aclose()


async def test_app_returning_without_lifespan_answers_is_served() -> None:
    async def quiet(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await http_only(scope, receive, send)

    backend = ASGIBackend(quiet)
    await backend.start()
    transport = httpx.ASGITransport(app=backend)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/")).status_code == 204
    await backend.aclose()


async def test_lifespan_off_serves_an_app_without_lifespan_support() -> None:
    backend = ASGIBackend(http_only, lifespan=False)
    await backend.start()
    transport = httpx.ASGITransport(app=backend)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/")).status_code == 204
    await backend.aclose()


async def test_servers_see_the_backend_as_an_asgi3_app() -> None:
    """uvicorn tells ASGI 2 from 3 by inspecting ``__call__``; served alone, the
    backend must not be wrapped as an ASGI 2 app (a 500 on every request)."""
    from uvicorn.config import Config
    from uvicorn.middleware.asgi2 import ASGI2Middleware

    config = Config(ASGIBackend(make_app([])), proxy_headers=False)
    config.load()
    assert not isinstance(config.loaded_app, ASGI2Middleware)
