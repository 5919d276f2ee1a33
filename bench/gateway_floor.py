"""Instructions one more ASGI layer costs the FastAPI app, against what the gateway costs.

    .venv/bin/python bench/gateway_floor.py [--requests 2000]
        [--setups app,passthrough,headers,gateway]

Needs ``valgrind``. Calls ``GET /json`` of ``bench/trivial_apps.py`` in-process
(the scope, ``receive`` and ``send`` of ``bench/gateway_overhead.py``; no
server, no network) through each setup:

- ``app``: the FastAPI app alone;
- ``passthrough``: a middleware that only awaits the app (the cost of one
  more ASGI layer);
- ``headers``: a middleware adding the gateway's three response headers
  through a send wrapper, as any layer that labels answers must (no routing,
  no request id, no metrics);
- ``gateway``: the gateway built by ``create_gateway``, the route flagged new.

Each setup runs under ``valgrind --tool=callgrind`` twice, for 200 and for
200 + ``--requests`` requests, both runs at once on the two cores; the
difference over ``--requests`` is one request's instructions,
deterministic with ``PYTHONHASHSEED=0``. The floor a gateway cannot go
under is ``headers`` minus ``app``; what the gateway's own decisions cost is
``gateway`` minus ``headers``. The server's share (uvicorn checks each
response header with two regular expressions) is left out here;
``bench/worker_callgrind.py`` measures the whole worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OIDC_ISSUER", "http://127.0.0.1:9")

BASE = 200
SETUPS = ("app", "passthrough", "headers", "gateway")
# The three headers the gateway adds to an answer of the new app.
GATEWAY_HEADERS = (
    (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
    (b"x-gateway-flags-version", b"1"),
    (b"x-served-by", b"new"),
)
ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def passthrough(app: ASGI) -> ASGI:
    async def layer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return layer


def with_headers(app: ASGI) -> ASGI:
    async def layer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        def labelled(message: dict[str, Any]) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *GATEWAY_HEADERS]
                return send({**message, "headers": headers})
            return send(message)

        await app(scope, receive, labelled)

    return layer


async def serve(setup: str, n: int) -> None:
    """Call ``setup`` ``n`` times, as ``bench/gateway_overhead.py`` does."""
    from bench.gateway_overhead import cpu_per_request_us
    from bench.trivial_apps import fastapi_app, flask_app
    from gateway.app import create_gateway
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(
        flag_cache_path=None, default_flag="new", admin_token="x" * 40, drain_seconds=0
    )
    gateway = create_gateway(settings, legacy_app=flask_app, new_app=fastapi_app)
    await gateway.startup()  # built and started for every setup: the same start-up work
    apps: dict[str, ASGI] = {
        "app": fastapi_app,
        "passthrough": passthrough(fastapi_app),
        "headers": with_headers(fastapi_app),
        "gateway": gateway,
    }
    await cpu_per_request_us(apps[setup], n)
    await gateway.shutdown()


def total_instructions(path: Path) -> int:
    for line in path.read_text().splitlines():
        match = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if match:
            return int(match.group(1))
    raise SystemExit(f"no instruction total in {path}")


def measure(setups: list[str], requests: int, out: Path) -> dict[str, float]:
    env = os.environ | {"PYTHONHASHSEED": "0"}
    runs = {}
    for setup in setups:
        for n in (BASE, BASE + requests):
            command = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/{setup}-{n}.out",
                sys.executable, __file__, "--serve", setup, str(n),
            ]  # fmt: skip
            runs[setup, n] = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        for n in (BASE, BASE + requests):  # two at a time: one per core
            _, stderr = runs[setup, n].communicate()
            if runs[setup, n].returncode != 0:
                raise SystemExit(f"{setup} ({n} requests) failed:\n{stderr.decode()[-3000:]}")
    return {
        setup: (
            total_instructions(out / f"{setup}-{BASE + requests}.out")
            - total_instructions(out / f"{setup}-{BASE}.out")
        )
        / requests
        for setup in setups
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve[0], int(args.serve[1])))
        return
    setups = args.setups.split(",")
    unknown = set(setups) - set(SETUPS)
    if unknown:
        raise SystemExit(f"unknown setups {sorted(unknown)}; choose from {', '.join(SETUPS)}")
    out = Path(tempfile.mkdtemp(prefix="gateway-floor-"))
    figures = measure(setups, args.requests, out)
    print(f"instructions per request, in-process ({args.requests} requests), {out}")
    alone = figures.get("app")
    for setup, count in figures.items():
        added = f" (+{count - alone:,.0f} over the app alone)" if alone and setup != "app" else ""
        print(f"{setup}: {count:,.0f}{added}")


if __name__ == "__main__":
    main()
