"""Both apps on real sockets (werkzeug and uvicorn threads), one browser cookie jar.

Cookies do not depend on the port, so the two servers on 127.0.0.1 share the
session cookie exactly as two apps behind one host would.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask

from tests.apps.browser import authorize_at_provider, comparable
from tests.servers import serve_asgi, serve_wsgi


@pytest.fixture
def servers(flask_app: Flask, fastapi_app: FastAPI) -> Iterator[dict[str, str]]:
    with serve_wsgi(flask_app) as flask_url, serve_asgi(fastapi_app) as fastapi_url:
        yield {"flask": flask_url, "fastapi": fastapi_url}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def test_login_on_flask_finishes_on_fastapi_and_pages_match(
    servers: dict[str, str], http: httpx.Client
) -> None:
    start = http.get(f"{servers['flask']}/login")
    assert start.status_code == 302
    callback = urlsplit(authorize_at_provider(start.headers["location"], sub="carol"))
    assert callback.path == "/callback"

    finish = http.get(f"{servers['fastapi']}/callback?{callback.query}")

    assert finish.status_code == 302 and finish.headers["location"] == "/"
    assert "Signed in as carol." in http.get(f"{servers['flask']}/").text
    for side in ("flask", "fastapi"):
        assert http.get(f"{servers[side]}/api/me").json()["user"]["sub"] == "carol"
    pages = {side: comparable(http.get(f"{servers[side]}/profile")) for side in servers}
    assert pages["flask"]["status"] == 200
    assert pages["flask"] == pages["fastapi"]

    token = http.get(f"{servers['flask']}/api/me").json()["csrf_token"]
    created = http.post(
        f"{servers['fastapi']}/api/notes",
        json={"title": "over HTTP"},
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201
    listed = http.get(f"{servers['flask']}/api/notes").json()["notes"]
    assert [note["title"] for note in listed] == ["over HTTP"]
    export = http.get(f"{servers['fastapi']}/notes/export.csv")
    assert export.text.splitlines()[1].startswith(f"{created.json()['id']},over HTTP,")

    logout = http.get(f"{servers['fastapi']}/logout")
    assert urlsplit(logout.headers["location"]).path == "/oauth2/end_session"
    assert http.get(f"{servers['flask']}/api/me").status_code == 401


@pytest.mark.parametrize("side", ["flask", "fastapi"])
def test_chunked_body_over_the_limit_is_413(
    servers: dict[str, str], http: httpx.Client, side: str
) -> None:
    start = http.get(f"{servers['flask']}/login")
    callback = urlsplit(authorize_at_provider(start.headers["location"]))
    assert http.get(f"{servers['flask']}/callback?{callback.query}").status_code == 302
    token = http.get(f"{servers['flask']}/api/me").json()["csrf_token"]

    def chunks(data: bytes) -> Iterator[bytes]:
        for offset in range(0, len(data), 16384):
            yield data[offset : offset + 16384]  # no Content-Length: chunked

    big_json = b'{"title": "' + b"z" * 131072 + b'"}'  # over the 64 KiB limit
    response = http.post(
        f"{servers[side]}/api/notes",
        content=chunks(big_json),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413

    upload = http.build_request(
        "POST",
        servers[side],
        data={"csrf_token": token},
        files={"file": ("big.bin", b"x" * 131072)},
    )
    response = http.post(
        f"{servers[side]}/upload",
        content=chunks(upload.read()),
        headers={"Content-Type": upload.headers["Content-Type"]},
    )
    assert response.status_code == 413
    assert "413 · Request Entity Too Large" in response.text


@pytest.mark.parametrize("path", ["/", "/notes", "/nope", "/api/notes"])
def test_a_host_werkzeug_refuses_is_a_400_not_a_500(servers: dict[str, str], path: str) -> None:
    # Werkzeug refuses a Host label over 63 characters (BadHost); the error page
    # must not need a URL adapter to render.
    host = "a" * 70 + ".example.com"
    for side, url in servers.items():
        response = httpx.get(url + path, headers={"Host": host})
        assert response.status_code < 500, (side, response.status_code, response.text[:200])
    flask = httpx.get(servers["flask"] + path, headers={"Host": host})
    assert flask.status_code == 400
