"""Route parity: the same request, in the same session, gets the same answer from both apps.

Status, redirect target, media type and body (HTML or JSON) must agree once
dynamic parts (timestamps, CSRF tokens, OAuth state) are normalised. The case
table must cover every route of both apps: a new route without a case fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from flask import Flask
from starlette.routing import Mount

from tests.apps.browser import SIDES, comparable
from tests.apps.world import World

Body = Callable[[str], dict[str, Any]]


def nothing(token: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Case:
    """One request to send to both apps."""

    id: str
    method: str
    rule: str  # the Flask rule it exercises
    url: str
    body: Body = nothing  # request kwargs, given the session's CSRF token
    anonymous: bool = False
    fresh_login: bool = False  # the request ends the session (logout)
    headers: dict[str, str] = field(default_factory=dict)


def form(**values: str) -> Body:
    return lambda token: {"data": {"csrf_token": token, **values}}


def api_json(payload: Any, *, csrf: bool = True, content_type: str = "application/json") -> Body:
    def build(token: str) -> dict[str, Any]:
        headers = {"Content-Type": content_type}
        if csrf:
            headers["X-CSRF-Token"] = token
        return {"content": json.dumps(payload).encode(), "headers": headers}

    return build


def csrf_header(token: str) -> dict[str, Any]:
    return {"headers": {"X-CSRF-Token": token}}


def upload(content: bytes, *, name: str = "hello.txt") -> Body:
    return lambda token: {
        "data": {"csrf_token": token},
        "files": {"file": (name, content, "text/plain")},
    }


CASES = [
    # webapp
    Case("index-anonymous", "GET", "/", "/", anonymous=True),
    Case("index", "GET", "/", "/"),
    Case("home-redirect", "GET", "/home", "/home"),
    Case("notes", "GET", "/notes", "/notes"),
    Case("notes-anonymous", "GET", "/notes", "/notes", anonymous=True),
    Case("create-note", "POST", "/notes", "/notes", form(title="New", body="Hello <b>")),
    Case("create-note-invalid", "POST", "/notes", "/notes", form(title="  ", body="x")),
    Case(
        "create-note-no-csrf", "POST", "/notes", "/notes", lambda token: {"data": {"title": "New"}}
    ),
    Case("note", "GET", "/notes/<int:note_id>", "/notes/1"),
    Case("note-of-someone-else", "GET", "/notes/<int:note_id>", "/notes/3"),
    Case("note-huge-id", "GET", "/notes/<int:note_id>", "/notes/" + "9" * 30),
    Case("note-not-a-number", "GET", "/notes/<int:note_id>", "/notes/abc"),
    Case("delete-note", "POST", "/notes/<int:note_id>/delete", "/notes/2/delete", form()),
    Case("delete-missing-note", "POST", "/notes/<int:note_id>/delete", "/notes/99/delete", form()),
    Case("delete-note-wrong-method", "GET", "/notes/<int:note_id>/delete", "/notes/2/delete"),
    Case("export-csv", "GET", "/notes/export.csv", "/notes/export.csv"),
    Case("upload-form", "GET", "/upload", "/upload"),
    Case("upload", "POST", "/upload", "/upload", upload(b"hello world\n")),
    Case("upload-without-file", "POST", "/upload", "/upload", form()),
    Case("upload-too-large", "POST", "/upload", "/upload", upload(b"x" * 100_000)),
    Case("static-css", "GET", "/static/<path:filename>", "/static/style.css"),
    Case("static-js", "GET", "/static/<path:filename>", "/static/app.js"),
    Case("static-missing", "GET", "/static/<path:filename>", "/static/missing.css"),
    Case("unknown-page", "GET", "", "/no/such/page"),
    Case("trailing-slash", "GET", "", "/notes/"),
    # auth
    Case("login", "GET", "/login", "/login", anonymous=True),
    Case("callback-without-state", "GET", "/callback", "/callback?code=abc"),
    Case("logout", "GET", "/logout", "/logout", fresh_login=True),
    Case("profile", "GET", "/profile", "/profile"),
    Case("profile-anonymous", "GET", "/profile", "/profile", anonymous=True),
    # api
    Case("api-me", "GET", "/api/me", "/api/me"),
    Case("api-list", "GET", "/api/notes", "/api/notes"),
    Case("api-list-anonymous", "GET", "/api/notes", "/api/notes", anonymous=True),
    Case("api-get", "GET", "/api/notes/<int:note_id>", "/api/notes/1"),
    Case("api-get-missing", "GET", "/api/notes/<int:note_id>", "/api/notes/3"),
    Case(
        "api-create",
        "POST",
        "/api/notes",
        "/api/notes",
        api_json({"title": "Via API", "body": "ü"}),
    ),
    Case(
        "api-create-invalid",
        "POST",
        "/api/notes",
        "/api/notes",
        api_json({"title": "", "extra": 1}),
    ),
    Case("api-create-not-an-object", "POST", "/api/notes", "/api/notes", api_json([1, 2])),
    Case(
        "api-create-bad-json",
        "POST",
        "/api/notes",
        "/api/notes",
        lambda token: {
            "content": b"{not json",
            "headers": {"Content-Type": "application/json", "X-CSRF-Token": token},
        },
    ),
    Case(
        "api-create-deeply-nested",
        "POST",
        "/api/notes",
        "/api/notes",
        lambda token: {
            "content": b"[" * 50_000,
            "headers": {"Content-Type": "application/json", "X-CSRF-Token": token},
        },
    ),
    Case(
        "api-create-wrong-content-type",
        "POST",
        "/api/notes",
        "/api/notes",
        api_json({"title": "x"}, content_type="text/plain"),
    ),
    Case(
        "api-create-no-csrf",
        "POST",
        "/api/notes",
        "/api/notes",
        api_json({"title": "x"}, csrf=False),
    ),
    Case(
        "api-create-anonymous",
        "POST",
        "/api/notes",
        "/api/notes",
        api_json({"title": "x"}, csrf=False),
        anonymous=True,
    ),
    Case("api-delete", "DELETE", "/api/notes/<int:note_id>", "/api/notes/1", csrf_header),
    Case(
        "api-delete-huge-id",
        "DELETE",
        "/api/notes/<int:note_id>",
        "/api/notes/" + "9" * 30,
        csrf_header,
    ),
    Case("api-delete-missing", "DELETE", "/api/notes/<int:note_id>", "/api/notes/99", csrf_header),
    Case("api-wrong-method", "PUT", "/api/notes", "/api/notes", csrf_header),
    Case("api-unknown", "GET", "", "/api/nothing-here"),
]


def is_local_redirect(response: Any) -> bool:
    return response.status_code in (301, 302, 303) and response.headers["location"].startswith("/")


def run_case(world: World, case: Case) -> dict[str, Any]:
    """Send ``case`` to each app from the same state; what each one answered."""
    token = "" if case.anonymous else world.browser.csrf_token()
    answers: dict[str, Any] = {}
    for side in SIDES:
        world.restore()
        if case.fresh_login:
            world.login()
            token = world.browser.csrf_token()
        response = world.browser.request(side, case.method, case.url, **case.body(token))
        answer = {"response": comparable(response)}
        if is_local_redirect(response):
            # The page after the redirect shows the flashed message.
            answer["next_page"] = comparable(world.browser.get(side, response.headers["location"]))
        answers[side] = answer
    return answers


@pytest.fixture
def make_world(flask_app: Flask, fastapi_app: FastAPI, app_config: dict[str, Any]):
    worlds: list[World] = []

    def make(**kwargs: Any) -> World:
        world = World(flask_app, fastapi_app, app_config["NOTES_DB_PATH"], **kwargs)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_both_apps_answer_alike(make_world: Callable[..., World], case: Case) -> None:
    world = make_world(anonymous=case.anonymous)
    answers = run_case(world, case)
    assert answers["flask"] == answers["fastapi"]


GET_CASES = [case for case in CASES if case.method == "GET" and not case.fresh_login]


@pytest.mark.parametrize("case", GET_CASES, ids=[case.id for case in GET_CASES])
def test_head_is_answered_like_get_on_both_apps(
    make_world: Callable[..., World], case: Case
) -> None:
    world = make_world(anonymous=case.anonymous)
    answers = run_case(world, replace(case, method="HEAD"))
    assert answers["flask"] == answers["fastapi"]
    assert answers["flask"]["response"]["body"] in ("", None)


def test_unexpected_errors_get_the_same_500_page_and_json(
    flask_app: Flask, fastapi_app: FastAPI, make_world: Callable[..., World]
) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    for path in ("/boom", "/api/boom"):
        flask_app.add_url_rule(path, path, boom)
        fastapi_app.add_api_route(path, boom)
    world = make_world(anonymous=True, raise_server_exceptions=False)

    page = {side: comparable(world.browser.get(side, "/boom")) for side in SIDES}
    api = {side: comparable(world.browser.get(side, "/api/boom")) for side in SIDES}

    assert page["flask"]["status"] == 500
    assert "Something went wrong on our side" in page["flask"]["body"]
    assert page["flask"] == page["fastapi"]
    assert api["flask"]["body"] == {
        "error": {
            "status": 500,
            "title": "Internal Server Error",
            "detail": "Server got itself in trouble",
        }
    }
    assert api["flask"] == api["fastapi"]


def flask_routes(app: Flask) -> set[tuple[str, str]]:
    """(rule, method) of every Flask route, without the automatic HEAD and OPTIONS."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def fastapi_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(rule, method) of every FastAPI route, paths written as Flask rules."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            rule = re.sub(r"{(\w+):(\w+)}", r"<\2:\1>", route.path or "")
            # HEAD is automatic in Flask; FlaskStyleRoute adds it (tested separately).
            routes |= {(rule, method) for method in (route.methods or set()) - {"HEAD"}}
        elif isinstance(route.original_route, Mount) and route.name == "static":
            routes.add((f"{route.path}/<path:filename>", "GET"))
    return routes


def test_both_apps_have_the_same_routes(flask_app: Flask, fastapi_app: FastAPI) -> None:
    assert fastapi_routes(fastapi_app) == flask_routes(flask_app)


def test_every_route_has_a_parity_case(flask_app: Flask) -> None:
    covered = {(case.rule, case.method) for case in CASES}
    assert flask_routes(flask_app) - covered == set()
