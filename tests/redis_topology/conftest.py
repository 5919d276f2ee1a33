"""A real Redis Cluster (3 masters, 3 replicas) and a real Sentinel set, started
once for this package on loopback and stopped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.redis_topology.topology import ClusterSet, SentinelSet


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterSet]:
    cluster = ClusterSet()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSet]:
    sentinel = SentinelSet()
    try:
        sentinel.start()
        yield sentinel
    finally:
        sentinel.close()


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix (the servers are throwaway; nothing to clean up)."""
    return f"topo:{uuid.uuid4().hex[:10]}:"
