"""Real upstreams on loopback for the HTTP backend tests (no tests here).

- ``gunicorn_upstream("sync" | "gthread")``: ``tests.gateway.upstream_app``
  under real gunicorn; sync closes every connection, gthread keeps them alive.
- ``RawUpstream``: a tiny asyncio server in a thread, running a handler that
  writes exactly the bytes a test needs (chunked, close-delimited, 1xx, early
  close, slow or oversized headers). It counts the connections it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.contextmanager
def gunicorn_upstream(worker_class: str) -> Iterator[str]:
    """Serve the upstream test app under gunicorn, one worker; yields its URL."""
    port = free_port()
    # Threads only for gthread: gunicorn turns "sync" with threads into gthread.
    threads = ["--threads", "4", "--keep-alive", "5"] if worker_class == "gthread" else []
    command = [
        sys.executable, "-m", "gunicorn", "--worker-class", worker_class, "--workers", "1",
        *threads, "--no-control-socket",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "tests.gateway.upstream_app:app",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        # Until the worker answers: gunicorn's master listens before its worker
        # has imported the app, and a first request then waits that long (past
        # the short read timeouts some tests use, on a busy machine).
        while True:  # bounded by the deadline
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 1) as s,
            ):
                s.sendall(b"GET /hello HTTP/1.0\r\nHost: upstream\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/1."):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn ({worker_class}) did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head (through the blank line); b"" if the peer closed first."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""


class RawUpstream:
    """Run ``handler`` for every connection on a loopback port, in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.finished = threading.Event()  # set when a handler returns or fails
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("raw upstream did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()
        server.close()
        # Handlers may be stalled on purpose: cancel them rather than wait.
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the proxy closed its end: what several tests provoke
        finally:
            self.finished.set()
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def __enter__(self) -> RawUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
