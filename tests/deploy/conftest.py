"""Fixtures of the deployment tests: a Docker engine, local images, the compose stack.

A test skips only when Docker cannot be installed or started here, and then loudly:
the skip reason names what failed and a DockerUnavailableWarning repeats it in the
warnings summary. Every other failure (a build, a service that never gets healthy)
fails the test with the output that explains it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.deploy.compose_stack import ComposeStack, compose_command, compose_stack
from tests.deploy.docker_engine import DockerUnavailable, Engine, docker_engine
from tests.deploy.local_images import LocalImages, ensure_local_images

# Seconds per phase of the last stack start-up, shown at the end of the run.
TIMINGS: dict[str, float] = {}


class DockerUnavailableWarning(UserWarning):
    """The deployment tests were skipped: no Docker engine could be used."""


def skip_loudly(reason: str) -> NoReturn:
    message = f"compose tests SKIPPED, nothing ran the stack: {reason}"
    warnings.warn(DockerUnavailableWarning(message), stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    """The compose command line (`docker compose` or docker-compose); no engine needed."""
    try:
        return compose_command(os.environ)
    except DockerUnavailable as exc:
        skip_loudly(str(exc))


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    try:
        with docker_engine() as started:
            yield started
    except DockerUnavailable as exc:
        skip_loudly(str(exc))


@pytest.fixture(scope="session")
def local_images(engine: Engine) -> LocalImages:
    try:
        images = ensure_local_images(engine)
    except DockerUnavailable as exc:
        skip_loudly(str(exc))
    TIMINGS.update(images.seconds)
    return images


@pytest.fixture(scope="session")
def stack(
    engine: Engine, local_images: LocalImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeStack]:
    try:
        with compose_stack(engine, local_images, tmp_path_factory.mktemp("compose")) as running:
            TIMINGS.update(running.seconds)
            yield running
    except DockerUnavailable as exc:
        skip_loudly(str(exc))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in TIMINGS.items())
        terminalreporter.write_line(f"compose stack start-up: {phases}")
