"""The factories: import strings, settings from the environment, defaults."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from flask.cli import ScriptInfo

from notes_core.settings import load_settings
from tests.apps.browser import SIDES, Browser, login


def load_factory_string(import_string: str) -> Any:
    """``package:factory()`` -> the app, the way servers and the gateway load it."""
    module_name, _, call = import_string.partition(":")
    assert call.endswith("()")
    return getattr(importlib.import_module(module_name), call.removesuffix("()"))()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, oidc_issuer: str) -> Path:
    """A clean environment: no Redis (in-memory store), a SECRET_KEY, a notes path."""
    for name in ("REDIS_URL", "SHARED_SESSION_REDIS_URL", "SHARED_SESSION_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)
    db_path = tmp_path / "env" / "notes.sqlite3"
    monkeypatch.setenv("NOTES_DB_PATH", str(db_path))
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("OIDC_ISSUER", oidc_issuer)
    return db_path


def test_flask_import_string_works_with_flask_cli(env: Path) -> None:
    app = ScriptInfo(app_import_path="legacy_flask:create_app()").load_app()
    assert isinstance(app, Flask)
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert env.is_file()  # directories and tables are created at start


def test_fastapi_import_string_builds_the_app(env: Path) -> None:
    app = load_factory_string("new_fastapi:create_app()")
    assert isinstance(app, FastAPI)
    assert app.state.settings.notes_db_path == env
    assert env.is_file()


def test_default_session_settings_share_sessions_in_one_process(env: Path) -> None:
    # No REDIS_URL: the in-memory store, shared by both apps, signed with SECRET_KEY.
    flask_app = load_factory_string("legacy_flask:create_app()")
    fastapi_app = load_factory_string("new_fastapi:create_app()")
    browser = Browser(flask_app, fastapi_app)
    try:
        login(browser, start="flask", finish="fastapi")
        for side in SIDES:
            assert browser.get(side, "/api/me").json()["user"]["sub"] == "alice"
    finally:
        browser.close()


def test_auth0_domain_sets_the_issuer() -> None:
    settings = load_settings({"AUTH0_DOMAIN": "example.eu.auth0.com"})
    assert settings.issuer == "https://example.eu.auth0.com/"
    assert settings.server_metadata_url == (
        "https://example.eu.auth0.com/.well-known/openid-configuration"
    )


def test_explicit_issuer_wins_over_auth0_domain() -> None:
    settings = load_settings({"AUTH0_DOMAIN": "x.auth0.com", "OIDC_ISSUER": "https://kc/realms/a"})
    assert settings.server_metadata_url == "https://kc/realms/a/.well-known/openid-configuration"
