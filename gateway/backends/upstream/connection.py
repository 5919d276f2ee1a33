"""One HTTP/1.1 connection to the upstream, parsed with httptools.

An ``asyncio.Protocol`` rather than streams: the response is parsed inside
``data_received`` by httptools' C parser (the one uvicorn uses), so a small
response that arrives in one segment costs one callback and no extra task
switch. One exchange at a time:

    conn.begin(head, head_request=...)      # write the request head
    conn.write(chunk); await conn.drain()   # the body, if any
    await conn.read_head()                  # status and headers
    conn.take() / conn.complete / await conn.wait_body()   # the body
    pool.release(conn)                      # reused only if ``reusable``
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from gateway.backends.upstream.errors import (
    ReadTimeout,
    StaleConnection,
    UpstreamError,
    UpstreamProtocolError,
)

# Status line and headers of one answer (interim 1xx ones included): past
# this the upstream is broken or hostile, and the answer is a 502.
MAX_HEAD_BYTES = 64 * 1024
# Response body buffered while the client reads slowly: past this the socket
# is paused, so a fast upstream and a slow client cannot fill memory.
_HIGH_WATER = 256 * 1024
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class Deadlines:
    """Read timeouts for every connection of a pool, checked by one coarse timer.

    A timer per wait (``call_later`` and ``cancel``) cost about as much as
    parsing the answer; here a wait only records its deadline, and one timer,
    armed while any wait is pending, fails the waits past theirs. A wait
    therefore ends between ``timeout`` and ``timeout + tick`` after it began
    (``tick`` is an eighth of the timeout, at most one second).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(1.0, timeout / 8)
        self._waiting: set[UpstreamConnection] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, conn: UpstreamConnection, loop: asyncio.AbstractEventLoop) -> None:
        conn._deadline = loop.time() + self.timeout
        self._waiting.add(conn)
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self.tick, self._check, loop)

    def unwatch(self, conn: UpstreamConnection) -> None:
        self._waiting.discard(conn)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in [conn for conn in self._waiting if conn._deadline <= now]:
            self._waiting.discard(conn)
            conn._expire_wait()
        self._timer = loop.call_later(self.tick, self._check, loop) if self._waiting else None


class UpstreamConnection(asyncio.Protocol):
    """One connection; created by ``ConnectionPool``, not by callers.

    Every wait (for the head, for more body, for room to write) is bounded
    by ``read_timeout`` and raises ``ReadTimeout`` past it. A connection
    that closes, or answers with something that is not HTTP/1.x, raises
    ``UpstreamProtocolError`` (``StaleConnection`` if it was reused and had
    not sent a byte) from the pending wait and from every later call.
    """

    def __init__(
        self,
        read_timeout: float,
        on_idle_lost: Callable[[UpstreamConnection], None],
        deadlines: Deadlines | None = None,
    ) -> None:
        self._read_timeout = read_timeout
        self._on_idle_lost = on_idle_lost
        self._deadlines = deadlines or Deadlines(read_timeout)
        self._deadline = 0.0
        self._loop = asyncio.get_running_loop()
        # The parser of the last exchange, kept for the next one when that
        # exchange ended cleanly (building one costs as much as a parse).
        self._spare_parser: httptools.HttpResponseParser | None = None
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self.closed = False
        self.idle = True
        # The upstream answered HTTP/1.1 on this connection (HTTP/1.0 is never reused).
        self._http11 = False
        # How many exchanges this connection has begun (1 = fresh).
        self.exchanges = 0
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self._parser: httptools.HttpResponseParser | None = None
        self._error: UpstreamError | None = None
        self._head_request = False
        self._received = False
        self._head_bytes = 0  # bytes received before the head was complete
        self._headers_bytes = 0  # header lines parsed
        self._interim = False
        self._framed = False
        self._keep_alive = False
        self._extra = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False

    # --- the exchange, as the caller drives it ---------------------------

    def begin(self, head: bytes, *, head_request: bool) -> None:
        """Start an exchange by writing the request ``head``.

        ``head_request``: the request is HEAD, so the answer has no body
        whatever its Content-Length says. Raises ``UpstreamProtocolError``
        (or ``StaleConnection``) if the connection closed while idle.
        """
        # The exchange's state is fresh: reset when the connection was made or
        # released to the pool.
        self.idle = False
        self.exchanges += 1
        self._head_request = head_request
        # The last exchange's parser if it ended cleanly, else a fresh one. Never
        # after a HEAD: its answer leaves httptools waiting for a body that never
        # comes, and it cannot be told otherwise.
        parser, self._spare_parser = self._spare_parser, None
        self._parser = parser or httptools.HttpResponseParser(self)
        self.write(head)

    def write(self, data: bytes) -> None:
        """Write request bytes; raises the connection's error if it is gone."""
        if self.closed or self._transport is None:
            raise self._error or self._lost_error()
        self._transport.write(data)

    async def drain(self) -> None:
        """Wait until the upstream has taken enough of what was written."""
        if not self._write_paused:
            return
        self._drain_waiter = self._loop.create_future()
        await self._wait(self._drain_waiter)

    async def read_head(self) -> None:
        """Wait for the final (non-1xx) status line and headers.

        Raises ``ReadTimeout``, ``UpstreamProtocolError`` or ``StaleConnection``.
        """
        # Bounded: each pass waits for more bytes of a head capped at
        # MAX_HEAD_BYTES, and each wait is capped at read_timeout. The wait is
        # _wait() inlined: this runs once per request, and a coroutine less
        # is a frame less to create and resume.
        while not self.head_done:
            if self._error is not None:
                raise self._error
            waiter = self._waiter = self._loop.create_future()
            self._deadlines.watch(self, self._loop)
            try:
                await waiter
            finally:
                self._deadlines.unwatch(self)
                self._waiter = None

    def take(self) -> bytes:
        """All response body received and not yet taken (possibly b"")."""
        if self._error is not None:
            raise self._error
        chunks = self._chunks
        if not chunks:
            return b""
        self._chunks = []
        self._buffered = 0
        if self._read_paused and self._transport is not None:
            self._read_paused = False
            self._transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def take_whole(self) -> bytes | None:
        """The whole body if the answer is complete and sound, else None (then stream it)."""
        if not self.complete or self._error is not None:
            return None
        chunks = self._chunks
        if not chunks:
            return b""
        self._chunks = []
        self._buffered = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def wait_body(self) -> None:
        """Wait until more body arrives, the body ends, or ``interrupt()`` is called."""
        if self._chunks or self.complete or self._error is not None:
            return
        await self._wait(self._loop.create_future())

    def interrupt(self) -> None:
        """Wake a pending wait early (the caller's client went away)."""
        self._wake()

    @property
    def reusable(self) -> bool:
        """The exchange ended cleanly and the upstream keeps the connection open."""
        return (
            self.complete
            and self._keep_alive
            and not self._extra
            and self._error is None
            and not self.closed
        )

    def release(self) -> None:
        """Mark the connection idle between exchanges (called by the pool).

        Only a ``reusable`` connection is released: its parser read a whole
        answer and is ready for the next, unless that answer was to a HEAD.
        """
        if not self._head_request:
            self._spare_parser = self._parser
        self._reset_exchange()
        self.idle = True

    def close(self) -> None:
        """Close the socket; a half-read answer makes the connection useless."""
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True

    async def _wait(self, future: asyncio.Future[None]) -> None:
        if future is not self._drain_waiter:
            self._waiter = future
        self._deadlines.watch(self, self._loop)
        try:
            await future
        finally:
            self._deadlines.unwatch(self)
            self._waiter = None
            self._drain_waiter = None

    def _expire_wait(self) -> None:
        """The pending wait passed the read timeout (called by ``Deadlines``)."""
        for waiter in (self._waiter, self._drain_waiter):
            if waiter is not None:
                _expire(waiter)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        for waiter in (self._waiter, self._drain_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._error)

    def _lost_error(self) -> UpstreamError:
        if not self._received and self.exchanges > 1:
            return StaleConnection("the upstream closed a kept-alive connection")
        return UpstreamProtocolError("the upstream closed the connection before answering")

    # --- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._error is not None:
            # Bytes nobody asked for (idle, or after a parse error): the
            # stream is out of step, so the connection cannot be trusted.
            self._extra = True
            self.close()
            return
        self._received = True
        if not self.head_done:
            # Every byte before the head is complete is head (interim answers
            # included). Counted here rather than per header, this also bounds
            # what httptools buffers of a status line or header still coming,
            # and spares an on_status callback per answer.
            self._head_bytes += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamProtocolError("the upstream switched protocols (101)"))
        except httptools.HttpParserError as exc:
            if self._error is None:  # set by a callback below when it raised
                self._fail(UpstreamProtocolError(f"invalid answer from the upstream: {exc}"))
        if self._error is None and not self.head_done and self._head_bytes > MAX_HEAD_BYTES:
            self._fail(UpstreamProtocolError(f"the upstream's head exceeds {MAX_HEAD_BYTES} bytes"))
        if self._error is not None:
            self.close()
        else:
            self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost does the bookkeeping

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.idle:
            self._on_idle_lost(self)
            return
        if self.head_done and not self.complete and not self._framed:
            # No Content-Length, not chunked: the body ends where the stream does.
            self.complete = True
            self._keep_alive = False
            self._wake()
        elif not self.complete:
            self._fail(self._lost_error())
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(self._error or self._lost_error())

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- httptools callbacks ------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            self._extra = True  # a second answer to one request

    def on_header(self, name: bytes, value: bytes) -> None:
        # A head that arrived whole in one read is counted here too.
        self._headers_bytes += len(name) + len(value) + 4
        if self._headers_bytes > MAX_HEAD_BYTES:
            self._head_too_large()
        name = name.lower()
        if name in _FRAMING:
            self._framed = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:
            # 100 Continue, 103 Early Hints: interim, the real answer follows.
            self._interim = True
            self.headers = []
            self._framed = False
            return
        self.status = status
        keep_alive = parser.should_keep_alive()
        if keep_alive and not self._http11:
            # Checked on a connection's first reusable answer only: formatting
            # the version costs more than the rest of this callback, and an
            # upstream that answered HTTP/1.1 on a connection keeps to it.
            self._http11 = parser.get_http_version() == "1.1"
            keep_alive = self._http11
        self._keep_alive = keep_alive
        self.head_done = True
        if self._head_request or status in (204, 304):
            self._framed = True
            if self._head_request:
                self.complete = True

    def on_body(self, body: bytes) -> None:
        if self._head_request:
            self._extra = True  # a body after a HEAD answer: out of step
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._read_paused and self._transport:
            self._read_paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True

    def _head_too_large(self) -> None:
        self._fail(UpstreamProtocolError(f"the upstream's headers exceed {MAX_HEAD_BYTES} bytes"))
        raise self._error  # type: ignore[misc]  # stops httptools; caught in data_received


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(ReadTimeout("the upstream sent nothing within the read timeout"))
