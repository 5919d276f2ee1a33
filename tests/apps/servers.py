"""Run the apps on real sockets (loopback, free ports) in background threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
import werkzeug.serving
from fastapi import FastAPI
from flask import Flask

HOST = "127.0.0.1"


@contextmanager
def serve_flask(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded server; yields its base URL."""
    server = werkzeug.serving.make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def serve_asgi(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=HOST, port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
