"""What `pip install` of the project puts into a user's environment: the toolkit only.

The wheel is built for real (setuptools, from a copy of the checkout) and read as a
zip file; its metadata is the dependency list pip would install.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow

TOOLKIT = {"gateway", "shared_session", "flask_compat"}
REFERENCE_APPS = {"legacy_flask", "new_fastapi", "notes_core"}
# What a build never needs (and what would slow the copy down).
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    source = tmp_path_factory.mktemp("checkout") / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def top_level(archive: zipfile.ZipFile) -> set[str]:
    names = {name.split("/")[0] for name in archive.namelist()}
    return {n.removesuffix(".py") for n in names if not n.endswith((".dist-info", ".data"))}


def metadata(archive: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(archive.read(name))


def runtime_requirements(archive: zipfile.ZipFile) -> set[str]:
    """Distribution names of the Requires-Dist lines without an extra marker."""
    names = set()
    for line in metadata(archive).get_all("Requires-Dist") or []:
        if "extra ==" in line:
            continue
        requirement = line.split(";")[0].strip()
        names.add(requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].lower())
    return names


def test_the_wheel_ships_exactly_the_toolkit_packages(wheel: zipfile.ZipFile) -> None:
    assert top_level(wheel) == TOOLKIT


def test_the_reference_apps_are_not_installed_anywhere_in_the_wheel(
    wheel: zipfile.ZipFile,
) -> None:
    leaked = [n for n in wheel.namelist() if n.split("/")[0] in REFERENCE_APPS]
    assert not leaked


def test_the_development_provider_and_the_reference_apps_deps_are_an_extra(
    wheel: zipfile.ZipFile,
) -> None:
    runtime = runtime_requirements(wheel)
    assert {"fastapi", "flask", "redis", "httpx", "pydantic-settings"} <= runtime
    for demo_only in ("oidc-provider-mock", "authlib", "requests"):
        assert demo_only not in runtime, f"{demo_only} is a runtime dependency"
    assert "demo" in (metadata(wheel).get_all("Provides-Extra") or [])


def test_the_gateway_package_imports_without_the_demo_extra() -> None:
    # Nothing outside gateway/devstack.py needs the development provider or authlib.
    code = (
        "import sys; sys.modules['oidc_provider_mock'] = None; sys.modules['authlib'] = None; "
        "import gateway.app, gateway.cli, gateway.devstack, shared_session, flask_compat"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
