"""The in-process Flask backend, through a real uvicorn server."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.backends import build_legacy_backend, build_new_backend
from gateway.backends.wsgi import WSGIBackend
from gateway.settings import GatewaySettings
from tests.gateway.test_backend_helpers import (
    Events,
    PathGateway,
    legacy_app,
    new_app,
    uvicorn_server,
)


def settings(**values: object) -> GatewaySettings:
    return GatewaySettings(legacy_app="x:y", flag_cache_path=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def served(events: Events) -> Iterator[tuple[str, WSGIBackend]]:
    legacy = build_legacy_backend(
        settings(wsgi_threads=2, legacy_timeout=0.5, max_body_bytes=1_000_000), legacy_app(events)
    )
    new = build_new_backend(settings(), new_app())
    assert isinstance(legacy, WSGIBackend)
    with uvicorn_server(PathGateway(legacy, new)) as url:
        yield url, legacy


def chunked(data: bytes, size: int = 10_000) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_upload_reaches_flask_intact(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    data = os.urandom(300_000)
    response = httpx.post(f"{url}/upload", content=chunked(data))
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_upload_with_content_length_reaches_flask(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    response = httpx.post(f"{url}/upload", content=b"a=1&b=2")
    assert response.json()["size"] == 7


def test_body_over_the_limit_is_refused_with_413(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    assert httpx.post(f"{url}/upload", content=chunked(b"x" * 1_500_000)).status_code == 413
    assert httpx.post(f"{url}/upload", content=b"x" * 1_500_000).status_code == 413


def test_streaming_download_arrives_in_pieces(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    with httpx.stream("GET", f"{url}/download?chunks=50") as response:
        assert "content-length" not in response.headers
        pieces = list(response.iter_raw())
    assert b"".join(pieces) == b"".join(f"chunk-{i};".encode() for i in range(50))


def test_client_disconnect_closes_the_iterator_and_frees_the_thread(
    served: tuple[str, WSGIBackend], events: Events
) -> None:
    url, backend = served
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
        assert b"200 OK" in sock.recv(4096)
        while events.chunks_yielded < 5:
            time.sleep(0.01)
        threads_while_streaming = threading.active_count()
    assert events.stream_closed.wait(3), "generator close() did not run after the disconnect"
    deadline = time.monotonic() + 3
    while backend.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.in_flight == 0
    yielded = events.chunks_yielded
    time.sleep(0.1)
    assert events.chunks_yielded == yielded, "generator still running"
    assert threading.active_count() <= threads_while_streaming


def test_slow_legacy_requests_do_not_block_fastapi_routes(
    served: tuple[str, WSGIBackend],
) -> None:
    url, _ = served
    # Four slow Flask requests against a 2-thread pool: the pool is saturated
    # for 6 s. The FastAPI routes answer while some are still
    # running (no wall-clock budget: the slow ones cannot have finished).
    slow = [
        threading.Thread(target=httpx.get, args=(f"{url}/slow?s=3",), kwargs={"timeout": 15})
        for _ in range(4)
    ]
    for thread in slow:
        thread.start()
    time.sleep(0.2)
    assert httpx.get(f"{url}/new/async", timeout=5).json() == {"from": "fastapi"}
    assert httpx.get(f"{url}/new/sync", timeout=5).json() == {"from": "fastapi-sync"}
    assert any(thread.is_alive() for thread in slow), "FastAPI waited for the Flask pool"
    for thread in slow:
        thread.join()


def test_wsgi_pool_is_separate_from_anyio_default_pool(served: tuple[str, WSGIBackend]) -> None:
    _, backend = served
    assert backend.executor._max_workers == 2
    assert backend.executor._thread_name_prefix == "gateway-wsgi"


def test_request_past_the_timeout_gets_504(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    started = time.monotonic()
    response = httpx.get(f"{url}/slow?s=1.5", timeout=5)
    assert response.status_code == 504
    assert time.monotonic() - started < 1.0


def test_flask_error_page_passes_through(served: tuple[str, WSGIBackend]) -> None:
    url, _ = served
    assert httpx.get(f"{url}/boom").status_code == 500


def test_script_name_comes_from_root_path(events: Events) -> None:
    backend = WSGIBackend(legacy_app(events), threads=2)
    os.environ.pop("SCRIPT_NAME", None)
    with uvicorn_server(backend, root_path="/app") as url:
        response = httpx.get(f"{url}/where", headers={"Host": "example.test"})
    assert response.json() == {
        "script_root": "/app",
        "path": "/where",
        "url": "http://example.test/app/where",
    }
