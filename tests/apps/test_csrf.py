"""CSRF: one token per session, accepted by both apps; missing or wrong -> 400, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask

from tests.apps.browser import SIDES, Browser, Side, login
from tests.apps.world import World

SEEDED_TITLES = ["Groceries", "Ideas", "Not yours"]


@pytest.fixture
def world(flask_app: Flask, fastapi_app: FastAPI, app_config: dict[str, Any]) -> Iterator[World]:
    world = World(flask_app, fastapi_app, app_config["NOTES_DB_PATH"])
    yield world
    world.close()


def token_issued_by(world: World, side: Side) -> str:
    """The token as the HTML form of ``side`` carries it."""
    page = world.browser.get(side, "/upload").text
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("token", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_form_without_the_right_token_is_rejected_and_writes_nothing(
    world: World, side: Side, token: str | None
) -> None:
    data = {"title": "Sneaky"} if token is None else {"title": "Sneaky", "csrf_token": token}
    response = world.browser.post(side, "/notes", data=data)
    assert response.status_code == 400
    assert "missing or wrong CSRF token" in response.text
    assert world.note_titles() == SEEDED_TITLES


@pytest.mark.parametrize("side", SIDES)
def test_delete_without_token_is_rejected_and_deletes_nothing(world: World, side: Side) -> None:
    assert world.browser.post(side, "/notes/1/delete").status_code == 400
    assert world.browser.request(side, "DELETE", "/api/notes/1").status_code == 400
    assert world.note_titles() == SEEDED_TITLES


@pytest.mark.parametrize("side", SIDES)
def test_api_write_with_wrong_header_is_rejected(world: World, side: Side) -> None:
    response = world.browser.post(
        side, "/api/notes", json={"title": "Sneaky"}, headers={"X-CSRF-Token": "wrong"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == 400
    assert world.note_titles() == SEEDED_TITLES


@pytest.mark.parametrize("side", SIDES)
def test_token_from_another_session_is_rejected(
    world: World, flask_app: Flask, fastapi_app: FastAPI, side: Side
) -> None:
    other = Browser(flask_app, fastapi_app)
    try:
        login(other, sub="mallory")
        foreign = other.csrf_token()
    finally:
        other.close()
    assert foreign != world.browser.csrf_token()
    response = world.browser.post(side, "/notes", data={"title": "x", "csrf_token": foreign})
    assert response.status_code == 400
    assert world.note_titles() == SEEDED_TITLES


@pytest.mark.parametrize(("issuer", "checker"), [("flask", "fastapi"), ("fastapi", "flask")])
def test_token_issued_by_one_app_is_accepted_by_the_other(
    world: World, issuer: Side, checker: Side
) -> None:
    token = token_issued_by(world, issuer)
    response = world.browser.post(checker, "/notes", data={"title": "Across", "csrf_token": token})
    assert response.status_code == 302
    assert world.note_titles() == [*SEEDED_TITLES, "Across"]
    api = world.browser.post(
        checker, "/api/notes", json={"title": "Via header"}, headers={"X-CSRF-Token": token}
    )
    assert api.status_code == 201


def test_both_apps_issue_the_same_token_for_a_session(world: World) -> None:
    assert token_issued_by(world, "flask") == token_issued_by(world, "fastapi")
