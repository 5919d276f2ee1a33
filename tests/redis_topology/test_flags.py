"""Gateway flags on a real Redis Cluster and a real Sentinel set: the flip
script, the pub/sub channel (polling switched off, so only a message can
carry a flip) and the CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.flags import Flag, parse_flag
from gateway.flagstore import RedisFlagStore
from gateway.flagstore.redis import version_key
from shared_session.redis_connect import sync_client
from tests.redis_topology.topology import ClusterSet, SentinelSet

NO_POLLING = 60.0


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request: pytest.FixtureRequest) -> ClusterSet | SentinelSet:
    return request.getfixturevalue(f"redis_{request.param}")


def store(url: str, prefix: str, path: Path, **initial: str) -> RedisFlagStore:
    return RedisFlagStore(
        url,
        flag_key=f"{prefix}flags",
        channel=f"{prefix}channel",
        poll_interval=NO_POLLING,
        cache_path=path,
        initial={k: parse_flag(v) for k, v in initial.items()},
    )


async def until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


def test_a_flip_reaches_every_store_through_the_channel(
    topology: ClusterSet | SentinelSet, prefix: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        a = store(topology.url, prefix, tmp_path / "a.json", prices="new")
        b = store(topology.url, prefix, tmp_path / "b.json")
        await a.start()
        await b.start()
        try:
            assert b.table.flags["prices"] == Flag("new")  # seeded once, read by both
            await asyncio.sleep(0.3)  # both subscribed
            await a.set_flag("prices", Flag("canary", 2500))
            await until(lambda: b.table.flags.get("prices") == Flag("canary", 2500))
            assert b.table.version == a.table.version
            assert a.status()["redis_connected"] and b.status()["redis_connected"]
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())


def test_the_flag_hash_and_its_version_share_a_hash_slot(
    redis_cluster: ClusterSet, prefix: str
) -> None:
    client = sync_client(redis_cluster.url, timeout=1)
    for key in (f"{prefix}flags", "gateway:flagtable", "{tenant}:flags"):
        assert client.keyslot(key) == client.keyslot(version_key(key))
    client.close()


def test_the_cli_flips_and_reads_flags_and_running_stores_follow(
    topology: ClusterSet | SentinelSet, prefix: str, tmp_path: Path
) -> None:
    env = {
        "REDIS_URL": topology.url,
        "GATEWAY_FLAG_KEY": f"{prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{prefix}channel",
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "COLUMNS": "200",
    }

    async def scenario() -> None:
        running = store(topology.url, prefix, tmp_path / "flags.json")
        await running.start()
        try:
            await asyncio.sleep(0.3)
            flipped = await asyncio.to_thread(
                CliRunner().invoke, cli, ["flip", "prices", "new"], env=env
            )
            assert flipped.exit_code == 0, flipped.output
            await until(lambda: running.table.flags.get("prices") == Flag("new"))
        finally:
            await running.aclose()
        shown = CliRunner().invoke(cli, ["flags"], env=env)
        assert shown.exit_code == 0, shown.output
        assert "prices: new" in shown.output and "(redis)" in shown.output

    asyncio.run(scenario())
