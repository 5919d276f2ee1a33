"""Fixtures for the app pair: the development OIDC provider, both apps on one
real Redis session store and one SQLite file, and a browser that talks to both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oidc_provider_mock
import pytest
from fastapi import FastAPI
from flask import Flask

import legacy_flask
import new_fastapi
from shared_session import SessionSettings
from tests.apps.browser import Browser


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """The development identity provider (oidc-provider-mock) on a free loopback port."""
    with oidc_provider_mock.run_server_in_thread() as server:
        # The provider's issuer is the request host: use "localhost", as it binds it.
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def session_settings(redis_url: str, key_prefix: str) -> SessionSettings:
    """One session configuration for both apps: real Redis, a per-test key prefix."""
    return SessionSettings(
        redis_url=redis_url, key_prefix=key_prefix, secret_keys=["test-secret-key"]
    )


@pytest.fixture
def app_config(tmp_path: Path, oidc_issuer: str) -> dict[str, Any]:
    """Config shared by both apps: one notes database, the development provider."""
    return {
        "NOTES_DB_PATH": tmp_path / "var" / "notes.sqlite3",
        "OIDC_ISSUER": oidc_issuer,
        "OIDC_CLIENT_ID": "notes-test",
        "OIDC_CLIENT_SECRET": "notes-test-secret",
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


@pytest.fixture
def flask_app(app_config: dict[str, Any], session_settings: SessionSettings) -> Flask:
    """legacy_flask, built with the shared session settings."""
    return legacy_flask.create_app(app_config, session_settings=session_settings)


@pytest.fixture
def fastapi_app(app_config: dict[str, Any], session_settings: SessionSettings) -> FastAPI:
    """new_fastapi, built with the same settings and the same database."""
    return new_fastapi.create_app(app_config, session_settings=session_settings)


@pytest.fixture
def browser(flask_app: Flask, fastapi_app: FastAPI) -> Iterator[Browser]:
    """A fresh anonymous browser for both apps."""
    client = Browser(flask_app, fastapi_app)
    yield client
    client.close()
