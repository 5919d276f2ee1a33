"""In-process WSGI backend: a small ASGI-to-WSGI bridge on a dedicated thread pool.

Written instead of wrapping ``a2wsgi.WSGIMiddleware`` because its faults live in
its core (see docs/backends.md): chunked bodies reached Flask empty, a client
disconnect went unnoticed (the generator kept running, ``close()`` never ran)
and its pool was shared by every request of the instance without a timeout.

How a request flows:

1. The request body is read on the event loop into memory (a spooled temporary
   file past 1 MiB), up to ``max_body_bytes`` (413 beyond). Flask then sees a
   plain body with ``CONTENT_LENGTH`` set, whatever the client's framing was,
   and no pool thread waits on a slow uploader.
2. One pool thread runs the WSGI app and iterates its response, handing each
   message to the loop without waiting (``call_soon_threadsafe``); a semaphore
   bounds how far it may run ahead of the client.
3. The loop sends the messages; a watcher task listens for ``http.disconnect``.
   On disconnect or timeout the thread stops at the next chunk and the
   iterable's ``close()`` runs in that thread, freeing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from gateway.backends.responses import plain_response

log = logging.getLogger("gateway.backends.wsgi")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_SPOOL_IN_MEMORY = 1024 * 1024
_READ_AHEAD = 8  # body chunks the WSGI thread may produce before the client takes them
_DONE: Message = {"type": "gateway.wsgi.done"}


class WSGIBackend:
    """Serve a WSGI app (Flask) from the gateway's event loop.

    ``threads`` WSGI requests run at once, on a pool owned by this backend
    alone (never anyio's default pool, so FastAPI's sync routes cannot be
    starved by slow Flask views). ``timeout`` is the longest wait for the next
    piece of the response (headers, then each chunk): past it the client gets
    a 504 if nothing was sent yet, otherwise the connection is cut.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int = 16,
        timeout: float = 30.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        name: str = "legacy",
    ) -> None:
        self.app = app
        self.name = name
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gateway-wsgi")
        self._lock = threading.Lock()
        self.in_flight = 0  # WSGI calls currently holding a pool thread

    async def start(self) -> None:
        """Nothing to start; present so every backend has the same lifecycle."""

    async def aclose(self) -> None:
        """Stop taking work; wait up to ``timeout`` for running WSGI calls to finish.

        A handler still running after that is left behind (Python threads
        cannot be killed); it is logged so a hang at exit has a name.
        """
        self.executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + self.timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.in_flight:
            log.error("%d WSGI request(s) still running at shutdown", self.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan_noop(receive, send)
            return
        if scope["type"] != "http":
            # WebSockets cannot reach a WSGI app; refuse before accepting.
            await send({"type": "websocket.close", "code": 1000})
            return

        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        environ = build_environ(scope, body)
        await _WSGIExchange(self, environ).run(receive, send)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> Any | None:
        """The whole request body as a seekable file, or None after answering 413."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await plain_response(send, 413, b"Request body too large")
            return None
        message = await receive()
        chunk = message.get("body", b"")
        if not message.get("more_body", False):
            # The common case: the whole body (often empty) in one message.
            if len(chunk) > self.max_body_bytes:
                await plain_response(send, 413, b"Request body too large")
                return None
            return _BytesBody(chunk)
        # Closed by the WSGI thread when the request ends (it outlives this function).
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        size = 0
        while True:
            if message["type"] == "http.disconnect":
                spool.close()
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                spool.close()
                await plain_response(send, 413, b"Request body too large")
                return None
            spool.write(chunk)
            if not message.get("more_body", False):
                break
            message = await receive()
        spool.seek(0)
        return spool

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _BytesBody(io.BytesIO):
    """``wsgi.input`` for a body that arrived in one message."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)


class _ClientGone(Exception):
    """The client disconnected or the request timed out: stop producing output."""


class _WSGIExchange:
    """One request/response between the event loop and a pool thread.

    The thread appends messages to ``pending`` and wakes the loop at most once
    per batch (a non-streamed response usually costs one wake-up in all).
    """

    def __init__(self, backend: WSGIBackend, environ: dict[str, Any]) -> None:
        self.backend = backend
        self.environ = environ
        self.loop = asyncio.get_running_loop()
        self.pending: deque[Message] = deque()
        self.lock = threading.Lock()
        self.wake_scheduled = False
        self.waiter: asyncio.Future[None] | None = None
        self.room = threading.Semaphore(_READ_AHEAD)
        self.cancelled = threading.Event()
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False

    # ---- event loop side -------------------------------------------------
    async def run(self, receive: Receive, send: Send) -> None:
        self.backend.executor.submit(self._work)
        watcher: asyncio.Task[None] | None = None
        started = False
        try:
            while True:
                if not self.pending:
                    if started and watcher is None:
                        # Streaming: from now on a disconnect must stop the thread.
                        watcher = self.loop.create_task(_wait_for_disconnect(receive))
                        watcher.add_done_callback(lambda _: self._wake())
                    await self._wait(watcher)
                    if watcher is not None and watcher.done():
                        self._cancel()  # client gone; the thread closes the iterable
                        return
                    if not self.pending:
                        self._cancel()
                        log.warning(
                            "WSGI app gave nothing for %ss: %s %s",
                            self.backend.timeout,
                            self.environ["REQUEST_METHOD"],
                            self.environ["PATH_INFO"],
                        )
                        if not started:
                            await plain_response(send, 504, b"Gateway Timeout")
                        return
                message = self.pending.popleft()
                if message is _DONE:
                    return
                self.room.release()
                started = True
                await send(message)
        except BaseException:
            self._cancel()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _wait(self, watcher: asyncio.Task[None] | None) -> None:
        """Until a message arrives, the client leaves or the timeout passes."""
        deadline = self.loop.time() + self.backend.timeout
        while not self.pending and not (watcher is not None and watcher.done()):
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return
            # Wake-ups can be spurious (one per batch, batches race the reader).
            waiter = self.waiter = self.loop.create_future()
            timer = self.loop.call_later(remaining, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self.waiter = None

    def _wake(self) -> None:
        with self.lock:
            self.wake_scheduled = False
        if self.waiter is not None:
            _resolve(self.waiter)

    def _cancel(self) -> None:
        self.cancelled.set()
        self.room.release()  # wake the thread if it waits for room

    # ---- pool thread side ------------------------------------------------
    def _push(self, message: Message) -> None:
        with self.lock:
            self.pending.append(message)
            if self.wake_scheduled:
                return
            self.wake_scheduled = True
        self.loop.call_soon_threadsafe(self._wake)

    def _post(self, message: Message) -> None:
        """Hand a message to the loop; raises _ClientGone once nobody listens."""
        self.room.acquire()
        if self.cancelled.is_set():
            raise _ClientGone
        self._push(message)

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, headers
        return self._write

    def _write(self, data: bytes) -> None:
        if data:
            self._send_headers()
            self._post(_body(data, more=True))

    def _send_headers(self) -> None:
        if self.headers_sent:
            return
        if self.status is None:
            raise RuntimeError("WSGI app produced a body before calling start_response()")
        self.headers_sent = True
        self._post(
            {
                "type": "http.response.start",
                "status": int(self.status.split(" ", 1)[0]),
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers
                ],
            }
        )

    def _work(self) -> None:
        self.backend._enter()
        iterable: Iterable[bytes] | None = None
        try:
            iterable = self.backend.app(self.environ, self._start_response)
            for chunk in iterable:
                if self.cancelled.is_set():
                    raise _ClientGone
                if chunk:
                    self._send_headers()
                    self._post(_body(chunk, more=True))
            self._send_headers()
            self._post(_body(b"", more=False))
        except _ClientGone:
            pass  # the loop side already answered (504) or the client left
        except Exception:
            if self.headers_sent or self.cancelled.is_set():
                log.exception("WSGI app failed after the response started")
            else:
                log.exception("WSGI app failed")
                self.status = "500 Internal Server Error"
                self.headers = [("Content-Type", "text/plain; charset=utf-8")]
                try:
                    self._send_headers()
                    self._post(_body(b"Internal Server Error", more=False))
                except _ClientGone:
                    pass
        finally:
            try:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
            finally:
                self.backend._leave()
                self.environ["wsgi.input"].close()
                with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                    self._push(_DONE)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _body(data: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan_noop(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def build_environ(scope: Scope, body: Any) -> dict[str, Any]:
    """The WSGI environ for an ASGI HTTP scope whose body was read into ``body``.

    SCRIPT_NAME is the scope's root_path (never the process environment);
    PATH_INFO is the path below it. The body is complete, so CONTENT_LENGTH is
    its real size and Transfer-Encoding is gone.
    """
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "asgi.scope": scope,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if name == "content-type":
            key = "CONTENT_TYPE"
        elif name in ("content-length", "transfer-encoding"):
            continue
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    size = body.size if isinstance(body, _BytesBody) else _file_size(body)
    if size or scope["method"] not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        environ["CONTENT_LENGTH"] = str(size)
    return environ


def _file_size(body: Any) -> int:
    position = body.tell()
    body.seek(0, 2)
    size = body.tell()
    body.seek(position)
    return int(size)
