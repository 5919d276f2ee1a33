"""The HTTP upstream backend against real servers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.backends import build_legacy_backend
from gateway.backends.http import HTTPBackend
from gateway.settings import GatewaySettings
from tests.gateway.test_backend_helpers import legacy_app, uvicorn_server, werkzeug_server
from tests.redis_server import free_port


def upstream_settings(upstream: str, **values: object) -> GatewaySettings:
    return GatewaySettings(legacy_upstream=upstream, flag_cache_path=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def flask_port() -> Iterator[int]:
    with werkzeug_server(legacy_app()) as port:
        yield port


@pytest.fixture(scope="module")
def gateway_url(flask_port: int) -> Iterator[str]:
    # The upstream is addressed by its own host name ("localhost"), the gateway
    # by 127.0.0.1: what the upstream says about "localhost" must be rewritten.
    backend = build_legacy_backend(
        upstream_settings(
            f"http://localhost:{flask_port}",
            upstream_read_timeout=0.5,
            upstream_preserve_host=False,
        ),
        None,
    )
    assert isinstance(backend, HTTPBackend)
    with uvicorn_server(backend) as url:
        yield url


def test_get_is_forwarded(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/hello")
    assert response.status_code == 200
    assert response.text == "hello from flask"


def test_chunked_upload_streams_to_the_upstream(gateway_url: str) -> None:
    data = os.urandom(200_000)
    response = httpx.post(
        f"{gateway_url}/upload", content=(data[i : i + 8192] for i in range(0, len(data), 8192))
    )
    assert response.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_streaming_download_passes_through(gateway_url: str) -> None:
    with httpx.stream("GET", f"{gateway_url}/download?chunks=40") as response:
        body = b"".join(response.iter_raw())
    assert body == b"".join(f"chunk-{i};".encode() for i in range(40))


def test_x_forwarded_headers_are_set(gateway_url: str) -> None:
    seen = httpx.get(f"{gateway_url}/headers", headers={"X-Forwarded-For": "203.0.113.9"}).json()
    # uvicorn trusts 127.0.0.1's X-Forwarded-For, so the client is 203.0.113.9
    # already and is not repeated; without a header the peer is sent.
    assert seen["x-forwarded-for"] == "203.0.113.9"
    assert httpx.get(f"{gateway_url}/headers").json()["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == gateway_url.removeprefix("http://")
    assert seen["host"].startswith("localhost:")


def test_client_host_is_preserved_by_default(flask_port: int) -> None:
    backend = build_legacy_backend(upstream_settings(f"http://localhost:{flask_port}"), None)
    with uvicorn_server(backend) as url:
        seen = httpx.get(f"{url}/headers").json()
        where = httpx.get(f"{url}/where").json()
    assert seen["host"] == url.removeprefix("http://")
    assert where["url"] == f"{url}/where"  # the legacy app builds public URLs itself


def test_location_pointing_at_the_upstream_host_is_rewritten(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/go")
    assert response.status_code == 302
    assert response.headers["location"] == f"{gateway_url}/hello"


def test_cookie_domain_of_the_upstream_host_is_rewritten(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/cookie")
    cookies = response.headers.get_list("set-cookie")
    assert any("pref=dark" in c and "Domain=127.0.0.1" in c for c in cookies), cookies
    assert any("other=1" in c and "Domain=example.org" in c for c in cookies), cookies
    assert not any("localhost" in c for c in cookies)


def test_upstream_timeout_gives_504(gateway_url: str) -> None:
    started = time.monotonic()
    assert httpx.get(f"{gateway_url}/slow?s=2", timeout=5).status_code == 504
    assert time.monotonic() - started < 1.5


def test_unreachable_upstream_gives_502() -> None:
    backend = HTTPBackend(f"http://127.0.0.1:{free_port()}", connect_timeout=0.5)
    with uvicorn_server(backend) as url:
        response = httpx.get(f"{url}/anything")
    assert response.status_code == 502


async def raw_upstream(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Echoes the request headers and answers with hop-by-hop headers of its own."""
    if scope["type"] != "http":
        return
    seen = b"\n".join(k + b": " + v for k, v in scope["headers"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"connection", b"x-private"),
                (b"x-private", b"secret"),
                (b"keep-alive", b"timeout=5"),
                (b"proxy-authenticate", b"Basic"),
                (b"upgrade", b"h2c"),
                (b"x-kept", b"yes"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": seen})


def call(backend: HTTPBackend, headers: list[tuple[bytes, bytes]]) -> tuple[dict, bytes]:
    """Send one request straight into the backend, return (start message, body)."""
    messages: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "scheme": "https",
        "client": ("198.51.100.7", 5000),
        "server": ("gw", 443),
    }

    async def run() -> None:
        await backend(scope, receive, send)
        await backend.aclose()

    asyncio.run(run())
    return messages[0], b"".join(m.get("body", b"") for m in messages[1:])


def test_hop_by_hop_headers_are_dropped_both_ways() -> None:
    with uvicorn_server(raw_upstream) as url:
        start, body = call(
            HTTPBackend(url),
            [
                (b"host", b"public.example"),
                (b"connection", b"keep-alive, x-secret-hop"),
                (b"x-secret-hop", b"1"),
                (b"keep-alive", b"timeout=5"),
                (b"te", b"trailers"),
                (b"trailer", b"x-foo"),
                (b"upgrade", b"websocket"),
                (b"proxy-authorization", b"Basic abc"),
                (b"x-end-to-end", b"kept"),
            ],
        )
    seen = body.decode().lower()
    for name in ("x-secret-hop", "keep-alive: timeout", "te: trailers", "trailer:", "upgrade:"):
        assert name not in seen, name
    assert "proxy-authorization" not in seen
    assert "x-end-to-end: kept" in seen
    assert "x-forwarded-proto: https" in seen
    assert "x-forwarded-for: 198.51.100.7" in seen
    assert "x-forwarded-host: public.example" in seen
    names = {k.decode() for k, _ in start["headers"]}
    assert "x-kept" in names
    assert not names & {"connection", "x-private", "keep-alive", "proxy-authenticate", "upgrade"}


class DropsFirstConnection:
    """A raw upstream that closes its first connection unanswered (as a server
    does with a kept-alive connection it just timed out), then answers 200."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                conn.recv(65536)
                if self.connections > 1:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )

    def close(self) -> None:
        self.sock.close()


def test_idempotent_request_is_retried_once_on_a_dropped_connection() -> None:
    upstream = DropsFirstConnection()
    try:
        with uvicorn_server(HTTPBackend(f"http://127.0.0.1:{upstream.port}")) as url:
            response = httpx.get(f"{url}/page")
        assert (response.status_code, response.text) == (200, "ok")
        assert upstream.connections == 2
    finally:
        upstream.close()


def test_request_with_a_body_is_never_retried() -> None:
    upstream = DropsFirstConnection()
    try:
        with uvicorn_server(HTTPBackend(f"http://127.0.0.1:{upstream.port}")) as url:
            response = httpx.post(f"{url}/form", content=b"a=1")
        assert response.status_code == 502
        assert upstream.connections == 1
    finally:
        upstream.close()
