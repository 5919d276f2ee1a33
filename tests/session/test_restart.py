"""Redis restarted under load: both sides answer correctly within 1 s of its return.

A private redis-server is stopped and started again on the same port while
16 clients per side keep writing to their session, against one Flask
process (gunicorn, threaded) and one uvicorn process. The pooled
connections are all dead after the restart: each is replaced on first use
by one immediate retry on a fresh connection, so no request that starts
after Redis is back should fail.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.session.conftest import SIDES
from tests.session.load_apps import raw_post, serving

CLIENTS = 16  # per side
DOWN = 1.0  # seconds Redis stays away
AFTER = 2.5  # seconds of load after it is back


async def _load_through_restart(
    urls: dict[str, str], cookies: dict[str, str], server: RedisServer
) -> tuple[float, list[tuple[str, float, float, int]]]:
    answers: list[tuple[str, float, float, int]] = []  # side, start, end, status
    done = asyncio.Event()

    async def client(side: str, number: int) -> None:
        n = 0
        while not done.is_set() and n < 10_000:
            n += 1
            started = time.monotonic()
            try:
                status = await raw_post(urls[side], f"/set/c{number}", cookies[side])
            except (ConnectionError, TimeoutError, IndexError, ValueError):
                status = 0
            answers.append((side, started, time.monotonic(), status))

    async def restart() -> float:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(DOWN)
        await asyncio.to_thread(server.start)  # returns once it answers PING
        back = time.monotonic()
        await asyncio.sleep(AFTER)
        done.set()
        return back

    clients = [client(side, i) for side in SIDES for i in range(CLIENTS)]
    back, *_ = await asyncio.gather(restart(), *clients)
    return back, answers


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_both_sides_are_back_within_a_second_of_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with serving(redis_server.url, "restart:", tmp_path) as urls:
        cookies = {side: httpx.post(f"{urls[side]}/set/owner").cookies["ssid"] for side in SIDES}
        back, answers = asyncio.run(_load_through_restart(urls, cookies, redis_server))
        for side in SIDES:
            mine = [a for a in answers if a[0] == side]
            during = [a for a in mine if a[1] < back]
            after = [a for a in mine if a[1] >= back]
            failed = [a for a in after if a[3] != 200]
            recovery = max((a[2] - back for a in failed), default=0.0)
            print(
                f"{side}: {len(mine)} requests, {sum(a[3] == 503 for a in during)} x 503 "
                f"while down, {len(failed)} failed after Redis was back, "
                f"recovered {recovery:.2f} s after its return"
            )
            assert any(a[3] == 503 for a in during), f"{side}: the outage was not seen"
            assert len(after) >= 20, f"{side}: too little load after the restart"
            assert recovery < 1.0, f"{side}: failures until {recovery:.2f} s after Redis was back"
            assert all(a[3] == 200 for a in after if a[1] >= back + 1.0)
            # And the session works: a new one is written and read back.
            cookie = httpx.post(f"{urls[side]}/set/check").cookies["ssid"]
            keys = httpx.get(f"{urls[side]}/keys", headers={"cookie": f"ssid={cookie}"})
            assert keys.json() == {"keys": ["check"]}
