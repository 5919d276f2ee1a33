"""512 requests in flight at once on each side, one process each: no 503.

Each side runs as a deployment would (Flask under gunicorn's threaded
worker, the ASGI app under uvicorn) against real Redis, with a connection
pool far smaller than the burst: requests wait for a connection instead of
failing. The apps hold every request until all 512 are inside the handler
together, so all loads and all saves really overlap, and report the peak.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.session.conftest import SIDES
from tests.session.load_apps import raw_post, serving

IN_FLIGHT = 512
POOL_SIZE = 20


async def _burst(url: str, cookie: str) -> list[int]:
    return list(
        await asyncio.gather(
            *(raw_post(url, f"/burst/k{i}?target={IN_FLIGHT}", cookie) for i in range(IN_FLIGHT))
        )
    )


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_512_in_flight_on_each_side_get_no_503_and_lose_no_key(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with serving(redis_url, key_prefix, tmp_path, pool_size=str(POOL_SIZE)) as urls:
        for side in SIDES:
            url = urls[side]
            cookie = httpx.post(f"{url}/set/owner", params={"value": side}).cookies["ssid"]
            statuses = asyncio.run(_burst(url, cookie))
            peak = httpx.get(f"{url}/peak").json()["peak"]
            print(f"{side}: {peak} in flight, statuses {sorted(set(statuses))}")
            assert statuses.count(503) == 0, f"{side}: {statuses.count(503)} x 503"
            assert peak >= IN_FLIGHT, f"{side}: only {peak} requests were in flight at once"
            assert statuses == [200] * IN_FLIGHT
            keys = httpx.get(f"{url}/keys", headers={"cookie": f"ssid={cookie}"}).json()["keys"]
            assert set(keys) == {"owner"} | {f"k{i}" for i in range(IN_FLIGHT)}
