"""Real HTTP servers on free loopback ports, in threads of the test process.

``serve_wsgi`` runs a WSGI app under Werkzeug's threaded server, ``serve_asgi``
an ASGI app under uvicorn (lifespan on); both yield the base URL and stop on
exit. Every test package uses these two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from werkzeug.serving import make_server

from tests.redis_server import free_port

HOST = "127.0.0.1"


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with Werkzeug's threaded server; yields its base URL."""
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def serve_asgi(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn (lifespan on unless overridden); yields its base URL."""
    port = free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
