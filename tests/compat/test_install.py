"""What install() wires, and the errors a user can cause, each with its own type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request as StarletteRequest

from flask_compat import (
    AlreadyInstalled,
    FlaskCompat,
    FlaskCompatError,
    NotAFlaskApp,
    NotInstalled,
    render_template,
)
from tests.compat import blogapp

ROOT = Path(__file__).resolve().parents[2]


def test_a_non_flask_object_is_refused_with_advice() -> None:
    with pytest.raises(NotAFlaskApp, match=r"FlaskCompat\(create_app\(\)\)"):
        FlaskCompat(blogapp.create_app)  # type: ignore[arg-type]


def test_install_twice_on_one_app_is_refused() -> None:
    app = FastAPI()
    FlaskCompat(blogapp.create_app()).install(app)
    with pytest.raises(AlreadyInstalled, match="already has a FlaskCompat"):
        FlaskCompat(blogapp.create_app()).install(app)


def test_one_kit_on_two_apps_is_refused() -> None:
    compat = FlaskCompat(blogapp.create_app())
    compat.install(FastAPI())
    with pytest.raises(AlreadyInstalled, match="one FlaskCompat per FastAPI app"):
        compat.install(FastAPI())


def test_install_needs_a_fastapi_app() -> None:
    with pytest.raises(FlaskCompatError, match="FastAPI or Starlette"):
        FlaskCompat(blogapp.create_app()).install(object())  # type: ignore[arg-type]


def test_rendering_for_an_app_without_install_says_what_to_call() -> None:
    app = FastAPI()
    request = StarletteRequest({"type": "http", "app": app, "headers": []})
    with pytest.raises(NotInstalled, match=r"install\(fastapi_app\)"):
        render_template(request, "base.html")


def test_of_returns_the_installed_kit() -> None:
    app = FastAPI()
    compat = FlaskCompat(blogapp.create_app())
    compat.install(app)
    assert FlaskCompat.of(app) is compat


def test_importing_the_kit_loads_no_reference_app() -> None:
    code = (
        "import sys, flask_compat, flask_compat.login, flask_compat.wtf; "
        "bad = {'legacy_flask', 'new_fastapi', 'notes_core', 'gateway'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
