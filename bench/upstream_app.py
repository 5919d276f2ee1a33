"""The page the upstream benchmarks serve: a tiny Flask app rendering a Jinja template.

No login, no Redis: what is measured is the proxy in front of it. ``app`` is
the WSGI app (gunicorn ``bench.upstream_app:app``); ``new_app`` is a trivial
ASGI app the gateway needs as its new side (never routed to in the bench).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from starlette.types import Receive, Scope, Send

app = Flask("upstream_bench", template_folder=str(Path(__file__).with_name("upstream_templates")))
NOTES = [{"id": i, "title": f"Note number {i}", "tag": "bench"} for i in range(10)]


@app.get("/page")
def page() -> str:
    return render_template("page.html", title="Notes", user="alice", notes=NOTES)


async def new_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:  # until shutdown
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"new"})


_PAGE: bytes | None = None


async def page_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The page as a static ASGI answer: what uvicorn alone costs to serve it.

    ``bench/upstream_callgrind.py --proxies floor`` runs it under the gateway's
    server (gunicorn + UvicornWorker), as the floor no ASGI proxy can go under.
    """
    global _PAGE
    if scope["type"] == "lifespan":
        await new_app(scope, receive, send)
        return
    if _PAGE is None:
        with app.app_context():
            _PAGE = page().encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"%d" % len(_PAGE)),
        (b"x-request-id", b"1ff5196d75dc48540000000000000dac"),
        (b"x-gateway-flags-version", b"1"),
        (b"x-served-by", b"legacy"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _PAGE})
