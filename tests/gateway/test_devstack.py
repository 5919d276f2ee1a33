"""``python -m gateway.devstack`` as a developer runs it (``make run``), on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_end_to_end import log_in
from tests.redis_server import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def devstack(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port, oidc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OIDC_"))}
    env.pop("REDIS_URL", None)  # embedded defaults: everything in memory
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.devstack", "--port", str(port),
         "--oidc-port", str(oidc_port), "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/_gateway/health", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                raise RuntimeError(f"devstack did not start:\n{output}") from None
            time.sleep(0.1)
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_devstack_serves_pages_and_logs_in_through_its_provider(
    devstack: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = devstack
    home = httpx.get(f"{url}/")
    assert home.status_code == 200
    assert home.headers["x-served-by"] in ("legacy", "new")
    with httpx.Client(timeout=10) as client:
        log_in(client, url, "bob")
        assert "bob" in client.get(f"{url}/profile").text


def test_devstack_prints_how_to_log_in_and_flip_and_stops_on_ctrl_c(
    devstack: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = devstack
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert f"{url}/login" in output
    assert "/_gateway/flags/" in output
    assert "migrate-gateway flip" in output
