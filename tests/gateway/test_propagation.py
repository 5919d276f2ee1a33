"""A flip reaches every worker of every replica within one second.

Two gateway replicas share one Redis, each gunicorn with 4 uvicorn workers
(``gunicorn -k uvicorn_worker.UvicornWorker --no-control-socket -w 4``). One
flip through B's admin API; then every worker of both is polled until each
serves the new flag version.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.redis_server import free_port

BIN = Path(sys.executable).parent
TOKEN = "propagation-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def gateway_env(redis_url: str, key_prefix: str, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(cache),
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_DRAIN_SECONDS": "0",  # stopped at once; test_drain.py covers the drain
    }


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/_gateway/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


@pytest.fixture
def replicas(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    port_a, port_b = free_port(), free_port()
    env = gateway_env(redis_url, key_prefix, tmp_path / "flags.json")
    command = [
        str(BIN / "gunicorn"), "-k", "uvicorn_worker.UvicornWorker", "--no-control-socket",
        "-w", "4", "--log-level", "warning", "gateway.app:create_gateway()",
    ]  # fmt: skip
    procs = [
        subprocess.Popen([*command, "-b", f"127.0.0.1:{port}"], env=env)
        for port in (port_a, port_b)
    ]
    urls = (f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            wait_healthy(url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def served_versions(pool: ThreadPoolExecutor, url: str, n: int) -> list[tuple[int, int]]:
    """(pid, flag version) from n concurrent fresh connections to one replica."""

    def one(_: int) -> tuple[int, int]:
        # http.client: a cheap fresh connection each time, so the workers share them.
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", "/_gateway/flags", headers=HEADERS)
            data = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return data["pid"], data["version"]

    host, _, port_text = url.removeprefix("http://").partition(":")
    port = int(port_text)

    return list(pool.map(one, range(n)))


@pytest.mark.slow
def test_flip_reaches_all_workers_of_all_replicas_within_a_second(
    replicas: tuple[str, str],
) -> None:
    url_a, url_b = replicas
    with ThreadPoolExecutor(16) as pool:
        workers: dict[str, set[int]] = {url_a: set(), url_b: set()}
        deadline = time.monotonic() + 30
        while min(map(len, workers.values())) < 4 and time.monotonic() < deadline:
            for url, seen in workers.items():
                seen |= {pid for pid, _ in served_versions(pool, url, 16)}
        assert [len(w) for w in workers.values()] == [4, 4], f"saw only workers {workers}"
        before = max(version for _, version in served_versions(pool, url_b, 4))

        start = time.monotonic()
        flip = httpx.put(
            f"{url_b}/_gateway/flags/prices", json={"flag": "canary 25"}, headers=HEADERS
        )
        assert flip.status_code == 200, flip.text
        version = flip.json()["version"]
        assert version > before

        pending = workers[url_a] | workers[url_b]
        first_seen: dict[int, float] = {}
        while pending and time.monotonic() - start < 5:
            for url in (url_a, url_b):
                for pid, seen in served_versions(pool, url, 8):
                    if seen >= version and pid in pending:
                        pending.discard(pid)
                        first_seen[pid] = time.monotonic() - start
        # Upper bound: each worker was seen serving the new version by then.
        took = max(first_seen.values(), default=time.monotonic() - start)

    print(f"\nflip propagated to 2 replicas x 4 gunicorn workers in {took * 1000:.0f} ms")
    assert not pending, f"workers {pending} never served version {version}"
    assert took < 1.0
    # And the flag really is served: a canary route answers with the new version.
    response = httpx.get(f"{url_a}/prices/1.5")
    assert response.headers["x-gateway-flags-version"] == str(version)
