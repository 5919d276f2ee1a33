"""HTTP upstream backend: the legacy app under its own server (gunicorn), via httpx.

Bodies stream both ways. The upstream gets its own Host (so virtual hosting
works) and the client's view in X-Forwarded-For/-Proto/-Host; what the
upstream says about its own host name (``Location``, cookie ``Domain``) is
rewritten to the client's host. Failures become 502 (unreachable, broken
answer) or 504 (timeout), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from starlette.types import Receive, Scope, Send

from gateway.backends.responses import plain_response
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
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_DOMAIN = re.compile(r"(;\s*domain\s*=\s*)([^;]+)", re.IGNORECASE)


def hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[str]:
    """Names not to forward: the fixed hop-by-hop set, Proxy-*, and those named in Connection."""
    named = {
        token.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return HOP_BY_HOP | named


def _forward(name: str, drop: frozenset[str]) -> bool:
    return name not in drop and not name.startswith("proxy-")


class HTTPBackend:
    """Forward requests to ``upstream`` (``http://host:port[/prefix]``).

    ``connect_timeout`` bounds reaching the upstream, ``read_timeout`` each wait
    for data from it; ``max_connections`` bounds the connection pool. With
    ``preserve_host`` the upstream sees the client's Host (as nginx's
    ``proxy_set_header Host $host``); otherwise its own host name, and the
    ``Location`` and cookie ``Domain`` it derives from it are rewritten.
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
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def start(self) -> None:
        """Nothing to start; present so every backend has the same lifecycle."""

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan_noop(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        request, has_body = self._build_request(scope, receive)
        try:
            try:
                response = await self.client.send(request, stream=True)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                # A kept-alive connection the upstream had just closed: safe to
                # try once more, on a fresh connection, when nothing can repeat.
                if has_body or scope["method"] not in _IDEMPOTENT:
                    raise
                log.info("upstream %s dropped a pooled connection; retrying once", self.upstream)
                response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            log.warning("upstream %s timed out: %r", self.upstream, exc)
            await plain_response(
                send, 504, b"Gateway Timeout: the legacy app did not answer in time"
            )
            return
        except httpx.HTTPError as exc:
            log.warning("upstream %s unreachable: %r", self.upstream, exc)
            await plain_response(send, 502, b"Bad Gateway: the legacy app is unreachable")
            return
        # The request body is sent by now; from here receive() only reports a disconnect.
        watcher = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await self._relay(scope, response, send, watcher)
        finally:
            watcher.cancel()
            await response.aclose()

    def _build_request(self, scope: Scope, receive: Receive) -> tuple[httpx.Request, bool]:
        """The upstream request, and whether it streams a body from the client."""
        headers = scope["headers"]
        drop = hop_by_hop(headers) | {
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
        }
        out: list[tuple[bytes, bytes]] = []
        host = b""
        forwarded_for = b""
        has_body = False
        for key, value in headers:
            name = key.decode("latin-1").lower()
            if name == "host":
                host = value
            elif name == "x-forwarded-for":
                forwarded_for = value
            if name in ("content-length", "transfer-encoding"):
                has_body = has_body or value not in (b"0",)
            if _forward(name, drop):
                out.append((key, value))
        client = scope.get("client")
        if client:
            # With uvicorn's --proxy-headers the client was already taken from
            # X-Forwarded-For; append it only when it is the direct peer.
            ip = client[0].encode("latin-1")
            if ip not in (part.strip() for part in forwarded_for.split(b",")):
                forwarded_for = forwarded_for + b", " + ip if forwarded_for else ip
        if forwarded_for:
            out.append((b"x-forwarded-for", forwarded_for))
        out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
        if host:
            out.append((b"x-forwarded-host", host))
            if self.preserve_host:
                out.append((b"host", host))
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        url = self.upstream + path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        content = _request_body(receive) if has_body else None
        request = self.client.build_request(scope["method"], url, headers=out, content=content)
        return request, has_body

    async def _relay(
        self, scope: Scope, response: httpx.Response, send: Send, watcher: asyncio.Task[None]
    ) -> None:
        public_host = _public_host(scope)
        origin = f"{scope.get('scheme', 'http')}://{public_host}"
        drop = hop_by_hop(list(response.headers.raw))
        headers: list[tuple[bytes, bytes]] = []
        for key, value in response.headers.raw:
            name = key.decode("latin-1").lower()
            if not _forward(name, drop):
                continue
            if name == "location":
                value = self._rewrite_location(value.decode("latin-1"), origin).encode("latin-1")
            elif name == "set-cookie":
                value = self._rewrite_cookie(
                    value.decode("latin-1"), public_host.split(":")[0]
                ).encode("latin-1")
            headers.append((key.lower(), value))
        started = False
        try:
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            started = True
            async for chunk in response.aiter_raw():
                if watcher.done():
                    return  # client gone: stop reading; aclose() drops the upstream connection
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except httpx.HTTPError as exc:
            # Headers are out: the only honest signal left is a cut connection.
            log.warning("upstream %s failed mid-response: %r", self.upstream, exc)
            if not started:
                await plain_response(send, 502, b"Bad Gateway")

    def _rewrite_location(self, location: str, origin: str) -> str:
        if location.lower().startswith(self.upstream_origin):
            return origin + location[len(self.upstream_origin) :]
        return location

    def _rewrite_cookie(self, cookie: str, public_host: str) -> str:
        def replace(match: re.Match[str]) -> str:
            domain = match.group(2).strip().lstrip(".").lower()
            return match.group(1) + public_host if domain == self.upstream_host else match.group(0)

        return _COOKIE_DOMAIN.sub(replace, cookie)


def _public_host(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"host":
            return value.decode("latin-1")
    server = scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise httpx.ReadError("client disconnected while sending the body")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
