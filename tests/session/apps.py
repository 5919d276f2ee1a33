"""A Flask app and a FastAPI app with the same small session endpoints.

Endpoints copy what they saw into ``probe`` so tests compare real Python
objects, not their HTML.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import flask
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from markupsafe import Markup

from shared_session import (
    SessionMiddleware,
    SessionSettings,
    flash,
    get_flashed_messages,
    install_flask_session,
)


def typed_values() -> dict[str, Any]:
    """One value of every tagged type, nested too."""
    return {
        "tuple": (1, "two", (3.0, None)),
        "bytes": b"\x00\xffbinary",
        "markup": Markup("<b>bold</b> &amp; safe"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "naive": datetime(2024, 2, 29, 13, 45, 7, 123456),
        "aware": datetime(2024, 2, 29, 13, 45, 7, 654321, tzinfo=UTC),
        "nested": {"list": [(1, 2), b"x", {" t": "looks tagged"}], "n": 1.5},
        "unicode": "Grüße, 世界",
        "bool": True,
        "none": None,
    }


def make_flask(
    settings: SessionSettings, probe: list[Any], gate: threading.Event | None = None
) -> flask.Flask:
    app = flask.Flask("session_test_flask")
    app.config["SECRET_KEY"] = "unused-because-settings-have-keys"
    install_flask_session(app, settings)
    s = flask.session

    @app.get("/noop")
    def noop() -> str:
        return "noop"

    @app.get("/read")
    def read() -> str:
        probe.append(dict(s))
        return "read"

    @app.post("/set/<key>")
    def set_key(key: str) -> str:
        s[key] = flask.request.args.get("value", key)
        return "set"

    @app.post("/slow-set/<key>")
    def slow_set(key: str) -> str:
        s.get(key)  # loaded now; written only after the gate opens
        assert gate is not None and gate.wait(10)
        s[key] = "late"
        return "set late"

    @app.post("/typed")
    def typed() -> str:
        s.update(typed_values())
        return "typed"

    @app.post("/list/<key>")
    def make_list(key: str) -> str:
        s[key] = []
        return "list"

    @app.post("/append/<key>")
    def append(key: str) -> str:
        s[key].append(flask.request.args["value"])  # nested change, no reassignment
        return "appended"

    @app.post("/flash")
    def do_flash() -> str:
        flask.flash(flask.request.args["message"], flask.request.args.get("category", "message"))
        return "flashed"

    @app.get("/flashes")
    def flashes() -> str:
        probe.append(flask.get_flashed_messages(with_categories=True))
        return "flashes"

    @app.post("/regenerate")
    def regenerate() -> str:
        s.regenerate()
        return "regenerated"

    @app.post("/logout")
    def logout() -> str:
        s.clear()
        return "logged out"

    @app.post("/big")
    def big() -> str:
        s["big"] = "x" * int(flask.request.args["size"])
        return "big"

    return app


def make_asgi(settings: SessionSettings, probe: list[Any]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, settings=settings)

    @app.get("/noop", response_class=PlainTextResponse)
    def noop() -> str:
        return "noop"

    @app.get("/read", response_class=PlainTextResponse)
    def read(request: Request) -> str:
        probe.append(dict(request.session))
        return "read"

    @app.post("/set/{key}", response_class=PlainTextResponse)
    async def set_key(request: Request, key: str, value: str | None = None) -> str:
        request.session[key] = value if value is not None else key
        return "set"

    @app.post("/typed", response_class=PlainTextResponse)
    def typed(request: Request) -> str:
        request.session.update(typed_values())
        return "typed"

    @app.post("/list/{key}", response_class=PlainTextResponse)
    def make_list(request: Request, key: str) -> str:
        request.session[key] = []
        return "list"

    @app.post("/append/{key}", response_class=PlainTextResponse)
    def append(request: Request, key: str, value: str) -> str:
        request.session[key].append(value)
        return "appended"

    @app.post("/flash", response_class=PlainTextResponse)
    def do_flash(request: Request, message: str, category: str = "message") -> str:
        flash(request.session, message, category)
        return "flashed"

    @app.get("/flashes", response_class=PlainTextResponse)
    def flashes(request: Request) -> str:
        probe.append(get_flashed_messages(request.session, with_categories=True))
        return "flashes"

    @app.post("/regenerate", response_class=PlainTextResponse)
    def regenerate(request: Request) -> str:
        request.session.regenerate()
        return "regenerated"

    @app.post("/logout", response_class=PlainTextResponse)
    def logout(request: Request) -> str:
        request.session.clear()
        return "logged out"

    @app.post("/big", response_class=PlainTextResponse)
    def big(request: Request, size: int) -> str:
        request.session["big"] = "x" * size
        return "big"

    return app
