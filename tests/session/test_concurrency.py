"""Concurrent writers on one session, across both frameworks, lose nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from shared_session import SessionSettings
from tests.servers import serve_asgi, serve_wsgi
from tests.session.apps import make_asgi, make_flask

REQUESTS = 1000
IN_FLIGHT = 64


async def _fire(flask_url: str, asgi_url: str, cookie: str) -> list[int]:
    semaphore = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int) -> int:
            base = flask_url if i % 2 == 0 else asgi_url
            async with semaphore:
                response = await client.post(
                    f"{base}/set/k{i}", headers={"cookie": f"ssid={cookie}"}
                )
                return response.status_code

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


@pytest.mark.slow
def test_a_thousand_concurrent_writers_half_flask_half_fastapi_keep_every_key(
    redis_settings: SessionSettings,
) -> None:
    probe: list[Any] = []
    with (
        serve_wsgi(make_flask(redis_settings, probe)) as flask_url,
        serve_asgi(make_asgi(redis_settings, probe)) as asgi_url,
    ):
        first = httpx.post(f"{flask_url}/set/owner", params={"value": "alice"})
        cookie = first.cookies["ssid"]
        statuses = asyncio.run(_fire(flask_url, asgi_url, cookie))
        assert statuses == [200] * REQUESTS
        httpx.get(f"{asgi_url}/read", headers={"cookie": f"ssid={cookie}"})
    seen = probe[-1]
    missing = {f"k{i}" for i in range(REQUESTS)} - set(seen)
    assert not missing, f"{len(missing)} keys lost"
    assert seen["owner"] == "alice"
