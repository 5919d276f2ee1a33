"""The images the compose test needs, built from Debian packages: no registry.

- ``PYTHON_BASE``: Debian trixie (debootstrap, minbase) with python3, useradd and a venv at
  /usr/local, so ``python`` and ``pip`` sit in /usr/local/bin as in the official
  slim images; the machine's CA bundle and a pip.conf naming it, so that pip in a
  build reaches the package index the way this machine does. The project image is
  built FROM it (the Dockerfile's BASE_IMAGE argument).
- ``REDIS``: that base with Debian's redis-server (compose's REDIS_IMAGE).

Each is built only when the engine lacks it; bump the tag when the recipe changes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.docker_engine import (
    INSTALL_HINT,
    STATE,
    DockerError,
    DockerUnavailable,
    Engine,
    tail,
    unmount_under,
)

PYTHON_BASE = "flask-fastapi-migrate-test/python:trixie-3"
REDIS = "flask-fastapi-migrate-test/redis:trixie-3"
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# As in the official images: sbin too (useradd lives there).
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBOOTSTRAP_TIMEOUT = 300.0
REDIS_DOCKERFILE = b"""\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
    && apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/*
"""


@dataclass(frozen=True)
class LocalImages:
    """Names of the images built here, and what building them cost (seconds, 0 if cached)."""

    python_base: str
    redis: str
    seconds: dict[str, float]


def ensure_local_images(engine: Engine) -> LocalImages:
    """Both images in ``engine``, built if missing; DockerError if a build fails."""
    seconds = {}
    start = time.monotonic()
    if not engine.has_image(PYTHON_BASE):
        build_python_base(engine, PYTHON_BASE)
    seconds["python base image"] = time.monotonic() - start
    start = time.monotonic()
    if not engine.has_image(REDIS):
        engine.docker(
            "build", "--network", "host", "--build-arg", f"BASE_IMAGE={PYTHON_BASE}",
            "--tag", REDIS, "-", input=REDIS_DOCKERFILE, timeout=300,
        )  # fmt: skip
    seconds["redis image"] = time.monotonic() - start
    return LocalImages(python_base=PYTHON_BASE, redis=REDIS, seconds=seconds)


def build_python_base(engine: Engine, name: str) -> None:
    """debootstrap a Python root file system and ``docker import`` it as ``name``."""
    if shutil.which("debootstrap") is None:
        raise DockerUnavailable(f"debootstrap is not installed: {INSTALL_HINT}")
    STATE.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=STATE))
    try:
        step(["debootstrap", "--variant=minbase",
              "--include=python3,python3-venv,ca-certificates,passwd", SUITE, str(rootfs), MIRROR],
             timeout=DEBOOTSTRAP_TIMEOUT)  # fmt: skip
        step(["chroot", str(rootfs), "python3", "-m", "venv", "/usr/local"], timeout=120)
        shutil.copyfile(CA_BUNDLE, rootfs / CA_BUNDLE.relative_to("/"))
        (rootfs / "etc/pip.conf").write_text(f"[global]\ncert = {CA_BUNDLE}\n")
        # As the official Debian images do: packages installed in a build start no service.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                ["docker", "import", "--change", f"ENV PATH={IMAGE_PATH}", "-", name],
                env=dict(engine.env), stdin=tar.stdout, capture_output=True, timeout=300,
                check=False,
            )  # fmt: skip
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait(timeout=60)
        if imported.returncode != 0 or tar.returncode != 0:
            raise DockerError(f"docker import of {rootfs} failed: {imported.stderr.decode()}")
    finally:
        unmount_under(rootfs)  # debootstrap mounts /proc and /sys inside; never delete through them
        shutil.rmtree(rootfs, ignore_errors=True)


def step(command: list[str], timeout: float) -> None:
    """One build step as root on this machine; DockerError with its output if it fails."""
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DockerError(f"{' '.join(command)}: not done within {timeout:.0f} s") from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")
        raise DockerError(f"{' '.join(command)} exited {result.returncode}:\n{tail(output)}")
