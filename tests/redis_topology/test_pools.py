"""The session's pool settings hold on Sentinel and Cluster too: a burst
larger than the pool waits for a connection instead of failing."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared_session.redis_connect import async_client, sync_client
from tests.redis_topology.topology import ClusterSet, SentinelSet

POOL = 3
BURST = 24
# Each command holds its connection for 50 ms (BLPOP on a key nobody pushes).
HOLD = 0.05


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request: pytest.FixtureRequest) -> ClusterSet | SentinelSet:
    return request.getfixturevalue(f"redis_{request.param}")


def test_a_sync_burst_larger_than_the_pool_waits_for_connections(
    topology: ClusterSet | SentinelSet, prefix: str
) -> None:
    client = sync_client(topology.url, timeout=2, max_connections=POOL, pool_timeout=10)
    key = f"{{{prefix}}}:never"
    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(lambda _: client.blpop([key], timeout=HOLD), range(BURST)))
    assert results == [None] * BURST
    client.close()


def test_an_async_burst_larger_than_the_pool_waits_on_sentinel(
    redis_sentinel: SentinelSet, prefix: str
) -> None:
    async def burst() -> list[object]:
        client = async_client(redis_sentinel.url, timeout=2, max_connections=POOL, pool_timeout=10)
        try:
            key = f"{prefix}never"
            return await asyncio.gather(*(client.blpop([key], timeout=HOLD) for _ in range(BURST)))
        finally:
            await client.aclose()

    assert asyncio.run(burst()) == [None] * BURST
