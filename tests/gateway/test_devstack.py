"""``python -m gateway.devstack`` as a developer runs it (``make run``), on free ports."""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_end_to_end import log_in
from tests.processes import ROOT
from tests.redis_server import free_port

pytestmark = pytest.mark.slow


@dataclass
class Devstack:
    url: str
    process: subprocess.Popen[str]
    banner: str
    cwd: Path


def read_banner(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """What the stack printed, up to its "Stop:" line (read by a thread, bounded)."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in stdout:
            lines.append(line)
            if line.strip().startswith("Stop:"):
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if done.wait(timeout) and lines and lines[-1].strip().startswith("Stop:"):
        return "".join(lines)
    raise RuntimeError("devstack printed no banner:\n" + "".join(lines))


@pytest.fixture
def devstack(tmp_path: Path) -> Iterator[Devstack]:
    port, oidc_port = free_port(), free_port()
    # As on a fresh machine: no app settings, no SECRET_KEY, no Redis.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OIDC_"))}
    for name in ("REDIS_URL", "SECRET_KEY"):
        env.pop(name, None)
    # The reference apps are not installed: `make run` imports them from the repository
    # root (its working directory); here the working directory is a fresh one.
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.devstack", "--port", str(port),
         "--oidc-port", str(oidc_port), "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        banner = read_banner(process)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_gateway/health", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"devstack did not start:\n{banner}") from None
                time.sleep(0.1)
        yield Devstack(url, process, banner, tmp_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_devstack_serves_pages_and_logs_in_through_its_provider(devstack: Devstack) -> None:
    url = devstack.url
    home = httpx.get(f"{url}/")
    assert home.status_code == 200
    assert home.headers["x-served-by"] in ("legacy", "new")
    with httpx.Client(timeout=10) as client:
        log_in(client, url, "bob")
        assert "bob" in client.get(f"{url}/profile").text


def test_devstack_prints_how_to_log_in_and_flip_and_stops_on_ctrl_c(devstack: Devstack) -> None:
    url, process = devstack.url, devstack.process
    process.send_signal(signal.SIGINT)
    output = devstack.banner + process.communicate(timeout=15)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert f"{url}/login" in output
    assert "/_gateway/flags/" in output
    assert "migrate-gateway flip" in output


def test_the_printed_flip_command_works_as_pasted(devstack: Devstack) -> None:
    line = next(x for x in devstack.banner.splitlines() if x.strip().startswith("Flip:"))
    command = line.split("Flip:", 1)[1].strip()
    assert re.match(r"GATEWAY_ADMIN_TOKEN=\S{20,} ", command), command
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=60, cwd=devstack.cwd
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert httpx.get(f"{devstack.url}/notes").headers["x-served-by"] == "new"
    anonymous = httpx.put(f"{devstack.url}/_gateway/flags/webapp.notes", json={"flag": "legacy"})
    assert anonymous.status_code in (401, 403)
    assert shlex.split(command)[0].startswith("GATEWAY_ADMIN_TOKEN=")


def test_the_development_key_is_random_private_and_kept(devstack: Devstack) -> None:
    key_file = devstack.cwd / "var" / "dev-secret-key"
    key = key_file.read_text().strip()
    assert len(key) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key not in devstack.banner


def test_without_the_repository_on_the_path_it_says_where_the_reference_apps_are(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OIDC_"))}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "gateway.devstack", "--port", str(free_port()),
         "--oidc-port", str(free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot import the reference app 'legacy_flask'" in done.stderr
    assert "repository root" in done.stderr
    assert "Traceback" not in done.stderr
