"""Start-up fails loudly: under the shipped commands, a broken app or a split
configuration stops the gateway with its error before it serves a request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.processes import BIN, ServerProcess, free_port, gunicorn_gateway

pytestmark = pytest.mark.slow

RICH = {
    "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
    "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
}


def gateway_env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        **RICH,
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_REDIS_URL": "",
        "REDIS_URL": "",
        **values,
    }


def assert_never_serves(server: ServerProcess, port: int, expected: str) -> None:
    """The process exits non-zero with ``expected`` in its log, never answering."""
    code = server.wait_exit(timeout=60)
    assert code != 0
    assert expected in server.log(), server.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


@pytest.mark.parametrize(
    ("new_app", "expected"),
    [
        ("tests.gateway.support:failing_lifespan_app()", "the new app's database is down"),
        ("tests.gateway.support:keyless_session_app()", "secret keys"),
        ("tests.gateway.support:broken_factory()", "boom"),
        ("tests.gateway.support:no_such_app", "has no attribute"),
    ],
)
def test_gunicorn_stops_when_the_new_app_cannot_start(
    tmp_path: Path, new_app: str, expected: str
) -> None:
    port = free_port()
    env = gateway_env(tmp_path, GATEWAY_NEW_APP=new_app)
    with ServerProcess(gunicorn_gateway(port, 1), tmp_path / "gw.log", env) as server:
        assert_never_serves(server, port, expected)


def test_gunicorn_stops_when_the_legacy_app_cannot_be_loaded(tmp_path: Path) -> None:
    port = free_port()
    env = gateway_env(tmp_path, GATEWAY_LEGACY_APP="tests.gateway.support:broken_factory()")
    with ServerProcess(gunicorn_gateway(port, 1), tmp_path / "gw.log", env) as server:
        assert_never_serves(server, port, "boom")


def test_uvicorn_stops_when_the_new_app_lifespan_fails(tmp_path: Path) -> None:
    port = free_port()
    command = [
        str(BIN / "uvicorn"), "gateway.app:create_gateway", "--factory",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = gateway_env(tmp_path, GATEWAY_NEW_APP="tests.gateway.support:failing_lifespan_app()")
    with ServerProcess(command, tmp_path / "gw.log", env) as server:
        assert_never_serves(server, port, "the new app's database is down")


def test_flags_in_memory_refuse_several_workers(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gw.log", gateway_env(tmp_path)) as s:
        assert_never_serves(s, port, "REDIS_URL")


def test_uvicorn_workers_stop_on_flags_in_memory(tmp_path: Path) -> None:
    """uvicorn's --workers supervisor replaces a worker that dies, for ever,
    unless it exits with its start-up failure code: the whole server stops."""
    port = free_port()
    command = [
        str(BIN / "uvicorn"), "gateway.app:create_gateway", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
    ]  # fmt: skip
    with ServerProcess(command, tmp_path / "gw.log", gateway_env(tmp_path)) as server:
        server.wait_exit(timeout=60)  # uvicorn's parent exits 0 whatever its workers did
        log = server.log()
        assert "Set REDIS_URL" in log, log
        assert "failed to start, stopping the parent process" in log, log
        assert log.count("the gateway cannot start") <= 2, log  # no worker started again
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


def test_flags_in_redis_serve_several_workers(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    port = free_port()
    env = gateway_env(
        tmp_path,
        REDIS_URL=redis_url,  # the name the sessions read; the gateway honours it too
        GATEWAY_FLAG_KEY=f"{key_prefix}flags",
        GATEWAY_FLAG_CHANNEL=f"{key_prefix}flags",
    )
    del env["GATEWAY_REDIS_URL"]
    with ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gw.log", env) as server:
        server.wait_for(f"http://127.0.0.1:{port}/_gateway/health")
        assert httpx.get(f"http://127.0.0.1:{port}/prices/1.5").status_code == 200


def test_one_worker_keeps_flags_in_memory(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess(gunicorn_gateway(port, 1), tmp_path / "gw.log", gateway_env(tmp_path)) as s:
        s.wait_for(f"http://127.0.0.1:{port}/_gateway/health")
        assert httpx.get(f"http://127.0.0.1:{port}/prices/1.5").status_code == 200
