"""migrate-gateway: routes, flags and flip, against a running gateway or locally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from gateway.app import create_gateway
from gateway.cli import app
from gateway.override import Override
from tests.gateway.support import EchoBackend, serve, settings_for

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    return {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_ADMIN_TOKEN": "cli-token",
        "GATEWAY_GROUPS": '{"notes": ["notes.list", "notes.show"]}',
        "COLUMNS": "200",
    }


def test_routes_built_locally_list_rules_flags_and_groups(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["routes"], env=env)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "notes.show" in x)
    assert "/notes/<int:note_id>" in line and "legacy" in line and "notes" in line
    assert "stats" in result.output and "only" in result.output


def test_flip_directly_in_redis_then_flags_shows_it(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    flipped = runner.invoke(app, ["flip", "notes", "canary 12.5"], env=env)
    shown = runner.invoke(app, ["flags"], env=env)
    assert flipped.exit_code == 0, flipped.output
    assert "notes -> canary 12.5 (flags version 1)" in flipped.output
    assert "notes: canary 12.5" in shown.output
    assert redis_client.hget(env["GATEWAY_FLAG_KEY"], "notes") == b"canary 12.5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["flip", "nope", "new"], "unknown route or group"),
        (["flip", "notes.show", "new"], "moves with group"),
        (["flip", "prices", "canary 101"], "between 0 and 100"),
    ],
)
def test_bad_flips_exit_non_zero_with_a_message(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1
    assert message in result.output


def test_cli_talks_to_a_running_gateway(tmp_path: Path, env: dict[str, str]) -> None:
    settings = settings_for(
        tmp_path, admin_token="cli-token", groups={"notes": ["notes.list", "notes.show"]}
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        flipped = runner.invoke(app, ["flip", "notes", "new", "--url", url], env=env)
        routes = runner.invoke(app, ["routes", "--url", url], env=env)
        flags = runner.invoke(app, ["flags", "--url", url], env=env)
        refused = runner.invoke(app, ["flip", "notes", "bogus", "--url", url], env=env)
        denied = runner.invoke(
            app, ["flags", "--url", url, "--token", "wrong"], env={**env, "GATEWAY_ADMIN_TOKEN": ""}
        )
    assert flipped.exit_code == 0, flipped.output
    assert "notes -> new (flags version 2)" in flipped.output
    line = next(x for x in routes.output.splitlines() if "notes.show" in x)
    assert " new " in line
    assert "version 2 (memory)" in flags.output and "notes: new" in flags.output
    assert refused.exit_code == 1 and "unknown flag" in refused.output
    assert denied.exit_code == 1 and "401" in denied.output


def test_unreachable_gateway_is_a_clear_error(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["flags", "--url", "http://127.0.0.1:9"], env=env)
    assert result.exit_code == 1
    assert "cannot reach the gateway" in result.output


def test_unreachable_redis_is_a_clear_error(env: dict[str, str]) -> None:
    env = {**env, "GATEWAY_REDIS_URL": "redis://127.0.0.1:9/0"}
    result = runner.invoke(app, ["flip", "prices", "new", "--no-check"], env=env)
    assert result.exit_code == 1
    assert "flag not changed" in result.output


def test_override_token_is_what_the_gateway_accepts(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["override-token", "new"], env={**env, "GATEWAY_OVERRIDE_SECRET": "x"}
    )
    assert result.exit_code == 0
    assert Override("x").check(result.output.strip()) == "new"
    missing = runner.invoke(app, ["override-token", "new"], env=env)
    assert missing.exit_code == 1 and "GATEWAY_OVERRIDE_SECRET" in missing.output


def test_entry_point_is_installed() -> None:
    script = Path(sys.executable).parent / "migrate-gateway"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "flip" in result.stdout and "routes" in result.stdout
