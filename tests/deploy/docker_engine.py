"""A Docker engine for the deployment tests: the one that answers, else one started here.

``docker_engine()`` yields an :class:`Engine` bound to the engine ``DOCKER_HOST`` (or
the default socket) names when it answers. Otherwise it starts ``dockerd`` itself,
with its own socket, pidfile and exec-root in a temporary directory, no iptables
and no bridge (the tests run every container on the host's network), and its data
root in ``var/docker-test/data`` so that images built once survive to the next
local run. That engine is stopped on exit, whatever happened inside.

:class:`DockerUnavailable` says why no engine could be had (not installed, not
root, did not start); the tests skip on it, loudly, and on nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Stable across runs (gitignored): the data root keeps the images, the pidfile
# makes a second dockerd on the same data root refuse to start.
STATE = ROOT / "var" / "docker-test"
INSTALL_HINT = "apt-get install -y docker.io docker-compose debootstrap (.ci/run does)"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class DockerUnavailable(RuntimeError):
    """Docker cannot be installed or started on this machine; the message says why."""


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its output."""


@dataclass(frozen=True)
class Engine:
    """How to reach one engine: ``env`` carries its DOCKER_HOST for every client."""

    env: Mapping[str, str]
    started_here: bool
    log: Path | None = None

    def docker(self, *args: str, timeout: float = 120, input: bytes | None = None) -> str:
        """Run ``docker ARGS`` against this engine; its stdout, or DockerError."""
        return run(["docker", *args], env=self.env, timeout=timeout, input=input)

    def has_image(self, name: str) -> bool:
        """Whether the engine holds an image called ``name``."""
        result = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", name],
            env=dict(self.env),
            capture_output=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0

    def inspect(self, *names: str) -> list[dict[str, object]]:
        """``docker inspect`` of containers or images, parsed."""
        return list(json.loads(self.docker("inspect", *names, timeout=30)))


def run(
    command: list[str],
    env: Mapping[str, str],
    timeout: float,
    input: bytes | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion within ``timeout`` s; its stdout, or DockerError."""
    try:
        result = subprocess.run(
            command,
            env=dict(env),
            input=input,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"") + (exc.stderr or b"")
        raise DockerError(f"{' '.join(command)}: no answer within {timeout:.0f} s\n"
                          f"{tail(output.decode(errors='replace'))}") from None  # fmt: skip
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")
        raise DockerError(f"{' '.join(command)} exited {result.returncode}:\n{tail(output)}")
    return result.stdout.decode(errors="replace")


def tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def answers(env: Mapping[str, str]) -> bool:
    """Whether the engine ``env`` points the docker client at answers within 10 s."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=dict(env),
            capture_output=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


@contextlib.contextmanager
def docker_engine(state: Path = STATE) -> Iterator[Engine]:
    """An engine that answers; one started here is stopped on exit.

    Raises DockerUnavailable when no engine answers and none can be started.
    """
    if answers(os.environ):
        yield Engine(env=dict(os.environ), started_here=False)
        return
    for program in ("docker", "dockerd"):
        if shutil.which(program) is None:
            raise DockerUnavailable(f"{program} is not installed: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise DockerUnavailable("no Docker engine answers and starting dockerd needs root")
    state.mkdir(parents=True, exist_ok=True)
    # Sockets have a 107-byte path limit: keep them in a short temporary directory.
    run_dir = Path(tempfile.mkdtemp(prefix="dockerd-"))
    config = run_dir / "daemon.json"
    config.write_text("{}\n")  # not the machine's /etc/docker/daemon.json
    env = {**os.environ, "DOCKER_HOST": f"unix://{run_dir}/docker.sock"}
    log_path = state / "dockerd.log"
    command = [
        "dockerd",
        "--config-file", str(config),
        "--data-root", str(state / "data"),
        "--exec-root", str(run_dir / "exec"),
        "--pidfile", str(state / "dockerd.pid"),
        "--host", env["DOCKER_HOST"],
        "--iptables=false",
        "--bridge=none",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_answering(process, env, log_path)
        yield Engine(env=env, started_here=True, log=log_path)
    finally:
        stop(process)
        unmount_under(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def wait_until_answering(
    process: subprocess.Popen[bytes], env: Mapping[str, str], log: Path
) -> None:
    """Poll the new engine until it answers; DockerUnavailable with its log if it does not."""
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(env):
        if process.poll() is not None or time.monotonic() > deadline:
            state = f"exited {process.returncode}" if process.poll() is not None else (
                f"did not answer within {START_TIMEOUT:.0f} s")  # fmt: skip
            raise DockerUnavailable(
                f"dockerd {state}; last lines of {log}:\n{tail(log.read_text(errors='replace'))}"
            )
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM dockerd (it stops its containers and its containerd), SIGKILL its group late."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Its own session: the group holds dockerd, containerd and the shims, nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def unmount_under(path: Path) -> None:
    """Unmount whatever a killed engine left mounted below ``path`` (deepest first)."""
    prefix = f"{path.resolve()}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False, timeout=30)
