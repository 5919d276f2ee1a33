"""A trivial JSON endpoint on both sides, for the gateway's path benchmarks.

``flask_app`` (WSGI) and ``fastapi_app`` (ASGI) both answer ``GET /json``
with ``{"ok": true}``: the work of the app is as small as it gets, so what a
benchmark measures is the server and, behind the gateway, the gateway itself.
The Flask app's ``url_map`` gives the gateway its route table; the route is
``ping`` on both sides.
"""

from __future__ import annotations

from fastapi import FastAPI
from flask import Flask, jsonify

flask_app = Flask("trivial")


@flask_app.get("/json")
def ping() -> object:
    return jsonify(ok=True)


fastapi_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@fastapi_app.get("/json", name="ping")
async def ping_new() -> dict[str, bool]:
    return {"ok": True}


def a2wsgi_app() -> object:
    """``flask_app`` behind ``a2wsgi.WSGIMiddleware`` (the bench extra), for uvicorn."""
    from a2wsgi import WSGIMiddleware

    return WSGIMiddleware(flask_app)  # type: ignore[arg-type]
