"""CPU per proxied request of candidate upstream HTTP clients, side by side.

    .venv/bin/python bench/upstream_clients.py [--requests 4000] [--rounds 3]

Needs the bench extra (``pip install -e '.[bench]'``: aiohttp). Starts
``bench.upstream_app`` under gunicorn gthread (keep-alive) on CPU 0, then, in
this process on CPU 1, sends ``--requests`` GETs of the template page with
``--concurrency`` in flight through each client and reads each body whole.
What is reported is this process's CPU time (``time.process_time``) per
request: the cost a proxy pays for its client, whatever else runs on the
machine. Rounds are interleaved; medians are printed.

Clients: httpx.AsyncClient (what the gateway used), httpcore's pool (httpx's
transport, without httpx's models), aiohttp with DummyCookieJar, and
``gateway.backends.upstream`` (asyncio Protocol + httptools). The last row
is the whole ``HTTPBackend`` (request head building, header filtering and
the ASGI relay on top of its client), called as an ASGI app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.backends.http import HTTPBackend  # noqa: E402
from gateway.backends.upstream import ConnectionPool  # noqa: E402
from tests.redis_server import free_port  # noqa: E402

PATH = "/page"
# What a browser sends, roughly: every client forwards the same headers.
HEADERS = [
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
    ("accept", "text/html,application/xhtml+xml"),
    ("accept-language", "en-GB,en;q=0.9"),
    ("accept-encoding", "gzip, deflate"),
    ("cookie", "session=abcdef0123456789"),
]
Fetch = Callable[[], Awaitable[int]]


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


@contextlib.contextmanager
def gunicorn_upstream(port: int, worker: str) -> Iterator[None]:
    threads = ["--threads", "16"] if worker == "gthread" else []
    command = pinned(
        "0",
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "-k",
            worker,
            *threads,
            "--workers",
            "1",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.upstream_app:app",
        ],
    )
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded by the deadline
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.05)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


async def httpx_client(base: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(
        base_url=base, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    )

    async def fetch() -> int:
        async with client.stream("GET", PATH, headers=HEADERS) as response:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            return size

    return fetch, client.aclose


async def httpcore_client(base: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    import httpcore

    pool = httpcore.AsyncConnectionPool(max_connections=100)
    url = base + PATH
    headers = [(k.encode(), v.encode()) for k, v in HEADERS]

    async def fetch() -> int:
        async with pool.stream("GET", url, headers=headers) as response:
            size = 0
            async for chunk in response.aiter_stream():
                size += len(chunk)
            return size

    return fetch, pool.aclose


async def aiohttp_client(base: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(
        base_url=base,
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(limit=100),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    )

    async def fetch() -> int:
        async with session.get(PATH, headers=HEADERS) as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
            return size

    return fetch, session.close


async def own_client(base: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    port = int(base.rsplit(":", 1)[1])
    pool = ConnectionPool("127.0.0.1", port, max_connections=100)
    head = (
        f"GET {PATH} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in HEADERS)
        + "\r\n"
    ).encode()

    async def fetch() -> int:
        conn = await pool.acquire()
        try:
            conn.begin(head, head_request=False)
            await conn.read_head()
            size = len(conn.take())
            while not conn.complete:  # bounded by the body
                await conn.wait_body()
                size += len(conn.take())
            return size
        finally:
            pool.release(conn)

    return fetch, pool.aclose


async def backend_asgi(base: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    backend = HTTPBackend(base)
    scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "scheme": "http",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000")] + [(k.encode(), v.encode()) for k, v in HEADERS],
    }

    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def fetch() -> int:
        size = 0

        async def send(message: dict[str, object]) -> None:
            nonlocal size
            size += len(message.get("body", b""))  # type: ignore[arg-type]

        await backend(scope, receive, send)
        return size

    return fetch, backend.aclose


CLIENTS: dict[str, Callable[[str], Awaitable[tuple[Fetch, Callable[[], Awaitable[None]]]]]] = {
    "httpx": httpx_client,
    "httpcore": httpcore_client,
    "aiohttp": aiohttp_client,
    "upstream (own)": own_client,
    "HTTPBackend (own, ASGI)": backend_asgi,
}


async def measure(
    make: Callable[..., Awaitable[tuple[Fetch, Callable[[], Awaitable[None]]]]],
    base: str,
    requests: int,
    concurrency: int,
) -> float:
    """CPU microseconds per request in this process."""
    fetch, close = await make(base)
    try:
        per_task = requests // concurrency

        async def worker(count: int) -> None:
            for _ in range(count):
                if await fetch() < 100:
                    raise SystemExit("short answer from the upstream")

        await asyncio.gather(*(worker(50) for _ in range(concurrency)))  # warm-up
        started = time.process_time()
        await asyncio.gather(*(worker(per_task) for _ in range(concurrency)))
        return (time.process_time() - started) / (per_task * concurrency) * 1e6
    finally:
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--upstream",
        choices=("gthread", "sync"),
        default="gthread",
        help="gunicorn worker: gthread keeps connections alive, sync closes each",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="uvloop is what uvicorn (and so the gateway) runs on",
    )
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {1})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runner: Callable[[Awaitable[float]], float]
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run  # type: ignore[assignment]
    else:
        runner = asyncio.run  # type: ignore[assignment]
    results: dict[str, list[float]] = {name: [] for name in CLIENTS}
    with gunicorn_upstream(port, args.upstream):
        for _ in range(args.rounds):
            for name, make in CLIENTS.items():
                results[name].append(
                    runner(measure(make, base, args.requests, args.concurrency))  # type: ignore[arg-type]
                )
    print(
        f"\nGET {PATH} from gunicorn {args.upstream}, {args.requests} requests, "
        f"{args.concurrency} in flight, {args.loop}, {args.rounds} rounds (median)\n"
    )
    print("| client | CPU us/request | rounds |")
    print("|---|---|---|")
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):.0f} | {rounds} |")


if __name__ == "__main__":
    main()
