"""The upstream client (pool + connection) against real servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.backends.upstream import (
    ConnectionPool,
    PoolTimeout,
    ReadTimeout,
    StaleConnection,
    UpstreamConnectError,
    UpstreamProtocolError,
)
from tests.gateway.upstream_servers import RawUpstream, gunicorn_upstream, read_request
from tests.redis_server import free_port

GET = b"GET /request HTTP/1.1\r\nhost: upstream\r\n\r\n"


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    reusable: bool
    exchanges: int


async def fetch(pool: ConnectionPool, head: bytes = GET, *, head_request: bool = False) -> Answer:
    """One exchange through ``pool``, body read to the end."""
    conn = await pool.acquire()
    try:
        conn.begin(head, head_request=head_request)
        await conn.read_head()
        body = conn.take()
        for _ in range(100_000):  # bounded: tests' bodies are far smaller
            if conn.complete:
                break
            await conn.wait_body()
            body += conn.take()
        return Answer(conn.status, conn.headers, body, conn.reusable, conn.exchanges)
    finally:
        pool.release(conn)


def pool_for(url: str, **options: float) -> ConnectionPool:
    port = int(url.rsplit(":", 1)[1])
    return ConnectionPool("127.0.0.1", port, **options)  # type: ignore[arg-type]


def answering(*answers: bytes, delay: float = 0.0) -> RawUpstream:
    """A raw upstream answering the requests of each connection with ``answers`` in turn."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            if not await read_request(reader):
                return
            await asyncio.sleep(delay)
            writer.write(answer)
            await writer.drain()
        await reader.read()  # keep the connection open until the client closes it

    return RawUpstream(handler)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture(scope="module")
def gthread() -> Iterator[str]:
    with gunicorn_upstream("gthread") as url:
        yield url


@pytest.fixture(scope="module")
def sync() -> Iterator[str]:
    with gunicorn_upstream("sync") as url:
        yield url


# --- reuse ---------------------------------------------------------------------


def test_gthread_keeps_one_connection_for_sequential_requests(gthread: str) -> None:
    async def run() -> list[Answer]:
        pool = pool_for(gthread)
        answers = [await fetch(pool) for _ in range(3)]
        assert pool.open_connections == pool.idle_connections == 1
        await pool.aclose()
        return answers

    answers = asyncio.run(run())
    assert [a.exchanges for a in answers] == [1, 2, 3]
    assert all(a.status == 200 and a.reusable for a in answers)


def test_sync_gunicorn_gets_a_new_connection_for_every_request(sync: str) -> None:
    async def run() -> list[Answer]:
        pool = pool_for(sync)
        answers = [await fetch(pool) for _ in range(3)]
        assert pool.open_connections == 0
        return answers

    answers = asyncio.run(run())
    assert [a.exchanges for a in answers] == [1, 1, 1]
    assert not any(a.reusable for a in answers)


def test_a_host_name_is_looked_up_once_for_many_new_connections(sync: str) -> None:
    port = int(sync.rsplit(":", 1)[1])

    async def run() -> tuple[list[Answer], int]:
        loop = asyncio.get_running_loop()
        lookups = 0
        real = loop.getaddrinfo

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal lookups
            lookups += 1
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        loop.getaddrinfo = counted  # type: ignore[method-assign]
        pool = ConnectionPool("localhost", port)
        return [await fetch(pool) for _ in range(3)], lookups

    answers, lookups = asyncio.run(run())
    assert [(a.status, a.exchanges) for a in answers] == [(200, 1)] * 3  # three connections
    assert lookups == 1


def test_head_answer_ends_at_its_headers_and_keeps_the_connection(gthread: str) -> None:
    head = b"HEAD /request HTTP/1.1\r\nhost: upstream\r\n\r\n"

    async def run() -> tuple[Answer, Answer]:
        pool = pool_for(gthread)
        first = await asyncio.wait_for(fetch(pool, head, head_request=True), 5)
        return first, await fetch(pool)

    head_answer, after = asyncio.run(run())
    assert head_answer.body == b"" and (b"content-length", b"0") not in head_answer.headers
    assert head_answer.reusable and after.exchanges == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        OK + b"HTTP/1.1 200 OK\r\n",  # bytes after the answer: out of step
    ],
    ids=["connection-close", "http-1.0", "http-1.0-keep-alive", "extra-bytes"],
)
def test_connection_is_not_reused_when(answer: bytes) -> None:
    with answering(answer, OK) as upstream:
        answers = asyncio.run(_two_fetches(upstream.url))
    assert answers[0].body == b"ok" and not answers[0].reusable
    assert upstream.connections == 2


async def _two_fetches(url: str) -> list[Answer]:
    pool = pool_for(url)
    return [await fetch(pool), await fetch(pool)]


def test_no_content_answers_keep_the_connection() -> None:
    with answering(b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n") as up:
        answers = asyncio.run(_two_fetches(up.url))
    assert [(a.status, a.body, a.exchanges) for a in answers] == [(204, b"", 1), (304, b"", 2)]


def test_one_connection_parses_answers_of_every_framing_in_turn() -> None:
    """The parser of a clean exchange serves the next one on the same connection."""
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
    not_modified = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"
    with answering(chunked, OK, not_modified, OK) as upstream:

        async def run() -> list[Answer]:
            pool = pool_for(upstream.url)
            return [await fetch(pool) for _ in range(4)]

        answers = asyncio.run(run())
    assert [(a.status, a.body) for a in answers] == [
        (200, b"abc"),
        (200, b"ok"),
        (304, b""),
        (200, b"ok"),
    ]
    assert [a.exchanges for a in answers] == [1, 2, 3, 4] and upstream.connections == 1


def test_the_answer_after_a_head_answer_is_read_as_an_answer() -> None:
    """A HEAD answer's Content-Length announces no body: the next answer is not one."""
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
    head = b"HEAD /request HTTP/1.1\r\nhost: upstream\r\n\r\n"
    with answering(head_answer, OK) as upstream:

        async def run() -> list[Answer]:
            pool = pool_for(upstream.url, read_timeout=2)
            first = await fetch(pool, head, head_request=True)
            return [first, await asyncio.wait_for(fetch(pool), 5)]

        first, second = asyncio.run(run())
    assert (first.status, first.body, second.status, second.body) == (200, b"", 200, b"ok")
    assert second.exchanges == 2


def test_read_timeouts_of_many_waits_fire_with_one_timer() -> None:
    """Each wait ends at its own deadline, give or take the timer's tick."""
    stalled = b"HTTP/1.1 200 OK\r\nX-Sl"

    async def run(url: str) -> list[float]:
        pool = pool_for(url, read_timeout=0.4, max_connections=4)
        loop = asyncio.get_running_loop()

        async def timed() -> float:
            started = loop.time()
            with pytest.raises(ReadTimeout):
                await fetch(pool)
            return loop.time() - started

        return list(await asyncio.gather(*(timed() for _ in range(4))))

    with trickling(stalled, len(stalled), 3) as upstream:
        waited = asyncio.run(run(upstream.url))
    assert all(0.4 <= seconds < 0.4 + 0.05 + 0.3 for seconds in waited), waited


def test_idle_connection_closed_by_the_upstream_leaves_the_pool() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.1)  # then close: a short keep-alive timeout

    async def run(url: str) -> tuple[int, int, int]:
        pool = pool_for(url)
        await fetch(pool)
        counts = pool.idle_connections
        await asyncio.sleep(0.5)
        return counts, pool.idle_connections, pool.open_connections

    with RawUpstream(once) as upstream:
        assert asyncio.run(run(upstream.url)) == (1, 0, 0)


# --- stale connections ------------------------------------------------------------


def test_reused_connection_closed_unanswered_is_stale() -> None:
    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)  # the next request is read, then the line goes dead

    async def run(url: str) -> None:
        pool = pool_for(url)
        await fetch(pool)
        with pytest.raises(StaleConnection):
            await fetch(pool)
        assert pool.open_connections == 0

    with RawUpstream(one_answer) as upstream:
        asyncio.run(run(upstream.url))


def test_fresh_connection_closed_unanswered_is_not_stale() -> None:
    # It may have been this very request that broke the upstream.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    with RawUpstream(hang_up) as upstream, pytest.raises(UpstreamProtocolError) as raised:
        asyncio.run(fetch(pool_for(upstream.url)))
    assert not isinstance(raised.value, StaleConnection)


# --- framing --------------------------------------------------------------------


def test_chunked_body_is_decoded() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    with answering(answer, OK) as upstream:
        answers = asyncio.run(_two_fetches(upstream.url))
    assert answers[0].body == b"hello world" and answers[0].reusable
    assert upstream.connections == 1


def test_close_delimited_body_ends_with_the_stream() -> None:
    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        for i in range(5):
            writer.write(b"part%d;" % i)
            await writer.drain()
            await asyncio.sleep(0.01)

    with RawUpstream(close_delimited) as upstream:
        answer = asyncio.run(fetch(pool_for(upstream.url)))
    assert answer.body == b"part0;part1;part2;part3;part4;" and not answer.reusable


def test_interim_answers_are_skipped() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    with answering(answer) as upstream:
        got = asyncio.run(fetch(pool_for(upstream.url)))
    assert (got.status, got.headers, got.body) == (200, [(b"content-length", b"2")], b"ok")


def test_answer_cut_short_raises_a_protocol_error() -> None:
    with answering(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..") as upstream:

        async def run() -> None:
            pool = pool_for(upstream.url)
            conn = await pool.acquire()
            conn.begin(GET, head_request=False)
            await conn.read_head()
            upstream.loop.call_soon_threadsafe(_close_all, upstream)
            with pytest.raises(UpstreamProtocolError):
                for _ in range(100):  # bounded
                    conn.take()
                    await conn.wait_body()
            pool.release(conn)
            assert pool.open_connections == 0

        asyncio.run(run())


def _close_all(upstream: RawUpstream) -> None:
    for task in asyncio.all_tasks(upstream.loop):
        task.cancel()


def test_switching_protocols_is_refused() -> None:
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"
    with answering(answer) as upstream, pytest.raises(UpstreamProtocolError):
        asyncio.run(fetch(pool_for(upstream.url)))


def test_not_http_is_a_protocol_error() -> None:
    with answering(b"SSH-2.0-OpenSSH_9.6\r\n") as upstream, pytest.raises(UpstreamProtocolError):
        asyncio.run(fetch(pool_for(upstream.url)))


# --- headers: size and pace -------------------------------------------------------


def trickling(head: bytes, step: int, pause: float) -> RawUpstream:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for i in range(0, len(head), step):
            writer.write(head[i : i + step])
            await writer.drain()
            await asyncio.sleep(pause)
        await reader.read()

    return RawUpstream(handler)


def test_slow_headers_within_the_read_timeout_arrive() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Slow: yes\r\nContent-Length: 2\r\n\r\nok"
    with trickling(head, 8, 0.05) as upstream:
        got = asyncio.run(fetch(pool_for(upstream.url, read_timeout=0.5)))
    assert (got.status, got.body) == (200, b"ok")


def test_stalled_headers_raise_read_timeout() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Sl"
    with trickling(head, len(head), 3) as upstream, pytest.raises(ReadTimeout):
        asyncio.run(fetch(pool_for(upstream.url, read_timeout=0.3)))


def test_headers_over_64_kib_are_refused_even_in_small_pieces() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    with trickling(head + b"\r\n", 4096, 0) as upstream, pytest.raises(UpstreamProtocolError):
        asyncio.run(fetch(pool_for(upstream.url)))


def test_headers_over_64_kib_are_refused_in_one_piece() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    answer = head + b"Content-Length: 2\r\n\r\nok"
    with answering(answer) as upstream, pytest.raises(UpstreamProtocolError):
        asyncio.run(fetch(pool_for(upstream.url)))


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Endless: " + b"v" * 100_000,  # one header that never ends
        b"HTTP/1.1 200 " + b"O" * 100_000,  # a status line that never ends
    ],
    ids=["header-value", "status-line"],
)
def test_an_unfinished_head_over_64_kib_is_refused_at_once(head: bytes) -> None:
    # Not held until the read timeout, and not buffered further meanwhile.
    async def run(url: str) -> float:
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamProtocolError):
            await fetch(pool_for(url, read_timeout=10))
        return asyncio.get_running_loop().time() - started

    with trickling(head, 4096, 0) as upstream:
        assert asyncio.run(run(upstream.url)) < 5


# --- the pool's bounds ------------------------------------------------------------


def test_pool_never_opens_more_than_max_connections() -> None:
    async def run(url: str) -> list[Answer]:
        pool = pool_for(url, max_connections=2, connect_timeout=5)
        answers = await asyncio.gather(*(fetch(pool) for _ in range(8)))
        assert pool.open_connections <= 2
        return list(answers)

    with answering(*[OK] * 8, delay=0.05) as upstream:
        answers = asyncio.run(run(upstream.url))
    assert all(a.body == b"ok" for a in answers)
    assert upstream.connections == 2


def test_waiting_longer_than_the_connect_timeout_raises_pool_timeout() -> None:
    async def run(url: str) -> None:
        pool = pool_for(url, max_connections=1, connect_timeout=0.2)
        held = await pool.acquire()
        with pytest.raises(PoolTimeout):
            await pool.acquire()
        pool.release(held)  # never used: not reusable, the slot is freed
        assert pool.open_connections == 0
        assert (await fetch(pool)).body == b"ok"

    with answering(OK) as upstream:
        asyncio.run(run(upstream.url))


def test_refused_connection_raises_connect_error() -> None:
    async def run() -> None:
        pool = ConnectionPool("127.0.0.1", free_port())
        with pytest.raises(UpstreamConnectError):
            await pool.acquire()
        assert pool.open_connections == 0

    asyncio.run(run())
