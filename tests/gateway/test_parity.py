"""Parity and progress: ``migrate-gateway status`` and GET <admin prefix>/status."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from flask import Flask
from typer.testing import CliRunner

from gateway.app import create_gateway
from gateway.cli import app as cli
from gateway.flags import FlagTable, Groups, parse_flag
from gateway.parity import build_report, path_shape
from gateway.routes import RouteTable, app_routes
from tests.gateway.support import EchoBackend, serve, settings_for

runner = CliRunner()


def login_pair() -> tuple[Flask, FastAPI]:
    flask_app = Flask("parity_legacy", static_folder=None)

    def view(**kwargs: object) -> str:
        return "ok"

    flask_app.add_url_rule("/login", "auth.login", view, methods=["GET", "POST"])
    flask_app.add_url_rule("/post/<int:post_id>", "blog.show", view)
    flask_app.add_url_rule("/post/<int:post_id>/edit", "blog.edit", view, methods=["GET", "POST"])
    flask_app.add_url_rule("/about", "pages.about", view)
    flask_app.add_url_rule("/feed", "blog.feed", view)

    new = FastAPI()

    @new.get("/login", name="auth.login")  # no POST: the form would go nowhere
    def login() -> str:
        return "ok"

    @new.get("/post/{post_id:int}", name="blog.show")
    def show(post_id: int) -> str:
        return "ok"

    @new.api_route("/post/{id:int}/edit", methods=["GET", "POST"], name="blog.edit")
    def edit(id: int) -> str:
        return "ok"

    @new.get("/about", name="about")  # right path, wrong name
    def about() -> str:
        return "ok"

    @new.get("/api/v2/health", name="health")
    def health() -> str:
        return "ok"

    return flask_app, new


def report_for(flags: dict[str, str] | None = None, stats: dict | None = None) -> dict:
    flask_app, new = login_pair()
    table = RouteTable(flask_app.url_map, app_routes(new))
    flag_table, _ = FlagTable.from_texts(1, flags or {}, parse_flag("legacy"), "test")
    report = build_report(table.legacy_rules, table.new_routes, flag_table, Groups({}, {}), stats)
    return report.as_dict()


def rows_by_endpoint(report: dict) -> dict[str, dict]:
    return {row["endpoint"]: row for row in report["routes"]}


def test_shapes_of_werkzeug_rules_and_starlette_paths_compare() -> None:
    assert path_shape("/post/<int:id>/x") == path_shape("/post/{id:int}/x") == "/post/{}/x"
    assert path_shape("/p/<any(a, b):page>") == path_shape("/p/{page}")


def test_route_agreeing_on_name_path_methods_and_params_is_implemented() -> None:
    row = rows_by_endpoint(report_for())["blog.show"]
    assert row["state"] == "implemented" and row["disagreements"] == []
    assert row["new"]["path"] == "/post/{post_id:int}"


def test_new_route_answering_the_path_with_fewer_methods_is_not_implemented() -> None:
    row = rows_by_endpoint(report_for())["auth.login"]
    assert row["state"] == "disagrees"
    assert row["disagreements"] == ["methods: new route lacks POST"]


def test_other_parameter_names_are_a_listed_disagreement() -> None:
    row = rows_by_endpoint(report_for())["blog.edit"]
    assert row["state"] == "disagrees"
    assert row["disagreements"] == ["params: new path parameters ['id'], Flask's ['post_id']"]


def test_a_route_on_the_same_path_under_another_name_disagrees_on_the_name() -> None:
    row = rows_by_endpoint(report_for())["pages.about"]
    assert row["state"] == "disagrees"
    assert "name: new route is named 'about'" in row["disagreements"][0]


def test_totals_count_states_flags_new_only_and_shadow() -> None:
    stats = {"matched": {"blog.show": 3, "blog.feed": 1}, "mismatched": {"blog.show": 1}}
    report = report_for({"blog.show": "shadow", "auth.login": "canary 5"}, stats)
    totals = report["totals"]
    assert totals["legacy_routes"] == 5
    assert (totals["implemented"], totals["disagrees"], totals["missing"]) == (1, 3, 1)
    assert totals["flagged"] == {"legacy": 3, "new": 0, "canary": 1, "shadow": 1}
    assert totals["shadow"] == {"matched": 4, "mismatched": 1, "match_rate": 0.8}
    assert rows_by_endpoint(report)["blog.show"]["shadow_match_rate"] == 0.75
    assert "health" in [e["name"] for e in report["new_only"]]


def test_a_route_the_scaffold_tagged_as_not_ported_is_not_implemented() -> None:
    flask_app, new = login_pair()

    @new.get("/feed", name="blog.feed", openapi_extra={"x-scaffold": "stub"})
    def feed() -> str:
        return "501"

    table = RouteTable(flask_app.url_map, app_routes(new))
    flags, _ = FlagTable.from_texts(1, {}, parse_flag("legacy"), "test")
    report = build_report(table.legacy_rules, table.new_routes, flags, Groups({}, {}))
    row = rows_by_endpoint(report.as_dict())["blog.feed"]
    assert row["state"] == "disagrees"
    assert row["disagreements"][0].startswith("scaffold: the new route is the scaffold's stub")


def test_a_static_folder_mounted_under_flasks_endpoint_is_implemented(tmp_path: Path) -> None:
    from flask_compat import FlaskCompat

    (tmp_path / "static").mkdir()
    flask_app = Flask("parity_static", static_folder=str(tmp_path / "static"))
    new = FastAPI()
    FlaskCompat(flask_app).install(new)
    table = RouteTable(flask_app.url_map, app_routes(new))
    flags, _ = FlagTable.from_texts(1, {}, parse_flag("legacy"), "test")
    report = build_report(table.legacy_rules, table.new_routes, flags, Groups({}, {}))
    assert rows_by_endpoint(report.as_dict())["static"]["state"] == "implemented"


def test_status_locally_prints_totals_and_rows(tmp_path: Path) -> None:
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": "",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "f.json"),
        "COLUMNS": "250",
    }
    text = runner.invoke(cli, ["status"], env=env)
    as_json = runner.invoke(cli, ["status", "--json"], env=env)
    assert text.exit_code == 0, text.output
    assert "legacy routes implemented in new" in text.output
    assert "methods: new route lacks DELETE" in text.output
    data = json.loads(as_json.output)
    assert data["totals"]["implemented"] == 2
    assert {r["endpoint"]: r["state"] for r in data["routes"]}["admin.user"] == "disagrees"


def test_status_from_a_running_gateway_includes_the_shadow_match_rate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, admin_token="status-token", admin_open=False)
    # Both sides answer the same JSON, so every replay matches.
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("same"), new_backend=EchoBackend("same")
    )
    env = {"GATEWAY_ADMIN_TOKEN": "status-token"}
    with serve(gateway) as url:
        headers = {"Authorization": "Bearer status-token"}
        flip = httpx.put(
            f"{url}/_gateway/flags/notes.show", json={"flag": "shadow"}, headers=headers
        )
        assert flip.status_code == 200, flip.text
        for _ in range(3):
            assert httpx.get(f"{url}/notes/7").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shadow = httpx.get(f"{url}/_gateway/shadow", headers=headers).json()["shadow"]
            if sum(shadow["matched"].values()) >= 3:
                break
            time.sleep(0.05)
        denied = httpx.get(f"{url}/_gateway/status")
        result = runner.invoke(cli, ["status", "--json", "--url", url], env=env)
    assert denied.status_code == 401
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    row = {r["endpoint"]: r for r in data["routes"]}["notes.show"]
    assert row["flag"] == "shadow" and row["shadow_matched"] == 3
    assert row["shadow_match_rate"] == 1.0
    assert data["totals"]["flagged"]["shadow"] == 1
