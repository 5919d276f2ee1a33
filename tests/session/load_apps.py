"""The session test apps as server processes build them, for load tests.

``flask_app()`` (gunicorn, gthread) and ``asgi_app()`` (uvicorn --factory)
read ``SessionSettings`` from the environment, like a deployment, and add to
tests/session/apps.py's endpoints a gate that holds requests until a given
number are in flight at once, so a test can prove how many were:

- ``POST /burst/<key>?target=N``: loads the session, waits until N requests
  are inside the handler together (at most ``HOLD`` seconds), sets ``key``;
- ``GET /peak``: the most requests that were inside at once (``?reset=1``
  starts over).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import flask
from fastapi import FastAPI, Request

from shared_session import SessionSettings
from tests.processes import BIN, ServerProcess, free_port
from tests.session.apps import make_asgi, make_flask

HOLD = 10.0


class _ThreadGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.inside = self.peak = 0

    def enter(self, target: int) -> None:
        with self._cond:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.peak >= target, timeout=HOLD)

    def leave(self) -> None:
        with self._cond:
            self.inside -= 1


class _TaskGate:
    def __init__(self) -> None:
        self._cond: asyncio.Condition | None = None
        self.inside = self.peak = 0

    async def enter(self, target: int) -> None:
        self._cond = self._cond or asyncio.Condition()
        async with self._cond:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self._cond.notify_all()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._cond.wait_for(lambda: self.peak >= target), HOLD)

    def leave(self) -> None:
        self.inside -= 1


def flask_app() -> flask.Flask:
    app = make_flask(SessionSettings(), [])
    gate = _ThreadGate()

    @app.post("/burst/<key>")
    def burst(key: str) -> str:
        flask.session.get("owner")
        gate.enter(int(flask.request.args["target"]))
        try:
            flask.session[key] = "1"
        finally:
            gate.leave()
        return "set"

    @app.get("/peak")
    def peak() -> dict[str, int]:
        seen = gate.peak
        if flask.request.args.get("reset"):
            gate.peak = 0
        return {"peak": seen}

    @app.get("/keys")
    def keys() -> dict[str, Any]:
        return {"keys": sorted(flask.session)}

    return app


def asgi_app() -> FastAPI:
    app = make_asgi(SessionSettings(), [])
    gate = _TaskGate()

    @app.post("/burst/{key}")
    async def burst(request: Request, key: str, target: int) -> str:
        request.session.get("owner")
        await gate.enter(target)
        try:
            request.session[key] = "1"
        finally:
            gate.leave()
        return "set"

    @app.get("/peak")
    async def peak(reset: bool = False) -> dict[str, int]:
        seen = gate.peak
        if reset:
            gate.peak = 0
        return {"peak": seen}

    @app.get("/keys")
    async def keys(request: Request) -> dict[str, Any]:
        return {"keys": sorted(request.session)}

    return app


@contextmanager
def serving(
    redis_url: str, key_prefix: str, log_dir: Path, **settings: str
) -> Iterator[dict[str, str]]:
    """Both apps as one server process each, on loopback: Flask under gunicorn's
    threaded worker (600 threads), the ASGI app under uvicorn. Yields
    {"flask": url, "asgi": url}; ``settings`` are more SHARED_SESSION_* values."""
    env = {
        "SHARED_SESSION_REDIS_URL": redis_url,
        "SHARED_SESSION_KEY_PREFIX": key_prefix,
        "SHARED_SESSION_SECRET_KEYS": '["load-test-secret"]',
        **{f"SHARED_SESSION_{name.upper()}": value for name, value in settings.items()},
    }
    flask_port, asgi_port = free_port(), free_port()
    commands = {
        "flask": [
            str(BIN / "gunicorn"), "--no-control-socket", "-k", "gthread", "-w", "1",
            "--threads", "600", "--backlog", "2048", "-b", f"127.0.0.1:{flask_port}",
            "--log-level", "warning", "tests.session.load_apps:flask_app()",
        ],
        "asgi": [
            str(BIN / "uvicorn"), "--factory", "tests.session.load_apps:asgi_app",
            "--port", str(asgi_port), "--backlog", "2048", "--log-level", "warning",
            "--no-access-log",
        ],
    }  # fmt: skip
    ports = {"flask": flask_port, "asgi": asgi_port}
    with (
        ServerProcess(commands["flask"], log_dir / "flask.log", env) as flask_server,
        ServerProcess(commands["asgi"], log_dir / "asgi.log", env) as asgi_server,
    ):
        urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
        flask_server.wait_for(f"{urls['flask']}/noop")
        asgi_server.wait_for(f"{urls['asgi']}/noop")
        yield urls
        for server in (flask_server, asgi_server):
            assert "Traceback" not in server.log(), server.log()[-3000:]


async def raw_post(url: str, path: str, cookie: str) -> int:
    """One POST on its own connection (plain asyncio: 512 at once stay cheap)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: ssid={cookie}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()
    return int(response.split(b" ", 2)[1])
