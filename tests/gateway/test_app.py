"""The gateway app end to end over real HTTP: request ids, headers, hostile
input, lifespan, and the real backends in front of real Flask and FastAPI apps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.app import GatewayConfigError, create_gateway
from gateway.settings import GatewaySettings
from tests.gateway.support import (
    CONSTANT_START,
    EchoBackend,
    echo_gateway,
    serve,
    settings_for,
)
from tests.redis_server import free_port


def raw_request(url: str, request: bytes) -> bytes:
    """Send bytes as they are (no client normalisation); returns the status line."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_sane_request_id_is_passed_on_and_echoed(tmp_path: Path) -> None:
    with serve(echo_gateway(settings_for(tmp_path))) as url:
        response = httpx.get(f"{url}/prices/1.5", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x"
    assert response.json()["request_id"] == "abc-123.x"


@pytest.mark.parametrize("value", ["", "a" * 200, "bad id", "<script>", "a\tb", "é"])
def test_insane_request_id_is_replaced(tmp_path: Path, value: str) -> None:
    with serve(echo_gateway(settings_for(tmp_path))) as url:
        response = httpx.get(f"{url}/prices/1.5", headers={"X-Request-ID": value.encode("utf-8")})
    created = response.headers["x-request-id"]
    assert created != value and len(created) == 32
    assert response.json()["request_id"] == created


def test_missing_request_id_is_created_for_both_sides(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, flags={"prices": "new"})
    with serve(echo_gateway(settings)) as url:
        new = httpx.get(f"{url}/prices/1.5")
        legacy = httpx.get(f"{url}/index-missing")
    for response in (new, legacy):
        assert response.json()["request_id"] == response.headers["x-request-id"]
    assert new.headers["x-request-id"] != legacy.headers["x-request-id"]


def test_custom_request_id_header_is_used(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, request_id_header="X-Correlation-ID")
    with serve(echo_gateway(settings)) as url:
        response = httpx.get(f"{url}/prices/1.5", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] == "corr-1"


def test_every_response_says_who_served_it_and_the_flag_version(tmp_path: Path) -> None:
    with serve(echo_gateway(settings_for(tmp_path))) as url:
        legacy = httpx.get(f"{url}/prices/1.5")
        new_only = httpx.get(f"{url}/api/v2/stats")
        admin = httpx.get(f"{url}/_gateway/health")
    assert legacy.headers["x-served-by"] == "legacy"
    assert new_only.headers["x-served-by"] == "new"
    assert admin.headers["x-served-by"] == "gateway"
    assert legacy.headers["x-gateway-flags-version"] == "1"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /%zz%ff%00/../notes/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /notes/%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a/" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /prices/1.5 HTTP/1.1\r\nHost: x\r\nCookie: \xff\xfe=;;;gw_bucket=\x00\x01; =\r\n\r\n",
        b"GET /prices/1.5 HTTP/1.1\r\nHost: x\r\nCookie: gw_force=new:zz; gw_bucket="
        + b"A" * 4000
        + b"\r\n\r\n",
        b"GET /prices/1.5 HTTP/1.1\r\nHost: x\r\nX-Gateway-Force: \xff" + b"x" * 4000 + b"\r\n\r\n",
        b"GET /prices/1.5 HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + b"\x7f" * 100 + b"\r\n\r\n",
        b"BREW /prices/1.5 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /_gateway/flags/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PUT /_gateway/flags/prices HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
        b"\xff\xfe\x00{[",
    ],
)
def test_hostile_requests_never_get_a_gateway_500(tmp_path: Path, request_bytes: bytes) -> None:
    settings = settings_for(tmp_path, flags={"prices": "canary 50"}, override_secret="s")
    with serve(echo_gateway(settings)) as url:
        status = raw_request(url, request_bytes)
    assert status.startswith(b"HTTP/1.1 "), status
    assert not status.startswith(b"HTTP/1.1 5"), status


def test_lifespan_starts_and_closes_the_backends(tmp_path: Path) -> None:
    legacy, new = EchoBackend("legacy"), EchoBackend("new")
    gateway = create_gateway(settings_for(tmp_path), legacy_backend=legacy, new_backend=new)
    with serve(gateway) as url:
        assert httpx.get(f"{url}/_gateway/health").json()["ok"] is True
    assert legacy.closed and new.closed


def test_real_backends_serve_flask_and_fastapi(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, flags={"notes.show": "new"})
    with serve(create_gateway(settings)) as url:
        legacy = httpx.get(f"{url}/notes/7/edit")
        new = httpx.get(f"{url}/notes/7")
        new_only = httpx.get(f"{url}/assets/site.css")
        redirect = httpx.get(f"{url}/notes")
        not_allowed = httpx.delete(f"{url}/notes/7")
    assert (legacy.status_code, legacy.text, legacy.headers["x-served-by"]) == (200, "ok", "legacy")
    assert (new.json(), new.headers["x-served-by"]) == ({"note": 7}, "new")
    assert (new_only.text, new_only.headers["x-served-by"]) == ("asset", "new")
    assert redirect.status_code == 308 and redirect.headers["location"].endswith("/notes/")
    assert (not_allowed.status_code, not_allowed.headers["x-served-by"]) == (405, "legacy")


def test_an_app_that_sends_one_constant_start_message_gets_nothing_of_an_earlier_request(
    tmp_path: Path,
) -> None:
    # The gateway's headers go on a copy of the start message, never on the app's dict.
    settings = settings_for(
        tmp_path,
        new_app="tests.gateway.support:constant_start_app",
        flags={"notes.show": "new"},
    )
    before = [*CONSTANT_START["headers"]]
    with serve(create_gateway(settings)) as url:
        first = httpx.get(f"{url}/notes/7")
        second = httpx.get(f"{url}/notes/7")
    assert CONSTANT_START["headers"] == before
    for answer in (first, second):
        assert (answer.text, answer.headers["x-served-by"]) == ("constant", "new")
        assert len(answer.headers.get_list("x-request-id")) == 1
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_reference_apps_load_by_their_import_strings(tmp_path: Path) -> None:
    settings = GatewaySettings(
        legacy_app="legacy_flask:create_app()",
        new_app="new_fastapi:create_app()",
        flag_cache_path=tmp_path / "flags.json",
        admin_token="t" * 32,
    )
    with serve(create_gateway(settings)) as url:
        auth = {"Authorization": "Bearer " + "t" * 32}
        rows = httpx.get(f"{url}/_gateway/routes", headers=auth).json()["routes"]
        static = httpx.get(f"{url}/static/does-not-exist.css")
    endpoints = {row["endpoint"] for row in rows}
    assert {"webapp.notes", "api.get_note", "static"} <= endpoints
    assert static.status_code == 404 and static.headers["x-served-by"] == "legacy"


def test_no_demo_app_is_served_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_LEGACY_APP", "GATEWAY_LEGACY_UPSTREAM", "GATEWAY_NEW_APP"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(GatewayConfigError, match="GATEWAY_LEGACY_APP"):
        create_gateway(GatewaySettings(flag_cache_path=tmp_path / "flags.json"))
    settings = GatewaySettings(legacy_app="tests.gateway.support:rich_flask_app()")
    with pytest.raises(GatewayConfigError, match="GATEWAY_NEW_APP"):
        create_gateway(settings)


class FailingBackend(EchoBackend):
    """A new app that answers 500 to everything."""

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"boom"})


def test_fallback_routes_answer_from_legacy_when_new_fails(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, flags={"prices": "new", "signed": "new"}, fallback=["prices"])
    legacy, new = EchoBackend("legacy"), FailingBackend("new")
    gateway = create_gateway(settings, legacy_backend=legacy, new_backend=new)
    with serve(gateway) as url:
        covered = httpx.get(f"{url}/prices/1.5")
        uncovered = httpx.get(f"{url}/signed/-3")
        by_route = httpx.get(f"{url}/_gateway/fallbacks").json()
    assert (covered.status_code, covered.headers["x-served-by"]) == (200, "legacy")
    assert covered.json()["side"] == "legacy"
    assert (uncovered.status_code, uncovered.headers["x-served-by"]) == (500, "new")
    assert gateway.fallback_count == 1
    assert by_route == {"total": 1, "by_route": {"prices": 1}}


def test_uvicorn_factory_entry_point_serves(tmp_path: Path) -> None:
    """``uvicorn gateway.app:create_gateway --factory`` builds it from GATEWAY_* settings."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_FLAGS": '{"notes.show": "new"}',
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_DRAIN_SECONDS": "0",
    }
    command = [str(Path(sys.executable).parent / "uvicorn"), "gateway.app:create_gateway",
               "--factory", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/notes/3", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert (response.json(), response.headers["x-served-by"]) == ({"note": 3}, "new")


class HeaderSettingBackend(EchoBackend):
    """An app that sets the headers the gateway owns (lowercase, as ASGI requires of apps;
    every backend of the gateway lowercases what it relays)."""

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        headers = [(b"x-served-by", b"me"), (b"x-request-id", b"other"), (b"x-app", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


def test_gateway_headers_replace_the_apps_own(tmp_path: Path) -> None:
    gateway = create_gateway(
        settings_for(tmp_path),
        legacy_backend=HeaderSettingBackend("legacy"),
        new_backend=EchoBackend("new"),
    )
    with serve(gateway) as url:
        response = httpx.get(f"{url}/prices/1.5", headers={"X-Request-ID": "rid-1"})
    assert response.headers.get_list("x-served-by") == ["legacy"]
    assert response.headers.get_list("x-request-id") == ["rid-1"]
    assert response.headers["x-app"] == "1"


def test_upstream_legacy_still_gets_its_routes_from_legacy_url_map(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        legacy_upstream="http://127.0.0.1:9",
        legacy_url_map="tests.gateway.support:rich_flask_app()",
        flags={"prices": "new"},
    )
    assert settings.legacy_app is None
    with serve(echo_gateway(settings)) as url:
        flagged = httpx.get(f"{url}/prices/1.5")
        unflagged = httpx.get(f"{url}/signed/2")
    assert (flagged.headers["x-served-by"], unflagged.headers["x-served-by"]) == ("new", "legacy")


def test_gateway_adds_only_microseconds_per_request(tmp_path: Path) -> None:
    """The gateway's own work (ids, match, flag, bucket, headers) called in-process."""
    import asyncio

    settings = settings_for(tmp_path, flags={"prices": "canary 50"})
    gateway = echo_gateway(settings)
    scope = {
        "type": "http", "method": "GET", "path": "/prices/1.5", "root_path": "",
        "query_string": b"", "headers": [(b"host", b"x"), (b"cookie", b"gw_bucket=" + b"A" * 22)],
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        return None

    async def bench(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await gateway(dict(scope), receive, send)
        return (time.perf_counter() - start) / n

    per_request = asyncio.run(bench(5000))
    print(f"\ngateway + echo backend, in-process: {per_request * 1e6:.1f} us/request")
    assert per_request < 500e-6
