"""The legacy route table as a file: exported where the app lives, read by an upstream
gateway that never imports the app; matching is Werkzeug's, identical to the app's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.routing import BaseConverter

from gateway.app import create_gateway
from gateway.flips import GatewayConfigError
from gateway.routefile import RouteFileError, export_map, load_map, read_routes_file
from gateway.routes import RouteTable
from tests.gateway.support import rich_flask_app, serve, settings_for
from tests.gateway.twoapps import LEGACY, write_app
from tests.processes import BIN, ServerProcess
from tests.redis_server import free_port


class RegexConverter(BaseConverter):
    def __init__(self, url_map: object, pattern: str) -> None:
        super().__init__(url_map)  # type: ignore[arg-type]
        self.regex = pattern


class YearConverter(BaseConverter):
    regex = r"\d{4}"
    weight = 50


def converter_app() -> Flask:
    app = rich_flask_app()
    app.url_map.converters["re"] = RegexConverter
    app.url_map.converters["year"] = YearConverter

    def view(**kwargs: object) -> str:
        return "ok"

    app.add_url_rule('/slug/<re("[a-z]+-[0-9]+"):slug>', "slug", view)
    app.add_url_rule('/code/<re("[A-Z]{3}"):code>', "code", view)
    # The generic rule first: only the year converter's weight makes /archive/2024 its.
    app.add_url_rule("/archive/<name>", "archive_name", view)
    app.add_url_rule("/archive/<year:year>", "archive", view)
    app.add_url_rule("/sub", "sub", view, subdomain="api")
    return app


ORIGINAL = converter_app().url_map
REBUILT = load_map(json.loads(json.dumps(export_map(ORIGINAL))))
TABLES = (RouteTable(ORIGINAL), RouteTable(REBUILT))

segment = st.sampled_from(
    ["notes", "1", "-3", "1.5", "x", "new", "edit", "abc-12", "ABC", "2024", "files", "a b",
     "archive", "slug", "code", "users", "page", "", "00000000-0000-0000-0000-000000000001"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(segment, max_size=4),
    slash=st.booleans(),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
)
def test_the_rebuilt_map_matches_as_the_apps_own(
    parts: list[str], slash: bool, method: str
) -> None:
    path = "/" + "/".join(parts) + ("/" if slash and parts else "")
    original, rebuilt = (table.match(path, method) for table in TABLES)
    assert original == rebuilt, path


def test_every_rule_and_option_survives_the_file() -> None:
    def rows(url_map: object) -> list[tuple[object, ...]]:
        return sorted(
            (r.rule, r.endpoint, sorted(r.methods or ()), r.defaults, r.subdomain,
             r.strict_slashes, r.redirect_to, sorted(r.arguments))
            for r in url_map.iter_rules()  # type: ignore[attr-defined]
        )  # fmt: skip

    assert rows(ORIGINAL) == rows(REBUILT)
    assert TABLES[0].match("/archive/2024", "GET").endpoint == "archive"
    assert TABLES[1].match("/archive/2024", "GET").endpoint == "archive"
    data = export_map(ORIGINAL)
    slug = next(r for r in data["rules"] if r["endpoint"] == "slug")
    assert slug["converters"] == {"slug": {"converter": "re", "regex": "[a-z]+-[0-9]+"}}
    assert next(r for r in data["rules"] if r["endpoint"] == "sub")["subdomain"] == "api"


def test_a_callable_redirect_cannot_be_exported() -> None:
    app = Flask("callable_redirect")
    app.add_url_rule("/old", "old", redirect_to=lambda adapter: "/new")
    with pytest.raises(RouteFileError, match="redirect_to is a function"):
        export_map(app.url_map)


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "is not JSON"), ('{"format": "other"}', "not a routes file"),
     ('{"format": "migrate-gateway.routes/1"}', "damaged")],
)  # fmt: skip
def test_a_bad_routes_file_is_a_clear_start_up_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "routes.json"
    path.write_text(text)
    with pytest.raises(RouteFileError, match=message):
        read_routes_file(path)
    with pytest.raises(GatewayConfigError, match=message):
        create_gateway(
            settings_for(
                tmp_path,
                legacy_app=None,
                legacy_upstream="http://127.0.0.1:9",
                legacy_routes_file=path,
            )
        )


def test_upstream_gateway_routes_from_the_file_without_the_legacy_package(
    tmp_path: Path,
) -> None:
    legacy_root = write_app(tmp_path / "legacy", LEGACY)
    routes = tmp_path / "routes.json"
    exported = subprocess.run(
        [str(BIN / "migrate-gateway"), "export-routes", "--app", "webapp:create_app()",
         "-o", str(routes)],
        cwd=legacy_root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "wrote 4 rules" in exported.stderr
    # The gateway process (this one) cannot import the legacy app at all.
    assert importlib.util.find_spec("webapp") is None and "webapp" not in sys.modules

    port = free_port()
    command = [str(BIN / "gunicorn"), "--no-control-socket", "-b", f"127.0.0.1:{port}",
               "--chdir", str(legacy_root), "webapp:create_app()"]  # fmt: skip
    with ServerProcess(command, tmp_path / "legacy.log") as legacy:
        legacy.wait_for(f"http://127.0.0.1:{port}/auth/login")
        settings = settings_for(
            tmp_path,
            legacy_app=None,
            legacy_upstream=f"http://127.0.0.1:{port}",
            legacy_routes_file=routes,
            new_app="tests.gateway.support:rich_fastapi_app()",
        )
        gateway = create_gateway(settings)
        with serve(gateway) as url:
            login = httpx.get(f"{url}/auth/login")
            page = httpx.get(f"{url}/page/3")
            below_min = httpx.get(f"{url}/page/0")
            table = httpx.get(f"{url}/_gateway/routes").json()["routes"]
            flip = httpx.put(f"{url}/_gateway/flags/auth.login", json={"flag": "new"})
    assert login.status_code == 200 and login.text == "LEGACY login"
    assert page.text == "legacy page 3"
    assert below_min.status_code == 404  # int(min=1): the same refusal as Flask's
    assert {r["endpoint"] for r in table if r["origin"] == "legacy"} >= {
        "auth.login", "auth.later", "page", "static"
    }  # fmt: skip
    assert flip.status_code == 200, flip.text  # a legacy route known only from the file
    assert "webapp" not in sys.modules


def test_status_and_routes_read_the_routes_file_from_the_environment(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app as cli

    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(export_map(rich_flask_app().url_map)))
    env = {
        "GATEWAY_LEGACY_UPSTREAM": "http://127.0.0.1:9",
        "GATEWAY_LEGACY_ROUTES_FILE": str(routes),
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": "",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
    }
    result = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    states = {r["endpoint"]: r["state"] for r in json.loads(result.output)["routes"]}
    assert states["notes.show"] == "implemented" and states["notes.edit"] == "missing"
    both = CliRunner().invoke(
        cli, ["status"], env={**env, "GATEWAY_LEGACY_URL_MAP": "tests.gateway.support:x()"}
    )
    assert both.exit_code == 1 and "set only one" in both.output
