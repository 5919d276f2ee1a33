"""One contender of bench/session_peers.py called in-process, without an HTTP server.

    .venv/bin/python bench/session_inprocess.py {flask,starlette} {ours,peer} {/read,/write} N

Builds the app of ``bench/session_apps.py`` (settings from SHARED_SESSION_*,
as there), makes a session with one ``/write``, sends 100 warm-up requests,
then N, calling the WSGI app with an environ or the ASGI app with a scope,
and prints the CPU time per request. Under callgrind the difference of two
runs with different N is the instructions per request of the session layer,
the framework and the Redis client, without the HTTP server::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=short \\
        .venv/bin/python bench/session_inprocess.py starlette ours /write 300
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=long \\
        .venv/bin/python bench/session_inprocess.py starlette ours /write 900
    # (summary of long - summary of short) / 600
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SHARED_SESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SHARED_SESSION_SECRET_KEYS", '["bench-secret"]')
os.environ.setdefault("SHARED_SESSION_TIMEOUT", "60")  # valgrind is slow

from bench import session_apps


def flask_run(peer: bool, path: str, n: int) -> float:
    app = session_apps.flask_peer() if peer else session_apps.flask_session()

    def call(target: str, cookie: str | None) -> list[tuple[str, str]]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "PATH_INFO": target, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "bench", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "wsgi.version": (1, 0),
        }  # fmt: skip
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        got: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
            got["status"], got["headers"] = status, headers

        b"".join(app(environ, start_response))
        assert got["status"].startswith("200"), got["status"]
        return got["headers"]

    headers = call("/write", None)
    cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(";")[0]
    for _ in range(100):
        call(path, cookie)
    started = time.process_time()
    for _ in range(n):
        call(path, cookie)
    return time.process_time() - started


def starlette_run(peer: bool, path: str, n: int) -> float:
    app = session_apps.asgi_peer() if peer else session_apps.asgi_session()

    async def call(target: str, cookie: bytes | None) -> list[tuple[bytes, bytes]]:
        headers = [(b"host", b"bench")] + ([(b"cookie", cookie)] if cookie else [])
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": target, "raw_path": target.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent[0]
        return sent[0]["headers"]

    async def main() -> float:
        headers = await call("/write", None)
        cookie = next(v for k, v in headers if k == b"set-cookie").split(b";")[0]
        for _ in range(100):
            await call(path, cookie)
        started = time.process_time()
        for _ in range(n):
            await call(path, cookie)
        return time.process_time() - started

    import uvloop

    return uvloop.run(main())


def main() -> None:
    side, who, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run = flask_run if side == "flask" else starlette_run
    used = run(who == "peer", path, n)
    print(f"{side} {who} {path}: {used / max(n, 1) * 1e6:,.0f} us CPU/request")


if __name__ == "__main__":
    main()
