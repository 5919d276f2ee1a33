"""What compose itself makes of the files (``config``, no engine needed): secrets are
required, the test override moves addresses and nothing else, and every command in
docs/deployment.md is one the tests run."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.compose_stack import (
    COMPOSE_FILE,
    DOWN,
    ENV_EXAMPLE,
    ENV_SETUP,
    FLIP,
    HEALTH_PATH,
    LOOPBACK_OVERRIDE,
    PS,
    STOP,
    UP,
    Ports,
    doctor_command,
    env_example,
    filled_env_file,
    flip_command,
    resolved_config,
)
from tests.deploy.docker_engine import ROOT, DockerError

DOC = ROOT / "docs" / "deployment.md"
PORTS = Ports(redis=41001, oidc=41002, legacy=41003, gateway=41004, admin=41005)
BASE_IMAGE = "local/python-base:test"
ADDRESS = re.compile(r"\b(?:redis|oidc|legacy|gateway|0\.0\.0\.0|127\.0\.0\.1):(\d+)\b")
# Container port in docker-compose.yml -> the loopback port the override gives it.
LOOPBACK_PORT = {
    "6379": str(PORTS.redis),
    "9400": str(PORTS.oidc),
    "8001": str(PORTS.legacy),
    "8000": str(PORTS.gateway),
    "8081": str(PORTS.admin),
}


@pytest.fixture
def env() -> dict[str, str]:
    """A clean environment for compose: no variable of .env.example from the shell."""
    clean = {k: v for k, v in os.environ.items() if k not in env_example()}
    clean.update(PORTS.variables(), TEST_BASE_IMAGE=BASE_IMAGE, REDIS_IMAGE="local/redis:test")
    return clean


def on_loopback(value: Any) -> Any:
    """``value`` from docker-compose.yml with every address moved as the override moves it."""
    if isinstance(value, dict):
        return {key: on_loopback(item) for key, item in value.items()}
    if isinstance(value, list):
        moved = []
        for index, item in enumerate(value):
            if index and value[index - 1] in ("--port", "-p"):
                moved.append(LOOPBACK_PORT[item])
            elif item == "0.0.0.0":
                moved.append("127.0.0.1")
            else:
                moved.append(on_loopback(item))
        return moved
    if isinstance(value, str):
        return ADDRESS.sub(lambda m: f"127.0.0.1:{LOOPBACK_PORT[m.group(1)]}", value)
    return value


def test_compose_refuses_to_start_with_env_example_as_shipped(
    compose_cli: list[str], env: dict[str, str]
) -> None:
    with pytest.raises(DockerError, match=r"set \w+ in \.env, see \.env\.example"):
        resolved_config((COMPOSE_FILE,), env, ENV_EXAMPLE, compose_cli)


def test_compose_takes_the_secrets_from_the_env_file(
    compose_cli: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    values = filled_env_file(tmp_path / ".env")
    config = resolved_config((COMPOSE_FILE,), env, tmp_path / ".env", compose_cli)
    gateway = config["services"]["gateway"]["environment"]
    assert gateway["GATEWAY_ADMIN_TOKEN"] == values["GATEWAY_ADMIN_TOKEN"]
    assert gateway["SECRET_KEY"] == values["SECRET_KEY"]
    assert len(values["SECRET_KEY"]) >= 32


def test_the_loopback_override_changes_only_addresses(
    compose_cli: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    filled_env_file(tmp_path / ".env")
    base = resolved_config((COMPOSE_FILE,), env, tmp_path / ".env", compose_cli)["services"]
    merged = resolved_config(
        (COMPOSE_FILE, LOOPBACK_OVERRIDE), env, tmp_path / ".env", compose_cli
    )["services"]
    assert set(merged) == set(base)
    for name, service in merged.items():
        assert service.pop("network_mode") == "host", name
        if "build" in service:
            assert service["build"].pop("network") == "host", name
            assert service["build"].pop("args") == {"BASE_IMAGE": BASE_IMAGE}, name
        expected = on_loopback(base[name])
        expected.pop("ports", None)  # not published on the host's network
        assert service == expected, name


def test_every_command_in_the_deployment_doc_is_one_the_tests_run() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    admin_port = next(p for p in compose["gateway"]["ports"] if p.startswith("127.0.0.1:"))
    public_port = next(p for p in compose["gateway"]["ports"] if not p.startswith("127.0.0.1:"))
    documented_admin = f"http://127.0.0.1:{admin_port.split(':')[1]}"
    documented_flip = flip_command(*FLIP, documented_admin)
    documented_doctor = doctor_command(documented_admin)
    blocks = re.findall(r"^```sh\n(.*?)^```", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) >= 6
    for command in commands:
        words = shlex.split(command)
        if command == ENV_SETUP:
            continue
        if words[:2] == ["docker", "compose"] or words[:1] == ["docker-compose"]:
            args = tuple(words[2:] if words[0] == "docker" else words[1:])
            assert args in (UP, PS, STOP, DOWN, documented_flip, documented_doctor), command
        elif words[0] == "curl":
            url = urlsplit(words[-1])
            assert (url.hostname, url.port) == ("127.0.0.1", int(public_port.split(":")[0]))
            assert url.path == HEALTH_PATH, command
        else:
            pytest.fail(f"docs/deployment.md runs `{command}`, which no test runs or checks")
