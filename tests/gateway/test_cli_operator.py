"""migrate-gateway for operators: JSON everywhere, whole endpoint names in 80
columns, a line saying where the figures come from, and the shadow command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask
from rich.console import Console
from typer.testing import CliRunner

from gateway.app import create_gateway
from gateway.cli import app
from gateway.cli.flags import canary_words
from gateway.cli.output import redact_url, rich_table
from gateway.flags import parse_flag
from gateway.shadowstats import ShadowStats
from tests.gateway.support import EchoBackend, serve, settings_for

runner = CliRunner()

LONG_NAMES = [
    "administration.user_management.permissions_overview_by_department",
    "reporting.quarterly_financial_statements.export_as_spreadsheet",
    "notes.list",
    "auth.login",  # two names a cut would make one ("auth.log…")
    "auth.logout",
]


def long_names_flask_app() -> Flask:
    flask_app = Flask("long_names")
    for i, name in enumerate(LONG_NAMES):
        flask_app.add_url_rule(f"/section-{i}/with/a/fairly/long/rule/<int:item>", name, str)
    return flask_app


def long_names_fastapi_app() -> FastAPI:
    return FastAPI()


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    return {
        "GATEWAY_LEGACY_APP": "tests.gateway.test_cli_operator:long_names_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.test_cli_operator:long_names_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_ADMIN_TOKEN": "cli-token",
        "COLUMNS": "80",
    }


def test_routes_in_80_columns_show_every_endpoint_name_whole(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["routes"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in LONG_NAMES:
        line = next(x for x in lines if x.startswith(name))
        assert line.split()[0] == name  # the name, whole, first on its row: copy it from here
        assert "/section-" in line  # and the rest of the row stays on the same line


def test_routes_table_on_a_narrow_terminal_never_cuts_the_endpoint() -> None:
    rows = [[name, "legacy", "no", "", "GET", "/a/very/long/rule/" * 3] for name in LONG_NAMES]
    console = Console(width=80, force_terminal=True, record=True, color_system=None)
    console.print(
        rich_table(["endpoint", "flag", "new?", "group", "methods", "rule"], rows, keep="endpoint")
    )
    text = console.export_text()
    for name in LONG_NAMES:
        assert name in text


@pytest.mark.parametrize(
    "args",
    [["routes"], ["flags"], ["flip", "notes.list", "canary 5"], ["shadow"]],
)
def test_every_command_prints_json_with_its_source(env: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"]["kind"] == "settings"
    assert data["source"]["redis_url"] == env["GATEWAY_REDIS_URL"]


def test_override_token_prints_json(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["override-token", "new", "--json"], env={**env, "GATEWAY_OVERRIDE_SECRET": "s"}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["side"] == "new" and data["header"] == "X-Gateway-Force" and data["value"]


def test_errors_with_json_are_json_too(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["flip", "nope", "new", "--json"], env=env)
    assert result.exit_code == 1
    assert "unknown route or group" in json.loads(result.stdout)["error"]


def test_flags_without_redis_or_url_say_they_are_not_the_running_gateway(
    env: dict[str, str],
) -> None:
    local = {
        **env,
        "GATEWAY_REDIS_URL": "",
        "REDIS_URL": "",
        "GATEWAY_FLAGS": '{"notes.list": "new"}',
    }
    result = runner.invoke(app, ["flags"], env=local)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "no Redis" in first and "not necessarily what a running gateway serves" in first
    assert "notes.list: new" in result.output


def test_flags_from_redis_name_the_redis_without_its_password(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["flags"], env=env)
    assert (
        f"flags in Redis {env['GATEWAY_REDIS_URL']} key {env['GATEWAY_FLAG_KEY']}" in result.output
    )
    assert redact_url("redis://:hunter2@db:6379/0") == "redis://:***@db:6379/0"
    assert redact_url("redis://user:pw@db/1") == "redis://user:***@db/1"


def test_shadow_reads_the_shared_statistics_from_redis(
    env: dict[str, str], key_prefix: str
) -> None:
    async def record() -> None:
        stats = ShadowStats(redis_url=env["GATEWAY_REDIS_URL"], key=f"{key_prefix}flags:shadow")
        await stats.start()
        stats.count("replayed", "notes.list", 4)
        stats.count("matched", "notes.list", 3)
        stats.count("mismatched", "notes.list")
        stats.count("dropped", "queue_full", 2)
        stats.add_sample(
            {
                "route": "notes.list",
                "method": "GET",
                "path": "/notes/",
                "query": "",
                "differences": ["body"],
                "first_difference": {"line": 2, "column": 5, "legacy": "a", "new": "b"},
                "diff": "--- legacy\n+++ new\n-<li>eggs</li>\n+<li>bread</li>",
            }
        )
        await stats.aclose()

    asyncio.run(record())
    result = runner.invoke(app, ["shadow"], env=env)
    assert result.exit_code == 0, result.output
    assert "replayed 4, match rate 75.0 %" in result.output
    assert "dropped 2 (queue_full 2, too_big 0, timeout 0)" in result.output
    assert "first difference at line 2, column 5" in result.output
    assert "+<li>bread</li>" in result.output


def test_shadow_asks_a_running_gateway(tmp_path: Path, env: dict[str, str]) -> None:
    settings = settings_for(tmp_path, admin_token="cli-token", flags={"notes.list": "shadow"})
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        httpx.get(f"{url}/notes/")
        deadline = time.monotonic() + 5
        while True:
            result = runner.invoke(app, ["shadow", "--url", url, "--json"], env=env)
            data = json.loads(result.output)
            if data["shadow"]["replayed"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        text = runner.invoke(app, ["shadow", "--url", url], env=env)
    assert data["source"] == {"kind": "gateway", "url": url, "admin": f"{url}/_gateway"}
    assert data["shadow"]["mismatched"] == {"notes.list": 1}
    assert f"source: the running gateway at {url}" in text.output
    assert '- "side": "legacy"\n+ "side": "new"' in text.output
    assert '"request_id": "<request_id>"' in text.output  # each side's own id is masked


def test_shadow_without_redis_or_url_says_to_pass_url(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["shadow"], env={**env, "GATEWAY_REDIS_URL": "", "REDIS_URL": ""})
    assert result.exit_code == 1
    assert "pass --url" in result.output


def test_bulk_flips_by_pattern_names_and_all_through_a_running_gateway(
    tmp_path: Path, env: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, admin_token="cli-token")
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        pattern = runner.invoke(app, ["flip", "notes.*", "new", "--url", url, "--json"], env=env)
        named = runner.invoke(app, ["flip", "prices", "signed", "shadow", "--url", url], env=env)
        flags = runner.invoke(app, ["flags", "--url", url, "--json"], env=env)
        back = runner.invoke(
            app, ["flip", "--all", "legacy", "--reason", "roll back", "--url", url], env=env
        )
        audit = httpx.get(
            f"{url}/_gateway/audit?limit=100", headers={"Authorization": "Bearer cli-token"}
        ).json()["entries"]
    assert pattern.exit_code == 0, pattern.output
    keys = sorted(c["key"] for c in json.loads(pattern.output)["changes"])
    assert keys == ["notes.edit", "notes.list", "notes.new", "notes.show", "notes.update"]
    assert named.exit_code == 0, named.output
    assert "prices -> shadow" in named.output and "signed -> shadow" in named.output
    texts = json.loads(flags.output)["flags"]
    assert texts["notes.show"] == "new" and texts["signed"] == "shadow"
    assert back.exit_code == 0, back.output
    assert "notes.show -> legacy" in back.output and "prices -> legacy" in back.output
    assert any(e["reason"] == "roll back" and e["target"] == "signed" for e in audit)


def test_bulk_flip_locally_in_redis_by_pattern(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["flip", "reporting.*", "canary 5", "--json"], env=env)
    assert result.exit_code == 0, result.output
    changes = json.loads(result.output)["changes"]
    assert [c["key"] for c in changes] == [LONG_NAMES[1]]
    back = runner.invoke(app, ["flip", "--all", "legacy"], env=env)
    assert back.exit_code == 0, back.output
    assert all(f"{name} -> legacy" in back.output for name in LONG_NAMES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["flip", "a.*", "b.*", "new"], "one pattern per flip"),
        (["flip", "--all", "notes.list", "new"], "name no route with it"),
        (["flip", "nothing.*", "new"], "no route or group matches"),
        (["flip", "new"], "name a route"),
    ],
)
def test_unclear_bulk_flips_are_refused(env: dict[str, str], args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize(
    "words",
    [
        ["reporting.*", "canary", "5"],  # as the shell gives `flip 'reporting.*' canary 5`
        ["reporting.*", "canary 5"],  # quoted
        ["reporting.*", "canary", "5%"],
        ["reporting.*", "CANARY", "5.0"],
    ],
)
def test_canary_and_its_percentage_may_be_two_words(env: dict[str, str], words: list[str]) -> None:
    result = runner.invoke(app, ["flip", *words, "--json"], env=env)
    assert result.exit_code == 0, result.output
    changes = json.loads(result.output)["changes"]
    assert [(c["key"], c["flag"]) for c in changes] == [(LONG_NAMES[1], "canary 5")]


def test_canary_in_two_words_through_a_running_gateway(tmp_path: Path, env: dict[str, str]) -> None:
    settings = settings_for(tmp_path, admin_token="cli-token")
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        one = runner.invoke(app, ["flip", "notes.list", "canary", "12.5", "--url", url], env=env)
        many = runner.invoke(app, ["flip", "notes.*", "canary", "5", "--url", url], env=env)
        every = runner.invoke(app, ["flip", "--all", "canary", "1", "--url", url], env=env)
        too_much = runner.invoke(
            app, ["flip", "notes.list", "canary", "101", "--url", url], env=env
        )
    assert one.exit_code == 0 and "notes.list -> canary 12.5" in one.output, one.output
    assert many.exit_code == 0 and "notes.show -> canary 5" in many.output, many.output
    assert every.exit_code == 0 and "prices -> canary 1" in every.output, every.output
    assert too_much.exit_code == 1 and "between 0 and 100" in too_much.output


def test_the_examples_of_flip_help_parse_as_written(env: dict[str, str]) -> None:
    help_text = runner.invoke(app, ["flip", "--help"], env={**env, "COLUMNS": "400"}).output
    examples = re.findall(r"`(flip [^`]+)`", help_text)
    assert "flip 'auth.*' canary 5" in examples, help_text
    for example in examples:
        *names, last = shlex.split(example)[1:]
        flag = canary_words(names, last)
        parse_flag(flag)  # raises FlagError for the `unknown flag '5'` of old
    assert canary_words(["auth.*", "canary"], "5") == "canary 5"
    assert canary_words(["canary"], "new") == "new"  # a route named canary stays one


ROOT = Path(__file__).resolve().parents[2]
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def piped(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``migrate-gateway ARGS | ...``: the installed command, its stdout a real pipe."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "migrate-gateway"), *args],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_into_a_pipe_says_its_source_first_and_cuts_no_name(env: dict[str, str]) -> None:
    result = piped(env, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("source: local settings"), result.stdout
    assert f"flags in Redis {env['GATEWAY_REDIS_URL']}" in lines[0]
    assert "legacy routes implemented in new" in lines[1]  # one line, whatever COLUMNS says
    assert "…" not in result.stdout
    for name in LONG_NAMES:
        (row,) = [line for line in lines if line.split()[0] == name]
        assert "/section-" in row and "missing" in row  # the whole row on one line


def test_status_of_a_running_gateway_says_its_source_first(
    tmp_path: Path, env: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, admin_token="cli-token")
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        result = runner.invoke(app, ["status", "--url", url], env=env)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == f"source: the running gateway at {url} (admin API {url}/_gateway)"


def test_audit_into_a_pipe_says_its_source_first_and_cuts_nothing(env: dict[str, str]) -> None:
    for name in ("auth.login", "auth.logout", LONG_NAMES[0]):
        flipped = runner.invoke(app, ["flip", name, "shadow", "--reason", "look"], env=env)
        assert flipped.exit_code == 0, flipped.output
    result = piped(env, "audit")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the source is no afterthought on stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("source: local settings"), result.stdout
    assert lines[1].split() == ["time", "actor", "via", "target", "change", "version", "reason"]
    assert "…" not in result.stdout
    rows = lines[2:]
    assert [row.split()[3] for row in rows] == [LONG_NAMES[0], "auth.logout", "auth.login"]
    for row in rows:
        assert ISO_TIME.fullmatch(row.split()[0]), row  # the time whole
        assert row.split()[4:] == ["legacy", "->", "shadow", row.split()[7], "look"]


def test_audit_json_names_its_source_as_every_command_does(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["audit", "--json"], env=env)
    assert result.exit_code == 0, result.output
    source = json.loads(result.stdout)["source"]
    assert source["kind"] == "settings" and source["redis_url"] == env["GATEWAY_REDIS_URL"]
    assert source["audit_key"] == f"{env['GATEWAY_FLAG_KEY']}:audit"
