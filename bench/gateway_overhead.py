"""What the gateway adds to a request for the new app, in-process, without a network.

    .venv/bin/python bench/gateway_overhead.py [--requests 20000] [--rounds 5]

Calls the same FastAPI app (``bench/trivial_apps.py``, ``GET /json``) two ways
with the scope, ``receive`` and ``send`` a server would give it: alone, and
through ``Gateway.__call__`` with the route flagged new (the gateway built by
``create_gateway`` with that app as its new side, exactly as in production).
The figure is this process's CPU time (``time.process_time``) per request,
rounds interleaved, medians: a shared machine moves it little. The server
(uvicorn) costs the same on both sides and is left out; ``bench/paths_bench.py``
measures the whole stack.

``--only gateway|app --rounds 1`` runs one side alone, for a profiler:
``valgrind --tool=callgrind .venv/bin/python bench/gateway_overhead.py
--only gateway --requests 2000 --rounds 1`` counts its instructions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OIDC_ISSUER", "http://127.0.0.1:9")

from bench.trivial_apps import fastapi_app, flask_app
from gateway.app import create_gateway
from gateway.backends.asgi import ASGIBackend
from gateway.settings import GatewaySettings

PATH = "/json"


def scope_for(path: str) -> dict[str, Any]:
    """What uvicorn passes for ``wrk``'s request (uvicorn adds state too)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def cpu_per_request_us(app: Any, n: int) -> float:
    template = scope_for(PATH)
    headers = template["headers"]
    started = time.process_time()
    for _ in range(n):
        scope = dict(template)
        scope["headers"] = list(headers)
        scope["state"] = {}
        await app(scope, receive, send)
    return (time.process_time() - started) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("gateway", "app"))
    args = parser.parse_args()

    settings = GatewaySettings(flag_cache_path=None, flags={"ping": "new"})
    gateway = create_gateway(settings, legacy_app=flask_app, new_app=fastapi_app)
    await gateway.startup()
    # The app alone gets its lifespan too, as uvicorn would run it.
    alone = ASGIBackend(fastapi_app)
    await alone.start()
    sides = {"gateway": gateway, "app": fastapi_app}
    if args.only:
        sides = {args.only: sides[args.only]}
    results: dict[str, list[float]] = {name: [] for name in sides}
    for app in sides.values():
        await cpu_per_request_us(app, 300)  # warm-up
    for _ in range(args.rounds):
        for name, app in sides.items():
            results[name].append(await cpu_per_request_us(app, args.requests))
    await gateway.shutdown()
    await alone.aclose()

    median = {name: statistics.median(runs) for name, runs in results.items()}
    print(f"GET {PATH}, {args.requests} requests x {args.rounds} rounds, CPU µs/request")
    for name, runs in results.items():
        print(f"{name}: {median[name]:.1f} (rounds {', '.join(f'{r:.1f}' for r in runs)})")
    if len(median) == 2:
        print(f"added by the gateway: {median['gateway'] - median['app']:.1f} µs/request")


if __name__ == "__main__":
    asyncio.run(main())
