"""Automatic rollback and promotion: a failing new route goes back to legacy by
itself, audited as "auto"; a healthy canary climbs its steps."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from flask import Flask
from starlette.types import Receive, Scope, Send

from gateway.app import create_gateway
from gateway.backends import ASGIBackend
from gateway.flags import parse_flag
from gateway.presence import presence_keys
from gateway.rollback import WindowStats, judge, next_step
from shared_session import SessionMiddleware, SessionSettings
from tests.gateway.support import EchoBackend, serve, settings_for
from tests.processes import ServerProcess, gunicorn_gateway
from tests.redis_server import free_port

TOKEN = {"Authorization": "Bearer r-token"}


# --- the pure judgement -------------------------------------------------------


def stats(requests: int, errors: int) -> WindowStats:
    return WindowStats(requests, errors, (requests,))


def verdict(new: WindowStats, legacy: WindowStats, **kw: object) -> str | None:
    options: dict[str, object] = {
        "min_requests": 20,
        "error_margin": 0.1,
        "p99_margin": None,
        "window": 30,
    }
    options.update(kw)
    return judge("k", new, legacy, **options).breach  # type: ignore[arg-type]


def test_new_failing_more_than_legacy_by_the_margin_is_a_breach() -> None:
    reason = verdict(stats(20, 5), stats(100, 1))
    assert reason is not None and "25.0%" in reason and "(5/20)" in reason


def test_too_few_requests_on_new_is_never_a_breach() -> None:
    assert verdict(stats(19, 19), stats(100, 0)) is None


def test_a_margin_not_exceeded_is_no_breach() -> None:
    assert verdict(stats(100, 14), stats(100, 5)) is None


def test_without_enough_legacy_traffic_new_is_judged_on_its_own_rate() -> None:
    assert verdict(stats(50, 6), stats(3, 3)) is not None


def test_p99_over_the_margin_is_a_breach_when_configured() -> None:
    slow = WindowStats(100, 0, (0,) * 9 + (100,))  # every answer in the 1..2.5 s bucket
    fast = WindowStats(100, 0, (100,))
    assert verdict(slow, fast) is None
    assert "p99" in (verdict(slow, fast, p99_margin=1.0) or "")


def test_promotion_steps_climb_to_new() -> None:
    steps = [1.0, 5.0, 25.0, 100.0]
    assert next_step(parse_flag("canary 1"), steps) == "canary 5"
    assert next_step(parse_flag("canary 3"), steps) == "canary 5"
    assert next_step(parse_flag("canary 25"), steps) == "new"
    assert next_step(parse_flag("new"), steps) is None


# --- in one process -----------------------------------------------------------


class Failing(EchoBackend):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"broken"})


def wait_until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_failing_new_route_is_rolled_back_audited_and_listed(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        admin_open=False,
        admin_token="r-token",
        rollback_min_requests=5,
        rollback_check_interval=0.2,
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=Failing("new")
    )
    with serve(gateway) as url:
        httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=TOKEN)
        answers: list[int] = []

        def served_by_legacy_again() -> bool:
            answers.append(httpx.get(f"{url}/prices/1.5").status_code)
            return answers[-1] == 200

        back = wait_until(served_by_legacy_again, timeout=5)
        trail = httpx.get(f"{url}/_gateway/audit", headers=TOKEN).json()["entries"]
        rollbacks = httpx.get(f"{url}/_gateway/rollbacks", headers=TOKEN).json()["entries"]
    assert back
    assert answers[:5] == [500] * 5 and answers[-1] == 200  # rolled back after enough failures
    latest = trail[0]
    assert (latest["actor"], latest["via"], latest["old_flag"], latest["new_flag"]) == (
        "auto",
        "auto",
        "new",
        "legacy",
    )
    assert "5xx rate 100.0%" in latest["reason"]
    assert rollbacks == [latest]


def session_app_on_a_dead_redis() -> SessionMiddleware:
    """A new app whose every answer needs the shared session, kept on a Redis
    nothing listens at: each request gets the session's 503 page."""
    app = FastAPI()

    @app.get("/prices/{price}", name="prices")
    def prices(price: str, request: Request) -> PlainTextResponse:
        request.session["seen"] = price
        return PlainTextResponse("new")

    settings = SessionSettings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        secret_keys=["rollback-test-secret-0123456789abcdef"],
        timeout=0.2,
    )
    return SessionMiddleware(app, settings)


def test_a_session_outage_is_no_reason_to_roll_back(tmp_path: Path) -> None:
    """The session's 503s (its store unreachable, as in a Redis failover) are
    every backend's trouble: counted as 5xx, but not against the new app."""
    settings = settings_for(
        tmp_path, admin_open=True, rollback_min_requests=5, rollback_check_interval=0.1
    )
    new = ASGIBackend(session_app_on_a_dead_redis(), lifespan=False)
    gateway = create_gateway(settings, legacy_backend=EchoBackend("legacy"), new_backend=new)
    with serve(gateway) as url:
        httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"})
        answers = [httpx.get(f"{url}/prices/1.5") for _ in range(12)]
        time.sleep(1.0)  # ten checks of the guard
        flag = httpx.get(f"{url}/_gateway/flags").json()["flags"]["prices"]
        metrics = httpx.get(f"{url}/_gateway/metrics").text
    assert {a.status_code for a in answers} == {503}
    assert all(a.headers["x-shared-session"] == "unavailable" for a in answers)
    assert flag == "new"
    counted = re.search(
        r'gateway_request_duration_seconds_count\{backend="new",endpoint="prices",'
        r'status_class="5xx"\} (\d+)',
        metrics,
    )
    assert counted and int(counted.group(1)) == 12, metrics


def test_rollback_can_be_switched_off(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, rollback_enabled=False, rollback_min_requests=2, rollback_check_interval=0.1
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=Failing("new")
    )
    with serve(gateway) as url:
        httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"})
        for _ in range(5):
            httpx.get(f"{url}/prices/1.5")
        time.sleep(0.6)
        flag = httpx.get(f"{url}/_gateway/flags").json()["flags"]["prices"]
    assert flag == "new"


def test_a_healthy_canary_is_promoted_step_by_step(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        rollback_min_requests=1,
        rollback_check_interval=0.1,
        promotion_steps=[20, 60, 100],
        promotion_hold_seconds=0.3,
    )
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    seen: list[str] = []
    with serve(gateway) as url, httpx.Client() as client:
        client.put(f"{url}/_gateway/flags/prices", json={"flag": "canary 20"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            flag = client.get(f"{url}/_gateway/flags").json()["flags"]["prices"]
            if not seen or seen[-1] != flag:
                seen.append(flag)
            if flag == "new":
                break
            for _ in range(10):  # fresh visitors: some land in the canary
                httpx.get(f"{url}/prices/1.5")
        trail = client.get(f"{url}/_gateway/audit").json()["entries"]
    assert seen[0] == "canary 20" and seen[-1] == "new"  # a step may pass between two looks
    autos = [(e["old_flag"], e["new_flag"]) for e in reversed(trail) if e["actor"] == "auto"]
    assert autos == [("canary 20", "canary 60"), ("canary 60", "new")]


# --- under gunicorn with two workers and Redis ------------------------------


def legacy_app() -> Flask:
    app = Flask("rollback_legacy")
    app.add_url_rule("/work", "work", lambda: "legacy works")
    return app


def new_app() -> FastAPI:
    """Works until the file named by ROLLBACK_FAIL_FILE exists, then fails every request."""
    app = FastAPI()
    fail_file = os.environ["ROLLBACK_FAIL_FILE"]

    @app.get("/work", name="work")
    async def work() -> PlainTextResponse:
        if os.path.exists(fail_file):
            return PlainTextResponse("new is broken", status_code=500)
        return PlainTextResponse("new works")

    return app


@pytest.mark.slow
def test_under_gunicorn_a_route_that_starts_failing_is_back_on_legacy_within_10_s(
    tmp_path: Path, redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    port = free_port()
    fail_file = tmp_path / "fail-now"
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.test_rollback:legacy_app()",
        "GATEWAY_NEW_APP": "tests.gateway.test_rollback:new_app()",
        "GATEWAY_ADMIN_TOKEN": "r-token",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_METRICS_DIR": str(tmp_path / "metrics"),
        "GATEWAY_ROLLBACK_MIN_REQUESTS": "10",
        "ROLLBACK_FAIL_FILE": str(fail_file),
    }
    url = f"http://127.0.0.1:{port}"
    with ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gw.log", env) as server:
        server.wait_for(f"{url}/_gateway/health")
        live = presence_keys(f"{key_prefix}flags")[0]
        assert wait_until(lambda: redis_client.zcard(live) == 2, timeout=30), server.log()
        flipped = httpx.put(f"{url}/_gateway/flags/work", json={"flag": "new"}, headers=TOKEN)
        assert flipped.status_code == 200, flipped.text
        assert len(flipped.json()["acks"]["acked"]) == 2
        healthy = [httpx.get(f"{url}/work").text for _ in range(20)]
        fail_file.touch()
        started = time.monotonic()
        back_after = None
        pids: set[int] = set()
        while time.monotonic() - started < 15:
            with httpx.Client() as client:  # new connections reach both workers
                answer = client.get(f"{url}/work")
                pids.add(client.get(f"{url}/_gateway/flags", headers=TOKEN).json()["pid"])
            if answer.text == "legacy works":
                back_after = time.monotonic() - started
                break
            time.sleep(0.05)
        after = [httpx.get(f"{url}/work").text for _ in range(10)]
        trail = httpx.get(f"{url}/_gateway/audit", headers=TOKEN).json()["entries"]
    assert set(healthy) == {"new works"}
    assert back_after is not None and back_after < 10, server.log()[-3000:]
    print(f"\nrollback: back on legacy {back_after:.2f} s after the new route started failing")
    assert set(after) == {"legacy works"}  # every worker serves legacy now
    assert len(pids) == 2
    assert trail[0]["actor"] == "auto" and trail[0]["new_flag"] == "legacy"
    assert "5xx rate" in trail[0]["reason"]
