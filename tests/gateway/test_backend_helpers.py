"""Shared pieces for the backend, shadow and fallback tests (no tests here):
real servers on free loopback ports and small apps that expose what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator

from fastapi import FastAPI
from flask import Flask, Response, make_response, redirect, request, stream_with_context, url_for

from tests.servers import serve_asgi, serve_wsgi


@contextlib.contextmanager
def uvicorn_server(app: object, **config: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn (lifespan only if it speaks it); yields its URL."""
    with serve_asgi(app, **{"lifespan": "auto", **config}) as url:
        yield url


@contextlib.contextmanager
def werkzeug_server(app: Flask) -> Iterator[int]:
    """Serve a WSGI app with werkzeug's threaded server; yields its port."""
    with serve_wsgi(app) as url:
        yield int(url.rsplit(":", 1)[1])


class Events:
    """What the legacy app saw, for assertions from the test thread."""

    def __init__(self) -> None:
        self.stream_closed = threading.Event()
        self.chunks_yielded = 0


def legacy_app(events: Events | None = None) -> Flask:
    """A Flask app with the shapes the backends must carry."""
    events = events or Events()
    app = Flask("legacy_test")

    @app.get("/hello")
    def hello() -> str:
        return "hello from flask"

    @app.post("/upload")
    def upload() -> dict[str, object]:
        data = request.get_data()
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    @app.get("/download")
    def download() -> Response:
        count = int(request.args.get("chunks", "5"))
        return Response((f"chunk-{i};".encode() for i in range(count)), mimetype="text/plain")

    @app.get("/endless")
    def endless() -> Response:
        def generate() -> Iterator[bytes]:
            try:
                while True:
                    events.chunks_yielded += 1
                    yield b"x" * 1024
                    time.sleep(0.01)
            finally:
                events.stream_closed.set()

        return Response(stream_with_context(generate()), mimetype="application/octet-stream")

    @app.get("/slow")
    def slow() -> str:
        time.sleep(float(request.args.get("s", "1")))
        return "slow done"

    @app.get("/where")
    def where() -> dict[str, str]:
        return {
            "script_root": request.script_root,
            "path": request.path,
            "url": url_for("where", _external=True),
        }

    @app.get("/headers")
    def headers() -> dict[str, str]:
        return {k.lower(): v for k, v in request.headers.items()}

    @app.get("/go")
    def go() -> Response:
        return redirect(url_for("hello", _external=True))

    @app.get("/cookie")
    def cookie() -> Response:
        response = make_response("cookie set")
        response.set_cookie("pref", "dark", domain=request.host.split(":")[0])
        response.set_cookie("other", "1", domain="example.org")
        return response

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def new_app() -> FastAPI:
    app = FastAPI()

    @app.get("/new/async")
    async def fast_async() -> dict[str, str]:
        return {"from": "fastapi"}

    @app.get("/new/sync")
    def fast_sync() -> dict[str, str]:
        return {"from": "fastapi-sync"}

    return app


class PathGateway:
    """A minimal stand-in for the real gateway: /new/* to new, the rest to legacy."""

    def __init__(self, legacy: object, new: object) -> None:
        self.legacy, self.new = legacy, new

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            message = await receive()
            await self.new.start()  # type: ignore[attr-defined]
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await self.new.aclose()  # type: ignore[attr-defined]
            await self.legacy.aclose()  # type: ignore[attr-defined]
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"][len(scope.get("root_path", "")) :]
        backend = self.new if path.startswith("/new/") else self.legacy
        await backend(scope, receive, send)  # type: ignore[operator]
