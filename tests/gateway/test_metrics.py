"""Prometheus metrics at <admin prefix>/metrics: per-endpoint labels, never raw
paths, behind the admin token, summed over every gunicorn worker."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from gateway.app import create_gateway
from gateway.metrics import FLUSH_SECONDS
from shared_session import SessionSettings, SessionStoreUnavailable
from shared_session.store.redis import AsyncRedisStore
from tests.gateway.support import EchoBackend, echo_gateway, serve, settings_for
from tests.processes import ServerProcess, gunicorn_gateway
from tests.redis_server import free_port

TOKEN = {"Authorization": "Bearer m-token"}


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name``, by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(text: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    return samples(text, "gateway_request_duration_seconds_count").get(want, 0.0)


def scrape(url: str) -> str:
    response = httpx.get(f"{url}/_gateway/metrics", headers=TOKEN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_requests_are_counted_by_endpoint_backend_and_status_class(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, admin_open=False, admin_token="m-token")
    with serve(echo_gateway(settings)) as url:
        for _ in range(3):
            httpx.get(f"{url}/prices/1.5")
        httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=TOKEN)
        httpx.get(f"{url}/prices/2.5")
        httpx.get(f"{url}/no/such/page/12345")
        text = scrape(url)
    assert count(text, endpoint="prices", backend="legacy", status_class="2xx") == 3
    assert count(text, endpoint="prices", backend="new", status_class="2xx") == 1
    assert count(text, endpoint="<unmatched>", backend="legacy", status_class="2xx") == 1
    assert "12345" not in text and "/prices" not in text  # labels are names, not paths
    assert samples(text, "gateway_flags_version")[()] == 2


def test_metrics_need_the_admin_token_and_can_be_switched_off(tmp_path: Path) -> None:
    on = settings_for(tmp_path, admin_open=False, admin_token="m-token")
    off = settings_for(tmp_path, admin_open=False, admin_token="m-token", metrics_enabled=False)
    with serve(echo_gateway(on)) as url:
        anonymous = httpx.get(f"{url}/_gateway/metrics")
    with serve(echo_gateway(off)) as url:
        switched_off = httpx.get(f"{url}/_gateway/metrics", headers=TOKEN)
        served = httpx.get(f"{url}/prices/1.5")
    assert anonymous.status_code == 401
    assert switched_off.status_code == 404 and "METRICS_ENABLED" in switched_off.json()["error"]
    assert served.status_code == 200


class FailingBackend(EchoBackend):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"down"})


def test_shadow_replays_and_fallbacks_are_counted(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        admin_open=False,
        admin_token="m-token",
        flags={"prices": "shadow", "notes.list": "new"},
        fallback=["notes.list"],
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=FailingBackend("new")
    )
    with serve(gateway) as url:
        httpx.get(f"{url}/prices/1.5")
        fell_back = httpx.get(f"{url}/notes/")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "shadow_replays_total{" not in scrape(url):
            time.sleep(0.05)
        text = scrape(url)
    assert fell_back.headers["x-served-by"] == "legacy"
    replays = samples(text, "gateway_shadow_replays_total")
    assert replays == {(("endpoint", "prices"), ("result", "mismatch")): 1.0}
    assert samples(text, "gateway_fallbacks_total") == {(("endpoint", "notes.list"),): 1.0}
    # The fallback's answer came from legacy after new failed: counted as legacy's 2xx.
    assert count(text, endpoint="notes.list", backend="legacy", status_class="2xx") == 1


def test_session_store_errors_are_counted_by_side_and_operation(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, admin_open=False, admin_token="m-token")
    down = SessionSettings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", secret_keys=["k" * 32], timeout=0.2
    )

    async def load_from_a_dead_store() -> None:
        store = AsyncRedisStore(down)
        try:
            with pytest.raises(SessionStoreUnavailable):
                await store.load("some-session")
        finally:
            await store.aclose()

    with serve(echo_gateway(settings)) as url:
        asyncio.run(load_from_a_dead_store())
        text = scrape(url)
    errors = samples(text, "gateway_session_store_errors_total")
    assert errors == {(("operation", "load"), ("side", "asgi")): 1.0}


@pytest.mark.slow
def test_under_gunicorn_with_two_workers_the_counts_of_every_worker_add_up(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    port = free_port()
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_ADMIN_TOKEN": "m-token",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
    }
    url = f"http://127.0.0.1:{port}"
    with ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gw.log", env) as server:
        assert server.proc is not None
        # No GATEWAY_METRICS_DIR: a directory named after the gunicorn master.
        shared = Path(tempfile.gettempdir()) / f"gateway-metrics-{server.proc.pid}"
        server.wait_for(f"{url}/_gateway/health")
        pids = set()
        for _ in range(60):
            # A fresh connection each time, so the kernel spreads them over the workers.
            with httpx.Client() as client:
                client.get(f"{url}/prices/1.5")
                pids.add(client.get(f"{url}/_gateway/flags", headers=TOKEN).json()["pid"])
        time.sleep(FLUSH_SECONDS * 2)  # each worker adds its counts to the files every second
        scrapes = [scrape(url) for _ in range(6)]
    assert len(pids) == 2, f"one worker answered everything: {server.log()[-2000:]}"
    totals = {count(t, endpoint="prices", backend="legacy", status_class="2xx") for t in scrapes}
    assert totals == {60.0}  # whichever worker answers the scrape
    assert len(list(shared.glob("histogram_*.db"))) == 2  # one file per worker
    shutil.rmtree(shared)
