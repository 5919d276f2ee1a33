"""The store's own command wire (shared_session/store/wire.py) against real Redis.

It replaces redis-py's command packing on one server, so it must send the bytes
redis-py would, and keep the client's rules: an error reply leaves the
connection usable, a cancelled call never leaves a late reply for the next
command, and a connection that died with its server is replaced once.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import redis.asyncio

from shared_session.store.wire import AsyncWire, SyncWire, pack
from tests.redis_server import RedisServer


@pytest.mark.parametrize(
    "args",
    [
        ["SET", "k", "v"],
        ["SET", "ключ", "zwölf €"],
        [b"SET", b"k", b"\x00\r\n\xff"],
        ["EVALSHA", "ab" * 20, 2, "a", "b", -17, 0, 2**62],
        ["SET", "f", 0.1],
        ["SET", "empty", b""],
    ],
)
def test_commands_are_packed_as_redis_py_packs_them(args: list[object]) -> None:
    packed = b"".join(redis.Connection().pack_command(*args))
    assert pack(args) == packed  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, True, object()])
def test_values_redis_py_refuses_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        pack(["SET", "k", bad])  # type: ignore[list-item]


def test_sync_wire_error_reply_keeps_the_connection_and_a_restart_is_survived(
    redis_server: RedisServer,
) -> None:
    pool = redis.ConnectionPool.from_url(redis_server.url)
    wire = SyncWire(pool, 2, 1.0)
    key = uuid.uuid4().hex
    assert wire.call(pack(["SET", key, "1"])) in (True, b"OK")
    with pytest.raises(redis.ResponseError):
        wire.call(pack(["HGET", key, "field"]))  # WRONGTYPE
    assert wire.call(pack(["GET", key])) == b"1"
    redis_server.stop()
    redis_server.start()
    # The pooled connection died with the server: sent once more on a new one.
    assert wire.call(pack(["ECHO", "back"])) == b"back"
    pool.disconnect()


def test_async_wire_never_hands_a_late_reply_to_the_next_command(redis_url: str) -> None:
    async def run() -> tuple[object, object]:
        pool = redis.asyncio.ConnectionPool.from_url(redis_url)
        wire = AsyncWire(pool)
        key = f"wire-test-{uuid.uuid4().hex}"
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await wire.call(pack(["BLPOP", key, "0.3"]))  # answers after 0.3 s
            after = await wire.call(pack(["ECHO", "after"]))
            with pytest.raises(redis.ResponseError):
                await wire.call(pack(["NOSUCHCOMMAND"]))
            again = await wire.call(pack(["ECHO", "again"]))
            return after, again
        finally:
            await wire.aclose()
            await pool.aclose()

    assert asyncio.run(run()) == (b"after", b"again")


def test_async_wire_survives_a_restart(redis_server: RedisServer) -> None:
    async def run() -> object:
        pool = redis.asyncio.ConnectionPool.from_url(redis_server.url)
        wire = AsyncWire(pool)
        try:
            await wire.call(pack(["PING"]))
            redis_server.stop()
            redis_server.start()
            return await wire.call(pack(["ECHO", "back"]))
        finally:
            await wire.aclose()
            await pool.aclose()

    assert asyncio.run(run()) == b"back"


def test_sync_wire_waits_for_a_connection_then_says_none_is_available(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url)
    wire = SyncWire(pool, 1, 0.2)
    key = f"wire-test-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(1) as threads:
        busy = threads.submit(wire.call, pack(["BLPOP", key, "1"]))  # holds the only one
        time.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError, match="No connection available"):
            wire.call(pack(["PING"]))
        waited = time.monotonic() - started
        assert busy.result(timeout=5) is None
    assert 0.15 <= waited < 1.0
    assert wire.call(pack(["ECHO", "free"])) == b"free"  # the slot came back
    pool.disconnect()


def test_a_forked_child_never_uses_its_parents_connection(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url)
    wire = SyncWire(pool, 2, 1.0)
    parent_id = wire.call(pack(["CLIENT", "ID"]))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection's id, then leave at once
        try:
            os.write(write, b"%d" % wire.call(pack(["CLIENT", "ID"])))
        finally:
            os._exit(0)
    os.close(write)
    child_id = int(os.read(read, 64))
    os.waitpid(pid, 0)
    assert child_id != parent_id
    assert wire.call(pack(["CLIENT", "ID"])) == parent_id  # the parent's is still its own
    pool.disconnect()
