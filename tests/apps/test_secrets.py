"""No publicly known secret: the reference apps refuse to start without a
SECRET_KEY, under the shipped server command too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import legacy_flask
import new_fastapi
from notes_core.settings import SettingsError
from tests.processes import BIN, ServerProcess, free_port


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "SHARED_SESSION_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("factory", [legacy_flask.create_app, new_fastapi.create_app])
def test_factories_refuse_to_build_without_a_secret_key(
    no_secret: None, app_config: dict[str, Any], factory: Any
) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is not set"):
        factory(app_config)


@pytest.mark.parametrize("factory", [legacy_flask.create_app, new_fastapi.create_app])
def test_an_empty_secret_key_is_no_key(
    no_secret: None, app_config: dict[str, Any], factory: Any
) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        factory({**app_config, "SECRET_KEY": ""})


@pytest.mark.slow
def test_gunicorn_refuses_to_serve_the_legacy_app_without_a_secret_key(
    no_secret: None, tmp_path: Path
) -> None:
    port = free_port()
    command = [
        str(BIN / "gunicorn"), "--no-control-socket", "-w", "1", "-b", f"127.0.0.1:{port}",
        "legacy_flask:create_app()",
    ]  # fmt: skip
    env = {"NOTES_DB_PATH": str(tmp_path / "notes.sqlite3")}
    with ServerProcess(command, tmp_path / "legacy.log", env) as server:
        assert server.wait_exit(timeout=60) != 0
        assert "SECRET_KEY is not set" in server.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
