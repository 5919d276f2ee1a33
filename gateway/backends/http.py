"""HTTP upstream backend: the legacy app under its own server (gunicorn).

Each request is forwarded exactly as the client sent it, less what belongs to
one hop: no cookie jar, no default headers, nothing carried over from another
request. Bodies stream both ways. The upstream gets its own Host (or the
client's, with ``preserve_host``) and the client's view in
X-Forwarded-For/-Proto/-Host; what the upstream says about its own host name
(``Location``, cookie ``Domain``) is rewritten to the client's host. The
upstream's ``Server`` and ``Date`` are dropped: the front server adds its own,
as nginx does. Failures become 502 (unreachable, broken answer) or 504
(timeout), never a 500; after the headers went out, a failure cuts the
client's connection.

The client is ``gateway.backends.upstream`` (asyncio + httptools), chosen for
its CPU cost per request; see docs/benchmarks-gateway.md, "Upstream client".
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from gateway.backends.responses import plain_response
from gateway.backends.upstream import (
    ConnectionPool,
    StaleConnection,
    UpstreamConnection,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.backends.wsgi import _lifespan_noop, _wait_for_disconnect

log = logging.getLogger("gateway.backends.http")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
_HOP = frozenset(name.encode() for name in HOP_BY_HOP)
# Request headers the backend sets itself. Expect: the front server already
# answered "100 Continue", and the body follows without waiting.
_REQUEST_OWN = _HOP | {
    b"host",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"expect",
}
# The front server (uvicorn) always adds its own Server and Date; one of each.
_RESPONSE_DROP = _HOP | {b"server", b"date"}
# Connection options that name no header.
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive"})
_PLAIN_CONNECTION = frozenset({b",close", b",keep-alive"})  # as collected below
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_DOMAIN = re.compile(rb"(;\s*domain\s*=\s*)([^;]+)", re.IGNORECASE)
_NO_BODY, _LENGTH, _CHUNKED = 0, 1, 2


def hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[str]:
    """Names not to forward: the fixed hop-by-hop set and those named in Connection.

    (Proxy-* headers are dropped too, by prefix.)
    """
    return HOP_BY_HOP | {name.decode("latin-1") for name in _named_in_connection(headers)}


def _named_in_connection(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    return frozenset(
        token
        for key, value in headers
        if key.lower() == b"connection"
        for token in (part.strip().lower() for part in value.split(b","))
        if token and token not in _CONNECTION_OPTIONS
    )


class _ClientGone(Exception):
    """The client disconnected while sending its body."""


class HTTPBackend:
    """Forward requests to ``upstream`` (``http(s)://host[:port][/prefix]``).

    ``connect_timeout`` bounds opening a connection and waiting for a free
    one; ``read_timeout`` each wait for data from the upstream;
    ``max_connections`` bounds the keep-alive pool. With ``preserve_host`` the
    upstream sees the client's Host (as nginx's ``proxy_set_header Host
    $host``); otherwise its own host name, and the ``Location`` and cookie
    ``Domain`` it derives from it are rewritten. https upstreams are verified
    against the system CA store. Raises ValueError for a URL that is not
    http(s).
    """

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 30.0,
        max_connections: int = 100,
        preserve_host: bool = True,
        name: str = "legacy",
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.name = name
        self.preserve_host = preserve_host
        self.upstream = upstream.rstrip("/")
        self.upstream_host = parts.hostname.lower()
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}".lower()
        self._origin_bytes = self.upstream_origin.encode("latin-1")
        self._host_header = parts.netloc.rpartition("@")[2].encode("latin-1")
        self._prefix = parts.path.rstrip("/").encode("latin-1")
        https = parts.scheme == "https"
        self.pool = ConnectionPool(
            parts.hostname,
            parts.port or (443 if https else 80),
            ssl_context=ssl.create_default_context() if https else None,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    async def start(self) -> None:
        """Nothing to start; present so every backend has the same lifecycle."""

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan_noop(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        head, body = self._request_head(scope)
        try:
            conn = await self._exchange(scope["method"], head, body, receive)
        except _ClientGone:
            return
        except UpstreamTimeout as exc:
            log.warning("upstream %s timed out: %s", self.upstream, exc)
            await plain_response(
                send, 504, b"Gateway Timeout: the legacy app did not answer in time"
            )
            return
        except UpstreamError as exc:
            log.warning("upstream %s unreachable: %s", self.upstream, exc)
            await plain_response(send, 502, b"Bad Gateway: the legacy app is unreachable")
            return
        try:
            whole = conn.take_whole()
            if whole is None:
                await self._relay(scope, conn, receive, send)
            else:
                # The whole answer is in (a page in one or two segments): no
                # streaming loop and no disconnect watch to set up.
                await send(
                    {
                        "type": "http.response.start",
                        "status": conn.status,
                        "headers": self._response_headers(scope, conn.status, conn.headers),
                    }
                )
                await send({"type": "http.response.body", "body": whole})
        finally:
            self.pool.release(conn)  # reused only if its answer was read to the end

    async def _exchange(
        self, method: str, head: bytes, body: int, receive: Receive
    ) -> UpstreamConnection:
        """Send the request; return the connection once the answer's head is in."""
        conn = self.pool.take_idle() or await self.pool.acquire()
        try:
            if body == _NO_BODY:  # most requests: _send() inlined, a coroutine less
                conn.begin(head, head_request=method == "HEAD")
                await conn.read_head()
            else:
                await self._send(conn, method, head, body, receive)
            return conn
        except StaleConnection:
            self.pool.release(conn)
            # Safe to send again only if nothing can repeat: no body, idempotent.
            if body != _NO_BODY or method not in _IDEMPOTENT:
                raise
            log.info("upstream %s dropped a pooled connection; retrying once", self.upstream)
            self.pool.discard_idle()
        except BaseException:
            self.pool.release(conn)
            raise
        conn = await self.pool.acquire()
        try:
            await self._send(conn, method, head, body, receive)
        except BaseException:
            self.pool.release(conn)
            raise
        return conn

    async def _send(
        self, conn: UpstreamConnection, method: str, head: bytes, body: int, receive: Receive
    ) -> None:
        conn.begin(head, head_request=method == "HEAD")
        if body != _NO_BODY:
            await _send_body(conn, receive, chunked=body == _CHUNKED)
        await conn.read_head()

    def _request_head(self, scope: Scope) -> tuple[bytes, int]:
        """The request line and headers to send, and how the body is framed."""
        parts: list[bytes] = []
        host = b""
        forwarded_for = b""
        body = _NO_BODY
        connection = False
        for key, value in scope["headers"]:
            if key in _REQUEST_OWN:
                if key == b"host":
                    host = value
                elif key == b"x-forwarded-for":
                    forwarded_for = value
                elif key == b"transfer-encoding":
                    body = _CHUNKED
                elif key == b"connection":
                    connection = True
                continue
            if key.startswith(b"proxy-"):
                continue
            if key == b"content-length" and value != b"0":
                body = _LENGTH
            parts += (key, b": ", value, b"\r\n")
        if connection:
            parts = _without_named(scope["headers"], parts)
        client = scope.get("client")
        if client:
            # With uvicorn's --proxy-headers the client was already taken from
            # X-Forwarded-For; append it only when it is the direct peer.
            ip = client[0].encode("latin-1")
            if not forwarded_for:
                forwarded_for = ip
            elif ip not in (part.strip() for part in forwarded_for.split(b",")):
                forwarded_for = forwarded_for + b", " + ip
        if forwarded_for:
            parts += (b"x-forwarded-for: ", forwarded_for, b"\r\n")
        parts += (b"x-forwarded-proto: ", scope.get("scheme", "http").encode("latin-1"), b"\r\n")
        if host:
            parts += (b"x-forwarded-host: ", host, b"\r\n")
        upstream_host = host if host and self.preserve_host else self._host_header
        parts += (b"host: ", upstream_host, b"\r\n")
        if body == _CHUNKED:
            parts.append(b"transfer-encoding: chunked\r\n")
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string")
        target = self._prefix + path + b"?" + query if query else self._prefix + path
        line = scope["method"].encode("latin-1") + b" " + target + b" HTTP/1.1\r\n"
        parts.append(b"\r\n")
        return line + b"".join(parts), body

    async def _relay(
        self, scope: Scope, conn: UpstreamConnection, receive: Receive, send: Send
    ) -> None:
        """Send the upstream's answer on; on failure after the head, cut the connection."""
        await send(
            {
                "type": "http.response.start",
                "status": conn.status,
                "headers": self._response_headers(scope, conn.status, conn.headers),
            }
        )
        watcher: asyncio.Task[None] | None = None
        waits = 0
        try:
            # Bounded by the upstream's body; every wait by read_timeout.
            while True:
                chunk = conn.take()
                if conn.complete:
                    await send({"type": "http.response.body", "body": chunk})
                    return
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if watcher is None and waits:
                    # A disconnect watch costs a task, so only a body still
                    # coming after one wait gets one: servers such as gunicorn
                    # send the head and the body of a page in separate writes.
                    watcher = asyncio.create_task(_wait_for_disconnect(receive))
                    watcher.add_done_callback(lambda _: conn.interrupt())
                await conn.wait_body()
                waits += 1
                if watcher is not None and watcher.done():
                    return  # client gone: the connection is half-read, so it is closed
        except UpstreamError as exc:
            # Headers are out: the only honest signal left is a cut connection.
            log.warning("upstream %s failed mid-response: %s", self.upstream, exc)
        finally:
            if watcher is not None:
                watcher.cancel()

    def _response_headers(
        self, scope: Scope, status: int, upstream: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        connection = b""
        # A 304 may carry the Content-Length of the 200 it stands for; uvicorn
        # would then wait for that many body bytes and fail the response.
        no_body = status in (204, 304)
        for name, value in upstream:
            if name in _RESPONSE_DROP or name.startswith(b"proxy-"):
                if name == b"connection":
                    connection += b"," + value
                continue
            if no_body and name == b"content-length":
                continue
            if name == b"location":
                value = self._rewrite_location(scope, value)
            elif name == b"set-cookie" and b"omain" in value.lower():
                value = self._rewrite_cookie(scope, value)
            headers.append((name, value))
        if connection and connection.lower() not in _PLAIN_CONNECTION:
            # Rare (usually just "close" or "keep-alive"): a second pass only then.
            named = _named_in_connection([(b"connection", connection)])
            if named:
                headers = [(name, value) for name, value in headers if name not in named]
        return headers

    def _rewrite_location(self, scope: Scope, location: bytes) -> bytes:
        origin = self._origin_bytes
        if location[: len(origin)].lower() == origin:
            public = f"{scope.get('scheme', 'http')}://{_public_host(scope)}".encode("latin-1")
            return public + location[len(origin) :]
        return location

    def _rewrite_cookie(self, scope: Scope, cookie: bytes) -> bytes:
        public_host = _public_host(scope).split(":")[0].encode("latin-1")
        own = self.upstream_host.encode("latin-1")

        def replace(match: re.Match[bytes]) -> bytes:
            domain = match.group(2).strip().lstrip(b".").lower()
            return match.group(1) + public_host if domain == own else match.group(0)

        return _COOKIE_DOMAIN.sub(replace, cookie)


def _without_named(headers: list[tuple[bytes, bytes]], parts: list[bytes]) -> list[bytes]:
    """``parts`` (name, ": ", value, CRLF quadruples) less the headers Connection names."""
    named = _named_in_connection(headers)
    if not named:
        return parts
    kept: list[bytes] = []
    for i in range(0, len(parts), 4):
        if parts[i] not in named:
            kept += parts[i : i + 4]
    return kept


async def _send_body(conn: UpstreamConnection, receive: Receive, *, chunked: bool) -> None:
    """Stream the client's body upstream as it arrives (chunk-encoded if it had no length)."""
    # Bounded by the client's body, whose size the front server limits.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        data = message.get("body", b"")
        if data:
            conn.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            await conn.drain()
        if not message.get("more_body", False):
            break
    if chunked:
        conn.write(b"0\r\n\r\n")


def _public_host(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"host":
            return value.decode("latin-1")
    server = scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"
