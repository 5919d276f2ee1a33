"""The HTTP upstream backend against real servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.backends import build_legacy_backend
from gateway.backends.http import HTTPBackend
from gateway.backends.upstream import ConnectionPool
from gateway.settings import GatewaySettings
from tests.gateway.test_backend_helpers import legacy_app, uvicorn_server, werkzeug_server
from tests.gateway.upstream_servers import RawUpstream, gunicorn_upstream, read_request
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


# --- no state shared between requests ---------------------------------------


@pytest.fixture(scope="module")
def gthread() -> Iterator[str]:
    with gunicorn_upstream("gthread") as url:
        yield url


@pytest.fixture(scope="module")
def sync() -> Iterator[str]:
    with gunicorn_upstream("sync") as url:
        yield url


@pytest.fixture(scope="module")
def via_gthread(gthread: str) -> Iterator[tuple[str, HTTPBackend]]:
    backend = HTTPBackend(gthread, read_timeout=1.0)
    with uvicorn_server(backend) as url:
        yield url, backend


def test_a_cookie_set_for_one_client_never_reaches_another(
    via_gthread: tuple[str, HTTPBackend],
) -> None:
    url, _ = via_gthread
    login = httpx.get(f"{url}/login?user=alice")
    assert "session=alice" in login.headers["set-cookie"]
    # A second visitor, no cookie of its own: the upstream must see none.
    assert httpx.get(f"{url}/echo-cookie").json() == {"cookie": None}
    assert httpx.get(f"{url}/echo-cookie", cookies={"session": "bob"}).json() == {
        "cookie": "session=bob"
    }


def test_one_server_and_one_date_header_reach_the_client(
    via_gthread: tuple[str, HTTPBackend],
) -> None:
    url, _ = via_gthread
    response = httpx.get(f"{url}/hello")
    names = [name.lower() for name, _ in response.headers.raw]
    assert names.count(b"server") == 1 and names.count(b"date") == 1
    assert response.headers["server"] == "uvicorn"  # the front server's, not gunicorn's


def test_expect_is_not_forwarded(via_gthread: tuple[str, HTTPBackend]) -> None:
    url, _ = via_gthread
    seen = httpx.post(f"{url}/request", content=b"a=1", headers={"Expect": "100-continue"}).json()
    assert "expect" not in seen["headers"]


# --- connection reuse -------------------------------------------------------


def test_keep_alive_connections_are_reused(via_gthread: tuple[str, HTTPBackend]) -> None:
    url, backend = via_gthread
    backend.pool.discard_idle()
    with httpx.Client() as client:
        ports = {client.get(f"{url}/request").json()["port"] for _ in range(20)}
    assert len(ports) == 1, ports
    assert backend.pool.open_connections == 1


def test_a_server_that_closes_every_connection_gets_a_new_one_each_time(sync: str) -> None:
    backend = HTTPBackend(sync)
    with uvicorn_server(backend) as url, httpx.Client() as client:
        ports = {client.get(f"{url}/request").json()["port"] for _ in range(5)}
        assert len(ports) == 5
        assert backend.pool.open_connections == 0


def test_concurrent_requests_wait_for_a_free_connection(gthread: str) -> None:
    backend = HTTPBackend(gthread, max_connections=1, connect_timeout=5)

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient() as client:
            responses = await asyncio.gather(*(client.get(f"{url}/slow?s=0.1") for _ in range(4)))
        return [r.status_code for r in responses]

    with uvicorn_server(backend) as url:
        assert asyncio.run(burst(url)) == [200] * 4
    assert backend.pool.open_connections <= 1


def test_no_free_connection_within_the_connect_timeout_gives_504(gthread: str) -> None:
    backend = HTTPBackend(gthread, max_connections=1, connect_timeout=0.3)

    async def two(url: str) -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            slow = asyncio.create_task(client.get(f"{url}/slow?s=1.5"))
            await asyncio.sleep(0.2)
            waiting = await client.get(f"{url}/hello")
            return [(await slow).status_code, waiting.status_code]

    with uvicorn_server(backend) as url:
        assert asyncio.run(two(url)) == [200, 504]


class ClosesKeptAliveConnection:
    """Answers the first request of a connection with keep-alive; a later
    request on it is read and the connection closed unanswered, as a server
    does when its keep-alive timeout fires just as a request comes in."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        for _ in range(2):  # at most one answered request per connection
            head = await read_request(reader)
            if not head:
                return
            self.requests += 1
            if b"content-length" in head.lower():
                await reader.readexactly(int(head.lower().split(b"content-length: ")[1][:1]))
            if not first:
                return  # closed unanswered
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            first = False


def test_idempotent_request_is_retried_once_on_a_stale_pooled_connection() -> None:
    handler = ClosesKeptAliveConnection()
    with RawUpstream(handler) as upstream:
        backend = HTTPBackend(upstream.url)
        with uvicorn_server(backend) as url, httpx.Client() as client:
            assert client.get(f"{url}/one").text == "ok"
            response = client.get(f"{url}/two")
        assert (response.status_code, response.text) == (200, "ok")
        assert upstream.connections == 2
        assert handler.requests == 3


def test_request_with_a_body_is_never_retried() -> None:
    handler = ClosesKeptAliveConnection()
    with RawUpstream(handler) as upstream:
        backend = HTTPBackend(upstream.url)
        with uvicorn_server(backend) as url, httpx.Client() as client:
            assert client.get(f"{url}/one").text == "ok"
            response = client.post(f"{url}/form", content=b"a=1")
        assert response.status_code == 502
        assert upstream.connections == 1


def test_a_fresh_connection_closed_unanswered_is_not_retried() -> None:
    # Not stale, so the request may have been what broke the upstream: sending
    # it again could break another worker.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    with RawUpstream(hang_up) as upstream:
        with uvicorn_server(HTTPBackend(upstream.url)) as url:
            assert httpx.get(f"{url}/page").status_code == 502
        assert upstream.connections == 1


# --- streaming ----------------------------------------------------------------


def test_chunked_upload_reaches_gunicorn(via_gthread: tuple[str, HTTPBackend]) -> None:
    url, _ = via_gthread
    data = os.urandom(300_000)
    response = httpx.post(
        f"{url}/upload", content=(data[i : i + 8192] for i in range(0, len(data), 8192))
    )
    assert response.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_upload_with_content_length_reaches_gunicorn(via_gthread: tuple[str, HTTPBackend]) -> None:
    url, _ = via_gthread
    data = os.urandom(300_000)
    response = httpx.post(f"{url}/upload", content=data)
    assert response.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_large_streamed_response_arrives_whole(via_gthread: tuple[str, HTTPBackend]) -> None:
    url, backend = via_gthread
    digest = hashlib.sha256()
    size = 0
    with httpx.stream("GET", f"{url}/big?n=16") as response:
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    expected = hashlib.sha256(b"".join(bytes([i % 251]) * 65536 for i in range(256)))
    assert (size, digest.hexdigest()) == (16 * 1024 * 1024, expected.hexdigest())
    assert backend.pool.idle_connections >= 1  # read to the end: kept


def test_head_keeps_the_length_and_reuses_the_connection(
    via_gthread: tuple[str, HTTPBackend],
) -> None:
    url, backend = via_gthread
    backend.pool.discard_idle()
    with httpx.Client() as client:
        head = client.head(f"{url}/hello")
        get = client.get(f"{url}/hello")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert backend.pool.open_connections == 1


def test_a_client_leaving_mid_download_releases_the_upstream_connection() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(2000):  # 20 s at most; the proxy should hang up long before
            writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    with RawUpstream(endless) as upstream:
        backend = HTTPBackend(upstream.url)
        with uvicorn_server(backend) as url:
            with httpx.stream("GET", f"{url}/endless") as response:
                for _ in zip(range(3), response.iter_raw(), strict=False):
                    pass
            assert upstream.finished.wait(5), "the upstream kept streaming"
            deadline = time.monotonic() + 5
            while backend.pool.open_connections and time.monotonic() < deadline:
                time.sleep(0.02)
            assert (backend.pool.open_connections, backend.pool.idle_connections) == (0, 0)


def test_upstream_cut_short_after_the_headers_cuts_the_client_connection() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
        await writer.drain()

    with (
        RawUpstream(short) as upstream,
        uvicorn_server(HTTPBackend(upstream.url)) as url,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        httpx.get(f"{url}/short")


# --- what the upstream answers ----------------------------------------------


def raw_answer(answer: bytes) -> RawUpstream:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    return RawUpstream(handler)


def test_interim_1xx_answers_are_skipped() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"
    )
    with raw_answer(answer) as upstream, uvicorn_server(HTTPBackend(upstream.url)) as url:
        response = httpx.get(f"{url}/x")
    assert (response.status_code, response.text) == (201, "done")
    assert "link" not in response.headers


def test_close_delimited_answer_is_relayed_whole() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 100_000
    with raw_answer(answer) as upstream, uvicorn_server(HTTPBackend(upstream.url)) as url:
        response = httpx.get(f"{url}/x")
    assert response.content == b"y" * 100_000


def test_oversized_upstream_headers_give_502() -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\nok"
    with raw_answer(answer) as upstream, uvicorn_server(HTTPBackend(upstream.url)) as url:
        assert httpx.get(f"{url}/x").status_code == 502


def test_garbage_from_the_upstream_gives_502() -> None:
    garbage = raw_answer(b"SSH-2.0-OpenSSH_9.6\r\n")
    with garbage as upstream, uvicorn_server(HTTPBackend(upstream.url)) as url:
        assert httpx.get(f"{url}/x").status_code == 502


def test_connect_timeout_gives_504() -> None:
    # A listener that never accepts, its backlog full: the next SYN is dropped.
    import socket

    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        backend = HTTPBackend(f"http://127.0.0.1:{port}", connect_timeout=0.3)
        with uvicorn_server(backend) as url:
            started = time.monotonic()
            assert httpx.get(f"{url}/x", timeout=5).status_code == 504
            assert time.monotonic() - started < 2
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_https_upstream_is_verified_against_the_system_store(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)

    async def hello(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"tls ok"})

    with uvicorn_server(hello, ssl_certfile=str(cert), ssl_keyfile=str(key)) as plain:
        upstream = plain.replace("http://", "https://")
        # A self-signed certificate is not in the system store: refused.
        with uvicorn_server(HTTPBackend(upstream)) as url:
            assert httpx.get(f"{url}/x").status_code == 502
        # Trusted, the same upstream answers over TLS.
        backend = HTTPBackend(upstream)
        backend.pool = ConnectionPool(
            "127.0.0.1",
            int(upstream.rsplit(":", 1)[1]),
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        with uvicorn_server(backend) as url:
            assert httpx.get(f"{url}/x").text == "tls ok"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written to ``directory``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_not_modified_drops_the_length_of_the_full_page() -> None:
    # RFC 9110 lets a 304 carry the Content-Length of the 200 it replaces;
    # uvicorn would wait for that many body bytes and fail the response.
    answer = b'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "v1"\r\n\r\n'
    with raw_answer(answer) as upstream:
        start, body = call(HTTPBackend(upstream.url), [(b"host", b"public.example")])
    assert start["status"] == 304 and body == b""
    assert dict(start["headers"]) == {b"etag": b'"v1"'}
