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
