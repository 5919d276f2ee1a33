"""Shadow statistics are one set of figures for every worker and replica (Redis),
with sampling and drops counted and shown by the admin API."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import redis

from gateway.app import create_gateway
from gateway.shadowstats import ShadowStats, read_sync
from tests.gateway.support import EchoBackend, serve, settings_for
from tests.processes import ServerProcess, free_port, gunicorn_gateway
from tests.redis_server import RedisServer


def wait_until(read, condition, timeout: float = 15):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if condition(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.mark.slow
def test_thirty_shadowed_gets_under_three_workers_show_thirty_replays_on_every_worker(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    port = free_port()
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_FLAGS": '{"notes.list": "shadow"}',
        "GATEWAY_ADMIN_TOKEN": "shadow-token",
    }
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer shadow-token"}
    with ServerProcess(gunicorn_gateway(port, 3), tmp_path / "gw.log", env) as server:
        server.wait_for(f"{base}/_gateway/health")
        for _ in range(30):  # a new connection each: gunicorn spreads them over the workers
            response = httpx.get(f"{base}/notes/")
            assert response.headers["x-served-by"] == "legacy"

        def shadow() -> dict:
            return httpx.get(f"{base}/_gateway/shadow", headers=auth).json()

        wait_until(shadow, lambda s: s["shadow"]["replayed"] == 30)
        answers: dict[str, int] = {}
        for _ in range(15):  # several workers answer; each must say the same
            reply = shadow()
            answers[reply["replica"]] = reply["shadow"]["replayed"]
        assert len(answers) >= 2, "only one worker answered"
        assert set(answers.values()) == {30}, answers
        stats = shadow()["shadow"]
        assert stats["store"] == "redis"
        assert stats["replayed_by_route"] == {"notes.list": 30}
        # Legacy says "ok", the new app answers JSON: 30 mismatches, each with a diff.
        assert stats["mismatched"] == {"notes.list": 30}
        assert stats["routes"]["notes.list"]["match_rate"] == 0.0
        sample = stats["samples"][0]
        assert sample["differences"][0].startswith("content-type")
        assert sample["first_difference"]["legacy"] == "ok"
        assert "-ok" in sample["diff"] and '+ "side": "new"' in sample["diff"]
        assert len(stats["samples"]) == 20


def test_two_processes_share_counts_and_samples_through_redis(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> tuple[dict, dict]:
        first = ShadowStats(redis_url=redis_url, key=f"{key_prefix}shadow", flush_interval=0.05)
        second = ShadowStats(redis_url=redis_url, key=f"{key_prefix}shadow", flush_interval=0.05)
        await first.start()
        await second.start()
        try:
            first.count("replayed", "notes.list", 3)
            first.count("matched", "notes.list", 2)
            first.count("mismatched", "notes.list")
            first.add_sample({"route": "notes.list", "diff": "-a\n+b"})
            second.count("replayed", "notes.list", 2)
            second.count("matched", "notes.list", 2)
            second.count("dropped", "queue_full", 7)
            await asyncio.sleep(0.3)
            return await first.snapshot(), await second.snapshot()
        finally:
            await first.aclose()
            await second.aclose()

    one, two = asyncio.run(scenario())
    assert one == two
    assert one["replayed"] == 5 and one["routes"]["notes.list"]["match_rate"] == 0.8
    assert one["dropped"] == {"queue_full": 7, "too_big": 0, "timeout": 0}
    assert one["samples"] == [{"route": "notes.list", "diff": "-a\n+b"}]
    client = redis.Redis.from_url(redis_url)
    assert read_sync(client, f"{key_prefix}shadow") == one
    client.close()


def test_counts_wait_in_memory_while_redis_is_down(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[dict, dict]:
        stats = ShadowStats(redis_url=redis_server.url, key="s", flush_interval=0.05)
        await stats.start()
        try:
            redis_server.stop()
            stats.count("replayed", "a", 4)
            await asyncio.sleep(0.3)
            down = await stats.snapshot()
            redis_server.start()
            await asyncio.sleep(0.5)
            up = await stats.snapshot()
            return down, up
        finally:
            await stats.aclose()

    down, up = asyncio.run(scenario())
    assert down["replayed"] == 4 and "Redis unavailable" in down["store"]
    assert up["replayed"] == 4 and up["store"] == "redis"


class SlowNew(EchoBackend):
    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        await super().__call__(scope, receive, send)


def test_drops_and_sampling_are_counted_and_shown_by_the_admin_api(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, flags={"notes.list": "shadow"}, shadow_queue_size=1, shadow_sample_rate=1.0
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=SlowNew("new")
    )
    with serve(gateway) as url, httpx.Client() as client:
        for _ in range(8):
            assert client.get(f"{url}/notes/").status_code == 200
        stats = client.get(f"{url}/_gateway/shadow").json()["shadow"]
    # Two replays running, one queued: the rest was dropped, and it says so.
    assert stats["dropped"]["queue_full"] >= 4
    assert stats["dropped_total"] == stats["dropped"]["queue_full"]
    assert stats["settings"]["queue_size"] == 1
    assert stats["store"] == "memory (this process only)"


def test_a_zero_sample_rate_replays_nothing_and_counts_what_it_skipped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, flags={"notes.list": "shadow"}, shadow_sample_rate=0.0)
    new = EchoBackend("new")
    gateway = create_gateway(settings, legacy_backend=EchoBackend("legacy"), new_backend=new)
    with serve(gateway) as url, httpx.Client() as client:
        for _ in range(5):
            client.get(f"{url}/notes/")
        stats = client.get(f"{url}/_gateway/shadow").json()["shadow"]
    assert new.calls == 0
    assert stats["replayed"] == 0 and stats["not_sampled"] == 5
    assert json.dumps(stats)  # JSON all the way
