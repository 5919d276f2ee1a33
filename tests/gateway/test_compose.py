"""docker-compose.yml, the Dockerfile and .env.example read as files: what must hold
before anything runs. tests/deploy/ builds the image and runs the stack for real.

Nothing here lists packages by hand: what the image needs is derived from
pyproject.toml (the packages it ships) and from the services' commands (the modules
they import), and the Dockerfile is held to it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# "module:attribute" or "module:factory()" in a command or an environment value.
IMPORT_STRING = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*(\(\))?$")
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]+\}$")


def env_of(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def shipped_packages() -> set[str]:
    """Top-level packages `pip install .` ships: setuptools' find, include patterns of pyproject."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if any(fnmatch.fnmatch(path.parent.name, p) for p in find.get("include", ["*"]))
        and not any(fnmatch.fnmatch(path.parent.name, p) for p in find.get("exclude", []))
    }


def imported_by_services() -> set[str]:
    """Top-level modules named by an import string in a service's command or environment."""
    modules = set()
    for service in SERVICES.values():
        words = [*service.get("command", []), *(service.get("environment") or {}).values()]
        for word in map(str, words):
            if (match := IMPORT_STRING.match(word)) and (
                ROOT / match.group(1).split(".")[0]
            ).exists():
                modules.add(match.group(1).split(".")[0])
    return modules


def copy_instructions() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY line, in order."""
    lines = re.findall(r"^COPY\s+(.+)$", DOCKERFILE, flags=re.MULTILINE | re.IGNORECASE)
    copies = []
    for line in lines:
        words = [w for w in shlex.split(line) if not w.startswith("--")]
        copies.append((words[:-1], words[-1]))
    return copies


def copied_into_image() -> set[str]:
    """Paths (relative to the build context) the Dockerfile's COPY lines take."""
    return {source.rstrip("/") for sources, _ in copy_instructions() for source in sources}


def docker_ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns if not p.startswith("!")
    )


def test_the_image_holds_every_package_pyproject_ships_and_every_module_a_service_imports() -> None:
    needed = shipped_packages() | imported_by_services()
    assert {"gateway", "shared_session"} <= shipped_packages()  # the finder still finds
    assert {"gateway", "legacy_flask", "new_fastapi"} <= imported_by_services()
    missing = needed - copied_into_image()
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}: add a line for each"


def test_every_module_a_service_imports_imports_from_the_image_files_alone(
    tmp_path: Path,
) -> None:
    # The image's /app as the COPY lines build it (Docker copies a directory's contents).
    workdir = re.findall(r"^WORKDIR\s+(\S+)$", DOCKERFILE, flags=re.MULTILINE)[-1]
    app = tmp_path / workdir.lstrip("/")
    for sources, destination in copy_instructions():
        for source in sources:
            target = app / destination
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target)
    # Third-party packages from the virtualenv, but not its editable finder (-S).
    site = sysconfig.get_paths()["purelib"]
    for module in sorted(imported_by_services()):
        code = (
            f"import sys; sys.path[:0] = [{str(app)!r}]; sys.path.append({site!r}); import {module}"
        )
        result = subprocess.run(
            [sys.executable, "-S", "-c", code], cwd=app, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{module}: {result.stderr.strip().splitlines()[-1]}"


def test_every_path_the_dockerfile_copies_exists_and_reaches_the_build() -> None:
    for source in copied_into_image():
        assert (ROOT / source).exists(), source
        assert not docker_ignored(source), f"{source} is excluded by .dockerignore"


def test_the_build_context_leaves_out_the_test_engine_and_the_virtualenv() -> None:
    for path in ("var", ".venv", ".env", ".git"):
        assert docker_ignored(path), path


def test_the_base_image_is_a_build_argument_defaulting_to_the_official_python() -> None:
    assert DOCKERFILE.index("ARG BASE_IMAGE=python:3.12-slim") < DOCKERFILE.index(
        "FROM ${BASE_IMAGE}"
    )
    assert "pip install --no-deps ." in DOCKERFILE


def test_the_redis_image_comes_from_the_environment_defaulting_to_the_official_one() -> None:
    assert SERVICES["redis"]["image"] == "${REDIS_IMAGE:-redis:7-alpine}"


def test_secrets_and_tokens_come_from_the_environment_and_are_required() -> None:
    for name in SERVICES:
        for key, value in env_of(name).items():
            if re.search(r"SECRET|TOKEN|PASSWORD", key):
                assert REQUIRED.match(value), (
                    f"{name}: {key} must be ${{{key}:?...}}, not {value!r}"
                )
    assert REQUIRED.match(env_of("gateway")["GATEWAY_ADMIN_TOKEN"])
    assert REQUIRED.match(env_of("legacy")["SECRET_KEY"])


def test_env_example_names_every_required_variable_and_gives_no_secret() -> None:
    required = {
        m.group(1) for s in SERVICES for v in env_of(s).values() if (m := REQUIRED.match(v))
    }
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert required <= set(example), f".env.example lacks {sorted(required - set(example))}"
    for name in required:
        if re.search(r"SECRET|TOKEN|PASSWORD", name):
            assert example[name] == "", f".env.example gives {name} a value; leave it empty"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert set(SERVICES["gateway"]["depends_on"]) == {"redis", "oidc", "legacy"}
    assert set(SERVICES["legacy"]["depends_on"]) == {"redis", "oidc"}


def test_redis_appends_every_write_to_a_file_on_a_named_volume() -> None:
    command = SERVICES["redis"]["command"]
    assert option(command, "--appendonly") == "yes"
    volume, _, mount = SERVICES["redis"]["volumes"][0].partition(":")
    assert option(command, "--dir") == mount
    assert volume in COMPOSE["volumes"]


def test_the_admin_listener_is_published_on_loopback_only() -> None:
    admin_port = env_of("gateway")["GATEWAY_ADMIN_LISTEN"].rpartition(":")[2]
    public_port = option(SERVICES["gateway"]["command"], "--bind").rpartition(":")[2]
    assert admin_port != public_port
    assert f"127.0.0.1:{admin_port}:{admin_port}" in SERVICES["gateway"]["ports"]
    assert f"{public_port}:{public_port}" in SERVICES["gateway"]["ports"]
    assert all(p.startswith("127.0.0.1:") for p in SERVICES["oidc"].get("ports", []))
    for name in ("redis", "legacy"):
        assert "ports" not in SERVICES[name], f"{name} is reached through the gateway only"


def test_gateway_runs_uvicorn_workers_under_gunicorn_in_front_of_legacy() -> None:
    command = SERVICES["gateway"]["command"]
    assert command[:3] == ["gunicorn", "-k", "uvicorn_worker.UvicornWorker"]
    assert "--no-control-socket" in command
    assert command[-1] == "gateway.app:create_gateway()"
    health = SERVICES["gateway"]["healthcheck"]["test"][-1]
    # Readiness, not liveness: a draining or starting gateway is not healthy.
    assert f"127.0.0.1:{option(command, '--bind').rpartition(':')[2]}/_gateway/ready'" in health


def test_legacy_runs_flask_under_gunicorn_threads_with_keep_alive() -> None:
    command = SERVICES["legacy"]["command"]
    assert command[0] == "gunicorn"
    assert option(command, "--worker-class") == "gthread"
    assert int(option(command, "--keep-alive")) > 5  # longer than the gateway keeps idle ones
    assert "--no-control-socket" in command


@pytest.mark.parametrize("service", ["legacy", "gateway"])
def test_ports_and_host_names_agree(service: str) -> None:
    env = env_of(service)
    oidc_port = option(SERVICES["oidc"]["command"], "--port")
    redis_port = option(SERVICES["redis"]["command"], "--port")
    assert env["OIDC_ISSUER"] == f"${{OIDC_ISSUER:-http://oidc:{oidc_port}}}"
    assert env["REDIS_URL"].startswith(f"redis://redis:{redis_port}/")
    if service == "gateway":
        legacy_port = option(SERVICES["legacy"]["command"], "--bind").rpartition(":")[2]
        assert env["GATEWAY_LEGACY_UPSTREAM"] == f"http://legacy:{legacy_port}"
        assert "GATEWAY_REDIS_URL" not in env  # the gateway reads REDIS_URL, as the apps do
