"""The gateway's own work per request, in-process and without a network.

Calls ``Gateway.__call__`` with a trivial backend and the backend alone,
5,000 sequential requests each, best of three, for a flagged route, a route
under canary, and a path no app knows. Usage:
``.venv/bin/python bench/gateway_overhead.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OIDC_ISSUER", "http://127.0.0.1:9")

from gateway.app import create_gateway
from gateway.settings import GatewaySettings


class Trivial:
    """A backend that answers at once: what remains is the gateway's cost."""

    name = "trivial"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [
            (b"host", b"example.org"),
            (b"user-agent", b"wrk"),
            (b"accept", b"*/*"),
            (b"cookie", b"ssid=abc.def; gw_bucket=AAAAAAAAAAAAAAAAAAAAAA"),
        ],
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def per_request_us(app: Any, path: str, n: int = 5000) -> float:
    scope = scope_for(path)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    settings = GatewaySettings(
        flag_cache_path=None, flags={"auth.profile": "new", "webapp.note": "canary 50"}
    )
    gateway = create_gateway(settings, legacy_backend=Trivial(), new_backend=Trivial())
    await gateway.startup()
    backend = Trivial()
    print("| path | gateway's own cost per request |\n|---|---:|")
    for path in ("/profile", "/notes/42", "/nope/x"):
        await per_request_us(gateway, path, 500)
        with_gateway = min([await per_request_us(gateway, path) for _ in range(3)])
        alone = min([await per_request_us(backend, path) for _ in range(3)])
        print(f"| {path} | {with_gateway - alone:.1f} µs |")
    await gateway.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
