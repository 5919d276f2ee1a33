"""Graceful shutdown for load balancers: on SIGTERM the gateway turns unready,
keeps serving for ``drain_seconds``, then stops accepting and lets in-flight
requests, streams included, finish."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import ServerProcess, free_port, gunicorn_gateway

pytestmark = pytest.mark.slow

CLIENTS = 8


def test_sigterm_under_keep_alive_load_fails_no_request(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:streaming_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_DRAIN_SECONDS": "2",
        "GATEWAY_REDIS_URL": "",
        "REDIS_URL": "",
    }
    stop = threading.Event()
    results: list[int | str] = []
    stream_body: list[bytes] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=10) as http:  # keep-alive, as a load balancer's pool
            for _ in range(5000):  # bounded; the stop flag ends it long before
                if stop.is_set():
                    return
                try:
                    outcome: int | str = http.get(f"{base}/page").status_code
                except httpx.HTTPError as exc:
                    outcome = repr(exc)
                with lock:
                    results.append(outcome)

    def watch_readiness() -> None:
        # The load balancer: stop sending new work once the probe says unready.
        with httpx.Client(timeout=1) as http:
            for _ in range(400):
                try:
                    ready = http.get(f"{base}/_gateway/ready").status_code == 200
                except httpx.HTTPError:
                    ready = False
                if not ready:
                    stop.set()
                    return
                time.sleep(0.05)
        stop.set()

    def download() -> None:
        with httpx.stream("GET", f"{base}/stream", timeout=10) as response:
            stream_body.append(response.read())

    with ServerProcess(gunicorn_gateway(port, 1), tmp_path / "gw.log", env) as server:
        server.wait_for(f"{base}/_gateway/ready")
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        downloader = threading.Thread(target=download)
        downloader.start()
        time.sleep(0.3)  # the download is in flight
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        watcher = threading.Thread(target=watch_readiness)
        watcher.start()
        watcher.join(timeout=30)
        unready_after = time.monotonic() - signalled
        for thread in [*threads, downloader]:
            thread.join(timeout=30)
        code = server.wait_exit(timeout=30)
        stopped_after = time.monotonic() - signalled

    failures = [r for r in results if r != 200]
    assert len(results) > 100, "the load did not run"
    assert failures == [], failures[:5]
    assert stream_body == [b"".join(b"chunk %d\n" % i for i in range(10))]
    assert unready_after < 1.0
    assert 2.0 <= stopped_after < 15, stopped_after  # the drain, then a clean stop
    assert code == 0, server.log()
    assert "Traceback" not in server.log()
