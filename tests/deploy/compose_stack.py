"""The real docker-compose.yml, run on loopback through tests/deploy/compose.loopback.yml.

``compose_stack(engine, images, workdir)`` builds the project image from the real
Dockerfile (``up --build``, with the local Python base as BASE_IMAGE), starts every
service, waits until each reports healthy and yields a :class:`ComposeStack`; on
exit it runs ``down`` and ``down --volumes`` whatever happened. Secrets come from an env file
made from .env.example, its empty values filled with random ones, as a user would.

Compose itself merges the two files and interpolates (``config``); the one change
made to its result is dropping ``ports`` from the services on the host's network,
which the engine would drop anyway but docker-compose 1.29 refuses ("host"
network_mode is incompatible with port_bindings) and an override cannot remove.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.docker_engine import INSTALL_HINT, ROOT, DockerError, DockerUnavailable, Engine
from tests.deploy.docker_engine import run as run_command
from tests.deploy.local_images import LocalImages
from tests.redis_server import free_port

COMPOSE_FILE = ROOT / "docker-compose.yml"
LOOPBACK_OVERRIDE = Path(__file__).with_name("compose.loopback.yml")
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = ("redis", "oidc", "legacy", "gateway")
# What docs/deployment.md tells a user to run, as the tests run it
# (tests/deploy/test_compose_config.py holds the document to these).
ENV_SETUP = "cp .env.example .env"  # the tests write a filled copy elsewhere instead
UP = ("up", "--build", "--detach")
PS = ("ps",)
STOP = ("down",)
DOWN = ("down", "--volumes")
HEALTH_PATH = "/_gateway/health"
READY_PATH = "/_gateway/ready"  # the gateway's compose healthcheck
FLIP = ("auth.profile", "new")  # route and flag of the documented flip

HEALTHY_TIMEOUT = 120.0
BUILD_TIMEOUT = 420.0
_VARIABLE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def doctor_command(admin_url: str) -> tuple[str, ...]:
    """Compose arguments that run ``migrate-gateway doctor`` against the running gateway."""
    return ("exec", "-T", "gateway", "migrate-gateway", "doctor", "--url", admin_url)


def flip_command(route: str, flag: str, admin_url: str) -> tuple[str, ...]:
    """Compose arguments that flip ``route`` with the CLI inside the gateway container."""
    return ("exec", "-T", "gateway", "migrate-gateway", "flip", route, flag, "--url", admin_url)


@dataclass(frozen=True)
class Ports:
    """A free loopback port per listener (the TEST_* variables of the override)."""

    redis: int = field(default_factory=free_port)
    oidc: int = field(default_factory=free_port)
    legacy: int = field(default_factory=free_port)
    gateway: int = field(default_factory=free_port)
    admin: int = field(default_factory=free_port)

    def variables(self) -> dict[str, str]:
        return {
            "TEST_REDIS_PORT": str(self.redis),
            "TEST_OIDC_PORT": str(self.oidc),
            "TEST_LEGACY_PORT": str(self.legacy),
            "TEST_GATEWAY_PORT": str(self.gateway),
            "TEST_ADMIN_PORT": str(self.admin),
        }


def env_example() -> dict[str, str]:
    """Every variable .env.example names, commented-out ones included, with its value."""
    variables = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := _VARIABLE.match(line.strip()):
            variables[match.group(1)] = match.group(2).strip()
    return variables


def filled_env_file(path: Path) -> dict[str, str]:
    """Write .env.example's active lines to ``path``, each empty value made random."""
    lines, values = [], {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name] = value or secrets.token_urlsafe(24)
        lines.append(f"{name}={values[name]}")
    path.write_text("\n".join(lines) + "\n")
    return values


def compose_command(env: Mapping[str, str]) -> list[str]:
    """``docker compose`` when the plugin is there, else ``docker-compose`` (v1.29)."""
    with contextlib.suppress(DockerError):
        run_command(["docker", "compose", "version"], env=env, timeout=30)
        return ["docker", "compose"]
    with contextlib.suppress(DockerError, FileNotFoundError):
        run_command(["docker-compose", "version"], env=env, timeout=30)
        return ["docker-compose"]
    raise DockerUnavailable(f"neither `docker compose` nor docker-compose runs: {INSTALL_HINT}")


@dataclass
class ComposeStack:
    """One compose project on loopback: its URLs, its secrets, and compose itself."""

    engine: Engine
    project: str
    ports: Ports
    secrets: dict[str, str]
    resolved: Path
    env: dict[str, str]
    command: list[str]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def admin_listener_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.admin}"

    def compose(self, *args: str, timeout: float = 120) -> str:
        """Run ``compose ARGS`` for this project; stdout, or DockerError with the output."""
        options = ["--file", str(self.resolved), "--project-directory", str(ROOT)]
        return run_command(
            [*self.command, *options, "--project-name", self.project, *args],
            env=self.env,
            timeout=timeout,
            cwd=ROOT,
        )

    def containers(self) -> dict[str, dict[str, object]]:
        """``docker inspect`` of this project's containers, by service name."""
        ids = self.compose("ps", "--quiet", timeout=30).split()
        by_service = {}
        for container in self.engine.inspect(*ids) if ids else []:
            labels = container["Config"]["Labels"]  # type: ignore[index]
            by_service[labels["com.docker.compose.service"]] = container  # type: ignore[index]
        return by_service

    def health(self) -> dict[str, str]:
        """Each service's health status ("healthy", "starting", ...) or its state."""
        status = {}
        for service, container in self.containers().items():
            state = container["State"]  # type: ignore[index]
            health = state.get("Health")  # type: ignore[union-attr]
            status[service] = health["Status"] if health else f"no healthcheck, {state['Status']}"  # type: ignore[index]
        return status

    def wait_healthy(self, services: tuple[str, ...] = SERVICES) -> None:
        """Block until every service in ``services`` is healthy; DockerError with logs if not."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT
        while True:
            status = self.health()
            if all(status.get(s) == "healthy" for s in services):
                return
            failed = [s for s in services if status.get(s) in ("unhealthy",) or
                      "exited" in status.get(s, "") or "dead" in status.get(s, "")]  # fmt: skip
            if failed or time.monotonic() > deadline:
                raise DockerError(
                    f"services not healthy within {HEALTHY_TIMEOUT:.0f} s: {status}\n{self.logs()}"
                )
            time.sleep(1)

    def logs(self) -> str:
        """The last lines each service logged (for failure messages)."""
        try:
            return self.compose("logs", "--no-color", "--tail", "40", timeout=60)
        except DockerError as exc:
            return f"(no logs: {exc})"


def resolved_config(
    files: tuple[Path, ...], env: Mapping[str, str], env_file: Path, command: list[str]
) -> dict[str, Any]:
    """What compose makes of ``files`` (merged, interpolated), host-network ports dropped."""
    options = [arg for path in files for arg in ("--file", str(path))]
    text = run_command(
        [*command, *options, "--env-file", str(env_file), "config"], env=env, timeout=60, cwd=ROOT
    )
    config: dict[str, Any] = yaml.safe_load(text)
    for service in config["services"].values():
        if service.get("network_mode") == "host":
            service.pop("ports", None)
    return config


@contextlib.contextmanager
def compose_stack(engine: Engine, images: LocalImages, workdir: Path) -> Iterator[ComposeStack]:
    """Build and start the stack, wait for health, yield it; always ``down --volumes``."""
    env_file = workdir / "compose.env"
    values = filled_env_file(env_file)
    ports = Ports()
    # Nothing from the caller's shell may override the env file or the override file.
    env = {k: v for k, v in engine.env.items()
           if k not in env_example() and not k.startswith(("COMPOSE_", "TEST_"))}  # fmt: skip
    env.update(ports.variables(), TEST_BASE_IMAGE=images.python_base, REDIS_IMAGE=images.redis)
    command = compose_command(env)
    config = resolved_config((COMPOSE_FILE, LOOPBACK_OVERRIDE), env, env_file, command)
    resolved = workdir / "compose.yml"
    resolved.write_text(yaml.safe_dump(config))
    stack = ComposeStack(
        engine=engine,
        project=f"migratetest{os.getpid()}",
        ports=ports,
        secrets=values,
        resolved=resolved,
        env=env,
        command=command,
    )
    try:
        start = time.monotonic()
        try:
            stack.compose(*UP, timeout=BUILD_TIMEOUT)
        except DockerError as exc:
            raise DockerError(f"{exc}\n{stack.logs()}") from None
        stack.seconds["compose up --build"] = time.monotonic() - start
        start = time.monotonic()
        stack.wait_healthy()
        stack.seconds["all healthy after up"] = time.monotonic() - start
        yield stack
    finally:
        try:
            stack.compose(*STOP, "--timeout", "10", timeout=120)
        finally:
            stack.compose(*DOWN, "--remove-orphans", "--timeout", "10", timeout=120)
        if engine.started_here:
            # Earlier builds of the project image, now untagged: keep var/docker-test small.
            with contextlib.suppress(DockerError, subprocess.SubprocessError):
                engine.docker("image", "prune", "--force", timeout=120)
