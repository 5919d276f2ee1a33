"""Keep-alive connections to one upstream origin, bounded and waited for."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque

from gateway.backends.upstream.connection import Deadlines, UpstreamConnection
from gateway.backends.upstream.errors import ConnectTimeout, PoolTimeout, UpstreamConnectError

# How long a resolved upstream address serves new connections before the name
# is looked up again (a failed connect looks it up again at once).
RESOLVE_EVERY = 10.0

# What a waiter is handed: an idle connection to reuse, or None for the right
# to open a new one (a slot already counted against max_connections).
_Handover = UpstreamConnection | None


class ConnectionPool:
    """At most ``max_connections`` open connections to ``host:port``.

    ``acquire()`` gives the most recently used idle connection (LIFO: the
    warmest, and the least likely to have hit the upstream's keep-alive
    timeout), else opens one, else waits for one to come back. Every
    connection acquired must be given back with ``release()``, which keeps
    it only if its exchange ended cleanly and the upstream allows reuse.
    Loop-bound state is created on first use, so a pool can be built before
    the event loop runs.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        connect_timeout: float = 2.0,
        read_timeout: float = 30.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadlines = Deadlines(read_timeout)
        self._idle: list[UpstreamConnection] = []
        self._waiters: deque[asyncio.Future[_Handover]] = deque()
        self._open = 0  # connections open or being opened, idle ones included
        self._closed = False
        # A name is resolved once per RESOLVE_EVERY, not for every new
        # connection (getaddrinfo cost ~100 µs of CPU, and runs on a thread).
        self._resolve = not _is_ip(host)
        self._addresses: list[str] = [] if self._resolve else [host]
        self._addresses_until = 0.0

    @property
    def open_connections(self) -> int:
        """Connections open or being opened (idle and in use)."""
        return self._open

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def acquire(self) -> UpstreamConnection:
        """A connection ready for ``begin()``; ``conn.exchanges`` is 0 if fresh.

        Raises ``PoolTimeout`` when all connections stay busy for the connect
        timeout, ``ConnectTimeout`` or ``UpstreamConnectError`` when a new
        connection cannot be opened.
        """
        conn = self.take_idle()
        if conn is not None:
            return conn
        if self._open < self._max:
            self._open += 1
        else:
            handed = await self._wait_for_slot()
            if handed is not None:
                return handed
        try:
            return await self._connect()
        except BaseException:
            self._free_slot()
            raise

    def take_idle(self) -> UpstreamConnection | None:
        """The most recently used idle connection, or None (then ``await acquire()``).

        The common case of ``acquire()`` without its coroutine. Raises
        ``UpstreamConnectError`` once the pool is closed.
        """
        if self._closed:
            raise UpstreamConnectError("the connection pool is closed")
        # Bounded by the idle list, which only shrinks here.
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._free_slot()
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Take back ``conn``: keep it for reuse if ``conn.reusable``, else close it."""
        if conn.reusable and not self._closed:
            conn.release()
            if not self._hand_over(conn):
                self._idle.append(conn)
            return
        conn.close()
        self._free_slot()

    def discard_idle(self) -> None:
        """Close every idle connection (after one proved stale, its elders are too)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
            self._free_slot()

    async def aclose(self) -> None:
        """Close idle connections; connections in use close when released."""
        self._closed = True
        self.discard_idle()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamConnectError("the connection pool is closed"))

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await self._connect_to_an_address(loop)
        except TimeoutError:
            raise ConnectTimeout(
                f"no connection to {self.host}:{self.port} within {self._connect_timeout}s"
            ) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS verification
            self._addresses_until = 0.0  # look the name up again next time
            raise UpstreamConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    async def _connect_to_an_address(self, loop: asyncio.AbstractEventLoop) -> UpstreamConnection:
        """The first of the host's addresses that accepts; it is tried first from then on."""
        addresses = await self._resolved(loop)
        error: OSError = OSError(f"no address for {self.host}")
        for address in addresses:  # bounded by the host's addresses
            try:
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(
                        self._read_timeout, self._on_idle_lost, self._deadlines
                    ),
                    address,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
            except OSError as exc:
                error = exc
                continue
            if address != addresses[0]:
                self._addresses = [address, *(a for a in addresses if a != address)]
            return conn
        raise error

    async def _resolved(self, loop: asyncio.AbstractEventLoop) -> list[str]:
        """The addresses to connect to: the host itself if it is an IP address."""
        if self._resolve and (not self._addresses or loop.time() >= self._addresses_until):
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            self._addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
            self._addresses_until = loop.time() + RESOLVE_EVERY
        return self._addresses

    async def _wait_for_slot(self) -> _Handover:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Handover] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self._connect_timeout, _expire, waiter, self._connect_timeout)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection or slot just as we gave up: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed)
            raise
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _hand_over(self, handed: _Handover) -> bool:
        # Bounded by the waiters queue, which only shrinks here.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(handed)
                return True
        return False

    def _free_slot(self) -> None:
        if not self._hand_over(None):
            self._open -= 1

    def _on_idle_lost(self, conn: UpstreamConnection) -> None:
        # The upstream closed an idle connection (its keep-alive timeout).
        if conn in self._idle:
            self._idle.remove(conn)
            self._free_slot()


def _expire(waiter: asyncio.Future[_Handover], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(PoolTimeout(f"no free upstream connection within {timeout}s"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
