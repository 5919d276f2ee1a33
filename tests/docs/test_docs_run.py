"""Docs that run: every command and configuration example in README.md and docs/*.md
is executed here or checked against the code.

- Shell blocks: every program is one this file knows how to check (an unknown one
  fails, naming it): make targets exist, ``migrate-gateway`` commands and options
  exist (their ``--help`` is run), import strings import, bench scripts take the
  options shown, ``curl`` requests are sent to a reference gateway in-process,
  Docker Compose subcommands and services exist. Servers in one block bind distinct,
  explicit ports, and processes that share a session share a ``REDIS_URL``. Blocks
  that start servers are run for real on free loopback ports until they answer.
- Settings: every ``GATEWAY_*`` / ``SHARED_SESSION_*`` name, and every Flask
  ``SESSION_*`` config name, anywhere in a page is a real setting; values given in
  examples validate; flag tables name real routes and parse; settings tables list
  real fields, and every field of the gateway's and the session's settings is in one.
- Python blocks compile and their project imports resolve; a block headed by
  ``# path/to/file.py`` is an excerpt and must still be in that file.
- JSON, YAML and TOML blocks parse; gateway configuration in them validates.

A placeholder is written ``<like this>``: its name is checked, its value is not, and a
block holding one is not executed.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import functools
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
import httpx
import pytest
import yaml
from pydantic import ValidationError

from gateway.cli.flags import canary_words
from gateway.flags import FlagError, parse_flag
from gateway.settings import GatewaySettings
from notes_core.settings import AppSettings
from shared_session.settings import SessionSettings
from tests.docs.pages import (
    FENCE,
    ROOT,
    Block,
    Command,
    all_blocks,
    console_commands,
    inline_spans,
    is_dynamic,
    is_placeholder,
    option_value,
    pages,
    shell_commands,
)
from tests.processes import BIN
from tests.redis_server import free_port

SHELL = ("sh", "bash", "shell", "console")
STRUCTURED = ("json", "yaml", "yml", "toml")
# Languages shown, not run: templates and styles are run by the flask-compat
# walkthrough test, text is output or a file line.
SHOWN = ("", "text", "html", "jinja", "css", "nginx", "ini", "conf", "diff")
IMPORT_STRING = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)(\(\))?$")
SERVERS = ("gunicorn", "uvicorn", "flask", "oidc-provider-mock")
COMPOSE_SUBCOMMANDS = {"up", "ps", "down", "exec", "logs", "build", "config", "restart", "stop"}
REFERENCE_LEGACY = "legacy_flask:create_app()"
REFERENCE_NEW = "new_fastapi:create_app()"


def fields(settings: type[Any]) -> set[str]:
    return set(settings.model_fields)


def env_file_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


# Names outside the two prefixes that a reader may set: the reference apps'
# settings (notes_core), the session's REDIS_URL, and what .env.example lists.
KNOWN_ENV = (
    {name.upper() for name in fields(AppSettings)}
    | {"REDIS_URL", "PYTHONPATH"}
    # Python's, the servers' and libraries' own variables, named where the docs explain them.
    | {
        "PYTHONHASHSEED",
        "PROMETHEUS_MULTIPROC_DIR",
        "UV_USE_IO_URING",
        "AUTHLIB_INSECURE_TRANSPORT",
    }
    | env_file_names()
)


def setting_exists(name: str) -> bool:
    if name == "GATEWAY_CONFIG_FILE":
        return True
    if name.startswith("GATEWAY_"):
        return name.removeprefix("GATEWAY_").lower() in fields(GatewaySettings)
    if name.startswith("SHARED_SESSION_"):
        return name.removeprefix("SHARED_SESSION_").lower() in fields(SessionSettings)
    return name in KNOWN_ENV


@functools.cache
def reference_endpoints() -> frozenset[str]:
    app = importlib.import_module("legacy_flask").create_app()
    return frozenset(rule.endpoint for rule in app.url_map.iter_rules())


def check_import_string(text: str, where: str) -> None:
    match = IMPORT_STRING.match(text)
    assert match, f"{where}: {text!r} is not an import string (module:attribute)"
    module, attribute, call = match.groups()
    try:
        target: Any = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{where}: {text!r}: cannot import {module}: {exc}")
    for part in attribute.split("."):
        assert hasattr(target, part), f"{where}: {text!r}: {module} has no {attribute}"
        target = getattr(target, part)
    if call:
        assert callable(target), f"{where}: {text!r}: {attribute} is not callable"


def check_flag_keys(keys: list[str], groups: dict[str, list[str]], where: str) -> None:
    known = reference_endpoints() | set(groups)
    for key in keys:
        if not is_placeholder(key):
            assert key in known, f"{where}: no route or group {key!r} in the reference app"


def check_environment(env: dict[str, str], where: str) -> None:
    """Names exist; the values given validate as the settings objects read them."""
    for name in env:
        assert setting_exists(name), f"{where}: {name} is not a setting of this project"
    concrete = {k: v for k, v in env.items() if not is_placeholder(v) and not is_dynamic(v)}
    gateway = {k: v for k, v in concrete.items() if k.startswith("GATEWAY_")}
    for name in ("GATEWAY_LEGACY_APP", "GATEWAY_NEW_APP", "GATEWAY_LEGACY_URL_MAP"):
        if name in gateway:
            check_import_string(gateway[name], where)
    groups: dict[str, list[str]] = {}
    if "GATEWAY_GROUPS" in gateway:
        groups = json.loads(gateway["GATEWAY_GROUPS"])
        check_flag_keys([m for ms in groups.values() for m in ms], {}, where)
    if "GATEWAY_FLAGS" in gateway:
        flags = json.loads(gateway["GATEWAY_FLAGS"])
        check_flag_keys(list(flags), groups, where)
        for value in flags.values():
            parse_flag(value)
    if "GATEWAY_FALLBACK" in gateway:
        check_flag_keys(json.loads(gateway["GATEWAY_FALLBACK"]), groups, where)
    for prefix, settings in (("GATEWAY_", GatewaySettings), ("SHARED_SESSION_", SessionSettings)):
        values = {
            k.removeprefix(prefix).lower(): v for k, v in concrete.items() if k.startswith(prefix)
        }
        values.pop("config_file", None)
        if values:
            try:
                with clean_environment():
                    os.environ.update({prefix + k.upper(): v for k, v in values.items()})
                    settings()
            except ValidationError as exc:
                pytest.fail(f"{where}: {values} do not validate: {exc}")


@contextlib.contextmanager
def clean_environment() -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("GATEWAY_", "SHARED_SESSION_")) or name == "REDIS_URL":
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- programs ---------------------------------------------------------------------


@functools.cache
def help_text(*command: str) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(command)} failed: {done.stderr[-500:]}"
    return done.stdout


def check_options_in_help(words: list[str], help_output: str, where: str) -> None:
    for word in words:
        if word.startswith("-") and word not in ("-", "--"):
            name = word.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", help_output), (
                f"{where}: option {name} is not in `--help`"
            )


def check_migrate_gateway(words: list[str], where: str) -> None:
    assert len(words) > 1, f"{where}: migrate-gateway without a command"
    command = words[1]
    output = help_text(str(BIN / "migrate-gateway"), command, "--help")
    check_options_in_help(words[2:], output, where)
    valued = ("--url", "--token", "--reason", "--limit", "--diffs")
    positional = [
        w
        for i, w in enumerate(words[2:], 2)
        if not w.startswith("-") and words[i - 1] not in valued
    ]
    if command == "flip" and positional:
        *targets, flag = positional
        flag = canary_words(targets, flag)  # `canary 5` unquoted: two words, as the CLI takes them
        for target in targets:
            if "*" in target:  # a pattern: it must match some route
                assert fnmatch.filter(reference_endpoints(), target), f"{where}: {target}?"
            else:
                check_flag_keys([target], {}, where)
        if not is_placeholder(flag):
            parse_flag(flag)
    url = option_value(words, "--url")
    if url and not is_placeholder(url) and not is_dynamic(url):
        assert urlsplit(url).port, f"{where}: --url {url} names no port"


def check_python(words: list[str], where: str) -> None:
    args = words[1:]
    if args[:1] == ["-c"]:
        compile(args[1], where, "exec")
    elif args[:1] == ["-m"]:
        assert importlib.util.find_spec(args[1]), f"{where}: no module {args[1]}"
        if args[1] not in ("pytest", "pip") and any(a.startswith("--") for a in args[2:]):
            output = help_text(sys.executable, "-m", args[1], "--help")
            check_options_in_help(args[2:], output, where)
    else:
        script = ROOT / args[0]
        assert script.is_file(), f"{where}: no script {args[0]}"
        if "--" in " ".join(args[1:]):
            check_options_in_help(args[1:], help_text(sys.executable, str(script), "--help"), where)


def check_compose(words: list[str], where: str) -> None:
    args = words[2:] if words[0] == "docker" else words[1:]
    assert args and args[0] in COMPOSE_SUBCOMMANDS, f"{where}: compose {args[:1]}?"
    if args[0] == "exec":
        rest = [w for w in args[1:]]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        assert rest and rest[0] in services, f"{where}: no compose service {rest[:1]}"
        check_command(Command({}, rest[1:]), where)


def server_import_string(words: list[str]) -> str | None:
    if words[0].endswith("flask"):
        return option_value(words, "--app")
    candidates = [w for w in words[1:] if IMPORT_STRING.match(w)]
    return candidates[-1] if candidates else None


def bound_port(command: Command) -> int | None:
    """The port a server command binds; it must be explicit (or the check fails)."""
    words = command.words
    if command.program == "gunicorn":
        bind = option_value(words, "-b", "--bind")
        return int(bind.rpartition(":")[2]) if bind else None
    if command.program == "flask" and "run" not in words:
        return None
    value = option_value(words, "--port", "-p")
    return int(value) if value else None


def check_server(command: Command, where: str) -> None:
    words = command.words
    if words[0] == "oidc-provider-mock":
        check_options_in_help(
            words[1:], help_text(str(BIN / "oidc-provider-mock"), "--help"), where
        )
    else:
        target = server_import_string(words)
        assert target, f"{where}: `{' '.join(words)}` names no app"
        if not is_placeholder(target):
            check_import_string(target, where)
    if words[0] != "flask" or "run" in words:
        assert bound_port(command), (
            f"{where}: `{' '.join(words)}` binds its default port: name it, so that the "
            "ports of one example can be seen not to collide"
        )


def check_curl(words: list[str], where: str) -> None:
    urls = [w for w in words if w.startswith(("http://", "https://"))]
    computed = [w for w in words[1:] if w.startswith("$") or (is_dynamic(w) and "://" in w)]
    assert len(urls) == 1 or computed, f"{where}: curl with {len(urls)} URLs"


def check_pip(words: list[str], where: str) -> None:
    """``pip install -e '.[extra,...]'``: the extras exist in pyproject.toml."""
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    for word in words[2:]:
        if match := re.fullmatch(r"\.\[([\w,-]+)\]", word):
            unknown = set(match.group(1).split(",")) - extras
            assert not unknown, f"{where}: pyproject.toml has no extra {sorted(unknown)}"


def check_command(command: Command, where: str) -> None:
    check_environment({**command.exported, **command.env}, where)
    words = command.words
    if not words:
        return
    program = command.program
    words = [program, *words[1:]]
    command = Command(command.env, words, command.background, command.exported)
    if program in ("sleep", "wait", "kill", "redis-cli"):
        return  # no documented behaviour of ours to check
    if program == "make":
        for target in words[1:]:
            assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), re.M), (
                f"{where}: no make target {target}"
            )
    elif program == "migrate-gateway":
        check_migrate_gateway(words, where)
    elif program in ("python", "python3") or program.endswith("/python"):
        check_python(words, where)
    elif program == "docker-compose" or words[:2] == ["docker", "compose"]:
        check_compose(words, where)
    elif program in SERVERS:
        check_server(command, where)
    elif program == "curl":
        check_curl(words, where)
    elif program == "cp":
        assert (ROOT / words[1]).exists(), f"{where}: cp {words[1]}: no such file"
    elif program == "cd":
        assert (ROOT / words[1]).is_dir(), f"{where}: cd {words[1]}: no such directory"
    elif program == "pip":
        check_pip(words, where)
    elif program.startswith(("./", ".ci/", "bench/")):
        assert (ROOT / program).is_file(), f"{where}: no script {program}"
    else:
        pytest.fail(f"{where}: `{program}` is run by the docs but checked by no test: add a check")


# -- shell blocks -------------------------------------------------------------------


SHELL_BLOCKS = all_blocks(*SHELL)


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_every_command_of_a_shell_block_is_real(block: Block) -> None:
    commands = shell_commands(block.text, block.lang)
    assert commands, f"{block.where}: empty block"
    for command in commands:
        check_command(command, block.where)


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_servers_in_one_example_bind_distinct_ports_and_share_redis(block: Block) -> None:
    servers = [c for c in shell_commands(block.text, block.lang) if c.program in SERVERS]
    ports = [bound_port(c) for c in servers]
    ports = [p for p in ports if p]
    assert len(ports) == len(set(ports)), f"{block.where}: two servers on one port: {ports}"
    exported: dict[str, str] = {}
    for command in shell_commands(block.text, block.lang):
        exported.update(command.exported)
    session_users = [c for c in servers if c.program != "oidc-provider-mock"]
    if len(session_users) > 1:
        urls = {({**exported, **c.env}).get("REDIS_URL") for c in session_users}
        assert len(urls) == 1 and None not in urls, (
            f"{block.where}: processes sharing a session need one REDIS_URL, got {urls}"
        )


def test_readme_starts_with_make_run_and_make_test() -> None:
    first = all_blocks()[0]
    assert first.page.name == "README.md"
    programs = [c.words[:2] for c in shell_commands(first.text, first.lang)]
    assert programs == [["make", "run"], ["make", "test"]]


def test_the_readme_links_the_deployment_guide_from_its_docker_row() -> None:
    row = next(
        line for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `docker-compose.yml`")
    )  # fmt: skip
    assert "(docs/deployment.md)" in row


# -- running the server examples ------------------------------------------------------


def runnable(block: Block) -> bool:
    commands = shell_commands(block.text, block.lang)
    return any(c.program in SERVERS for c in commands) and not is_placeholder(block.text)


SERVER_BLOCKS = [b for b in SHELL_BLOCKS if runnable(b)]


def on_free_ports(text: str, ports: list[int]) -> tuple[str, dict[int, int]]:
    mapping = {port: free_port() for port in ports}
    for old, new in mapping.items():
        text = re.sub(rf"(?<=[:\s=]){old}\b", str(new), text)
    return text.replace("0.0.0.0", "127.0.0.1"), mapping


@pytest.mark.slow
@pytest.mark.parametrize("block", SERVER_BLOCKS, ids=[b.where for b in SERVER_BLOCKS])
def test_server_examples_start_and_answer(
    block: Block, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    servers = [c for c in shell_commands(block.text, block.lang) if c.program in SERVERS]
    ports = [p for c in servers if (p := bound_port(c))]
    source = console_commands(block.text) if block.lang == "console" else block.text
    script, mapping = on_free_ports(source, ports)
    script = script.replace("redis://127.0.0.1:6379/0", redis_url)
    # As on a fresh machine: what the example needs, it sets itself.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GATEWAY_", "SHARED_", "OIDC_"))
        and k not in ("REDIS_URL", "SECRET_KEY", "PYTHONPATH")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        # Keys of this test only, on the shared Redis; files in the test's directory.
        SHARED_SESSION_KEY_PREFIX=key_prefix,
        GATEWAY_FLAG_KEY=f"{key_prefix}flags",
        GATEWAY_FLAG_CHANNEL=f"{key_prefix}channel",
        GATEWAY_FLAG_CACHE_PATH=str(tmp_path / "flags.json"),
        NOTES_DB_PATH=str(tmp_path / "notes.sqlite3"),
        # Stopped at once (the drain on SIGTERM is tests/gateway/test_drain.py's).
        GATEWAY_DRAIN_SECONDS="0",
    )
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-e", "-c", script + "\nwait\n"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        for command in servers:
            port = mapping[bound_port(command) or 0]
            wait_answers(f"http://127.0.0.1:{port}/", process, log)
            if server_import_string(command.words) == "gateway.app:create_gateway()":
                ready = httpx.get(f"http://127.0.0.1:{port}/_gateway/ready", timeout=5)
                assert ready.status_code == 200, ready.text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text()[-3000:]


def wait_answers(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the example exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


# -- curl requests, sent to the reference gateway ------------------------------------


def test_every_documented_request_is_answered_by_the_reference_gateway(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from gateway.app import create_gateway

    curls = [
        (block.where, command.words)
        for block in SHELL_BLOCKS
        for command in shell_commands(block.text, block.lang)
        if command.program == "curl"
        and not is_placeholder(" ".join(command.words))
        and any(w.startswith("http") for w in command.words)
    ]
    token = "docs-token"
    with clean_environment():
        settings = GatewaySettings(
            legacy_app=REFERENCE_LEGACY, new_app=REFERENCE_NEW, admin_token=token,
            flag_cache_path=tmp_path / "flags.json", drain_seconds=0,
        )  # fmt: skip
    assert curls, "no curl example found"
    with TestClient(create_gateway(settings)) as client:
        for where, words in curls:
            method = option_value(words, "-X", "--request") or "GET"
            body = option_value(words, "-d", "--data", "--data-raw")
            if body is not None and method == "GET":
                method = "POST"
            url = urlsplit(next(w for w in words if w.startswith("http")))
            if url.path.startswith(f"{settings.admin_prefix}/flags/"):
                check_flag_keys([url.path.rsplit("/", 1)[1]], {}, where)
            if body is not None and not is_placeholder(body):
                data = json.loads(body)
                if "flag" in data:
                    parse_flag(data["flag"])
            headers = {"Authorization": f"Bearer {token}"}
            response = client.request(method, url.path, content=body, headers=headers)
            assert response.status_code < 400, (where, method, url.path, response.text)


# -- settings named in the prose ------------------------------------------------------


# A name ending in "_" is a family (`SESSION_COOKIE_*`), not a setting.
PREFIXED = re.compile(r"(?<![A-Za-z0-9_])(?:GATEWAY|SHARED_SESSION)_[A-Z][A-Z0-9_]*(?<!_)")
# Config keys of the extensions flask_compat bridges (Flask-Login), not Flask's own.
EXTENSION_CONFIG = {"SESSION_PROTECTION"}
FLASK_SESSION_CONFIG = re.compile(
    r"(?<![A-Za-z0-9_])(?:PERMANENT_)?SESSION_[A-Z][A-Z0-9_]*(?![A-Z0-9_]*[*])(?<!_)"
)


@pytest.mark.parametrize("page", pages(), ids=[p.name for p in pages()])
def test_every_setting_name_on_a_page_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    unknown = sorted({n for n in PREFIXED.findall(text) if not setting_exists(n)})
    assert not unknown, f"{page.name} names settings that do not exist: {unknown}"
    flask_names = set(flask.Flask.default_config) | EXTENSION_CONFIG
    unknown = sorted({n for n in FLASK_SESSION_CONFIG.findall(text) if n not in flask_names})
    assert not unknown, f"{page.name} names Flask config keys that do not exist: {unknown}"


@pytest.mark.parametrize("page", pages(), ids=[p.name for p in pages()])
def test_inline_assignments_and_commands_are_real(page: Path) -> None:
    for span in inline_spans(page):
        where = f"{page.name}: `{span}`"
        if re.match(r"^[A-Z][A-Z0-9_]*=\S", span):
            with contextlib.suppress(ValueError):
                commands = shell_commands(span)
                for command in commands:
                    check_environment({**command.exported, **command.env}, where)
        elif span.startswith("migrate-gateway ") and "|" not in span and "[" not in span:
            check_migrate_gateway(shlex.split(span), where)


def settings_table_names(page: Path) -> list[str]:
    """First-column names of every table whose header starts with "setting"."""
    names, in_table = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].lower() == "setting":
            in_table = True
        elif in_table and line.startswith("|"):
            names += re.findall(r"`([a-z_][a-z0-9_]*)`", cells[0])
        else:
            in_table = False
    return names


def test_settings_tables_list_real_fields_and_every_field_is_documented() -> None:
    known = fields(GatewaySettings) | fields(SessionSettings) | fields(AppSettings)
    documented: set[str] = set()
    for page in pages():
        names = settings_table_names(page)
        unknown = sorted(set(names) - known)
        assert not unknown, f"{page.name}: settings tables list unknown settings {unknown}"
        documented |= set(names)
    for settings in (GatewaySettings, SessionSettings):
        missing = sorted(fields(settings) - documented)
        assert not missing, f"{settings.__name__} fields in no settings table: {missing}"


def test_flag_tables_in_the_docs_use_real_flag_texts() -> None:
    text = (ROOT / "docs" / "gateway.md").read_text()
    table = text[text.index("| Flag | Meaning |") :].split("\n\n")[0]
    flags = re.findall(r"^\| `([a-z]+(?: <percent>)?)` \|", table, flags=re.MULTILINE)
    assert len(flags) == 4
    for flag in flags:
        parse_flag(flag.replace("<percent>", "12.5"))
    with pytest.raises(FlagError):
        parse_flag("canary ten")


# -- Python and structured blocks -----------------------------------------------------


PYTHON_BLOCKS = all_blocks("python", "py")
EXCERPT = re.compile(r"^# ([\w/]+\.py)$")
PROJECT = ("gateway", "shared_session", "flask_compat", "legacy_flask", "new_fastapi", "notes_core")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_blocks_compile_and_excerpts_match_the_code(block: Block) -> None:
    first = block.text.splitlines()[0]
    if match := EXCERPT.match(first):
        source = (ROOT / match.group(1)).read_text()
        lines = {line.rstrip() for line in source.splitlines()}
        for line in block.text.splitlines()[1:]:
            if line.strip():
                assert line.rstrip() in lines, f"{block.where}: not in {match.group(1)}: {line}"
        return
    tree = ast.parse(textwrap.dedent(block.text), block.where)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{block.where}: {node.module}.{alias.name}?"


STRUCTURED_BLOCKS = all_blocks(*STRUCTURED)


@pytest.mark.parametrize("block", STRUCTURED_BLOCKS, ids=[b.where for b in STRUCTURED_BLOCKS])
def test_structured_blocks_parse_and_gateway_configuration_validates(block: Block) -> None:
    if is_placeholder(block.text):
        pytest.skip("placeholder values")
    if block.lang == "json":
        data = json.loads(block.text)
    elif block.lang == "toml":
        data = tomllib.loads(block.text)
    else:
        data = yaml.safe_load(block.text)
    # Gateway configuration (GATEWAY_CONFIG_FILE, TOML or YAML): a [gateway] section, or
    # top-level keys of which one is a gateway setting. Unknown names are an error, as
    # at start-up. JSON blocks are API bodies, not configuration files.
    section = None
    if isinstance(data, dict):
        if isinstance(data.get("gateway"), dict):
            section = data["gateway"]
        elif block.lang != "json" and set(data) & fields(GatewaySettings):
            section = data
    if section is not None:
        try:
            with clean_environment():
                GatewaySettings(**section)
        except ValidationError as exc:
            pytest.fail(f"{block.where}: not a valid gateway configuration: {exc}")


def test_every_block_has_a_language_this_file_checks() -> None:
    known = {*SHELL, *STRUCTURED, *SHOWN, "python", "py"}
    unknown = [(b.where, b.lang) for b in all_blocks() if b.lang not in known]
    assert not unknown, f"blocks in languages no test checks: {unknown}"


# -- links ------------------------------------------------------------------------------


LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", pages(), ids=[p.name for p in pages()])
def test_relative_links_lead_to_files_and_headings_that_exist(page: Path) -> None:
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not followed here
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: link to {target}: no such heading"


def test_the_reference_apps_settings_listed_in_the_guide_are_exactly_theirs() -> None:
    text = (ROOT / "docs" / "migration-guide.md").read_text()
    paragraph = text[text.index("Settings (`notes_core/settings.py`") :].split("\n\n")[0]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", paragraph)) - {"REDIS_URL"}
    assert listed == {name.upper() for name in fields(AppSettings)}
