"""Fixtures: blogapp (a Flask app) and its half-done FastAPI port, sharing one real
Redis session store with a per-test key prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from flask import Flask

from shared_session import SessionSettings, install_flask_session
from tests.compat import blogapp, blogapp_port
from tests.compat.browser import Browser, in_process

SECRET = "blog-secret-key-0123456789"


@pytest.fixture
def session_settings(redis_url: str, key_prefix: str) -> SessionSettings:
    return SessionSettings(redis_url=redis_url, key_prefix=key_prefix, secret_keys=[SECRET])


@pytest.fixture
def flask_app(session_settings: SessionSettings) -> Flask:
    app = blogapp.create_app({"TESTING": True})
    install_flask_session(app, session_settings)
    return app


@pytest.fixture
def fastapi_app(flask_app: Flask, session_settings: SessionSettings) -> FastAPI:
    return blogapp_port.create_app(flask_app, session_settings)


@pytest.fixture
def browser(flask_app: Flask, fastapi_app: FastAPI) -> Iterator[Browser]:
    with in_process(flask_app, fastapi_app) as client:
        yield client
