"""A failover while users keep clicking: no 500, sessions and flags survive.

The gateway runs as in production (gunicorn, 2 uvicorn workers) in front of
a Flask app and a FastAPI app that share the session; ``REDIS_URL`` names a
real Redis Cluster or Sentinel set for both the sessions and the flags.
Users log in, then each loops: a write on the Flask side (``/count``) and a
read on the FastAPI side (``/whoami``, flipped to new). Midway, a replica
takes over (``CLUSTER FAILOVER`` / ``SENTINEL FAILOVER``).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import ServerProcess, free_port, gunicorn_gateway
from tests.redis_topology.topology import ClusterSet, SentinelSet

TOKEN = "topology-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
USERS = 6
LOAD_BEFORE = 1.5  # seconds of load before the failover
LOAD_AFTER = 2.0  # and after it completed
MAX_ROUNDS = 5000  # per user: the loop is bounded in count as well as time


@dataclass
class User:
    name: str
    client: httpx.Client
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    counted: int = 0  # /count answered 200: writes the user was told happened
    uncertain: int = 0  # /count answered 503: may or may not have been written
    wrong: list[str] = field(default_factory=list)  # 200s that show a lost session


def _serve(topology: ClusterSet | SentinelSet, prefix: str, tmp_path: Path) -> ServerProcess:
    port = free_port()
    env = {
        "REDIS_URL": topology.url,
        "SHARED_SESSION_KEY_PREFIX": f"{prefix}s:",
        "SHARED_SESSION_SECRET_KEYS": '["topology-secret"]',
        "SHARED_SESSION_TIMEOUT": "1.0",
        "GATEWAY_LEGACY_APP": "tests.redis_topology.apps:legacy()",
        "GATEWAY_NEW_APP": "tests.redis_topology.apps:new()",
        "GATEWAY_FLAG_KEY": f"{prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_FLAGS": '{"whoami": "new"}',
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_DRAIN_SECONDS": "0",
    }
    server = ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gateway.log", env)
    server.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return server


def _click(user: User, stop: threading.Event) -> None:
    for _ in range(MAX_ROUNDS):
        if stop.is_set():
            return
        try:
            counted = user.client.post("/count")
            user.statuses[counted.status_code] += 1
            if counted.status_code == 200:
                user.counted += 1
                if counted.json()["user"] != user.name:
                    user.wrong.append(f"/count {counted.text}")
            elif counted.status_code == 503:
                user.uncertain += 1
            seen = user.client.get("/whoami")
            user.statuses[seen.status_code] += 1
            if seen.status_code == 200:
                body = seen.json()
                if body["user"] != user.name or body["side"] != "new":
                    user.wrong.append(f"/whoami {seen.text}")
        except httpx.HTTPError as exc:  # a dropped connection counts as a failure
            user.statuses[-1] += 1
            user.wrong.append(repr(exc))


def _failover_under_load(
    topology: ClusterSet | SentinelSet, prefix: str, tmp_path: Path, failover: Any
) -> None:
    with _serve(topology, prefix, tmp_path) as server:
        url: str = server.url  # type: ignore[attr-defined]
        server.wait_for(f"{url}/_gateway/health")
        flags_before = httpx.get(f"{url}/_gateway/flags", headers=ADMIN).json()
        assert flags_before["flags"] == {"whoami": "new"}
        users = [User(f"user{i}", httpx.Client(base_url=url, timeout=10)) for i in range(USERS)]
        for user in users:
            assert user.client.post(f"/login/{user.name}").status_code == 200
        stop = threading.Event()
        threads = [threading.Thread(target=_click, args=(u, stop)) for u in users]
        for t in threads:
            t.start()
        try:
            time.sleep(LOAD_BEFORE)
            started = time.monotonic()
            failover()
            took = time.monotonic() - started
            time.sleep(LOAD_AFTER)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        totals = sum((u.statuses for u in users), collections.Counter())
        print(f"\nfailover took {took:.2f} s; responses during the run: {dict(totals)}")
        (tmp_path / "redis.log").write_text(topology.logs(200))

        # No 500, no dropped connection, no request that saw someone else's
        # (or an empty) session.
        assert set(totals) <= {200, 503}, (dict(totals), server.log()[-3000:])
        assert totals[200] > 50
        assert [u.wrong for u in users] == [[] for _ in users]
        # Sessions survive: every write a user was told about is there.
        for user in users:
            final = user.client.get("/whoami")
            assert final.status_code == 200
            body = final.json()
            assert body["user"] == user.name
            assert user.counted <= body["n"] <= user.counted + user.uncertain, (
                user,
                body,
                topology.logs(),
            )
        # Flags survive, and a flip after the failover works and is served.
        flags_after = httpx.get(f"{url}/_gateway/flags", headers=ADMIN).json()
        assert flags_after["flags"] == {"whoami": "new"}
        assert flags_after["version"] == flags_before["version"]
        flip = httpx.put(f"{url}/_gateway/flags/whoami", json={"flag": "legacy"}, headers=ADMIN)
        assert flip.status_code == 200, flip.text
        deadline = time.monotonic() + 5
        while users[0].client.get("/whoami").json()["side"] != "legacy":
            assert time.monotonic() < deadline, "the flip after the failover did not apply"
            time.sleep(0.05)
        for user in users:
            user.client.close()


@pytest.mark.slow
def test_cluster_failover_under_load_loses_no_session_and_no_flag(
    redis_cluster: ClusterSet, prefix: str, tmp_path: Path
) -> None:
    from shared_session.redis_connect import sync_client

    client = sync_client(redis_cluster.url, timeout=1)
    # The master that holds the flags (and a third of the sessions) goes.
    master = redis_cluster.master_of_slot(client.keyslot(f"{prefix}flags"))
    client.close()
    _failover_under_load(redis_cluster, prefix, tmp_path, lambda: redis_cluster.failover(master))


@pytest.mark.slow
def test_sentinel_failover_under_load_loses_no_session_and_no_flag(
    redis_sentinel: SentinelSet, prefix: str, tmp_path: Path
) -> None:
    _failover_under_load(redis_sentinel, prefix, tmp_path, redis_sentinel.failover)
