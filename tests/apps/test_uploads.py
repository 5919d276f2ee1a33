"""Uploads report size and SHA-256; bodies over MAX_CONTENT_LENGTH get 413 on both apps."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask

from tests.apps.browser import SIDES, Side
from tests.apps.world import World


@pytest.fixture
def world(flask_app: Flask, fastapi_app: FastAPI, app_config: dict[str, Any]) -> Iterator[World]:
    world = World(flask_app, fastapi_app, app_config["NOTES_DB_PATH"])
    yield world
    world.close()


@pytest.mark.parametrize("side", SIDES)
def test_upload_reports_size_and_sha256(world: World, side: Side) -> None:
    content = bytes(range(256)) * 200  # 51,200 bytes, several chunks
    response = world.browser.post(
        side,
        "/upload",
        data={"csrf_token": world.browser.csrf_token()},
        files={"file": ("data.bin", content, "application/octet-stream")},
    )
    assert response.status_code == 200
    assert f"{len(content)} bytes" in response.text
    assert hashlib.sha256(content).hexdigest() in response.text


@pytest.mark.parametrize("side", SIDES)
def test_upload_over_the_limit_is_413(world: World, side: Side, app_config: dict[str, Any]) -> None:
    content = b"x" * (app_config["MAX_CONTENT_LENGTH"] + 1)
    response = world.browser.post(
        side,
        "/upload",
        data={"csrf_token": world.browser.csrf_token()},
        files={"file": ("big.bin", content, "application/octet-stream")},
    )
    assert response.status_code == 413
    assert "413 · Request Entity Too Large" in response.text


def test_chunked_body_over_the_limit_is_413_on_fastapi(
    world: World, app_config: dict[str, Any]
) -> None:
    # FastAPI side only: how Flask sees a chunked body depends on the WSGI server
    # (wsgi.input_terminated); httpx's in-process WSGI transport sends none of it.
    side: Side = "fastapi"
    token = world.browser.csrf_token()
    chunk = b"y" * 16384

    def body() -> Iterator[bytes]:
        for _ in range(app_config["MAX_CONTENT_LENGTH"] // len(chunk) + 2):
            yield chunk

    response = world.browser.post(
        side,
        "/api/notes",
        content=body(),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413


MALFORMED = {
    "no-boundary": {"Content-Type": "multipart/form-data"},
    "wrong-boundary": {"Content-Type": "multipart/form-data; boundary=abc"},
}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("content_type", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_multipart_is_400(world: World, side: Side, content_type: dict[str, str]) -> None:
    # Status only: Werkzeug parses it as an empty form, Starlette names the fault.
    headers = {**content_type, "X-CSRF-Token": world.browser.csrf_token()}
    response = world.browser.post(side, "/upload", content=b"garbage", headers=headers)
    assert response.status_code == 400
    assert world.note_titles() == ["Groceries", "Ideas", "Not yours"]
