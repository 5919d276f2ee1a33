"""Shared pieces for the gateway core tests (no tests here): a rich Flask app,
a FastAPI app that implements part of it, echo backends and a real server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from flask import Blueprint, Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from gateway.app import Gateway, create_gateway
from gateway.settings import GatewaySettings
from shared_session import SessionMiddleware, SessionSettings
from tests.servers import serve_asgi


def rich_flask_app() -> Flask:
    """Every routing shape Werkzeug has: converters, slashes, methods, defaults."""
    app = Flask("rich_legacy")

    def view(**kwargs: object) -> str:
        return "ok"

    rules = [
        ("/", "index", {}),
        ("/notes/", "notes.list", {}),
        ("/notes/<int:note_id>", "notes.show", {"methods": ["GET"]}),
        ("/notes/<int:note_id>", "notes.update", {"methods": ["POST", "PUT"]}),
        ("/notes/<int:note_id>/edit", "notes.edit", {"methods": ["GET", "POST"]}),
        ("/notes/new", "notes.new", {}),
        ("/prices/<float:amount>", "prices", {}),
        ("/signed/<int(signed=True):n>", "signed", {}),
        ("/fixed/<int(fixed_digits=4):year>", "fixed", {}),
        ("/range/<int(min=1, max=10):n>", "range", {}),
        ("/files/<path:subpath>", "files", {}),
        ("/files/<path:subpath>/raw", "files.raw", {}),
        ("/items/<uuid:item_id>", "items.show", {}),
        ("/pages/<any(about, help, imprint):page>", "pages", {}),
        ("/codes/<string(length=3):code>", "codes", {}),
        ("/names/<string(minlength=2, maxlength=5):name>", "names", {}),
        ("/loose", "loose", {"strict_slashes": False}),
        ("/loose-dir/", "loose_dir", {"strict_slashes": False}),
        ("/users/", "users.list", {"defaults": {"page": 1}}),
        ("/users/page/<int:page>", "users.list", {}),
        ("/api/things", "api.things", {"methods": ["POST", "PUT", "DELETE"]}),
        ("/api/things", "api.things_list", {"methods": ["GET"]}),
        ("/old-notes", "old_notes", {"redirect_to": "/notes/"}),
        ("/a/<x>/b/<y>", "two_parts", {}),
        ("/options-off", "no_options", {"provide_automatic_options": False}),
    ]
    for rule, endpoint, options in rules:
        app.add_url_rule(rule, endpoint, view, **options)  # type: ignore[arg-type]

    admin = Blueprint("admin", __name__, url_prefix="/admin")
    admin.add_url_rule("/", "home", view)
    admin.add_url_rule("/users/<int:user_id>", "user", view, methods=["GET", "DELETE"])
    app.register_blueprint(admin)
    return app


def rich_fastapi_app() -> FastAPI:
    """Implements some legacy routes, adds new-only ones and a mount."""
    app = FastAPI()

    @app.get("/notes/", name="notes.list")
    async def notes_list() -> dict[str, str]:
        return {"side": "new"}

    @app.get("/notes/{note_id:int}", name="notes.show")
    async def notes_show(note_id: int) -> dict[str, int]:
        return {"note": note_id}

    @app.get("/api/v2/stats", name="stats")
    async def stats() -> dict[str, int]:
        return {"n": 1}

    @app.post("/api/things/bulk", name="things.bulk")
    async def bulk() -> dict[str, int]:
        return {"n": 1}

    @app.get("/admin/users/{user_id}", name="admin.user")
    async def admin_user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    async def asset(request: object) -> PlainTextResponse:
        return PlainTextResponse("asset")

    app.router.routes.append(Mount("/assets", app=Starlette(routes=[Route("/{p:path}", asset)])))
    return app


class EchoBackend:
    """A plain ASGI backend answering JSON about what it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.closed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = json.dumps(
            {"side": self.name, "path": scope["path"], "request_id": headers.get("x-request-id")}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True


def settings_for(tmp_path: Path, **overrides: object) -> GatewaySettings:
    """Settings for a test gateway: in-memory flags, cache in tmp_path, the admin
    API open to loopback clients (tests of the admin token set their own)."""
    values: dict[str, object] = {
        "legacy_app": "tests.gateway.support:rich_flask_app()",
        "new_app": "tests.gateway.support:rich_fastapi_app()",
        "flag_cache_path": tmp_path / "flags.json",
        "admin_open": True,
        "redis_url": None,  # in memory unless a test says otherwise, whatever REDIS_URL is
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def echo_gateway(settings: GatewaySettings) -> Gateway:
    """A gateway over the rich apps whose backends are EchoBackends."""
    return create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )


# Gateway tests say serve(app): the one uvicorn runner of the test suite.
serve = serve_asgi


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def broken_factory() -> None:
    raise RuntimeError("boom")


def failing_lifespan_app() -> FastAPI:
    """A new app whose start-up fails (its database is down)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("the new app's database is down")
        yield

    app = FastAPI(lifespan=lifespan)
    app.get("/prices/{amount}")(lambda amount: {"amount": amount})
    return app


def keyless_session_app() -> FastAPI:
    """A new app whose session middleware has no secret key (a configuration error
    Starlette only notices when it builds its middleware, on the first call)."""
    app = rich_fastapi_app()
    app.add_middleware(SessionMiddleware, settings=SessionSettings(secret_keys=[]))
    return app


def streaming_flask_app() -> Flask:
    """A legacy app with a page and a slow download (2 s), for shutdown tests."""
    app = Flask("streaming_legacy")

    @app.get("/page")
    def page() -> str:
        return "page"

    @app.get("/stream")
    def stream() -> object:
        def chunks() -> Iterator[bytes]:
            for i in range(10):
                time.sleep(0.2)
                yield b"chunk %d\n" % i

        return app.response_class(chunks(), mimetype="text/plain")

    return app


# One start message for every answer, as a hand-written ASGI app may keep it.
CONSTANT_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}


async def constant_start_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app that sends the same start message dict on every request."""
    if scope["type"] != "http":
        return
    await send(CONSTANT_START)
    await send({"type": "http.response.body", "body": b"constant"})
