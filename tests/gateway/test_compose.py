"""docker-compose.yml without Docker: parse it, check it hangs together, and run
every service's command locally (loopback, free ports) to see the stack work."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.gateway.test_end_to_end import log_in
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
HOSTS = ("redis", "oidc", "legacy", "gateway", "0.0.0.0")


def env_of(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def test_the_four_services_are_there() -> None:
    assert set(SERVICES) == {"redis", "oidc", "legacy", "gateway"}


def test_gateway_runs_uvicorn_workers_under_gunicorn_in_front_of_legacy() -> None:
    command = SERVICES["gateway"]["command"]
    assert command[:3] == ["gunicorn", "-k", "uvicorn_worker.UvicornWorker"]
    assert "--no-control-socket" in command
    assert command[-1] == "gateway.app:create_gateway()"
    assert env_of("gateway")["GATEWAY_LEGACY_UPSTREAM"] == "http://legacy:8001"
    assert SERVICES["gateway"]["ports"] == ["8000:8000"]


def test_legacy_runs_flask_under_gunicorn_sync() -> None:
    command = SERVICES["legacy"]["command"]
    assert command[0] == "gunicorn"
    assert command[command.index("--worker-class") + 1] == "sync"
    assert "--no-control-socket" in command
    assert command[command.index("--bind") + 1] == "0.0.0.0:8001"


def test_ports_and_host_names_agree() -> None:
    oidc = SERVICES["oidc"]["command"]
    oidc_port = oidc[oidc.index("--port") + 1]
    for service in ("legacy", "gateway"):
        env = env_of(service)
        assert env["OIDC_ISSUER"] == f"http://oidc:{oidc_port}"
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert set(SERVICES[service]["depends_on"]) >= {"redis", "oidc"}
    redis_command = SERVICES["redis"]["command"]
    assert redis_command[redis_command.index("--port") + 1] == "6379"
    assert f"{oidc_port}:{oidc_port}" in SERVICES["oidc"]["ports"]


def test_dockerfile_installs_the_packages_the_commands_use() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("shared_session", "gateway", "legacy_flask", "new_fastapi"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "pip install ." in dockerfile
    for service in ("oidc", "legacy", "gateway"):
        assert SERVICES[service]["build"] == "."


class LocalStack:
    """The compose services as local processes: host names -> 127.0.0.1, ports -> free ones."""

    def __init__(self, data: Path) -> None:
        self.ports = {p: str(free_port()) for p in ("6379", "8000", "8001", "9400")}
        self.data = data
        self.processes: list[subprocess.Popen[bytes]] = []

    def local(self, text: str) -> str:
        text = re.sub(
            rf"\b({'|'.join(map(re.escape, HOSTS))}):(\d+)",
            lambda m: f"127.0.0.1:{self.ports.get(m.group(2), m.group(2))}",
            text,
        )
        text = self.ports.get(text, text)
        if text == "0.0.0.0":
            return "127.0.0.1"
        return text.replace("/data/", f"{self.data}/")

    def start(self, service: str) -> None:
        command = [self.local(arg) for arg in SERVICES[service]["command"]]
        executable = shutil.which(command[0], path=f"{ROOT}/.venv/bin:{os.environ['PATH']}")
        assert executable, f"{service}: {command[0]} is not installed"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OIDC_"))}
        env.update({k: self.local(v) for k, v in env_of(service).items()})
        self.processes.append(
            subprocess.Popen([executable, *command[1:]], env=env, cwd=self.data,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )  # fmt: skip

    def wait_http(self, port: str, path: str = "/") -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.ports[port]}{path}", timeout=1)
                return
            except httpx.TransportError:
                failed = [p for p in self.processes if p.poll() is not None]
                if failed or time.monotonic() > deadline:
                    errors = b"".join(p.stderr.read() or b"" for p in failed if p.stderr)
                    message = f"port {port} never answered:\n{errors.decode()}"
                    raise RuntimeError(message) from None
                time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path)
    try:
        for service in ("redis", "oidc", "legacy", "gateway"):
            stack.start(service)
        stack.wait_http("9400", "/.well-known/openid-configuration")
        stack.wait_http("8001")
        stack.wait_http("8000", "/_gateway/health")
        yield stack
    finally:
        stack.stop()


@pytest.mark.slow
def test_every_service_command_runs_and_the_stack_serves_and_logs_in(
    local_stack: LocalStack,
) -> None:
    gateway = f"http://127.0.0.1:{local_stack.ports['8000']}"
    home = httpx.get(f"{gateway}/")
    assert home.status_code == 200
    assert home.headers["x-served-by"] == "legacy"  # through gunicorn sync, over HTTP
    with httpx.Client(timeout=10) as client:
        log_in(client, gateway, "carol")
        assert "carol" in client.get(f"{gateway}/profile").text
        flipped = client.put(f"{gateway}/_gateway/flags/auth.profile", json={"flag": "new"})
        assert flipped.status_code == 200, flipped.text
        deadline = time.monotonic() + 5  # the other gunicorn worker hears it via Redis
        while True:
            profile = client.get(f"{gateway}/profile")
            if profile.headers["x-served-by"] == "new" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert profile.headers["x-served-by"] == "new"
        assert "carol" in profile.text
