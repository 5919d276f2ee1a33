"""The store's commands as RESP bytes, sent on redis-py connections directly.

redis-py's client spends more CPU on each command than the session spends on
its own work: it encodes every argument through its encoder, wraps the call
in retry and observability layers and, in redis.asyncio, arms a timer for
every read and write. The session store sends few, known commands (EVALSHA of
its scripts), so on one server it packs them here and writes them on a
connection of the client's own pool: connecting (TCP, unix socket, TLS, AUTH,
SELECT) and reading replies (hiredis, error classes such as NoScriptError or
OutOfMemoryError) stay redis-py's. Sentinel and Cluster keep the full client
(failover, slot routing).

Both wires keep the client's behaviour: a command that fails with a
connection error (a pooled connection that died when Redis restarted) is
sent once more on a fresh connection; a connection that failed any other
way (a timeout, a cancellation) is closed, never reused with a late reply
pending; a Redis error reply leaves it usable.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Arg = bytes | str | int | float


def pack_args(args: Sequence[Arg]) -> bytes:
    """``args`` as RESP bulk strings (no array header)."""
    parts: list[bytes] = []
    for arg in args:
        kind = type(arg)
        if kind is bytes:
            raw: bytes = arg  # type: ignore[assignment]
        elif kind is str:
            raw = arg.encode()  # type: ignore[union-attr]
        elif kind is int:
            raw = b"%d" % arg
        elif kind is float:
            raw = repr(arg).encode()  # as redis-py's encoder writes a float
        else:  # bool and None too, as redis-py's encoder refuses them
            raise TypeError(f"cannot send {kind.__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(parts)


def pack(args: Sequence[Arg]) -> bytes:
    """One command, as redis-py would send it."""
    return b"*%d\r\n%b" % (len(args), pack_args(args))


class Evalsha:
    """EVALSHA of one script, its fixed head packed once; and its SCRIPT LOAD."""

    def __init__(self, sha: str, text: str) -> None:
        self._head = pack_args(["EVALSHA", sha])
        self.script_load = pack(["SCRIPT", "LOAD", text])

    def command(self, keys: Sequence[str], args: Sequence[Arg]) -> bytes:
        count = len(keys)
        return b"*%d\r\n%b%b%b" % (
            count + len(args) + 3,
            self._head,
            pack_args([count, *keys]),
            pack_args(args),
        )


class SyncWire:
    """Commands on connections made by a redis-py pool and kept here, at most
    ``size`` at once: a thread that finds them all busy waits up to ``wait``
    seconds, then gets redis-py's ``ConnectionError("No connection
    available.")`` as from its blocking pool. The connections' socket timeouts
    apply as with the client. A forked child never uses its parent's
    connections (gunicorn forks workers)."""

    def __init__(self, pool: redis.ConnectionPool, size: int, wait: float) -> None:
        self.pool = pool
        self._slots = threading.BoundedSemaphore(size)
        self._wait = wait
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def call(self, command: bytes) -> Any:
        if not self._slots.acquire(timeout=self._wait):
            raise RedisConnectionError("No connection available.")
        try:
            if self._pid != os.getpid():  # a forked child: its parent's sockets stay theirs
                self._idle, self._pid = [], os.getpid()
            idle = self._idle
            conn = idle.pop() if idle else self.pool.make_connection()
            reusable = False
            try:
                try:
                    conn.send_packed_command([command], check_health=False)
                    reply = conn.read_response()
                except RedisConnectionError:
                    conn.disconnect()  # dead (Redis restarted): once more, reconnecting
                    conn.send_packed_command([command], check_health=False)
                    reply = conn.read_response()
                reusable = True
                return reply
            except ResponseError:
                reusable = True  # an error reply, read in full
                raise
            finally:
                if not reusable:
                    # Timed out or interrupted: a reply may still come; never reuse it.
                    with contextlib.suppress(Exception):
                        conn.disconnect()
                idle.append(conn)  # a closed connection reconnects when next used
        finally:
            self._slots.release()


class AsyncWire:
    """Commands on connections made by a redis.asyncio pool, kept here: the
    caller bounds how many run at once (at most that many connections) and
    how long each takes; no timer is armed per read or write."""

    def __init__(self, pool: redis.asyncio.ConnectionPool) -> None:
        self.pool = pool
        self._idle: list[Any] = []

    async def call(self, command: bytes) -> Any:
        idle = self._idle
        conn = idle.pop() if idle else self.pool.make_connection()
        reusable = False
        try:
            if not conn.is_connected:
                await conn.connect()
            try:
                await conn.send_packed_command(command, check_health=False)
                reply = await conn.read_response(timeout=math.inf)
            except RedisConnectionError:
                await conn.disconnect()  # dead (Redis restarted): once more, reconnecting
                await conn.send_packed_command(command, check_health=False)
                reply = await conn.read_response(timeout=math.inf)
            reusable = True
            return reply
        except ResponseError:
            reusable = True  # an error reply, read in full
            raise
        finally:
            try:
                if not reusable and conn.is_connected:
                    # Timed out or cancelled: a reply may still come; never reuse
                    # it (redis-py closes it itself on a failed read or write).
                    with contextlib.suppress(Exception):
                        await conn.disconnect(nowait=True)
            finally:
                idle.append(conn)  # a closed connection reconnects when next used

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()
