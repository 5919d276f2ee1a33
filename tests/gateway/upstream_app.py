"""The Flask app the upstream tests run under real gunicorn (sync and gthread).

Each route shows one thing a proxy must carry: the Cookie header it was
given, the upstream connection it came on (``REMOTE_PORT``), a large
streamed body, an uploaded body's digest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request

app = Flask("upstream_test")


@app.get("/hello")
def hello() -> str:
    return "hello from flask"


@app.get("/login")
def login() -> Response:
    response = Response("logged in")
    response.set_cookie("session", request.args.get("user", "alice"))
    return response


@app.get("/echo-cookie")
def echo_cookie() -> Response:
    return jsonify(cookie=request.headers.get("Cookie"))


@app.route("/request", methods=["GET", "HEAD", "POST"])
def request_seen() -> Response:
    """What arrived: the peer port (one per upstream connection) and the headers."""
    return jsonify(
        port=request.environ.get("REMOTE_PORT"),
        headers={k.lower(): v for k, v in request.headers.items()},
    )


@app.post("/upload")
def upload() -> Response:
    data = request.get_data()
    return jsonify(size=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.get("/big")
def big() -> Response:
    """``n`` MiB streamed in 64 KiB pieces of a known pattern, no Content-Length."""
    count = int(request.args.get("n", "8")) * 16

    def generate() -> Iterator[bytes]:
        for i in range(count):
            yield bytes([i % 251]) * 65536

    return Response(generate(), mimetype="application/octet-stream")


@app.get("/slow")
def slow() -> str:
    time.sleep(float(request.args.get("s", "1")))
    return "slow done"
